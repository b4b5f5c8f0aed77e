//! Cursors: a large result read in batches while the transform writes between them, each
//! batch as the result was when the cursor opened. PostgreSQL keeps it in a declared cursor.
//! On SQLite and MySQL, a query over one table in the order of its primary key (what a
//! backfill reads) is read page by page by its key, with nothing copied: the host watches
//! the transform's writes, and before one that could change a row the cursor has not read yet
//! (anything but an UPDATE or DELETE by key of rows it has read), it copies the rest aside,
//! as it copies any other query's result when the cursor opens: into a temporary table
//! numbered in the query's order.

use super::authorizer;
use super::guard::Grants;
use super::guard::{self, BatchShape, Checked, KeysetShape};
use super::postgres::{confirm_plan, postgres_form, postgres_params, too_large_value};
use super::sql::{
    ColumnKind, MAX_BATCH_ROWS, Page, Session, SqlError, bind, columns_of, sqlite, sqlite_rows,
};
use super::statement::Prepared;
use crate::db::bound::{Bounded, Bounds, Params, value_bytes};
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
    /// A query over one table in key order, read page by page (SQLite and MySQL).
    Keyset(Box<Keyset>),
}

/// A cursor read by key: its pages are the query with `key > last` and a LIMIT.
#[derive(Debug)]
pub struct Keyset {
    shape: KeysetShape,
    /// The first page and the later ones, checked by the guard.
    first: Checked,
    next: Checked,
    /// The query's own parameters.
    params: Vec<Value>,
    /// The key of the last row read.
    last: Option<Value>,
    /// SQLite: how to read each column of the query.
    kinds: Vec<ColumnKind>,
    /// The temporary table the rest would be copied into.
    name: String,
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
            let ordered = prepared.ordered(params)?;
            let sql = prepared.sql();
            // The query alone is prepared with the authorizer; the statement that keeps its
            // rows is runner's own.
            let (columns, kinds) = sqlite(db, session, |conn| {
                Ok(columns_of(&*authorizer::prepare(
                    conn,
                    sql,
                    &session.checker,
                )?))
            })
            .await?;
            if let Some(keyset) =
                keyset(db, session, prepared, params, grants, &name, kinds.clone()).await?
            {
                return Ok(Cursor {
                    columns,
                    place: Place::Keyset(Box::new(keyset)),
                    exhausted: false,
                });
            }
            let place = sqlite_table(db, session, name, &columns, kinds, sql, &ordered).await?;
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
            if let Some(keyset) =
                keyset(db, session, prepared, params, grants, &name, Vec::new()).await?
            {
                return Ok(Cursor {
                    columns,
                    place: Place::Keyset(Box::new(keyset)),
                    exhausted: false,
                });
            }
            let params = prepared.ordered(params)?;
            let place = mysql_table(db, name, &columns, prepared.sql(), &params).await?;
            (columns, place)
        }
    };
    Ok(Cursor {
        columns,
        place,
        exhausted: false,
    })
}

/// Copies the rows of `sql` (a transform's query, with its values) into a SQLite temporary
/// table named `name`, read back in the query's order by rowid. The caller has prepared `sql`
/// with the authorizer; the statement that keeps its rows is runner's own, run trusted.
async fn sqlite_table(
    db: &mut Db,
    session: &Session,
    name: String,
    columns: &[String],
    kinds: Vec<ColumnKind>,
    sql: &str,
    ordered: &[&Value],
) -> Result<Place, SqlError> {
    let rowid = rowid_alias(columns).ok_or_else(|| {
        SqlError::Invalid(
            "a cursor's query cannot have columns named rowid, _rowid_ and oid all at once".into(),
        )
    })?;
    let quoted = quote(session.dialect, &name);
    sqlite(db, session, |conn| {
        session.checker.trusted(|| {
            // The table has no INTEGER PRIMARY KEY: its rowids number the rows in the order
            // the query returns them (its ORDER BY holds).
            let mut create = conn.prepare(&format!("CREATE TEMP TABLE {quoted} AS {sql}"))?;
            bind(&mut create, ordered.iter().copied())?;
            let created = create.raw_execute();
            drop(create);
            // The schema changed: statements prepared before are compiled again (checked by
            // the authorizer, which stays installed) rather than kept.
            conn.flush_prepared_statement_cache();
            created?;
            Ok(())
        })
    })
    .await?;
    Ok(Place::SqliteTable {
        page: format!(
            "SELECT {rowid}, * FROM temp.{quoted} WHERE {rowid} > ?1 ORDER BY {rowid} LIMIT ?2"
        ),
        name,
        last: 0,
        kinds,
    })
}

