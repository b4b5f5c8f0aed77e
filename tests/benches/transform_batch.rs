//! How fast a transform writes rows back, one statement per row against one batch per
//! `execute_many`, on every reachable database, with a set-based UPDATE as the ceiling.
//!
//! `cargo bench -p runner-integration-tests --bench transform_batch` (add `-- 50000` for
//! another row count). Prints rows per second and the ratios, side by side, from one run.

use std::time::{Duration, Instant};

use runner::config::Config;
use runner::db::Db;
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

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
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
        "{:<10} {:>14} {:>14} {:>14} {:>12} {:>14}",
        "database", "per row", "execute_many", "set-based", "batch/row", "set/batch"
    );
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        fill(&mut db, rows).await;
        let per_row = timed(&mut db, async |db| transform(db, &modules, "rows").await).await;
        let batch = timed(&mut db, async |db| transform(db, &modules, "batch").await).await;
        let set = timed(&mut db, async |db| {
            db.execute_script("UPDATE items SET value = value * 2")
                .await
                .expect("set-based update");
        })
        .await;
        println!(
            "{:<10} {:>10.0} r/s {:>10.0} r/s {:>10.0} r/s {:>11.1}x {:>13.1}x",
            test_db.dialect.to_string(),
            rate(rows, per_row),
            rate(rows, batch),
            rate(rows, set),
            per_row.as_secs_f64() / batch.as_secs_f64(),
            batch.as_secs_f64() / set.as_secs_f64(),
        );
        db.close().await.ok();
    }
}
