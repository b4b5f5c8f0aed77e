//! How fast a transform writes rows back, one statement per row against one batch per
//! `execute_many`, on every reachable database, beside the same work done by a native sqlx
//! program and by one set-based UPDATE (the floor).
//!
//! `cargo bench -p runner-integration-tests --bench transform_batch` (add `-- 50000` for
//! another row count). Prints rows per second and the ratios, side by side, from one run.

use std::time::{Duration, Instant};

use runner::config::Config;
use runner::db::Db;
use runner::dialect_kind::Dialect;
use runner::sandbox::{self, TransformCall};
use runner::transforms::{self, Modules, Project};
use runner::version_table::Direction;
use runner_integration_tests::{TestDb, transforms_target_dir, workspace_root};

async fn fill(db: &mut Db, rows: usize) {
    db.execute_script("CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, value BIGINT NOT NULL)")
        .await
        .expect("create items");
    let mut values = Vec::new();
    for id in 1..=rows {
        values.push(format!("({id}, {id})"));
        if values.len() == 1000 || id == rows {
            db.execute_script(&format!(
                "INSERT INTO items (id, value) VALUES {}",
                values.join(", ")
            ))
            .await
            .expect("insert items");
            values.clear();
        }
    }
}

/// Runs `work` inside a transaction that is rolled back, so every mode starts from the same rows.
async fn timed(db: &mut Db, work: impl AsyncFnOnce(&mut Db)) -> Duration {
    db.begin().await.expect("begin");
    let started = Instant::now();
    work(db).await;
    let elapsed = started.elapsed();
    db.rollback().await.expect("rollback");
    elapsed
}

async fn transform(db: &mut Db, modules: &Modules, mode: &str) {
    let module = modules.get("rowcopy").expect("rowcopy built");
    let args = vec![("mode".to_string(), mode.to_string())];
    let writes = vec!["items".to_string()];
    let call = TransformCall {
        module: "rowcopy",
        wasm: &module.wasm,
        sha256: &module.sha256,
        direction: Direction::Up,
        reads: &[],
        writes: &writes,
        args: &args,
        timeout: Duration::from_secs(600),
        memory_bytes: 256 << 20,
    };
    sandbox::run(db, &call, None).await.expect("transform ran");
}

