"""Unit tests for Python transforms, with no runner and no WebAssembly: a transform's `up` and
`down` run on an in-memory SQLite database (Python's `sqlite3`) through the SDK's own `Db`, so
its value conversions, cursors, batches, writers, backfill, rows, args and log are the ones
the component uses. Only the host side is played here, as runner plays it on SQLite.

    import unittest
    from runner_testing import TestDb, load

    split_names = load("split_names")          # the folder, or its transform.py

    class SplitNames(unittest.TestCase):
        def test_the_last_word_is_the_last_name(self):
            db = TestDb(
                schema=["CREATE TABLE contacts (id INTEGER PRIMARY KEY, full_name TEXT,"
                        " first_name TEXT, last_name TEXT)"],
                rows={"contacts": [{"id": 1, "full_name": "Ada King Lovelace"}]},
            )
            db.run_up(split_names, args={"batch": 100}, writes=["contacts"])
            self.assertEqual(db.rows("SELECT first_name, last_name FROM contacts"),
                             [("Ada King", "Lovelace")])
            self.assertIn(("info", "split 1 names"), db.logs)

A run is one transaction, as in runner: when the transform raises, its changes are rolled
back and the exception reaches the test as it was raised. Statements take `$1, $2, ...` (or
`?`) parameters as in runner, and only SELECT, INSERT, UPDATE, DELETE and WITH run; with
`reads`/`writes` given, the tables a statement touches are checked against them as runner
checks a step's declaration. What this does not play: PostgreSQL and MySQL (their types, SQL
and errors), the sandbox's limits of time and memory, and runner's SQL guard beyond tables and
statement kinds. Run the transform in a revision (`runner upgrade`) for those.
"""

import dataclasses as _dataclasses
import enum as _enum
import importlib.util as _importlib_util
import os as _os
import sqlite3 as _sqlite3
import sys as _sys
import types as _types

import runner_transform as _sdk

__all__ = ["TestDb", "has_down", "load"]


# The WIT interfaces' types, shaped as componentize-py generates them in wit_world.imports.db
# and wit_world.imports.log (a class per variant case, its payload in `value`): the SDK builds
# and tells apart the classes of whatever `_install` gave it, so these stand for the real ones.


