//! Cursors: a large result read in batches while the transform writes between them. Each
//! database keeps the result where writes cannot disturb it: PostgreSQL in a declared cursor,
//! SQLite and MySQL in a temporary table numbered in the query's order.

use super::authorizer;
use super::guard::Grants;
use super::postgres::{confirm_plan, postgres_form, postgres_params, too_large_value};
use super::sql::{
    ColumnKind, MAX_BATCH_ROWS, Page, Session, SqlError, bind, columns_of, sqlite, sqlite_rows,
};
use super::statement::Prepared;
use crate::db::bound::{Bounds, Params, value_bytes};
use crate::db::{Db, Value};
use crate::dialect::renderer;
use crate::dialect_kind::Dialect;

/// Where a cursor is.
#[derive(Debug)]
enum Place {
    /// A PostgreSQL cursor, read with FETCH.
    Declared { name: String },
    /// A SQLite temporary table holding the result in order, paged by its rowid.
    SqliteTable {
        name: String,
        /// The page query, `?1` the last rowid read and `?2` the page size.
        page: String,
        last: i64,
        kinds: Vec<ColumnKind>,
    },
    /// A MySQL temporary table holding the result, numbered in order in `_runner_n`.
    MysqlTable { name: String, last: i64 },
}

/// An open cursor.
#[derive(Debug)]
pub struct Cursor {
    pub columns: Vec<String>,
    place: Place,
    exhausted: bool,
}

fn quote(dialect: Dialect, name: &str) -> String {
    renderer(dialect).quote(name)
}

/// The name of the rowid that no column of a SQLite cursor's result hides (a column called
/// `rowid` takes that name in the temporary table); `None` if all three are taken.
fn rowid_alias(columns: &[String]) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|alias| !columns.iter().any(|c| c.eq_ignore_ascii_case(alias)))
}

/// Opens cursor number `id` over a query.
pub async fn open_cursor(
    db: &mut Db,
    session: &Session,
    prepared: &Prepared,
    params: &[Value],
    id: u64,
    grants: &Grants,
) -> Result<Cursor, SqlError> {
    let name = format!("_runner_cursor_{id}");
    let quoted = quote(session.dialect, &name);
    let (columns, place) = match session.dialect {
        Dialect::Sqlite => {
            let params = prepared.ordered(params)?;
            let sql = prepared.sql();
            // The query alone is prepared with the authorizer; the statement that keeps its
            // rows is runner's own.
            let (columns, kinds) = sqlite(db, session, |conn| {
                Ok(columns_of(&*authorizer::prepare(conn, sql, grants)?))
            })
            .await?;
            let rowid = rowid_alias(&columns).ok_or_else(|| {
                SqlError::Invalid(
                    "a cursor's query cannot have columns named rowid, _rowid_ and oid all at once"
                        .into(),
                )
            })?;
            // The table has no INTEGER PRIMARY KEY: its rowids number the rows in the order
            // the query returns them (its ORDER BY holds).
            sqlite(db, session, |conn| {
                let mut create = conn.prepare(&format!("CREATE TEMP TABLE {quoted} AS {sql}"))?;
                bind(&mut create, &params)?;
                let created = create.raw_execute();
                drop(create);
                // The schema changed: no cached statement may be re-prepared behind the
                // authorizer's back (see `authorizer::prepare`).
                conn.flush_prepared_statement_cache();
                created?;
                Ok(())
            })
            .await?;
            let page = format!(
                "SELECT {rowid}, * FROM temp.{quoted} WHERE {rowid} > ?1 ORDER BY {rowid} LIMIT ?2"
            );
            let place = Place::SqliteTable {
                name,
                page,
                last: 0,
                kinds,
            };
            (columns, place)
        }
        Dialect::Postgres => {
            let form = postgres_form(db, prepared).await?;
            let mut params = postgres_params(prepared, params)?;
            confirm_plan(db, prepared, form, &params, grants).await?;
            let sql = match &form.rows_sql {
                Some(bounded) if prepared.is_query() => {
                    params.resize(prepared.parameters(), None);
                    params.push(Some(session.value_bytes.to_string()));
                    bounded
                }
                _ => &form.sql,
            };
            db.execute_bound(
                &format!("DECLARE {quoted} NO SCROLL CURSOR FOR {sql}"),
                Params::PostgresText(&params),
            )
            .await?;
            (form.columns.clone(), Place::Declared { name })
        }
        Dialect::Mysql => {
            let sql = prepared.sql();
            let columns = db.describe_columns(sql).await?;
            if columns.iter().any(|c| c.eq_ignore_ascii_case("_runner_n")) {
                return Err(SqlError::Invalid(
                    "a cursor's query cannot have a column named _runner_n".into(),
                ));
            }
            let params = prepared.ordered(params)?;
            // Rows are numbered in the order the query returns them (its ORDER BY holds).
            db.execute_bound(
                &format!(
                    "CREATE TEMPORARY TABLE {quoted} (`_runner_n` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) {sql}"
                ),
                Params::Mysql(&params),
            )
            .await?;
            (columns, Place::MysqlTable { name, last: 0 })
        }
    };
    Ok(Cursor {
        columns,
        place,
        exhausted: false,
    })
}

