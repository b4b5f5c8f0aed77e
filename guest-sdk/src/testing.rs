//! Unit tests for transforms in plain `cargo test`, natively: no wasm, no runner. [`TestDb`]
//! is an in-memory SQLite database filled by the test; it runs a transform's `up` or `down`
//! through the SDK's own code (`Db`, `Row`, cursors, `execute_many`, writers, backfills, the
//! logging macros), then lets the test read the rows back and see what the transform logged
//! and reported as progress.
//!
//! A transform crate turns it on for its tests only:
//!
//! ```toml
//! [dev-dependencies]
//! runner-guest-sdk = { path = "../.runner/guest-sdk", features = ["testing"] }
//! ```
//!
//! ```
//! use runner_guest_sdk::prelude::*;
//! use runner_guest_sdk::testing::TestDb;
//!
//! fn up(db: &Db, _args: &Args) -> Result<()> {
//!     let changed = db.execute("UPDATE contacts SET email = lower(trim(email))", &[])?;
//!     info!("{changed} emails");
//!     Ok(())
//! }
//!
//! let db = TestDb::new("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)")
//!     .rows("INSERT INTO contacts (id, email) VALUES ($1, $2)", [
//!         params![1, " Ada@Example.COM "],
//!         params![2, None::<&str>],
//!     ]);
//! db.up(up, &[]).unwrap();
//! assert_eq!(db.texts("SELECT email FROM contacts ORDER BY id"), [["ada@example.com"], ["NULL"]]);
//! assert_eq!(db.logs(), ["info: 2 emails"]);
//! ```
//!
//! What it shares with runner on SQLite: `$1, $2, ...` placeholders, values bound and read back
//! by the column's declared type (declare `BOOLEAN`, `DECIMAL_TEXT`, `JSON_TEXT`, `UUID_TEXT`,
//! `DATE`, `TIME` or `TIMESTAMP` to get those [`Value`]s, as runner's SQLite tables do), one
//! transaction per run that an error rolls back, cursors that do not see later writes, and the
//! refusal of statements other than SELECT, INSERT, UPDATE, DELETE and WITH. What it does not
//! do: check tables against a step's `reads` and `writes`, limit time and memory, or run
//! PostgreSQL and MySQL. `runner try-transform` runs a step in the real sandbox.

use std::rc::Rc;

use crate::sqlite_host::{self, Session};
use crate::{Args, Db, Error, Result, Rows, Value};

/// An in-memory SQLite database for a transform's unit test. Set up with [`TestDb::new`] and
/// [`TestDb::rows`], run the transform with [`TestDb::up`] or [`TestDb::down`], check with
/// [`TestDb::texts`], [`TestDb::query`], [`TestDb::logs`] and [`TestDb::progress`]. The
/// set-up and check methods panic on an SQL error, with the error and the statement: they are
/// the test's own statements.
pub struct TestDb {
    session: Rc<Session>,
}

impl TestDb {
    /// A database made by `schema`: one or more SQL statements separated by `;` (usually the
    /// `CREATE TABLE`s of the tables the transform reads and writes, as they are when its step
    /// runs).
    #[track_caller]
    pub fn new(schema: &str) -> TestDb {
        let session = Session::open()
            .unwrap_or_else(|e| panic!("could not open an in-memory SQLite database: {e}"));
        if let Err(e) = session.conn.execute_batch(schema) {
            panic!("{e}\nin the schema:\n{schema}");
        }
        TestDb { session }
    }

    /// Runs `sql` once per parameter list in `rows`: `.rows("INSERT INTO t (a, b) VALUES ($1,
    /// $2)", [params![1, "x"], params![2, None::<&str>]])`.
    #[track_caller]
    pub fn rows(self, sql: &str, rows: impl IntoIterator<Item = Vec<Value>>) -> TestDb {
        let rows: Vec<Vec<Value>> = rows.into_iter().collect();
        let written = sqlite_host::write(&self.session.conn, sql, rows.iter().map(Vec::as_slice));
        if let Err(e) = written {
            panic!("{}\nin: {sql}", Error::from(e));
        }
        self
    }

    /// Runs one statement of the test's own, outside any transform and unchecked (a schema
    /// change between `up` and `down`, say); returns the rows changed.
    #[track_caller]
    pub fn execute(&self, sql: &str, params: &[Value]) -> u64 {
        sqlite_host::write(&self.session.conn, sql, [params])
            .unwrap_or_else(|e| panic!("{}\nin: {sql}", Error::from(e)))
    }

    /// The rows of a query, to read with [`Row::get`](crate::Row::get) as a transform does.
    #[track_caller]
    pub fn query(&self, sql: &str, params: &[Value]) -> Rows {
        let rows = sqlite_host::read(&self.session.conn, sql, params, usize::MAX)
            .unwrap_or_else(|e| panic!("{}\nin: {sql}", Error::from(e)));
        Rows::new(rows.columns.into(), rows.rows)
    }

