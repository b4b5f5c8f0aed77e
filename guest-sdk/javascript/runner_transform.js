// runner's SDK for data transforms written in JavaScript: the same API as the Rust and Python
// SDKs. A transform is a `transform.js` exporting `up(db, args)`, and `down(db, args)` when the
// change can be undone. `runner build` turns it into a WebAssembly component with
// componentize-js; it runs in runner's sandbox, inside the revision's transaction, and reaches
// the database only through `db`, on the tables its step declares.
//
//     import { info } from './runner_transform.js';
//
//     export function up(db, args) {
//       for (const batch of db.cursor('SELECT id, full_name FROM contacts ORDER BY id')) {
//         db.executeMany('UPDATE contacts SET first_name = $1 WHERE id = $2',
//           batch.map((row) => [row.full_name.split(' ')[0], row.id]));
//       }
//       info('done');
//     }
//
// Values: null, boolean, number (an integer is an integer), bigint, string, Uint8Array,
// Date (a timestamp), and the wrappers Decimal, DateOnly, TimeOnly, Json and Uuid for the
// types JavaScript has no value of; queries give the same back.

import * as wit from 'runner:transform/db@0.1.0';
import * as witLog from 'runner:transform/log@0.1.0';

export const SDK_VERSION = '0.1.0-javascript';

// The sandbox has no network, and the engine's `fetch` would only trap deep inside it: a
// transform that calls it gets JavaScript's own "fetch is not defined" instead.
delete globalThis.fetch;

/** Throw it (or any error) to fail the revision; its message is what runner shows. */
export class TransformError extends Error {}

/** A statement did not run: `kind` is "sql" (the database), "denied" (the sandbox) or
 * "limit" (a sandbox limit). */
export class DbError extends TransformError {
  constructor(kind, message) {
    const who = {
      sql: 'the database refused a statement',
      denied: 'the sandbox refused a statement',
      limit: 'a sandbox limit was reached',
    }[kind] ?? kind;
    super(`${who}: ${message}`);
    this.kind = kind;
    this.detail = message;
  }
}

/** A value kept as its text: `new Decimal("12.50")`. */
class Tagged {
  constructor(text) {
    this.text = String(text);
  }
  toString() {
    return this.text;
  }
  toJSON() {
    return this.text;
  }
}
export class Decimal extends Tagged {}
export class DateOnly extends Tagged {}
export class TimeOnly extends Tagged {}
export class Uuid extends Tagged {}

/** A JSON value, to tell a JSON parameter from text: `new Json({ a: 1 })`. */
export class Json {
  constructor(value) {
    this.value = value;
  }
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function toWit(value) {
  if (value === null || value === undefined) return { tag: 'null' };
  if (typeof value === 'boolean') return { tag: 'boolean', val: value };
  if (typeof value === 'bigint') {
    return value >= I64_MIN && value <= I64_MAX
      ? { tag: 'integer', val: value }
      : { tag: 'decimal', val: value.toString() };
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) && Number.isSafeInteger(value)
      ? { tag: 'integer', val: BigInt(value) }
      : { tag: 'real', val: value };
  }
  if (typeof value === 'string') return { tag: 'text', val: value };
  if (value instanceof Uint8Array) return { tag: 'blob', val: value };
  if (value instanceof Date) return { tag: 'timestamp', val: value.toISOString() };
  if (value instanceof Decimal) return { tag: 'decimal', val: value.text };
  if (value instanceof DateOnly) return { tag: 'date', val: value.text };
  if (value instanceof TimeOnly) return { tag: 'time', val: value.text };
  if (value instanceof Uuid) return { tag: 'uuid', val: value.text };
  if (value instanceof Json) return { tag: 'json', val: JSON.stringify(value.value) };
  throw new TransformError(
    `a parameter of type ${value?.constructor?.name ?? typeof value} cannot be passed to the database: ` +
      'use null, a boolean, a number, a bigint, a string, a Uint8Array, a Date, Decimal, DateOnly, TimeOnly, Uuid or Json',
  );
}

