//! [`Db::backfill`]: the common data migration (read some columns of every row, compute new
//! values, write them back) as one call that is also the fastest way runner has to do it.
//!
//! It reads the table in pages by its key (`WHERE key > last ORDER BY key LIMIT n`: an index
//! range scan per page, nothing copied aside), hands each row to the transform's function,
//! and writes each page back as one batch of an `UPDATE ... WHERE key = $n` through a writer
//! (`Db::writer`): the host runs it as one statement per page where the database allows it.
//! The next page is started (`Db::start_query`) before the function sees this one, so on
//! SQLite the write of one page and the read of the next run on a second core while the
//! function works. It reports progress as it goes.

use crate::db::{Db, Dialect, Row, Rows};
use crate::{Error, Result, Value, progress};

/// What a backfill reads and writes: `Backfill::new("people", "id").read(&["full_name"])
/// .write(&["first_name", "last_name"])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    table: String,
    key: String,
    reads: Vec<String>,
    writes: Vec<String>,
    filter: Option<String>,
    batch: u32,
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackfillReport {
    /// Rows read and handed to the function.
    pub read: u64,
    /// Rows the function gave new values for, as the database counted them.
    pub written: u64,
}

impl Backfill {
    /// A backfill of `table`, paged by `key`: its primary key, or another column that is
    /// unique and never NULL (paging by a column with repeated values would skip rows; the
    /// backfill checks that it read as many rows as the table holds, and fails otherwise).
    pub fn new(table: &str, key: &str) -> Self {
        Backfill {
            table: table.to_string(),
            key: key.to_string(),
            reads: Vec::new(),
            writes: Vec::new(),
            filter: None,
            batch: 1000,
        }
    }

