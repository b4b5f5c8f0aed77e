"""runner's SDK for data transforms written in Python: the same API as the Rust SDK.

A transform is a `transform.py` with an `up(db, args)` function, and a `down(db, args)` when
the change can be undone. `runner build` turns it into a WebAssembly component with
componentize-py; it runs in runner's sandbox, inside the revision's transaction, and reaches
the database only through `db`, on the tables its step declares.

    from runner_transform import info

    def up(db, args):
        for batch in db.cursor("SELECT id, full_name FROM contacts ORDER BY id"):
            db.execute_many(
                "UPDATE contacts SET first_name = $1 WHERE id = $2",
                [[row["full_name"].split(" ")[0], row["id"]] for row in batch],
            )
        info("done")

Values: None, bool, int, float, str, bytes, decimal.Decimal, datetime.date, datetime.time,
datetime.datetime, uuid.UUID and Json(...) go in as parameters and come back out of queries
as the same Python types (JSON columns come back as Json, whose `.value` is the parsed data).
"""

import datetime as _datetime
import decimal as _decimal
import json as _json
import uuid as _uuid

try:
    from componentize_py_types import Err as _Err
    from wit_world.imports import db as _db
    from wit_world.imports import log as _log
except ImportError:
    # Outside a component (a transform's unit tests, runner_testing.py) the WIT interfaces do
    # not exist: `_install` puts stand-ins with the same functions, classes and errors in
    # their place.

    class _Err(Exception):
        """Stands for componentize-py's `Err` until `_install` replaces it."""

    class _Outside:
        def __getattr__(self, name):
            raise TransformError(
                "runner_transform reaches the database only inside a component built by "
                "`runner build`, or in a unit test through runner_testing.TestDb"
            )

    _db = _log = _Outside()

SDK_VERSION = "0.1.0-python"

__all__ = [
    "Args",
    "Db",
    "DbError",
    "Json",
    "Row",
    "TransformError",
    "debug",
    "error",
    "info",
    "progress",
    "warn",
]


class TransformError(Exception):
    """Raise it (or any exception) to fail the revision; its text is what runner shows."""


class DbError(TransformError):
    """A statement did not run. `kind` says who stopped it: "sql" (the database),
    "denied" (the sandbox, before the database saw it) or "limit" (a sandbox limit)."""

    _WHO = {
        "sql": "the database refused a statement",
        "denied": "the sandbox refused a statement",
        "limit": "a sandbox limit was reached",
    }

    def __init__(self, kind, message):
        super().__init__(f"{self._WHO.get(kind, kind)}: {message}")
        self.kind = kind
        self.message = message