/// Copies the rows of `sql` (with its values, in placeholder order) into a MySQL temporary
/// table named `name`, numbered in the query's order in `_runner_n`.
async fn mysql_table(
    db: &mut Db,
    name: String,
    columns: &[String],
    sql: &str,
    ordered: &[&Value],
) -> Result<Place, SqlError> {
    if columns.iter().any(|c| c.eq_ignore_ascii_case("_runner_n")) {
        return Err(SqlError::Invalid(
            "a cursor's query cannot have a column named _runner_n".into(),
        ));
    }
    // Rows are numbered in the order the query returns them (its ORDER BY holds).
    db.execute_bound(
        &format!(
            "CREATE TEMPORARY TABLE {} (`_runner_n` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) {sql}",
            quote(Dialect::Mysql, &name)
        ),
        Params::Mysql(ordered),
    )
    .await?;
    Ok(Place::MysqlTable { name, last: 0 })
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
                // Runner's own statement, on its own table.
                session.checker.trusted(|| {
                    let mut statement = conn.prepare_cached(page)?;
                    statement.raw_bind_parameter(1, *last)?;
                    statement.raw_bind_parameter(2, i64::from(max))?;
                    let bounds = Bounds {
                        rows: max as usize,
                        bytes,
                    };
                    sqlite_rows(&mut statement, kinds, bounds, Some(last))
                })
            })
            .await?;
            match page {
                Page::Rows(rows) => rows,
                Page::TooManyRows | Page::TooManyBytes => return Err(too_large()),
            }
        }
        Place::MysqlTable { name, last } => {
            let sql = format!(
                "SELECT * FROM {} WHERE `_runner_n` > ? ORDER BY `_runner_n` LIMIT ?",
                quote(session.dialect, name),
            );
            let (after, size) = (Value::Integer(*last), Value::Integer(i64::from(max)));
            let bounds = Bounds {
                rows: max as usize,
                bytes,
            };
            let rows = match db
                .query_bound(&sql, Params::Mysql(&[&after, &size]), bounds)
                .await?
            {
                Bounded::Rows(rows) => rows.rows,
                Bounded::TooManyRows | Bounded::TooManyBytes => return Err(too_large()),
            };
            let mut out = Vec::with_capacity(rows.len());
            for mut row in rows {
                if !row.is_empty() {
                    *last = row.remove(0).as_i64().unwrap_or(*last);
                }
                out.push(row);
            }
            out
        }
        Place::Keyset(keyset) => keyset_page(db, session, keyset, max, bytes).await?,
    };
    if rows.iter().flatten().map(value_bytes).sum::<usize>() > bytes {
        return Err(too_large());
    }
    if rows.len() < max as usize {
        cursor.exhausted = true;
    }
    Ok(rows)
}

