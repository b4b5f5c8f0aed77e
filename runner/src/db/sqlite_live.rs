//! What a SQLite table rebuild needs from the live database: the views and triggers to drop and
//! recreate, the indexes the model does not know, and the AUTOINCREMENT counter.

use super::{Db, DbError, Value};
use crate::dialect::renderer;
use crate::dialect::sqlite::{LiveObject, LiveState};
use crate::dialect_kind::Dialect;

/// Reads the live objects around `table`, in `sqlite_master` order.
pub async fn live_state(db: &mut Db, table: &str) -> Result<LiveState, DbError> {
    let rows = db
        .query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE sql IS NOT NULL AND (type IN ('view', 'trigger') OR (type = 'index' AND tbl_name = ?)) \
             ORDER BY rowid",
            &[Value::Text(table.into())],
        )
        .await?;
    let objects = rows
        .rows
        .iter()
        .map(|row| LiveObject {
            kind: row[0].to_text().unwrap_or_default(),
            name: row[1].to_text().unwrap_or_default(),
            table: row[2].to_text().unwrap_or_default(),
            sql: row[3].to_text().unwrap_or_default(),
        })
        .collect();
    let has_sequence = db.table_exists("sqlite_sequence").await?;
    let sequence = if has_sequence {
        db.query(
            "SELECT seq FROM sqlite_sequence WHERE name = ?",
            &[Value::Text(table.into())],
        )
        .await?
        .scalar()
        .and_then(Value::as_i64)
    } else {
        None
    };
    Ok(LiveState { objects, sequence })
}

/// Foreign key violations in the whole database, as `table rowid N -> parent` lines.
pub async fn foreign_key_violations(db: &mut Db) -> Result<Vec<String>, DbError> {
    let rows = db.query("PRAGMA foreign_key_check", &[]).await?;
    Ok(rows
        .rows
        .iter()
        .map(|row| {
            let text = |i: usize| row.get(i).and_then(Value::to_text).unwrap_or_default();
            format!("{} row {} -> {}", text(0), text(1), text(2))
        })
        .collect())
}

/// Checks that a view still reads: SQLite does not check views when they are created.
pub async fn check_view(db: &mut Db, view: &str) -> Result<(), DbError> {
    let quoted = renderer(Dialect::Sqlite).quote(view);
    db.query(&format!("SELECT * FROM {quoted} LIMIT 0"), &[])
        .await
        .map(drop)
}