class Json:
    """A JSON value, to tell a JSON parameter from text: `Json({"a": 1})`."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Json) and other.value == self.value

    def __repr__(self):
        return f"Json({self.value!r})"


def _install(err, db, log):
    """Puts other implementations of the WIT `db` and `log` interfaces (and of `Err`, which
    their failures raise) in place of the component's; returns the ones it replaced.
    runner_testing runs transforms on SQLite this way, through this very module."""
    global _Err, _db, _log
    replaced = (_Err, _db, _log)
    _Err, _db, _log = err, db, log
    return replaced


_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


def _to_wit(value):
    """A Python value as a parameter."""
    if value is None:
        return _db.Value_Null()
    if isinstance(value, bool):
        return _db.Value_Boolean(value)
    if isinstance(value, int):
        if _I64_MIN <= value <= _I64_MAX:
            return _db.Value_Integer(value)
        return _db.Value_Decimal(str(value))
    if isinstance(value, float):
        return _db.Value_Real(value)
    if isinstance(value, str):
        return _db.Value_Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _db.Value_Blob(bytes(value))
    if isinstance(value, _decimal.Decimal):
        return _db.Value_Decimal(format(value, "f"))
    if isinstance(value, _datetime.datetime):
        return _db.Value_Timestamp(value.isoformat())
    if isinstance(value, _datetime.date):
        return _db.Value_Date(value.isoformat())
    if isinstance(value, _datetime.time):
        return _db.Value_Time(value.isoformat())
    if isinstance(value, _uuid.UUID):
        return _db.Value_Uuid(str(value))
    if isinstance(value, Json):
        return _db.Value_Json(_json.dumps(value.value, separators=(",", ":")))
    raise TransformError(
        f"a parameter of type {type(value).__name__} cannot be passed to the database: "
        "use None, bool, int, float, str, bytes, Decimal, date, time, datetime, UUID or Json"
    )


def _timestamp(text):
    # Python before 3.11 does not read a trailing Z.
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return _datetime.datetime.fromisoformat(text)


def _from_wit(value):
    """A value a query returned, as the Python type it stands for."""
    if isinstance(value, _db.Value_Null):
        return None
    if isinstance(value, (_db.Value_Boolean, _db.Value_Integer, _db.Value_Real, _db.Value_Text)):
        return value.value
    if isinstance(value, _db.Value_Blob):
        return bytes(value.value)
    if isinstance(value, _db.Value_Decimal):
        return _decimal.Decimal(value.value)
    if isinstance(value, _db.Value_Date):
        return _datetime.date.fromisoformat(value.value)
    if isinstance(value, _db.Value_Time):
        return _datetime.time.fromisoformat(value.value)
    if isinstance(value, _db.Value_Timestamp):
        return _timestamp(value.value)
    if isinstance(value, _db.Value_Json):
        return Json(_json.loads(value.value))
    if isinstance(value, _db.Value_Uuid):
        return _uuid.UUID(value.value)
    raise TransformError(f"runner sent a value this SDK does not know: {value!r}")


def _params(values):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TransformError("parameters are a list: [value, ...]")
    return [_to_wit(v) for v in values]


def _batch_rows(batch):
    """A batch size as the host takes it: a whole number of rows, at least 1 (0 would read
    nothing and end the loop at once, as if the table were empty)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 0xFFFFFFFF:
        raise TransformError(f"a batch is a whole number of rows from 1 to 4294967295, not {batch!r}")
    return batch


def _db_call(function, *args):
    try:
        return function(*args)
    except _Err as failure:
        error = failure.value
        kind = {
            _db.DbError_Sql: "sql",
            _db.DbError_Denied: "denied",
            _db.DbError_Limit: "limit",
        }.get(type(error), "sql")
        raise DbError(kind, getattr(error, "value", str(error))) from None


class Row:
    """One row: `row["column"]` or `row[0]`; `row.get("column", default)`; `dict(row)`."""

    __slots__ = ("_columns", "_values")

    def __init__(self, columns, values):
        self._columns = columns
        self._values = values

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._values[key]
        try:
            return self._values[self._columns[key]]
        except KeyError:
            raise KeyError(
                f"no column '{key}' (the columns are {', '.join(self._columns)})"
            ) from None

    def get(self, key, default=None):
        index = self._columns.get(key)
        return default if index is None else self._values[index]

    def keys(self):
        return list(self._columns)

    def values(self):
        return list(self._values)

    def items(self):
        return list(zip(self._columns, self._values))

    def __iter__(self):
        return iter(self._columns)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"Row({dict(self.items())!r})"


def _index(columns):
    return {name: i for i, name in enumerate(columns)}


def _rows(columns, raw):
    index = _index(columns)
    return [Row(index, [_from_wit(v) for v in values]) for values in raw]


class Writer:
    """Batches of one INSERT, UPDATE or DELETE, written behind the transform while it
    computes the next batch (see `Db.writer`). Use it in a `with` block, or call `finish`."""

    def __init__(self, handle):
        self._handle = handle
        self._finished = False

    def write(self, rows):
        _db_call(self._handle.write, [_params(row) for row in rows])

    def finish(self):
        """Waits for the last batch; returns the rows all batches changed."""
        if self._finished:
            raise TransformError("this writer is finished")
        self._finished = True
        try:
            return _db_call(self._handle.finish)
        finally:
            self._handle.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if not self._finished:
            if kind is None:
                self.finish()
            else:
                self._finished = True
                self._handle.__exit__(None, None, None)
        return False