    /// The columns the function reads (besides the key, which every row has).
    pub fn read(mut self, columns: &[&str]) -> Self {
        self.reads = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// The columns the function writes, in the order of the values it returns.
    pub fn write(mut self, columns: &[&str]) -> Self {
        self.writes = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Only rows matching an SQL condition on the table's columns, such as
    /// `"first_name IS NULL"`: a backfill that skips what an earlier run already did.
    pub fn filter(mut self, condition: &str) -> Self {
        self.filter = Some(condition.to_string());
        self
    }

    /// Rows per page (default 1000): each page is one read and one write.
    pub fn batch(mut self, rows: u32) -> Self {
        self.batch = rows.max(1);
        self
    }

    fn check(&self) -> Result<()> {
        if self.writes.is_empty() {
            return Err(Error::msg(format!(
                "the backfill of {} writes no column: name them with .write(&[...])",
                self.table
            )));
        }
        if self
            .writes
            .iter()
            .any(|w| w.eq_ignore_ascii_case(&self.key))
        {
            return Err(Error::msg(format!(
                "the backfill of {} pages by {} and cannot write it",
                self.table, self.key
            )));
        }
        Ok(())
    }
}

/// `name` quoted as an identifier on `dialect`.
fn quote(dialect: Dialect, name: &str) -> String {
    let mark = if dialect == Dialect::Mysql { '`' } else { '"' };
    let mut out = String::with_capacity(name.len() + 2);
    out.push(mark);
    for ch in name.chars() {
        if ch == mark {
            out.push(mark);
        }
        out.push(ch);
    }
    out.push(mark);
    out
}

/// The statements of one backfill, written once.
struct Statements {
    count: String,
    first_page: String,
    next_page: String,
    update: String,
}

impl Statements {
    /// Pages by `pager` (a quoted expression, column 0 of every page): the key, or on SQLite
    /// the table's rowid, which reads the table in its own order and finds each row for the
    /// write without a look through the key's index.
    fn new(backfill: &Backfill, dialect: Dialect, rowid: Option<&str>) -> Self {
        let q = |name: &str| quote(dialect, name);
        let (table, key) = (q(&backfill.table), q(&backfill.key));
        let pager = rowid.unwrap_or(&key);
        let mut columns = Vec::new();
        if let Some(rowid) = rowid {
            columns.push(format!("{rowid} AS {}", q(ROWID_COLUMN)));
        }
        columns.push(key.clone());
        columns.extend(
            backfill
                .reads
                .iter()
                .filter(|c| !c.eq_ignore_ascii_case(&backfill.key))
                .map(|c| q(c)),
        );
        let columns = columns.join(", ");
        let filter = backfill.filter.as_deref().map(|f| format!("({f})"));
        let limit = backfill.batch;
        let set: Vec<String> = backfill
            .writes
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{} = ${}", q(column), i + 1))
            .collect();
        let and_filter = filter
            .as_deref()
            .map(|f| format!(" AND {f}"))
            .unwrap_or_default();
        Statements {
            count: match &filter {
                Some(filter) => format!("SELECT count(*) FROM {table} WHERE {filter}"),
                None => format!("SELECT count(*) FROM {table}"),
            },
            first_page: match &filter {
                Some(filter) => format!(
                    "SELECT {columns} FROM {table} WHERE {filter} ORDER BY {pager} LIMIT {limit}"
                ),
                None => format!("SELECT {columns} FROM {table} ORDER BY {pager} LIMIT {limit}"),
            },
            next_page: format!(
                "SELECT {columns} FROM {table} WHERE {pager} > $1{and_filter} ORDER BY {pager} LIMIT {limit}"
            ),
            update: format!(
                "UPDATE {table} SET {} WHERE {pager} = ${}",
                set.join(", "),
                backfill.writes.len() + 1
            ),
        }
    }
}

/// The name a SQLite backfill gives the rowid in the rows it reads.
const ROWID_COLUMN: &str = "_backfill_rowid";

/// The name of `table`'s rowid on SQLite (one of `rowid`, `_rowid_`, `oid` that no column of
/// the table takes), or `None` for a table without one (`WITHOUT ROWID`).
fn sqlite_rowid(db: &Db, table: &str) -> Result<Option<&'static str>> {
    let table = quote(Dialect::Sqlite, table);
    let columns = db.query(&format!("SELECT * FROM {table} LIMIT 0"), &[])?;
    let Some(alias) = ["rowid", "_rowid_", "oid"].into_iter().find(|alias| {
        !columns
            .columns()
            .iter()
            .any(|c| c.eq_ignore_ascii_case(alias))
    }) else {
        return Ok(None);
    };
    match db.query(&format!("SELECT {alias} FROM {table} LIMIT 0"), &[]) {
        Ok(_) => Ok(Some(alias)),
        Err(Error::Sql(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

impl Db {
    /// Reads every row of a table (or those matching [`Backfill::filter`]) in pages by key,
    /// calls `change` on each, and writes the values it returns to the columns named by
    /// [`Backfill::write`] (`None` leaves the row as it is). Reports progress. A row carries
    /// the key and the columns named by [`Backfill::read`].
    ///
    /// ```no_run
    /// # use runner_guest_sdk::prelude::*;
    /// # fn up(db: &Db, _args: &Args) -> Result<()> {
    /// let done = db.backfill(
    ///     &Backfill::new("people", "id")
    ///         .read(&["full_name", "email"])
    ///         .write(&["first_name", "last_name", "email"]),
    ///     |row| {
    ///         let full: String = row.get("full_name")?;
    ///         let email: String = row.get("email")?;
    ///         let (first, last) = full.split_once(' ').unwrap_or((&full, ""));
    ///         Ok(Some(params![first, last, email.to_lowercase()]))
    ///     },
    /// )?;
    /// info!("backfilled {} people", done.written);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Each page is read as it is when the backfill reaches it, inside the revision's
    /// transaction: the function's own writes to rows further on are seen when they are read.
    pub fn backfill(
        &self,
        backfill: &Backfill,
        mut change: impl FnMut(&Row<'_>) -> Result<Option<Vec<Value>>>,
    ) -> Result<BackfillReport> {
        backfill.check()?;
        let dialect = self.dialect();
        let rowid = match dialect {
            Dialect::Sqlite => sqlite_rowid(self, &backfill.table)?,
            _ => None,
        };
        let statements = Statements::new(backfill, dialect, rowid);
        let total: i64 = self.query_scalar(&statements.count, &[])?;
        let total = u64::try_from(total).unwrap_or(0);
        let mut report = BackfillReport::default();
        let mut writer = self.writer(&statements.update)?;
        let mut page: Rows = self.query(&statements.first_page, &[])?;
        while let Some(end) = page.iter().last() {
            // The next page is read before this one is written: the UPDATE changes only rows
            // of this page, found by a key it never writes, so the next page holds the same
            // rows either way. Started now, it is read (on SQLite, behind the transform,
            // after the page before this one is written) while the function works here.
            let next = if page.len() < backfill.batch as usize {
                None
            } else {
                let last = end.value(&0usize)?;
                Some(self.start_query(&statements.next_page, std::slice::from_ref(last))?)
            };
            let mut updates = Vec::with_capacity(page.len());
            for row in page.iter() {
                if let Some(mut values) = change(&row)? {
                    if values.len() != backfill.writes.len() {
                        return Err(Error::msg(format!(
                            "the backfill of {} writes {} column(s), but the function gave {} value(s)",
                            backfill.table,
                            backfill.writes.len(),
                            values.len()
                        )));
                    }
                    values.push(row.value(&0usize)?.clone());
                    updates.push(values);
                }
            }
            writer.write(&updates)?;
            report.read += page.len() as u64;
            progress(report.read, Some(total.max(report.read)));
            match next {
                Some(pending) => page = pending.rows()?,
                None => break,
            }
        }
        report.written = writer.finish()?;
        if backfill.filter.is_none() && report.read != total {
            return Err(Error::msg(format!(
                "the backfill of {} read {} rows of {total}: its key {} must be unique and never NULL",
                backfill.table, report.read, backfill.key
            )));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_names_and_number_placeholders_after_the_written_columns() {
        let backfill = Backfill::new("people", "id")
            .read(&["full_name", "id"])
            .write(&["first_name", "last name"])
            .batch(500);
        let s = Statements::new(&backfill, Dialect::Postgres, None);
        assert_eq!(s.count, r#"SELECT count(*) FROM "people""#);
        assert_eq!(
            s.first_page,
            r#"SELECT "id", "full_name" FROM "people" ORDER BY "id" LIMIT 500"#
        );
        assert_eq!(
            s.next_page,
            r#"SELECT "id", "full_name" FROM "people" WHERE "id" > $1 ORDER BY "id" LIMIT 500"#
        );
        assert_eq!(
            s.update,
            r#"UPDATE "people" SET "first_name" = $1, "last name" = $2 WHERE "id" = $3"#
        );
        let mysql = Statements::new(&backfill.clone().filter("a IS NULL"), Dialect::Mysql, None);
        assert_eq!(
            mysql.next_page,
            "SELECT `id`, `full_name` FROM `people` WHERE `id` > $1 AND (a IS NULL) ORDER BY `id` LIMIT 500"
        );
        assert_eq!(quote(Dialect::Mysql, "a`b"), "`a``b`");
        let sqlite = Statements::new(&backfill, Dialect::Sqlite, Some("_rowid_"));
        assert_eq!(
            sqlite.next_page,
            r#"SELECT _rowid_ AS "_backfill_rowid", "id", "full_name" FROM "people" WHERE _rowid_ > $1 ORDER BY _rowid_ LIMIT 500"#
        );
        assert_eq!(
            sqlite.update,
            r#"UPDATE "people" SET "first_name" = $1, "last name" = $2 WHERE _rowid_ = $3"#
        );
    }

    #[test]
    fn a_backfill_must_write_something_and_not_its_key() {
        let none = Backfill::new("t", "id").check().unwrap_err().to_string();
        assert!(none.contains("writes no column"), "{none}");
        let key = Backfill::new("t", "id").write(&["ID"]).check().unwrap_err();
        assert!(
            key.to_string().contains("pages by id and cannot write it"),
            "{key}"
        );
    }
}