function fromWit(value) {
  switch (value.tag) {
    case 'null':
      return null;
    case 'boolean':
    case 'real':
    case 'text':
      return value.val;
    case 'integer': {
      const n = value.val;
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'blob':
      return new Uint8Array(value.val);
    case 'decimal':
      return new Decimal(value.val);
    case 'date':
      return new DateOnly(value.val);
    case 'time':
      return new TimeOnly(value.val);
    case 'timestamp':
      return new Date(value.val);
    case 'json':
      return new Json(JSON.parse(value.val));
    case 'uuid':
      return new Uuid(value.val);
    default:
      throw new TransformError(`runner sent a value this SDK does not know: ${value.tag}`);
  }
}

function params(values) {
  if (!Array.isArray(values)) throw new TransformError('parameters are an array: [value, ...]');
  return values.map(toWit);
}

// A batch size as the host takes it: a whole number of rows, at least 1 (0 would read nothing
// and end the loop at once, as if the table were empty).
function batchRows(batch) {
  if (!Number.isInteger(batch) || batch < 1 || batch > 0xffffffff) {
    throw new TransformError(`a batch is a whole number of rows from 1 to 4294967295, not ${String(batch)}`);
  }
  return batch;
}

function call(fn) {
  try {
    return fn();
  } catch (e) {
    const payload = e?.payload;
    if (payload && typeof payload.tag === 'string') throw new DbError(payload.tag, payload.val);
    throw e;
  }
}

function rowsOf(columns, raw) {
  return raw.map((values) => {
    const row = {};
    values.forEach((v, i) => {
      row[columns[i]] = fromWit(v);
    });
    return row;
  });
}

/** Batches of one INSERT, UPDATE or DELETE written behind the transform (see `db.writer`). */
export class Writer {
  constructor(handle) {
    this.handle = handle;
  }
  write(rows) {
    call(() => this.handle.write(rows.map(params)));
  }
  /** Waits for the last batch; returns the rows all batches changed. */
  finish() {
    return Number(call(() => this.handle.finish()));
  }
}

/** The database, inside the revision's transaction. Parameters are `$1`, `$2`, ... everywhere. */
export class Db {
  /** "sqlite", "postgres" or "mysql". */
  dialect() {
    return wit.currentDialect();
  }
  /** All the rows of a query, as objects by column name (use `cursor` for large results). */
  query(sql, values = []) {
    const rows = call(() => wit.query(sql, params(values)));
    return rowsOf(rows.columns, rows.rows);
  }
  queryOne(sql, values = []) {
    const rows = this.query(sql, values);
    if (rows.length !== 1) throw new TransformError(`expected one row, the query returned ${rows.length}`);
    return rows[0];
  }
  /** The first column of the query's one row. */
  queryScalar(sql, values = []) {
    return Object.values(this.queryOne(sql, values))[0];
  }
  /** Runs one statement; returns the number of rows it changed. */
  execute(sql, values = []) {
    return Number(call(() => wit.execute(sql, params(values))));
  }
  /** Runs one statement once per parameter list, as one batch; returns the rows changed. */
  executeMany(sql, rows) {
    if (rows.length === 0) return 0;
    return Number(call(() => wit.executeMany(sql, rows.map(params))));
  }
  /** The rows of a query in batches of at most `batch` rows, read as the loop goes. */
  *cursor(sql, values = [], batch = 1000) {
    batchRows(batch);
    const handle = call(() => wit.openCursor(sql, params(values)));
    const columns = handle.columns();
    for (;;) {
      const raw = call(() => handle.next(batch));
      if (raw.length === 0) return;
      yield rowsOf(columns, raw);
    }
  }
  /** A Writer for one parameterised INSERT, UPDATE or DELETE. */
  writer(sql) {
    return new Writer(call(() => wit.openWriter(sql)));
  }
  /** Reads `table` in pages by its unique, non-null `key`, calls `fn(row)` on each row and
   * writes what it returns (an array of values for the columns `write`; null leaves the row
   * as it is). Returns the number of rows written. */
  backfill({ table, key, read, write, batch = 1000, filter = null }, fn) {
    if (!read?.length || !write?.length) throw new TransformError('a backfill reads at least one column and writes at least one');
    if (write.includes(key)) throw new TransformError(`a backfill does not write its key '${key}'`);
    const where = filter ? ` WHERE ${filter}` : '';
    const total = Number(this.queryScalar(`SELECT count(*) FROM ${table}${where}`));
    const columns = [key, ...read.filter((c) => c !== key)].join(', ');
    const sets = write.map((c, i) => `${c} = $${i + 1}`).join(', ');
    const condition = filter ? ` AND (${filter})` : '';
    const limit = batchRows(batch);
    const first = `SELECT ${columns} FROM ${table} WHERE 1 = 1${condition} ORDER BY ${key} LIMIT ${limit}`;
    const after = `SELECT ${columns} FROM ${table} WHERE ${key} > $1${condition} ORDER BY ${key} LIMIT ${limit}`;
    const out = this.writer(`UPDATE ${table} SET ${sets} WHERE ${key} = $${write.length + 1}`);
    let seen = 0;
    let written = 0;
    let last = null;
    for (;;) {
      const page = last === null ? this.query(first) : this.query(after, [last]);
      if (page.length === 0) break;
      const values = [];
      for (const row of page) {
        const next = fn(row);
        if (next === null || next === undefined) continue;
        if (next.length !== write.length) {
          throw new TransformError(`the backfill function returned ${next.length} values for ${write.length} columns`);
        }
        values.push([...next, row[key]]);
      }
      if (values.length) {
        out.write(values);
        written += values.length;
      }
      seen += page.length;
      last = page[page.length - 1][key];
      progress(seen, total);
    }
    out.finish();
    if (seen !== total) {
      throw new TransformError(`the backfill read ${seen} rows of ${table} but counted ${total}: '${key}' must be unique and never NULL`);
    }
    return written;
  }
}

/** The step's `args`, as text by name; `require(args, name)` fails naming a missing one. */
export function require(args, name) {
  if (!(name in args)) throw new TransformError(`the step gives no argument '${name}'`);
  return args[name];
}

export const debug = (message) => witLog.log('debug', String(message));
export const info = (message) => witLog.log('info', String(message));
export const warn = (message) => witLog.log('warn', String(message));
export const error = (message) => witLog.log('error', String(message));

/** How far the transform got: `done` of `total` units (rows, usually). */
export function progress(done, total) {
  witLog.progress(BigInt(Math.trunc(done)), total === undefined || total === null ? undefined : BigInt(Math.trunc(total)));
}

// The sandbox discards standard output, so `console` writes to runner's log instead, where the
// author sees it under the step: log and info as info, debug, warn, error. Values that are not
// text are shown as JSON where they can be (a BigInt as 12n), else as String shows them.
function shown(values) {
  return values
    .map((value) => {
      if (typeof value === 'string') return value;
      if (value instanceof Error) return value.stack ? `${value}\n${value.stack}` : String(value);
      try {
        const json = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
        return json === undefined ? String(value) : json;
      } catch {
        return String(value);
      }
    })
    .join(' ');
}

globalThis.console = Object.freeze({
  log: (...values) => info(shown(values)),
  info: (...values) => info(shown(values)),
  debug: (...values) => debug(shown(values)),
  trace: (...values) => debug(shown(values)),
  warn: (...values) => warn(shown(values)),
  error: (...values) => error(shown(values)),
});