/// Whether a query over `table` can be read by `key` with nothing copied: the key must be the
/// table's whole primary key and never NULL, and nothing but a statement on the table itself
/// may change its rows (no trigger in the schema, no foreign key of the table that cascades,
/// sets NULL or a default), so that watching the transform's statements on it is enough.
async fn key_pages_hold(
    db: &mut Db,
    session: &Session,
    table: &str,
    key: &str,
) -> Result<bool, SqlError> {
    let table_value = Value::Text(table.to_string());
    let plain = |action: &str| format!("upper({action}) NOT IN ('NO ACTION', 'RESTRICT')");
    match session.dialect {
        Dialect::Sqlite => {
            let cascades = format!(
                "SELECT count(*) FROM pragma_foreign_key_list(?1) WHERE {} OR {}",
                plain("on_update"),
                plain("on_delete")
            );
            let holds = sqlite(db, session, |conn| {
                // Runner's own questions to the catalog.
                session.checker.trusted(|| {
                    let triggers: i64 = conn.query_row(
                        "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'trigger') \
                         + (SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger')",
                        [],
                        |row| row.get(0),
                    )?;
                    let cascading: i64 =
                        conn.query_row(&cascades, [table], |row| row.get(0))?;
                    let mut keys = conn.prepare(
                        "SELECT name, \"notnull\", upper(type) FROM pragma_table_info(?1) WHERE pk > 0",
                    )?;
                    let keys: Vec<(String, bool, String)> = keys
                        .query_map([table], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                        .collect::<Result<_, _>>()?;
                    // An INTEGER PRIMARY KEY is the rowid, never NULL; another key column
                    // may hold NULL on SQLite unless declared NOT NULL.
                    let key_ok = matches!(keys.as_slice(), [(name, not_null, ty)]
                        if name.eq_ignore_ascii_case(key) && (*not_null || ty == "INTEGER"));
                    Ok(triggers == 0 && cascading == 0 && key_ok)
                })
            })
            .await?;
            Ok(holds)
        }
        Dialect::Mysql => {
            let count = |rows: crate::db::Rows| rows.scalar().and_then(Value::as_i64);
            let triggers = count(
                db.query(
                    "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
                    &[],
                )
                .await?,
            );
            let cascading = count(
                db.query(
                    &format!(
                        "SELECT count(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
                         WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ? AND ({} OR {})",
                        plain("UPDATE_RULE"),
                        plain("DELETE_RULE")
                    ),
                    std::slice::from_ref(&table_value),
                )
                .await?,
            );
            let keys = db
                .query(
                    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'",
                    std::slice::from_ref(&table_value),
                )
                .await?;
            let key_ok = matches!(keys.rows.as_slice(), [row]
                if row.first().and_then(Value::to_text).is_some_and(|name| name.eq_ignore_ascii_case(key)));
            Ok(triggers == Some(0) && cascading == Some(0) && key_ok)
        }
        Dialect::Postgres => Ok(false),
    }
}

/// A cursor that reads `prepared` page by page by its key, or `None` where it cannot (the
/// query's shape, the table's key, triggers or cascades): then the result is copied aside.
async fn keyset(
    db: &mut Db,
    session: &Session,
    prepared: &Prepared,
    params: &[Value],
    grants: &guard::Grants,
    name: &str,
    kinds: Vec<ColumnKind>,
) -> Result<Option<Keyset>, SqlError> {
    let Some(shape) = prepared.keyset() else {
        return Ok(None);
    };
    prepared.check_params(params)?;
    if !key_pages_hold(db, session, &shape.table, &shape.key).await? {
        return Ok(None);
    }
    let check = |text: &str| guard::check(text, session.dialect, grants);
    let (Ok(first), Ok(next)) = (check(&shape.first_page), check(&shape.next_page)) else {
        // Not expected (its parts were checked): copy the result aside instead.
        return Ok(None);
    };
    Ok(Some(Keyset {
        shape: shape.clone(),
        first,
        next,
        params: params[..prepared.parameters()].to_vec(),
        last: None,
        kinds,
        name: name.to_string(),
    }))
}

/// A statement's values in the order its placeholders take them.
fn in_order<'v>(checked: &Checked, dialect: Dialect, values: &'v [Value]) -> Vec<&'v Value> {
    match dialect {
        Dialect::Mysql => checked
            .slots
            .iter()
            .filter_map(|s| values.get(*s))
            .collect(),
        Dialect::Postgres | Dialect::Sqlite => values.iter().take(checked.parameters).collect(),
    }
}

/// The next page of a cursor read by key.
async fn keyset_page(
    db: &mut Db,
    session: &Session,
    keyset: &mut Keyset,
    max: u32,
    bytes: usize,
) -> Result<Vec<Vec<Value>>, SqlError> {
    let mut values = keyset.params.clone();
    let checked = match &keyset.last {
        Some(last) => {
            values.push(last.clone());
            &keyset.next
        }
        None => &keyset.first,
    };
    values.push(Value::Integer(i64::from(max)));
    let ordered = in_order(checked, session.dialect, &values);
    let bounds = Bounds {
        rows: max as usize,
        bytes,
    };
    let mut rows = match session.dialect {
        Dialect::Sqlite => {
            let mut kinds = Vec::with_capacity(keyset.kinds.len() + 1);
            kinds.push(ColumnKind::Plain);
            kinds.extend_from_slice(&keyset.kinds);
            let page = sqlite(db, session, |conn| {
                let mut statement = authorizer::prepare(conn, &checked.sql, &session.checker)?;
                bind(&mut statement, ordered.iter().copied())?;
                sqlite_rows(&mut statement, &kinds, bounds, None)
            })
            .await
            .map_err(too_large_value)?;
            match page {
                Page::Rows(rows) => rows,
                Page::TooManyRows | Page::TooManyBytes => return Err(too_large()),
            }
        }
        _ => match db
            .query_bound(&checked.sql, Params::Mysql(&ordered), bounds)
            .await?
        {
            Bounded::Rows(rows) => rows.rows,
            Bounded::TooManyRows | Bounded::TooManyBytes => return Err(too_large()),
        },
    };
    for row in &mut rows {
        if !row.is_empty() {
            keyset.last = Some(row.remove(0));
        }
    }
    Ok(rows)
}