class Err(Exception):
    """componentize_py_types.Err: the failure of a WIT `result`; its payload is `value`."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _case(name, kind=None):
    fields = [] if kind is None else [("value", kind)]
    return _dataclasses.make_dataclass(name, fields)


_VALUE_CASES = {
    "Value_Null": None,
    "Value_Boolean": bool,
    "Value_Integer": int,
    "Value_Real": float,
    "Value_Text": str,
    "Value_Blob": bytes,
    "Value_Decimal": str,
    "Value_Date": str,
    "Value_Time": str,
    "Value_Timestamp": str,
    "Value_Json": str,
    "Value_Uuid": str,
}
_VALUES = {name: _case(name, kind) for name, kind in _VALUE_CASES.items()}
_ERRORS = {name: _case(name, str) for name in ("DbError_Sql", "DbError_Denied", "DbError_Limit")}


class Dialect(_enum.Enum):
    SQLITE = 0
    POSTGRES = 1
    MYSQL = 2


class Level(_enum.Enum):
    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


@_dataclasses.dataclass
class Rows:
    columns: list
    rows: list


_I64 = (-(1 << 63), (1 << 63) - 1)
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1


def _lowering(what):
    """What componentize-py would trap on: a value that does not fit its WIT type."""
    return TypeError(f"runner_testing: {what} does not fit the WIT interface")


def _param(value):
    """A WIT value as sqlite3 binds it, as runner binds it on SQLite (booleans as 0/1,
    every type without a native SQLite form as its text)."""
    kind = type(value).__name__
    if _VALUES.get(kind) is not type(value):
        raise _lowering(f"the parameter {value!r}")
    if kind == "Value_Null":
        return None
    inner = value.value
    expected = _VALUE_CASES[kind]
    if expected is bytes and isinstance(inner, (bytearray, memoryview)):
        inner = bytes(inner)
    if type(inner) is not expected and not (expected is float and type(inner) is int):
        raise _lowering(f"the parameter {value!r}")
    if kind == "Value_Integer" and not _I64[0] <= inner <= _I64[1]:
        raise _lowering(f"the integer {inner}")
    if kind == "Value_Boolean":
        return int(inner)
    return inner


def _value(raw):
    """A value sqlite3 read, as runner sends it: by its storage class."""
    if raw is None:
        return _VALUES["Value_Null"]()
    if isinstance(raw, int):
        return _VALUES["Value_Integer"](raw)
    if isinstance(raw, float):
        return _VALUES["Value_Real"](raw)
    if isinstance(raw, bytes):
        return _VALUES["Value_Blob"](raw)
    return _VALUES["Value_Text"](str(raw))


def _denied(message):
    return Err(_ERRORS["DbError_Denied"](message))


def _sql_error(message):
    return Err(_ERRORS["DbError_Sql"](message))


_DIGITS = "0123456789"


def _placeholders(sql):
    """The statement with runner's `$N` placeholders as SQLite's `?N` (outside literals,
    quoted names and comments), as runner sends it to SQLite."""
    out = []
    numbered = positional = False
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`[":
            close = "]" if c == "[" else c
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and sql.startswith(close, j + 1):
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
            continue
        if c in "$?" and not (i and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            j = i + 1
            while j < n and sql[j] in _DIGITS:
                j += 1
            if j > i + 1:
                numbered = True
                out.append("?" + sql[i + 1 : j])
                i = j
                continue
            if c == "?":
                positional = True
        out.append(c)
        i += 1
    if numbered and positional:
        raise _denied("use either $1, $2, ... or ? placeholders in one statement, not both")
    return "".join(out)


# SQLite's authorizer actions (https://www.sqlite.org/c3ref/c_alter_table.html): what a
# transform's statement may do, and the names of the rest for the refusal.
_DELETE, _INSERT, _READ, _SELECT, _UPDATE, _FUNCTION, _RECURSIVE = 9, 18, 20, 21, 23, 31, 33
_REFUSED = {
    1: "CREATE INDEX", 2: "CREATE TABLE", 3: "CREATE INDEX", 4: "CREATE TABLE",
    5: "CREATE TRIGGER", 6: "CREATE VIEW", 7: "CREATE TRIGGER", 8: "CREATE VIEW",
    10: "DROP INDEX", 11: "DROP TABLE", 12: "DROP INDEX", 13: "DROP TABLE",
    14: "DROP TRIGGER", 15: "DROP VIEW", 16: "DROP TRIGGER", 17: "DROP VIEW",
    19: "PRAGMA", 22: "BEGIN, COMMIT or ROLLBACK (runner runs the transform in the revision's transaction)",
    24: "ATTACH", 25: "DETACH", 26: "ALTER TABLE", 27: "REINDEX", 28: "ANALYZE",
    29: "CREATE VIRTUAL TABLE", 30: "DROP VIRTUAL TABLE", 32: "SAVEPOINT",
}  # fmt: skip


class _Cursor:
    """wit_world.imports.db.Cursor: the whole result read when it opens (runner's cursor
    shows each batch as the result was then), handed out in batches."""

    def __init__(self, columns, rows):
        self._columns = columns
        self._rows = rows
        self._at = 0
        self._released = False

    def next(self, max):
        if self._released:
            raise _lowering("a cursor used after it was released")
        if not isinstance(max, int) or not 0 <= max <= _U32_MAX:
            raise _lowering(f"next({max!r})")
        batch = self._rows[self._at : self._at + max]
        self._at += len(batch)
        return batch

    def columns(self):
        return list(self._columns)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self._released = True


class _Writer:
    """wit_world.imports.db.Writer: each batch runs when it is handed over; as in runner, a
    batch's database error comes back from the next `write` or from `finish`, and after an
    error nothing more is written."""

    def __init__(self, test_db, sql):
        self._db = test_db
        self._sql = sql
        self._changed = 0
        self._pending = None
        self._stopped = False
        self._released = False

    def _usable(self):
        if self._released:
            raise _lowering("a writer used after it was released")

    def write(self, batch):
        self._usable()
        if self._pending is not None:
            failure, self._pending = self._pending, None
            raise failure
        if self._stopped:
            raise _sql_error("this writer stopped at an error: it writes nothing more")
        rows = [[_param(v) for v in row] for row in batch]
        try:
            self._changed += self._db._many(self._sql, rows)
        except Err as failure:
            self._stopped = True
            if isinstance(failure.value, _ERRORS["DbError_Denied"]):
                raise  # refused before it ran: this batch's error
            self._pending = failure

    def finish(self):
        self._usable()
        self._stopped = True
        if self._pending is not None:
            failure, self._pending = self._pending, None
            raise failure
        return self._changed

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self._released = True


class _PendingRows:
    """wit_world.imports.db.PendingRows: the query already ran; its rows, or its error."""

    def __init__(self, outcome):
        self._outcome = outcome

    def rows(self):
        if isinstance(self._outcome, Err):
            raise self._outcome
        return self._outcome

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


class _DbInterface:
    """wit_world.imports.db, played on a TestDb."""

    Dialect = Dialect
    Rows = Rows
    Cursor = _Cursor
    Writer = _Writer
    PendingRows = _PendingRows

    def __init__(self, test_db):
        self._db = test_db

    def current_dialect(self):
        return Dialect.SQLITE

    def query(self, sql, params):
        columns, rows = self._db._query(self._db._statement(sql), [_param(v) for v in params])
        return Rows(columns, rows)

    def execute(self, sql, params):
        return self._db._execute(self._db._statement(sql), [_param(v) for v in params])

    def execute_many(self, sql, batch):
        statement = self._db._statement(sql)
        return self._db._many(statement, [[_param(v) for v in row] for row in batch])

    def open_cursor(self, sql, params):
        columns, rows = self._db._query(self._db._statement(sql), [_param(v) for v in params])
        return _Cursor(columns, rows)

    def open_writer(self, sql):
        writer = _Writer(self._db, self._db._statement(sql))
        self._db._writers.append(writer)
        return writer

    def start_query(self, sql, params):
        statement = self._db._statement(sql)
        try:
            outcome = self.query(statement, params)
        except Err as failure:
            if isinstance(failure.value, _ERRORS["DbError_Denied"]):
                raise
            outcome = failure
        return _PendingRows(outcome)


for _name, _class in {**_VALUES, **_ERRORS}.items():
    setattr(_DbInterface, _name, _class)


class _LogInterface:
    """wit_world.imports.log, kept on a TestDb."""

    Level = Level

    def __init__(self, test_db):
        self._db = test_db

    def log(self, level, message):
        if not isinstance(level, Level) or not isinstance(message, str):
            raise _lowering(f"log({level!r}, {message!r})")
        self._db.logs.append((level.name.lower(), message))

    def progress(self, done, total):
        for number in (done, total):
            if number is not None and not (isinstance(number, int) and 0 <= number <= _U64_MAX):
                raise _lowering(f"progress({done!r}, {total!r})")
        self._db.progress.append((done, total))


class TestDb:
    """An in-memory SQLite database to run a transform on.

    `schema`: the statements that make the tables (a list, or one script).
    `rows`: {table: [{column: value, ...}, ...]} inserted after the schema, values as a
    transform passes them (None, bool, int, float, str, bytes, Decimal, date, ...).

    After a run, `logs` holds what the transform logged, as (level, message) with level
    "debug", "info", "warn" or "error", and `progress` its (done, total) reports."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, schema=(), rows=None):
        self.connection = _sqlite3.connect(":memory:", isolation_level=None, cached_statements=0)
        # As runner's connections: foreign keys are enforced.
        self.connection.execute("PRAGMA foreign_keys = ON")
        self.connection.set_authorizer(self._authorize)
        self.logs = []
        self.progress = []
        self._grants = None
        self._running = False
        self._refusal = None
        self._writers = []
        if isinstance(schema, str):
            self.connection.executescript(schema)
        else:
            for statement in schema:
                self.connection.execute(statement)
        for table, table_rows in (rows or {}).items():
            self.insert(table, table_rows)

    # What a test does around a run.

    def execute(self, sql, params=()):
        """Runs one statement (`$1, $2, ...` parameters); returns the rows it changed."""
        return self._outside(lambda: self._execute(self._statement(sql), self._params(params)))

    def insert(self, table, rows):
        """Inserts rows, each a {column: value} dict."""
        for row in rows:
            columns = ", ".join(_quote(c) for c in row)
            marks = ", ".join(f"${i + 1}" for i in range(len(row)))
            self.execute(f"INSERT INTO {_quote(table)} ({columns}) VALUES ({marks})", list(row.values()))

    def rows(self, sql, params=()):
        """The rows of a query, as tuples of what SQLite holds (None, int, float, str, bytes)."""
        _, rows = self._outside(lambda: self._query(self._statement(sql), self._params(params)))
        return [tuple(_param(v) for v in row) for row in rows]

    def scalar(self, sql, params=()):
        """The first value of a query's first row (None without rows)."""
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    # Runs.

    def run_up(self, transform, args=None, reads=None, writes=None):
        """Runs the transform's `up` as runner would in a revision: `transform` is a module
        (see `load`), a folder or transform.py path, or the function itself. `args` are the
        step's args (text, as runner passes them; ints and bools are written as YAML would
        give them). With `reads` or `writes`, statements may touch only those tables, as the
        step declares them."""
        self._run(_function(transform, "up"), args, reads, writes)

    def run_down(self, transform, args=None, reads=None, writes=None):
        """Runs the transform's `down`, as a downgrade would: see `run_up`."""
        self._run(_function(transform, "down"), args, reads, writes)

    def _run(self, function, args, reads, writes):
        arguments = _sdk.Args(_arg_pairs(args))
        if reads is None and writes is None:
            grants = None
        else:
            writable = {t.lower() for t in writes or ()}
            grants = ({t.lower() for t in reads or ()} | writable, writable)
        self.logs = []
        self.progress = []
        self._writers = []
        replaced = _sdk._install(Err, _DbInterface(self), _LogInterface(self))
        self.connection.execute("BEGIN")
        self._grants, self._running = grants, True
        try:
            function(_sdk.Db(), arguments)
            unreceived = [w._pending for w in self._writers if w._pending is not None]
            if unreceived:
                # As in runner: an error no write or finish received fails the run anyway.
                raise unreceived[0]
        except Err as failure:
            self._end("ROLLBACK")
            raise _sdk.DbError(_kind(failure.value), failure.value.value) from None
        except BaseException:
            self._end("ROLLBACK")
            raise
        else:
            self._end("COMMIT")
        finally:
            _sdk._install(*replaced)

    def _end(self, statement):
        self._grants, self._running = None, False
        self.connection.execute(statement)

    # The host side.

    def _outside(self, call):
        """A call of the test's own (no grants), its values converted by the SDK."""
        replaced = _sdk._install(Err, _DbInterface(self), _LogInterface(self))
        try:
            return call()
        except Err as failure:
            raise _sdk.DbError(_kind(failure.value), failure.value.value) from None
        finally:
            _sdk._install(*replaced)

    @staticmethod
    def _params(values):
        return [_param(v) for v in _sdk._params(values)]

    @staticmethod
    def _statement(sql):
        if not isinstance(sql, str):
            raise _lowering(f"the statement {sql!r}")
        return sql

    def _cursor(self, sql, params):
        self._refusal = None
        try:
            return self.connection.execute(_placeholders(sql), params)
        except _sqlite3.Error as failure:
            raise self._failure(failure) from None

    def _failure(self, failure):
        refusal, self._refusal = self._refusal, None
        if refusal is not None:
            return _denied(refusal)
        return _sql_error(str(failure))

    def _query(self, sql, params):
        cursor = self._cursor(sql, params)
        try:
            rows = cursor.fetchall()
        except _sqlite3.Error as failure:
            raise self._failure(failure) from None
        columns = [d[0] for d in cursor.description or ()]
        return columns, [[_value(v) for v in row] for row in rows]

    def _execute(self, sql, params):
        return max(self._cursor(sql, params).rowcount, 0)

    def _many(self, sql, batch):
        if not batch:
            return 0
        self._refusal = None
        try:
            return max(self.connection.executemany(_placeholders(sql), batch).rowcount, 0)
        except _sqlite3.Error as failure:
            raise self._failure(failure) from None

    def _authorize(self, action, first, second, database, source):
        if not self._running or source is not None:
            # Outside a run, or inside a trigger (foreign key actions among them).
            return _sqlite3.SQLITE_OK
        if action in _REFUSED:
            self._refusal = f"{_REFUSED[action]} is not allowed in a transform's statement"
            return _sqlite3.SQLITE_DENY
        table = (first or "").lower()
        if self._grants is None or table.startswith("sqlite_"):
            return _sqlite3.SQLITE_OK
        readable, writable = self._grants
        if action == _READ and table not in readable:
            self._refusal = f"table '{first}' is not declared in this step's `reads` or `writes`"
            return _sqlite3.SQLITE_DENY
        if action in (_INSERT, _UPDATE, _DELETE) and table not in writable:
            self._refusal = (
                f"table '{first}' is read-only for this step: declare it in `writes` to change it"
                if table in readable
                else f"table '{first}' is not declared in this step's `reads` or `writes`"
            )
            return _sqlite3.SQLITE_DENY
        return _sqlite3.SQLITE_OK