    /// The rows of a query as text, to compare with literals:
    /// `assert_eq!(db.texts("SELECT a, b FROM t ORDER BY id"), [["1", "x"], ["2", "NULL"]])`.
    /// SQL NULL reads `NULL` (use [`TestDb::query`] to tell it from the text 'NULL'), a real
    /// keeps its point (`999.0`), a boolean reads `true` or `false`, a blob `x'0a1b'`.
    #[track_caller]
    pub fn texts(&self, sql: &str) -> Vec<Vec<String>> {
        self.query(sql, &[])
            .into_values()
            .iter()
            .map(|row| row.iter().map(text).collect())
            .collect()
    }

    /// Runs a transform's `up` with `args` (a step's `args: {batch: 1000}` is
    /// `&[("batch", "1000")]`), in a transaction as runner runs it: an error rolls back what it
    /// changed, and comes back as the transform returned it (its text is what runner shows).
    /// A panic rolls back too, and fails the test.
    pub fn up(
        &self,
        up: impl FnOnce(&Db, &Args) -> Result<()>,
        args: &[(&str, &str)],
    ) -> Result<()> {
        self.run(up, args)
    }

    /// Runs a transform's `down`, as [`TestDb::up`] runs `up`.
    pub fn down(
        &self,
        down: impl FnOnce(&Db, &Args) -> Result<()>,
        args: &[(&str, &str)],
    ) -> Result<()> {
        self.run(down, args)
    }

    /// What the last `up` or `down` logged, in order, one `level: message` per line:
    /// `["info: split 3 names"]`.
    pub fn logs(&self) -> Vec<String> {
        self.session.logs.borrow().clone()
    }

    /// The `(done, total)` progress the last `up` or `down` reported, in order.
    pub fn progress(&self) -> Vec<(u64, Option<u64>)> {
        self.session.progress.borrow().clone()
    }

    fn run(
        &self,
        function: impl FnOnce(&Db, &Args) -> Result<()>,
        args: &[(&str, &str)],
    ) -> Result<()> {
        self.session.logs.borrow_mut().clear();
        self.session.progress.borrow_mut().clear();
        let args = Args::new(
            args.iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        );
        let sql_error = |e: rusqlite::Error| Error::Sql(e.to_string());
        // Rolled back when dropped: on an error, and on a panic as it unwinds.
        let transaction = self
            .session
            .conn
            .unchecked_transaction()
            .map_err(sql_error)?;
        let outcome = {
            let _entered = self.session.enter();
            function(&Db::handle(), &args)
        };
        outcome?;
        transaction.commit().map_err(sql_error)
    }
}