/// Copies the rows a cursor read by key has not returned yet into a temporary table, and
/// reads on from there: before the transform runs a statement that could change them.
async fn copy_rest(
    db: &mut Db,
    session: &Session,
    cursor: &mut Cursor,
    grants: &guard::Grants,
    original: &Prepared,
) -> Result<(), SqlError> {
    let Place::Keyset(keyset) = &cursor.place else {
        return Ok(());
    };
    let mut values = keyset.params.clone();
    let rest;
    let (sql, ordered) = match &keyset.last {
        Some(last) => {
            values.push(last.clone());
            rest = guard::check(&keyset.shape.rest, session.dialect, grants)
                .map_err(|denied| SqlError::Denied(denied.0))?;
            (rest.sql.as_str(), in_order(&rest, session.dialect, &values))
        }
        // Nothing read yet: all of the query.
        None => (original.sql(), original.ordered(&values)?),
    };
    let name = keyset.name.clone();
    let place = match session.dialect {
        Dialect::Sqlite => {
            // The rest of the query is the transform's: checked as such before it is copied.
            sqlite(db, session, |conn| {
                drop(authorizer::prepare(conn, sql, &session.checker)?);
                Ok(())
            })
            .await?;
            let kinds = keyset.kinds.clone();
            sqlite_table(db, session, name, &cursor.columns, kinds, sql, &ordered).await?
        }
        _ => mysql_table(db, name, &cursor.columns, sql, &ordered).await?,
    };
    cursor.place = place;
    Ok(())
}

/// True if running `prepared` with `batch` cannot change a row that `cursor` (read by key)
/// has not returned yet: it writes none of the cursor's table, or it is an UPDATE or DELETE
/// of that table by the cursor's key whose every key is one the cursor has read (integers;
/// the tables has no trigger and no cascade, as `key_pages_hold` checked).
fn leaves_unread_rows(keyset: &Keyset, prepared: &Prepared, batch: &[Vec<Value>]) -> bool {
    let table = &keyset.shape.table;
    if !prepared.allowed.writes.iter().any(|w| w == table) {
        return true;
    }
    let Some(Value::Integer(last)) = keyset.last else {
        return false;
    };
    let (key, parameter) = match prepared.batch() {
        Some(BatchShape::Update {
            table: written,
            key,
            key_parameter,
            ..
        })
        | Some(BatchShape::Delete {
            table: written,
            key,
            key_parameter,
            ..
        }) if written == table => (key, *key_parameter),
        _ => return false,
    };
    let column = key.rsplit('.').next().unwrap_or(key);
    column
        .trim_matches(['"', '`'])
        .eq_ignore_ascii_case(&keyset.shape.key)
        && batch
            .iter()
            .all(|row| matches!(row.get(parameter - 1), Some(Value::Integer(k)) if *k <= last))
}

/// Before `prepared` runs with `batch`: copies aside the rest of every open cursor read by
/// key whose unread rows it could change (see [`leaves_unread_rows`]).
pub async fn settle<'c>(
    db: &mut Db,
    session: &Session,
    cursors: impl Iterator<Item = (&'c mut Cursor, &'c Prepared)>,
    prepared: &Prepared,
    batch: &[Vec<Value>],
    grants: &guard::Grants,
) -> Result<(), SqlError> {
    for (cursor, original) in cursors {
        let settled = match &cursor.place {
            Place::Keyset(keyset) => {
                cursor.exhausted || leaves_unread_rows(keyset, prepared, batch)
            }
            _ => true,
        };
        if !settled {
            copy_rest(db, session, cursor, grants, original).await?;
        }
    }
    Ok(())
}

/// True while the cursor reads by key (for tests and reports).
pub fn reads_by_key(cursor: &Cursor) -> bool {
    matches!(cursor.place, Place::Keyset(_))
}

fn too_large() -> SqlError {
    SqlError::Limit(
        "a cursor's batch is larger than the memory the step has left; ask for fewer rows at a time".into(),
    )
}

