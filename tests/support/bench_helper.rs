//! `runner-bench-helper`: the programs the performance benchmark (benches/performance.rs)
//! compares runner with, each run as a process of its own so that its wall time includes its
//! start and its peak memory is its own (it runs under `runner-measure`):
//!
//! * `native URL`: the backfill as a careful user writes it in Rust with sqlx: pages of 1000
//!   rows read by key with one prepared statement, each page written back by one prepared
//!   statement that joins the page's values (SQLite `UPDATE ... FROM (VALUES ...)`, PostgreSQL
//!   `UPDATE ... FROM UNNEST(...)`, MySQL a multi-row `INSERT ... ON DUPLICATE KEY UPDATE`), all
//!   in one transaction;
//! * `set URL`: the same change as one set-based `UPDATE` (the floor);
//! * `start WASM`: loads a transform component and instantiates it once (asking its `info`),
//!   printing the milliseconds that took: compiled the first time, from runner's cache after.

use std::time::Instant;

use runner::dialect_kind::Dialect;
use runner_integration_tests::perf::{PAGE, backfill_update, split};
use sqlx::{AssertSqlSafe, Connection as _};

fn dialect_of(url: &str) -> Dialect {
    if url.starts_with("sqlite:") {
        Dialect::Sqlite
    } else if url.starts_with("postgres") {
        Dialect::Postgres
    } else {
        Dialect::Mysql
    }
}

/// Reads one page of `(id, full_name, email)` after `last`.
macro_rules! page {
    ($conn:expr, $sql:literal, $last:expr) => {
        sqlx::query_as::<_, (i64, String, String)>($sql)
            .bind($last)
            .bind(PAGE)
            .fetch_all(&mut $conn)
            .await
            .expect("read a page")
    };
}

async fn native(url: &str) {
    let placeholders = |rows: usize, per_row: &str| vec![per_row; rows].join(", ");
    match dialect_of(url) {
        Dialect::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .expect("begin");
            let mut last = 0i64;
            loop {
                let rows = page!(
                    c,
                    "SELECT id, full_name, email FROM people WHERE id > ?1 ORDER BY id LIMIT ?2",
                    last
                );
                let Some(&(id, _, _)) = rows.last() else {
                    break;
                };
                last = id;
                let sql = format!(
                    "WITH v(id, f, l, e) AS (VALUES {}) UPDATE people SET first_name = v.f, \
                     last_name = v.l, email = v.e FROM v WHERE people.id = v.id",
                    placeholders(rows.len(), "(?, ?, ?, ?)")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (id, full, email) in &rows {
                    let (first, last) = split(full);
                    query = query
                        .bind(*id)
                        .bind(first)
                        .bind(last)
                        .bind(email.to_lowercase());
                }
                query.execute(&mut c).await.expect("write a page");
            }
            sqlx::query("COMMIT").execute(&mut c).await.expect("commit");
        }
        Dialect::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
            let mut tx = c.begin().await.expect("begin");
            let mut last = 0i64;
            loop {
                let rows = page!(
                    *tx,
                    "SELECT id, full_name, email FROM people WHERE id > $1 ORDER BY id LIMIT $2",
                    last
                );
                let Some(&(id, _, _)) = rows.last() else {
                    break;
                };
                last = id;
                let mut ids = Vec::with_capacity(rows.len());
                let (mut firsts, mut lasts, mut emails) = (Vec::new(), Vec::new(), Vec::new());
                for (id, full, email) in &rows {
                    let (first, last) = split(full);
                    ids.push(*id);
                    firsts.push(first.to_string());
                    lasts.push(last.to_string());
                    emails.push(email.to_lowercase());
                }
                sqlx::query(
                    "UPDATE people SET first_name = v.f, last_name = v.l, email = v.e \
                     FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[]) AS v(id, f, l, e) \
                     WHERE people.id = v.id",
                )
                .bind(ids)
                .bind(firsts)
                .bind(lasts)
                .bind(emails)
                .execute(&mut *tx)
                .await
                .expect("write a page");
            }
            tx.commit().await.expect("commit");
        }
        Dialect::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url).await.expect("connect");
            let mut tx = c.begin().await.expect("begin");
            let mut last = 0i64;
            loop {
                let rows = page!(
                    *tx,
                    "SELECT id, full_name, email FROM people WHERE id > ? ORDER BY id LIMIT ?",
                    last
                );
                let Some(&(id, _, _)) = rows.last() else {
                    break;
                };
                last = id;
                let sql = format!(
                    "INSERT INTO people (id, full_name, email, first_name, last_name) VALUES {} \
                     ON DUPLICATE KEY UPDATE first_name = VALUES(first_name), \
                     last_name = VALUES(last_name), email = VALUES(email)",
                    placeholders(rows.len(), "(?, ?, ?, ?, ?)")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (id, full, email) in &rows {
                    let (first, last) = split(full);
                    query = query
                        .bind(*id)
                        .bind(full)
                        .bind(email.to_lowercase())
                        .bind(first)
                        .bind(last);
                }
                query.execute(&mut *tx).await.expect("write a page");
            }
            tx.commit().await.expect("commit");
        }
    }
}

async fn set_based(url: &str) {
    let sql = backfill_update(dialect_of(url));
    macro_rules! once {
        ($conn:ty) => {{
            let mut c = <$conn>::connect(url).await.expect("connect");
            let mut tx = c.begin().await.expect("begin");
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .expect("set-based update");
            tx.commit().await.expect("commit");
        }};
    }
    match dialect_of(url) {
        Dialect::Sqlite => once!(sqlx::SqliteConnection),
        Dialect::Postgres => once!(sqlx::PgConnection),
        Dialect::Mysql => once!(sqlx::MySqlConnection),
    }
}

async fn start(wasm: &str) {
    let bytes = std::fs::read(wasm).expect("read the component");
    let started = Instant::now();
    runner::sandbox::module_info(&bytes)
        .await
        .expect("the component answers info");
    println!("{:.3}", started.elapsed().as_secs_f64() * 1000.0);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, url] if mode == "native" => native(url).await,
        [mode, url] if mode == "set" => set_based(url).await,
        [mode, wasm] if mode == "start" => start(wasm).await,
        _ => {
            eprintln!("usage: runner-bench-helper native URL | set URL | start WASM");
            std::process::exit(2);
        }
    }
}