/// A value as [`TestDb::texts`] shows it.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Real(x) => format!("{x:?}"),
        Value::Blob(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("x'{hex}'")
        }
        Value::Text(s)
        | Value::Decimal(s)
        | Value::Date(s)
        | Value::Time(s)
        | Value::Timestamp(s)
        | Value::Json(s)
        | Value::Uuid(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::TestDb;
    use crate::prelude::*;

    fn people() -> TestDb {
        TestDb::new(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, first TEXT, last TEXT);
             CREATE TABLE notes (id INTEGER PRIMARY KEY, person_id INTEGER, body TEXT NOT NULL)",
        )
        .rows(
            "INSERT INTO people (id, name) VALUES ($1, $2)",
            (1..=5).map(|i| params![i, format!("Person Number{i}")]),
        )
    }

    #[test]
    fn placeholders_take_their_values_by_number() {
        let db = people();
        db.up(
            |db, _| {
                db.execute(
                    "UPDATE people SET first = $2 WHERE id = $1",
                    &params![1, "a"],
                )?;
                db.execute("UPDATE people SET first = ? WHERE id = ?", &params!["b", 2])?;
                db.execute(
                    "UPDATE people SET first = ?2, last = $2 WHERE id = ?1",
                    &params![3, "c"],
                )?;
                let err = db
                    .execute(
                        "UPDATE people SET first = $3 WHERE id = $1",
                        &params![1, "x"],
                    )
                    .unwrap_err();
                assert_eq!(
                    err,
                    Error::Sql("the statement uses 3 parameter(s) but 2 were given".into())
                );
                Ok(())
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            db.texts("SELECT first, last FROM people WHERE id <= 3 ORDER BY id"),
            [["a", "NULL"], ["b", "NULL"], ["c", "c"]]
        );
    }

    #[test]
    fn values_are_stored_and_read_back_by_the_declared_type_as_runner_does() {
        let db = TestDb::new(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, price DECIMAL_TEXT(10, 2),
             doc JSON_TEXT, uid UUID_TEXT, day DATE, at TIMESTAMP, x REAL, raw BLOB, note TEXT)",
        );
        let row = params![
            1,
            true,
            Value::Decimal("12345678901234567890.10".into()),
            Value::Json(r#"{"a":1}"#.into()),
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            Value::Date("2026-12-05".into()),
            Value::Timestamp("2026-12-05T10:00:00Z".into()),
            0.1,
            vec![0u8, 255],
            None::<&str>
        ];
        db.up(
            |db, _| {
                db.execute(
                    "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &row,
                )?;
                let rows = db.query("SELECT * FROM t", &[])?;
                assert_eq!(rows.into_values(), std::slice::from_ref(&row));
                let flag: bool = db.query_scalar("SELECT flag FROM t", &[])?;
                assert!(flag);
                Ok(())
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            db.texts("SELECT flag, x, raw, note, typeof(flag) FROM t"),
            [["true", "0.1", "x'00ff'", "NULL", "integer"]]
        );
    }

    #[test]
    fn a_cursor_reads_the_rows_as_they_were_when_it_opened() {
        let db = people();
        db.up(
            |db, _| {
                let mut cursor = db.cursor("SELECT id, name FROM people ORDER BY id", &[])?;
                assert_eq!(cursor.columns(), ["id", "name"]);
                let mut seen = Vec::new();
                while let Some(batch) = cursor.next_batch(2)? {
                    db.execute("DELETE FROM people", &[])?;
                    for row in batch.iter() {
                        seen.push(row.get::<String>("name")?);
                    }
                }
                assert_eq!(seen.len(), 5);
                Ok(())
            },
            &[],
        )
        .unwrap();
        assert!(db.texts("SELECT id FROM people").is_empty());
    }

    #[test]
    fn a_failing_batch_changes_nothing_and_a_writer_stops_after_it() {
        let db = people();
        let err = db
            .up(
                |db, _| {
                    db.execute_many(
                        "INSERT INTO notes (person_id, body) VALUES ($1, $2)",
                        &[params![1, "kept"], params![2, None::<&str>]],
                    )
                    .map(drop)
                },
                &[],
            )
            .unwrap_err();
        assert!(
            matches!(&err, Error::Sql(m) if m.contains("NOT NULL constraint failed")),
            "{err}"
        );
        assert!(db.texts("SELECT * FROM notes").is_empty());

        db.up(
            |db, _| {
                let mut writer =
                    db.writer("INSERT INTO notes (person_id, body) VALUES ($1, $2)")?;
                writer.write(&[params![1, "one"], params![2, "two"]])?;
                let notes: i64 = db.query_scalar("SELECT count(*) FROM notes", &[])?;
                assert_eq!(notes, 2, "reads see the writes before them");
                assert!(writer.write(&[params![3, None::<&str>]]).is_err());
                assert!(writer.write(&[params![4, "four"]]).is_err());
                assert!(writer.finish().is_err());
                Ok(())
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            db.texts("SELECT body FROM notes ORDER BY id"),
            [["one"], ["two"]]
        );
    }

    #[test]
    fn an_error_rolls_the_run_back_and_logs_and_progress_are_per_run() {
        let db = people();
        let err = db
            .up(
                |db, args| {
                    db.execute("DELETE FROM people", &[])?;
                    warn!("deleted everyone");
                    progress(5, Some(5));
                    bail!("no, {}", args.require("reason")?)
                },
                &[("reason", "changed my mind")],
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "no, changed my mind");
        assert_eq!(db.texts("SELECT count(*) FROM people"), [["5"]]);
        assert_eq!(db.logs(), ["warn: deleted everyone"]);
        assert_eq!(db.progress(), [(5, Some(5))]);
        db.down(|_, _| Ok(()), &[]).unwrap();
        assert!(db.logs().is_empty() && db.progress().is_empty());
    }

    #[test]
    fn a_backfill_runs_in_pages_and_reports_progress() {
        let db = people();
        db.up(
            |db, _| {
                let report = db.backfill(
                    &Backfill::new("people", "id")
                        .read(&["name"])
                        .write(&["first", "last"])
                        .batch(2),
                    |row| {
                        let name = row.text("name")?;
                        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
                        Ok(Some(params![first, last]))
                    },
                )?;
                info!("{} of {}", report.written, report.read);
                Ok(())
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            db.texts("SELECT first, last FROM people WHERE id IN (1, 5) ORDER BY id"),
            [["Person", "Number1"], ["Person", "Number5"]]
        );
        assert_eq!(db.progress(), [(2, Some(5)), (4, Some(5)), (5, Some(5))]);
        assert_eq!(db.logs(), ["info: 5 of 5"]);
    }

    #[test]
    fn statements_a_transform_may_not_run_are_refused() {
        let db = people();
        let err = db
            .up(
                |db, _| db.execute(" -- why\n drop table people", &[]).map(drop),
                &[],
            )
            .unwrap_err();
        assert_eq!(
            err,
            Error::Denied(
                "only SELECT, INSERT, UPDATE, DELETE and WITH may run in a transform, not DROP"
                    .into()
            )
        );
        db.up(
            |db, _| {
                let n: i64 = db.query_scalar(
                    "/* a comment */ WITH n AS (SELECT count(*) AS c FROM people) SELECT c FROM n",
                    &[],
                )?;
                assert_eq!(n, 5);
                assert_eq!(db.dialect(), Dialect::Sqlite);
                Ok(())
            },
            &[],
        )
        .unwrap();
    }
}
