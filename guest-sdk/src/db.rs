//! The database handle a transform gets, rows with typed access by column name, and cursors
//! read in batches.

use std::sync::Arc;

use crate::host::db as host;
use crate::{Error, FromValue, Result, Value};

/// The database a transform runs on, for the rare SQL that must differ between them.
pub use host::Dialect;

/// The handle to the database, inside the revision's transaction. Every statement is checked
/// by runner against the tables the step declares.
pub struct Db {
    _private: (),
}

impl Db {
    pub(crate) fn handle() -> Self {
        Db { _private: () }
    }

    /// The database this transform runs on.
    pub fn dialect(&self) -> Dialect {
        host::current_dialect()
    }

    /// Runs a query and returns all its rows. Use [`Db::cursor`] for large results.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        let rows = host::query(sql, params)?;
        Ok(Rows::new(rows.columns.into(), rows.rows))
    }

    /// Runs a query that returns exactly one row.
    pub fn query_one(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        let rows = self.query(sql, params)?;
        if rows.len() != 1 {
            return Err(Error::msg(format!(
                "expected one row, got {} from: {sql}",
                rows.len()
            )));
        }
        Ok(rows)
    }

    /// Runs a query that returns one row of one column, read as `T`.
    pub fn query_scalar<T: FromValue>(&self, sql: &str, params: &[Value]) -> Result<T> {
        let rows = self.query_one(sql, params)?;
        rows.iter().next().map_or_else(
            || Err(Error::msg("expected one row")),
            |row| row.get(0usize),
        )
    }

    /// Runs a statement; returns the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        Ok(host::execute(sql, params)?)
    }

    /// Runs one statement once per parameter list, as one batch; returns the rows changed.
    pub fn execute_many(&self, sql: &str, batch: &[Vec<Value>]) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        Ok(host::execute_many(sql, batch)?)
    }

    /// Opens a writer for one parameterised INSERT, UPDATE or DELETE: each
    /// [`Writer::write`] hands a batch of parameter lists over and may return before it ran,
    /// so the transform computes the next batch while the database writes this one (on
    /// SQLite the two run side by side on two cores). Any other call on the database waits
    /// for the running batch first: reads see every write before them. Call
    /// [`Writer::finish`] at the end: it returns the rows changed, or the error of a batch
    /// that failed (an error nobody received fails the revision anyway).
    pub fn writer(&self, sql: &str) -> Result<Writer> {
        Ok(Writer {
            writer: host::open_writer(sql)?,
        })
    }

    /// Starts a query that runs after every call before it and before every call after it,
    /// as [`Db::query`] would, but may return before it ran: [`PendingRows::rows`] waits for
    /// its rows. With a [`Writer`], a transform reads its next page while the database
    /// writes this one and it computes (on SQLite the reading and writing run on a second
    /// core).
    pub fn start_query(&self, sql: &str, params: &[Value]) -> Result<PendingRows> {
        Ok(PendingRows {
            pending: host::start_query(sql, params)?,
        })
    }

    /// Opens a cursor over a query, to read it in batches with [`Cursor::next_batch`]. Writes
    /// made between batches do not change what the cursor returns.
    pub fn cursor(&self, sql: &str, params: &[Value]) -> Result<Cursor> {
        let cursor = host::open_cursor(sql, params)?;
        let columns: Arc<[String]> = cursor.columns().into();
        Ok(Cursor { cursor, columns })
    }
}

/// Rows of a query, sharing one list of column names.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    columns: Arc<[String]>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    pub(crate) fn new(columns: Arc<[String]>, rows: Vec<Vec<Value>>) -> Self {
        Rows { columns, rows }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Each row, with typed access to its columns.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    /// The raw values, row by row.
    pub fn into_values(self) -> Vec<Vec<Value>> {
        self.rows
    }
}

/// A column, by name or by position.
pub trait ColumnRef {
    /// The position of the column in `columns`, or a message saying why there is none.
    fn position(&self, columns: &[String]) -> std::result::Result<usize, String>;
    /// How messages name the column.
    fn label(&self) -> String;
}

impl ColumnRef for &str {
    fn position(&self, columns: &[String]) -> std::result::Result<usize, String> {
        columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(self))
            .ok_or_else(|| format!("no such column; the row has {}", columns.join(", ")))
    }

    fn label(&self) -> String {
        (*self).to_string()
    }
}

impl ColumnRef for usize {
    fn position(&self, columns: &[String]) -> std::result::Result<usize, String> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(format!("the row has {} columns", columns.len()))
        }
    }

    fn label(&self) -> String {
        format!("#{self}")
    }
}

/// One row.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The value of a column, read as `T`: `row.get::<i64>("id")`, `row.get::<Option<String>>(1)`.
    pub fn get<T: FromValue>(&self, column: impl ColumnRef) -> Result<T> {
        let value = self.value(&column)?;
        T::from_value(value).map_err(|problem| Error::Column {
            column: column.label(),
            problem,
        })
    }

    /// The text of a column that holds text (or a decimal, date, time, timestamp, JSON or
    /// UUID), borrowed from the row rather than copied as `get::<String>` does: the cheaper
    /// read in a loop over many rows. An error for NULL and other values.
    pub fn text(&self, column: impl ColumnRef) -> Result<&'a str> {
        let value = self.value(&column)?;
        value.as_text().ok_or_else(|| Error::Column {
            column: column.label(),
            problem: format!("expected text, found {}", value.kind()),
        })
    }

    /// The raw value of a column.
    pub fn value(&self, column: &impl ColumnRef) -> Result<&'a Value> {
        let position = column
            .position(self.columns)
            .map_err(|problem| Error::Column {
                column: column.label(),
                problem,
            })?;
        Ok(&self.values[position])
    }

    /// All the values, in column order.
    pub fn values(&self) -> &'a [Value] {
        self.values
    }
}

/// A query read in batches.
pub struct Cursor {
    cursor: host::Cursor,
    columns: Arc<[String]>,
}

impl Cursor {
    /// The next batch of at most `max` rows, or `None` once the query is exhausted.
    pub fn next_batch(&mut self, max: u32) -> Result<Option<Rows>> {
        let rows = self.cursor.next(max.max(1))?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Rows::new(self.columns.clone(), rows)))
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// The `args` of the transform step, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(Vec<(String, String)>);

impl Args {
    pub(crate) fn new(args: Vec<(String, String)>) -> Self {
        Args(args)
    }

    /// The argument `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The argument `name`, which the transform needs.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::msg(format!("the step needs the argument `{name}`")))
    }

    /// Every argument, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Batches of one statement written behind the transform (see [`Db::writer`]).
pub struct Writer {
    writer: host::Writer,
}

impl Writer {
    /// Hands a batch of parameter lists over; an error is this batch's, if it was refused
    /// before it ran, or the batch before it's. After an error the writer writes nothing
    /// more.
    pub fn write(&mut self, batch: &[Vec<Value>]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        Ok(self.writer.write(batch)?)
    }

    /// Waits for the last batch; returns the rows all batches changed.
    pub fn finish(self) -> Result<u64> {
        Ok(self.writer.finish()?)
    }
}

/// The rows of a query started with [`Db::start_query`].
pub struct PendingRows {
    pending: host::PendingRows,
}

impl PendingRows {
    /// Waits for the query if it still runs; returns its rows.
    pub fn rows(self) -> Result<Rows> {
        let rows = self.pending.rows()?;
        Ok(Rows::new(rows.columns.into(), rows.rows))
    }
}
