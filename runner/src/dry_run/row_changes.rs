//! The rows a step changed, per table: each table the step writes is read before and after,
//! and the rows are matched by primary key (`try-transform`'s sample).

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde::Serialize;

use crate::db::introspect::introspect;
use crate::db::{Db, Value};
use crate::dialect::renderer;
use crate::model::Schema;

/// Tables with more rows than this are not read whole for the sample of changed rows.
pub const SAMPLE_TABLE_LIMIT: i64 = 100_000;

/// How many changed rows the sample shows per table.
pub const SAMPLE_ROWS: usize = 5;

/// The rows of one table the step changed, compared by primary key.
#[derive(Debug, Clone, Serialize)]
pub struct TableSample {
    pub table: String,
    /// How many rows differ (inserted, deleted or updated); `None` if not compared.
    pub changed: Option<usize>,
    /// The first [`SAMPLE_ROWS`] of them.
    pub rows: Vec<ChangedRow>,
    /// Why the table was not compared (too many rows, no primary key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One row that differs after the step.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedRow {
    pub change: RowChange,
    /// Its primary key, column by column.
    pub key: IndexMap<String, serde_json::Value>,
    /// An update: the columns that changed; an insert or a delete: every column.
    pub columns: Vec<ColumnChange>,
}

/// How a row differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowChange {
    Updated,
    Inserted,
    Deleted,
}

/// One column of a changed row, before and after: numbers and booleans as such, other values
/// as their text (blobs in hex), `null` for NULL and where there is no row (an insert's
/// `before`, a delete's `after`).
#[derive(Debug, Clone, Serialize)]
pub struct ColumnChange {
    pub column: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// A value as the sample shows it.
pub fn shown(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => (*b).into(),
        Value::Integer(i) => (*i).into(),
        Value::Real(x) => serde_json::Number::from_f64(*x)
            .map_or_else(|| x.to_string().into(), serde_json::Value::Number),
        other => other.to_text().unwrap_or_default().into(),
    }
}

/// One table's rows, in primary key order, with the positions of the key's columns.
pub(super) struct Snapshot {
    columns: Vec<String>,
    key: Vec<usize>,
    rows: Vec<Vec<Value>>,
}

/// The rows of each of `tables` (or why they were not read).
pub(super) async fn snapshot(
    db: &mut Db,
    tables: &[String],
) -> Vec<(String, Result<Snapshot, String>)> {
    let schema = introspect(db)
        .await
        .map_err(|e| format!("the schema could not be read: {e}"));
    let mut out = Vec::with_capacity(tables.len());
    for table in tables {
        let rows = match &schema {
            Ok(schema) => read_table(db, schema, table).await,
            Err(e) => Err(e.clone()),
        };
        out.push((table.clone(), rows));
    }
    out
}