def _kind(error):
    return {"DbError_Sql": "sql", "DbError_Denied": "denied", "DbError_Limit": "limit"}.get(
        type(error).__name__, "sql"
    )


def _quote(name):
    return '"' + str(name).replace('"', '""') + '"'


def _arg_pairs(args):
    pairs = []
    for name, value in (args or {}).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, str)):
            text = str(value)
        else:
            raise TypeError(
                f"argument '{name}': runner passes args as text; give a str (or an int or bool), "
                f"not {type(value).__name__}"
            )
        pairs.append((str(name), text))
    return pairs


_loaded = 0


def load(path):
    """Imports a transform from its folder or its transform.py, as a module of its own (every
    transform's file is named transform.py), with its folder on the path while it loads."""
    global _loaded
    path = _os.path.abspath(_os.fspath(path))
    if _os.path.isdir(path):
        path = _os.path.join(path, "transform.py")
    folder = _os.path.dirname(path)
    _loaded += 1
    name = f"_runner_testing_{_loaded}_{_os.path.basename(folder)}"
    spec = _importlib_util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no transform at {path}")
    module = _importlib_util.module_from_spec(spec)
    _sys.modules[name] = module
    _sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        _sys.path.remove(folder)
    return module


def has_down(transform):
    """True if the transform defines `down` (runner records it as `has_down` when it builds):
    without it, a downgrade past its step is refused."""
    return callable(getattr(_module(transform), "down", None))


def _module(transform):
    if isinstance(transform, (str, _os.PathLike)):
        return load(transform)
    return transform


def _function(transform, name):
    transform = _module(transform)
    if isinstance(transform, _types.ModuleType):
        function = getattr(transform, name, None)
        if callable(function):
            return function
        # runner_main's words.
        if name == "up":
            raise _sdk.TransformError("transform.py defines no up(db, args)")
        raise _sdk.TransformError("this transform has no down")
    if callable(transform):
        return transform
    raise TypeError(f"run what? {transform!r} is no module, path or function")