class Db:
    """The database, inside the revision's transaction. Parameters are `$1`, `$2`, ... on
    every database."""

    def dialect(self):
        """"sqlite", "postgres" or "mysql": for the rare SQL that must differ."""
        return _db.current_dialect().name.lower()

    def query(self, sql, params=()):
        """All the rows of a query, as a list of Row (use `cursor` for large results)."""
        rows = _db_call(_db.query, sql, _params(params))
        return _rows(rows.columns, rows.rows)

    def query_one(self, sql, params=()):
        """The one row of a query; an error if it returns none or several."""
        rows = self.query(sql, params)
        if len(rows) != 1:
            raise TransformError(f"expected one row, the query returned {len(rows)}")
        return rows[0]

    def query_scalar(self, sql, params=()):
        """The first column of the query's one row."""
        return self.query_one(sql, params)[0]

    def execute(self, sql, params=()):
        """Runs one statement; returns the number of rows it changed."""
        return _db_call(_db.execute, sql, _params(params))

    def execute_many(self, sql, rows):
        """Runs one statement once per parameter list, as one batch; returns the rows changed."""
        rows = [_params(row) for row in rows]
        if not rows:
            return 0
        return _db_call(_db.execute_many, sql, rows)

    def cursor(self, sql, params=(), batch=1000):
        """The rows of a query in batches (lists of Row) of at most `batch` rows, read as the
        loop goes, so that each batch can be written back before the next is read."""
        batch = _batch_rows(batch)
        handle = _db_call(_db.open_cursor, sql, _params(params))
        try:
            index = _index(handle.columns())
            while True:
                raw = _db_call(handle.next, batch)
                if not raw:
                    return
                yield [Row(index, [_from_wit(v) for v in values]) for values in raw]
        finally:
            handle.__exit__(None, None, None)

    def writer(self, sql):
        """A Writer for one parameterised INSERT, UPDATE or DELETE: `with db.writer(sql) as w:
        w.write(rows)`."""
        return Writer(_db_call(_db.open_writer, sql))

    def backfill(self, table, key, read, write, function, batch=1000, filter=None):
        """Reads `table` in pages of `batch` rows by its unique, non-null `key`, calls
        `function(row)` on each row (the columns `read`, and the key), and writes what it
        returns to the columns `write` (a list of values in that order; None leaves the row
        as it is). Returns the number of rows written."""
        if not read or not write:
            raise TransformError("a backfill reads at least one column and writes at least one")
        if key in write:
            raise TransformError(f"a backfill does not write its key '{key}'")
        batch = _batch_rows(batch)
        where = f" WHERE {filter}" if filter else ""
        total = self.query_scalar(f"SELECT count(*) FROM {table}{where}")
        columns = ", ".join([key] + [c for c in read if c != key])
        sets = ", ".join(f"{c} = ${i + 1}" for i, c in enumerate(write))
        update = f"UPDATE {table} SET {sets} WHERE {key} = ${len(write) + 1}"
        condition = f" AND ({filter})" if filter else ""
        first = f"SELECT {columns} FROM {table} WHERE 1 = 1{condition} ORDER BY {key} LIMIT {batch}"
        after = (
            f"SELECT {columns} FROM {table} WHERE {key} > $1{condition} ORDER BY {key} LIMIT {batch}"
        )
        seen = written = 0
        last = None
        with self.writer(update) as out:
            while True:
                page = self.query(first) if last is None else self.query(after, [last])
                if not page:
                    break
                values = []
                for row in page:
                    new = function(row)
                    if new is None:
                        continue
                    new = list(new)
                    if len(new) != len(write):
                        raise TransformError(
                            f"the backfill function returned {len(new)} values for {len(write)} columns"
                        )
                    values.append(new + [row[key]])
                if values:
                    out.write(values)
                    written += len(values)
                seen += len(page)
                last = page[-1][key]
                progress(seen, total)
        if seen != total:
            raise TransformError(
                f"the backfill read {seen} rows of {table} but counted {total}: "
                f"'{key}' must be unique and never NULL"
            )
        return written


class Args(dict):
    """The step's `args`, as text: `args["sep"]`, `args.get("sep", " ")`; `args.require("sep")`
    fails the revision naming the missing argument."""

    def require(self, name):
        if name not in self:
            raise TransformError(f"the step gives no argument '{name}'")
        return self[name]


def _say(level, message):
    _log.log(level, str(message))


def debug(message):
    _say(_log.Level.DEBUG, message)


def info(message):
    _say(_log.Level.INFO, message)


def warn(message):
    _say(_log.Level.WARN, message)


def error(message):
    _say(_log.Level.ERROR, message)


def progress(done, total=None):
    """How far the transform got: `done` of `total` units (rows, usually)."""
    _log.progress(int(done), None if total is None else int(total))