/// The next rows of a cursor, at most `max` of them and `bytes` in all (an empty list once
/// exhausted).
pub async fn fetch(
    db: &mut Db,
    session: &Session,
    cursor: &mut Cursor,
    max: u32,
    bytes: usize,
) -> Result<Vec<Vec<Value>>, SqlError> {
    if cursor.exhausted {
        return Ok(Vec::new());
    }
    let max = max.clamp(1, MAX_BATCH_ROWS);
    let rows = match &mut cursor.place {
        Place::Declared { name } => {
            let sql = format!("FETCH FORWARD {max} FROM {}", quote(session.dialect, name));
            db.query_rows_limited(&sql, max as usize)
                .await
                .map_err(too_large_value)?
                .map(|r| r.rows)
                .unwrap_or_default()
        }
        Place::SqliteTable {
            page, last, kinds, ..
        } => {
            let page = sqlite(db, session, |conn| {
                let mut statement = conn.prepare_cached(page)?;
                statement.raw_bind_parameter(1, *last)?;
                statement.raw_bind_parameter(2, i64::from(max))?;
                let bounds = Bounds {
                    rows: max as usize,
                    bytes,
                };
                sqlite_rows(&mut statement, kinds, bounds, Some(last))
            })
            .await?;
            match page {
                Page::Rows(rows) => rows,
                Page::TooManyRows | Page::TooManyBytes => return Err(too_large()),
            }
        }
        Place::MysqlTable { name, last } => {
            let sql = format!(
                "SELECT * FROM {} WHERE `_runner_n` > {} ORDER BY `_runner_n` LIMIT {max}",
                quote(session.dialect, name),
                *last
            );
            let rows = db
                .query_rows_limited(&sql, max as usize)
                .await?
                .map(|r| r.rows)
                .unwrap_or_default();
            let mut out = Vec::with_capacity(rows.len());
            for mut row in rows {
                if !row.is_empty() {
                    *last = row.remove(0).as_i64().unwrap_or(*last);
                }
                out.push(row);
            }
            out
        }
    };
    if rows.iter().flatten().map(value_bytes).sum::<usize>() > bytes {
        return Err(too_large());
    }
    if rows.len() < max as usize {
        cursor.exhausted = true;
    }
    Ok(rows)
}

fn too_large() -> SqlError {
    SqlError::Limit(
        "a cursor's batch is larger than the memory the step has left; ask for fewer rows at a time".into(),
    )
}

/// Closes a cursor and frees what it holds.
pub async fn close(db: &mut Db, session: &Session, cursor: Cursor) -> Result<(), SqlError> {
    let sql = match &cursor.place {
        Place::Declared { name } => format!("CLOSE {}", quote(session.dialect, name)),
        Place::SqliteTable { name, .. } => {
            format!("DROP TABLE IF EXISTS temp.{}", quote(session.dialect, name))
        }
        Place::MysqlTable { name, .. } => format!(
            "DROP TEMPORARY TABLE IF EXISTS {}",
            quote(session.dialect, name)
        ),
    };
    db.execute_simple(&sql).await?;
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::sandbox::guard::Grants;
    use crate::sandbox::sql::open_session;
    use crate::sandbox::statement;

    async fn sqlite_db() -> Db {
        let url = "sqlite::memory:".parse().unwrap();
        Db::connect(&url, &Default::default()).await.unwrap()
    }

    fn grants() -> Grants {
        Grants::new(&["t".into()], &[])
    }

    fn prepared(sql: &str) -> Prepared {
        statement::prepare(sql, Dialect::Sqlite, &grants()).unwrap()
    }

    /// Every row of `sql`, read through a cursor two rows at a time.
    pub(in crate::sandbox) async fn read_all(
        db: &mut Db,
        session: &Session,
        sql: &str,
    ) -> Vec<Vec<Value>> {
        let mut cursor = open_cursor(db, session, &prepared(sql), &[], 1, &grants())
            .await
            .unwrap();
        let mut rows = Vec::new();
        loop {
            let batch = fetch(db, session, &mut cursor, 2, 1 << 30).await.unwrap();
            if batch.is_empty() {
                break;
            }
            rows.extend(batch);
        }
        close(db, session, cursor).await.unwrap();
        rows
    }

    #[tokio::test]
    async fn a_sqlite_cursor_keeps_the_query_order_when_a_column_is_called_rowid() {
        let mut db = sqlite_db().await;
        db.execute_script(
            "CREATE TABLE t (name TEXT, oid_copy INTEGER); \
             INSERT INTO t (name) VALUES ('c'), ('a'), ('b'), ('e'), ('d')",
        )
        .await
        .unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let (session, _) = open_session(&mut db, far).await.unwrap();
        let names = |rows: &[Vec<Value>], at: usize| -> Vec<String> {
            rows.iter()
                .map(|r| r[at].to_text().unwrap_or_default())
                .collect()
        };
        let rows = read_all(&mut db, &session, "SELECT rowid, name FROM t ORDER BY name").await;
        assert_eq!(names(&rows, 1), ["a", "b", "c", "d", "e"]);
        assert_eq!(names(&rows, 0), ["2", "3", "1", "5", "4"]);
        let rows = read_all(
            &mut db,
            &session,
            "SELECT rowid AS rowid, rowid AS _ROWID_, name FROM t ORDER BY name DESC",
        )
        .await;
        assert_eq!(names(&rows, 2), ["e", "d", "c", "b", "a"]);
        let all = prepared("SELECT rowid, rowid AS _rowid_, rowid AS oid FROM t");
        let err = open_cursor(&mut db, &session, &all, &[], 2, &grants())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("rowid, _rowid_ and oid"), "{err}");
        let left = db
            .query("SELECT count(*) FROM sqlite_temp_master", &[])
            .await
            .unwrap();
        assert_eq!(
            left.scalar(),
            Some(&Value::Integer(0)),
            "no cursor table is left"
        );
    }
}