/// Closes a cursor and frees what it holds.
pub async fn close(db: &mut Db, session: &Session, cursor: Cursor) -> Result<(), SqlError> {
    let sql = match &cursor.place {
        Place::Keyset(_) => return Ok(()),
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
        let (session, _) = open_session(&mut db, far, &Grants::new(&[], &["t".into()]))
            .await
            .unwrap();
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

    /// Reads `cursor` to its end, two rows at a time, as text `id:v`.
    async fn rest_of(db: &mut Db, session: &Session, cursor: &mut Cursor) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let batch = fetch(db, session, cursor, 2, 1 << 30).await.unwrap();
            if batch.is_empty() {
                return out;
            }
            for row in batch {
                out.push(format!(
                    "{}:{}",
                    row[0].to_text().unwrap_or_default(),
                    row[1].to_text().unwrap_or_default()
                ));
            }
        }
    }

    #[tokio::test]
    async fn a_cursor_read_by_key_returns_what_was_there_when_it_opened() {
        let write = Grants::new(&[], &["t".into()]);
        let statement = |sql: &str| statement::prepare(sql, Dialect::Sqlite, &write).unwrap();
        let query = statement("SELECT id, v FROM t WHERE v <> 'skip' ORDER BY id");
        assert!(query.keyset().is_some());
        let by_key = statement("UPDATE t SET v = $1 WHERE id = $2");
        let across = statement("UPDATE t SET v = v || '!'");
        let insert = statement("INSERT INTO t (id, v) VALUES ($1, $2)");
        for (changes, copied) in [
            // Writes of the rows already read, by key: read on by key.
            (
                vec![(&by_key, vec![Value::Text("x".into()), Value::Integer(2)])],
                false,
            ),
            // A row not read yet, by key: the rest is copied first.
            (
                vec![(&by_key, vec![Value::Text("x".into()), Value::Integer(3)])],
                true,
            ),
            (vec![(&across, vec![])], true),
            (
                vec![(&insert, vec![Value::Integer(0), Value::Text("new".into())])],
                true,
            ),
        ] {
            let mut db = sqlite_db().await;
            db.execute_script(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL); \
                 INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'skip'), (5, 'e')",
            )
            .await
            .unwrap();
            let far = Instant::now() + Duration::from_secs(60);
            let (session, _) = open_session(&mut db, far, &write).await.unwrap();
            let mut cursor = open_cursor(&mut db, &session, &query, &[], 1, &write)
                .await
                .unwrap();
            assert!(reads_by_key(&cursor));
            let first = fetch(&mut db, &session, &mut cursor, 2, 1 << 30)
                .await
                .unwrap();
            assert_eq!(first.len(), 2);
            for (prepared, params) in &changes {
                let batch = vec![params.clone()];
                let cursors = std::iter::once((&mut cursor, &query));
                settle(&mut db, &session, cursors, prepared, &batch, &write)
                    .await
                    .unwrap();
                crate::sandbox::sql::execute_many(
                    &mut db,
                    &session,
                    prepared,
                    &batch,
                    &write,
                    &mut Default::default(),
                )
                .await
                .unwrap();
            }
            assert_eq!(reads_by_key(&cursor), !copied, "{changes:?}");
            // As the table was when the cursor opened, whatever was written meanwhile.
            assert_eq!(
                rest_of(&mut db, &session, &mut cursor).await,
                ["3:c", "5:e"]
            );
            close(&mut db, &session, cursor).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_table_that_triggers_or_cascades_can_change_is_copied_when_the_cursor_opens() {
        let grants = Grants::new(&["t".into()], &[]);
        let query =
            statement::prepare("SELECT id FROM t ORDER BY id", Dialect::Sqlite, &grants).unwrap();
        for schema in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY); \
             CREATE TABLE u (n INTEGER); \
             CREATE TRIGGER u_t AFTER INSERT ON u BEGIN DELETE FROM t; END;",
            "CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE t (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id) ON DELETE CASCADE);",
            // Not the primary key, or a key that may be NULL.
            "CREATE TABLE t (id BIGINT, n INTEGER PRIMARY KEY);",
            "CREATE TABLE t (id BIGINT PRIMARY KEY);",
        ] {
            let mut db = sqlite_db().await;
            db.execute_script(schema).await.unwrap();
            let far = Instant::now() + Duration::from_secs(60);
            let (session, _) = open_session(&mut db, far, &grants).await.unwrap();
            let cursor = open_cursor(&mut db, &session, &query, &[], 1, &grants)
                .await
                .unwrap();
            assert!(!reads_by_key(&cursor), "{schema}");
            close(&mut db, &session, cursor).await.unwrap();
        }
        let mut db = sqlite_db().await;
        db.execute_script("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY)")
            .await
            .unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let (session, _) = open_session(&mut db, far, &grants).await.unwrap();
        let cursor = open_cursor(&mut db, &session, &query, &[], 1, &grants)
            .await
            .unwrap();
        assert!(reads_by_key(&cursor), "a NOT NULL key");
    }
}