/// Reads `table` whole, unless it is too big or has no key to match rows by. Asks nothing of
/// a table the schema does not have: on PostgreSQL a failed query would end the transaction.
async fn read_table(db: &mut Db, schema: &Schema, table: &str) -> Result<Snapshot, String> {
    let Some(model) = schema.tables.get(table) else {
        return Err("no such table".into());
    };
    let Some(primary_key) = model.primary_key.as_ref().filter(|k| !k.columns.is_empty()) else {
        return Err("it has no primary key to match rows by".into());
    };
    let dialect = renderer(db.dialect());
    let quoted = dialect.quote(table);
    let count = db
        .query(&format!("SELECT COUNT(*) FROM {quoted}"), &[])
        .await
        .map_err(|e| e.to_string())?
        .scalar()
        .and_then(Value::as_i64)
        .unwrap_or_default();
    if count > SAMPLE_TABLE_LIMIT {
        return Err(format!(
            "it has {count} rows, more than the {SAMPLE_TABLE_LIMIT} read for a sample"
        ));
    }
    let order = primary_key
        .columns
        .iter()
        .map(|c| dialect.quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .query(&format!("SELECT * FROM {quoted} ORDER BY {order}"), &[])
        .await
        .map_err(|e| e.to_string())?;
    let key = primary_key
        .columns
        .iter()
        .map(|c| {
            rows.column(c)
                .ok_or_else(|| format!("its key column {c} was not read"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot {
        columns: rows.columns,
        key,
        rows: rows.rows,
    })
}

impl Snapshot {
    fn key_of(&self, row: &[Value]) -> String {
        let values: Vec<Option<&Value>> = self.key.iter().map(|&i| row.get(i)).collect();
        format!("{values:?}")
    }

    fn key_shown(&self, row: &[Value]) -> IndexMap<String, serde_json::Value> {
        self.key
            .iter()
            .map(|&i| {
                (
                    self.columns.get(i).cloned().unwrap_or_default(),
                    row.get(i).map_or(serde_json::Value::Null, shown),
                )
            })
            .collect()
    }

    fn value<'s>(&self, row: &'s [Value], column: &str) -> Option<&'s Value> {
        let i = self.columns.iter().position(|c| c == column)?;
        row.get(i)
    }
}

/// The rows that differ between `before` and `after`, matched by primary key.
pub(super) fn compare(
    table: String,
    before: Result<Snapshot, String>,
    after: Result<Snapshot, String>,
) -> TableSample {
    let (before, after) = match (before, after) {
        (Ok(before), Ok(after)) => (before, after),
        (Err(why), _) | (_, Err(why)) => {
            return TableSample {
                table,
                changed: None,
                rows: Vec::new(),
                skipped: Some(why),
            };
        }
    };
    let by_key: HashMap<String, &Vec<Value>> = before
        .rows
        .iter()
        .map(|row| (before.key_of(row), row))
        .collect();
    let mut seen = HashSet::new();
    let mut changed = 0;
    let mut rows = Vec::new();
    let mut found = |row: ChangedRow| {
        changed += 1;
        if rows.len() < SAMPLE_ROWS {
            rows.push(row);
        }
    };
    for row in &after.rows {
        let key = after.key_of(row);
        let Some(old) = by_key.get(&key) else {
            found(ChangedRow {
                change: RowChange::Inserted,
                key: after.key_shown(row),
                columns: every_column(&after, row, false),
            });
            continue;
        };
        seen.insert(key);
        let columns: Vec<ColumnChange> = after
            .columns
            .iter()
            .filter_map(|column| {
                let was = before.value(old, column);
                let is = after.value(row, column);
                (was != is).then(|| ColumnChange {
                    column: column.clone(),
                    before: was.map_or(serde_json::Value::Null, shown),
                    after: is.map_or(serde_json::Value::Null, shown),
                })
            })
            .collect();
        if !columns.is_empty() {
            found(ChangedRow {
                change: RowChange::Updated,
                key: after.key_shown(row),
                columns,
            });
        }
    }
    for row in &before.rows {
        if !seen.contains(&before.key_of(row)) {
            found(ChangedRow {
                change: RowChange::Deleted,
                key: before.key_shown(row),
                columns: every_column(&before, row, true),
            });
        }
    }
    TableSample {
        table,
        changed: Some(changed),
        rows,
        skipped: None,
    }
}

/// Every column of a row that was inserted (`deleted` false) or deleted.
fn every_column(snapshot: &Snapshot, row: &[Value], deleted: bool) -> Vec<ColumnChange> {
    snapshot
        .columns
        .iter()
        .zip(row)
        .map(|(column, value)| {
            let value = shown(value);
            let (before, after) = if deleted {
                (value, serde_json::Value::Null)
            } else {
                (serde_json::Value::Null, value)
            };
            ColumnChange {
                column: column.clone(),
                before,
                after,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(rows: Vec<Vec<Value>>) -> Result<Snapshot, String> {
        Ok(Snapshot {
            columns: vec!["id".into(), "name".into()],
            key: vec![0],
            rows,
        })
    }

    fn row(id: i64, name: Option<&str>) -> Vec<Value> {
        vec![
            Value::Integer(id),
            name.map_or(Value::Null, |n| Value::Text(n.into())),
        ]
    }

    #[test]
    fn rows_are_matched_by_key_and_only_differences_are_shown() {
        let before = snapshot(vec![row(1, Some("a")), row(2, None), row(3, Some("c"))]);
        let after = snapshot(vec![
            row(1, Some("a")),
            row(2, Some("b")),
            row(4, Some("d")),
        ]);
        let sample = compare("t".into(), before, after);
        assert_eq!(sample.changed, Some(3));
        let changes: Vec<RowChange> = sample.rows.iter().map(|r| r.change).collect();
        assert_eq!(
            changes,
            [RowChange::Updated, RowChange::Inserted, RowChange::Deleted]
        );
        let updated = &sample.rows[0];
        assert_eq!(updated.key["id"], 2);
        assert_eq!(updated.columns.len(), 1);
        assert_eq!(updated.columns[0].column, "name");
        assert!(updated.columns[0].before.is_null());
        assert_eq!(updated.columns[0].after, "b");
    }

    #[test]
    fn the_sample_is_bounded_and_a_table_not_read_says_why() {
        let before = snapshot((0..20).map(|i| row(i, None)).collect());
        let after = snapshot((0..20).map(|i| row(i, Some("x"))).collect());
        let sample = compare("t".into(), before, after);
        assert_eq!(sample.changed, Some(20));
        assert_eq!(sample.rows.len(), SAMPLE_ROWS);
        let skipped = compare("t".into(), Err("too big".into()), snapshot(Vec::new()));
        assert_eq!(skipped.changed, None);
        assert_eq!(skipped.skipped.as_deref(), Some("too big"));
    }
}