/// The same work as a native Rust program a careful user writes with sqlx: pages of 1000 rows
/// read by key, each page written back by one prepared statement that joins the page's values
/// (SQLite `UPDATE ... FROM (VALUES ...)`, PostgreSQL `UPDATE ... FROM UNNEST($1, $2)`, MySQL a
/// multi-row `INSERT ... ON DUPLICATE KEY UPDATE`), in one transaction, rolled back after.
async fn native(url: &str, dialect: Dialect) -> Duration {
    use sqlx::{AssertSqlSafe, Connection as _};
    const PAGE: i64 = 1000;
    macro_rules! run {
        ($conn:ty, $begin:literal, $page:literal, |$c:ident, $rows:ident| $write:expr) => {{
            let mut $c = <$conn>::connect(url).await.expect("native connection");
            sqlx::query($begin).execute(&mut $c).await.expect("begin");
            let started = Instant::now();
            let mut last = 0i64;
            loop {
                let $rows: Vec<(i64, i64)> = sqlx::query_as($page)
                    .bind(last)
                    .bind(PAGE)
                    .fetch_all(&mut $c)
                    .await
                    .expect("page");
                let Some(&(id, _)) = $rows.last() else { break };
                last = id;
                $write;
            }
            let elapsed = started.elapsed();
            sqlx::query("ROLLBACK")
                .execute(&mut $c)
                .await
                .expect("rollback");
            $c.close().await.ok();
            elapsed
        }};
    }
    let pairs = |n: usize, first: fn(usize) -> String| -> String {
        (0..n).map(first).collect::<Vec<_>>().join(", ")
    };
    match dialect {
        Dialect::Sqlite => run!(
            sqlx::SqliteConnection,
            "BEGIN IMMEDIATE",
            "SELECT id, value FROM items WHERE id > ?1 ORDER BY id LIMIT ?2",
            |c, rows| {
                let values = pairs(rows.len(), |i| format!("(?{}, ?{})", 2 * i + 1, 2 * i + 2));
                let sql = format!(
                    "WITH v(id, value) AS (VALUES {values}) \
                     UPDATE items SET value = v.value FROM v WHERE items.id = v.id"
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (id, value) in &rows {
                    query = query.bind(*id).bind(value * 2);
                }
                query.execute(&mut c).await.expect("update page")
            }
        ),
        Dialect::Postgres => run!(
            sqlx::PgConnection,
            "BEGIN",
            "SELECT id, value FROM items WHERE id > $1 ORDER BY id LIMIT $2",
            |c, rows| {
                let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
                let values: Vec<i64> = rows.iter().map(|r| r.1 * 2).collect();
                sqlx::query(
                    "UPDATE items SET value = v.value \
                     FROM UNNEST($1::bigint[], $2::bigint[]) AS v(id, value) WHERE items.id = v.id",
                )
                .bind(ids)
                .bind(values)
                .execute(&mut c)
                .await
                .expect("update page")
            }
        ),
        Dialect::Mysql => run!(
            sqlx::MySqlConnection,
            "START TRANSACTION",
            "SELECT id, value FROM items WHERE id > ? ORDER BY id LIMIT ?",
            |c, rows| {
                let values = pairs(rows.len(), |_| "(?, ?)".to_string());
                let sql = format!(
                    "INSERT INTO items (id, value) VALUES {values} \
                     ON DUPLICATE KEY UPDATE value = VALUES(value)"
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (id, value) in &rows {
                    query = query.bind(*id).bind(value * 2);
                }
                query.execute(&mut c).await.expect("update page")
            }
        ),
    }
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

/// On one thread, as the `runner` binary runs (see `cli::main`).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    // SAFETY of the environment change: single-threaded at this point, before any build runs.
    unsafe { std::env::set_var("CARGO_TARGET_DIR", transforms_target_dir()) };
    let mut config = Config::load(&Default::default()).expect("config");
    config.transforms_dir = workspace_root().join("tests/transforms");
    let lock = tempfile::tempdir().expect("temp dir");
    config.migrations_dir = lock.path().to_path_buf();
    let project = Project::new(&config);
    let modules = transforms::load(
        &project,
        &["rowcopy".to_string()],
        transforms::BuildPolicy::WhenStale,
        &mut |m| eprintln!("{m}"),
    )
    .await
    .expect("build the benchmark transform");

    println!("{rows} rows, cursor batches of 1000, in a transaction rolled back after each run\n");
    println!(
        "{:<10} {:>14} {:>14} {:>14} {:>14} {:>10} {:>13} {:>10}",
        "database",
        "per row",
        "execute_many",
        "native sqlx",
        "set-based",
        "row/batch",
        "batch/native",
        "batch/set"
    );
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        fill(&mut db, rows).await;
        let per_row = timed(&mut db, async |db| transform(db, &modules, "rows").await).await;
        let batch = timed(&mut db, async |db| transform(db, &modules, "batch").await).await;
        let native = native(&test_db.url_arg(), test_db.dialect).await;
        let set = timed(&mut db, async |db| {
            db.execute_script("UPDATE items SET value = value * 2")
                .await
                .expect("set-based update");
        })
        .await;
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "{:<10} {:>10.0} r/s {:>10.0} r/s {:>10.0} r/s {:>10.0} r/s {:>9.1}x {:>12.2}x {:>9.1}x",
            test_db.dialect.to_string(),
            rate(rows, per_row),
            rate(rows, batch),
            rate(rows, native),
            rate(rows, set),
            ratio(per_row, batch),
            ratio(batch, native),
            ratio(batch, set),
        );
        db.close().await.ok();
    }
}
