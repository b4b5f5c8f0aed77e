//! A transform made by another toolchain: `componentize-py` (from PyPI) builds a component for
//! runner's WIT world from a Python file, with CPython inside (about ten core instances, 18 MB).
//! The sandbox must admit it, structure limits and all, while its time and memory stay capped,
//! and it must do its work through the same checked host API.
//!
//! The test installs componentize-py into a virtual environment under `target/` (once; about
//! 20 s). Without python3 or without PyPI it says so and passes, except under CI (`CI=true`
//! or `RUNNER_REQUIRE_TOOLCHAINS=1`, which .ci/run sets), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use runner::db::{DatabaseUrl, Db, Value};
use runner::sandbox::{self, TransformCall};
use runner::version_table::Direction;
use runner_integration_tests::workspace_root;

const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

const APP: &str = r#"
"""A runner transform in Python: splits people.full_name into first_name and last_name."""
from componentize_py_types import Err
from wit_world import Info
from wit_world import WitWorld as World
from wit_world.imports import db, log


class WitWorld(World):
    def up(self, args):
        if dict(args).get("attack") == "secret":
            db.query("SELECT * FROM secret", [])
        cursor = db.open_cursor("SELECT id, full_name FROM people ORDER BY id", [])
        done = 0
        while True:
            rows = cursor.next(500)
            if not rows:
                break
            batch = []
            for row in rows:
                first, _, last = row[1].value.partition(" ")
                batch.append([db.Value_Text(first), db.Value_Text(last), row[0]])
            done += db.execute_many(
                "UPDATE people SET first_name = $1, last_name = $2 WHERE id = $3", batch
            )
        log.log(log.Level.INFO, f"split {done} names")

    def down(self, args):
        raise Err("this transform has no down")

    def info(self):
        return Info(sdk_version="python", has_down=False)
"#;

/// Why the toolchain is not here, printed; under CI a failure.
fn unavailable(reason: String) {
    if runner_integration_tests::guest_lang::required() {
        panic!("componentize-py is needed under CI: {reason}");
    }
    eprintln!("skipping the componentize-py test: {reason}");
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" / ")
        ))
    }
}

/// componentize-py in a virtual environment of its own under `target/`.
fn componentize_py() -> Result<PathBuf, String> {
    let venv = workspace_root()
        .join("target")
        .join("componentize-py-0.25.1");
    let tool = venv.join("bin").join("componentize-py");
    if tool.exists() {
        return Ok(tool);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin").join("pip")).args(["install", "-q", COMPONENTIZE_PY]))?;
    Ok(tool)
}

fn build(tool: &Path, dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::write(dir.join("app.py"), APP).map_err(|e| e.to_string())?;
    run(Command::new(tool)
        .current_dir(dir)
        .arg("-d")
        .arg(workspace_root().join("guest-sdk/wit"))
        .args(["-w", "transform", "componentize", "app", "-o", "app.wasm"]))?;
    std::fs::read(dir.join("app.wasm")).map_err(|e| e.to_string())
}

async fn people() -> Db {
    let url: DatabaseUrl = "sqlite::memory:".parse().expect("url");
    let mut db = Db::connect(&url, &Default::default())
        .await
        .expect("SQLite");
    db.execute_script(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, first_name TEXT, last_name TEXT);
         CREATE TABLE secret (s TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO people (id, full_name) SELECT i, 'Ada' || i || ' Lovelace' || i FROM n;",
    )
    .await
    .expect("people");
    db
}

#[tokio::test]
async fn a_python_component_runs_in_the_sandbox_within_its_limits() {
    let tool = match componentize_py() {
        Ok(tool) => tool,
        Err(reason) => return unavailable(reason),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = match build(&tool, dir.path()) {
        Ok(wasm) => wasm,
        Err(reason) => return unavailable(reason),
    };
    let sha256 = sandbox::engine::sha256(&wasm);
    let info = sandbox::module_info(&wasm)
        .await
        .expect("the component answers info");
    assert!(!info.has_down);

    let writes = vec!["people".to_string()];
    let call = |args: &'static [(String, String)], memory_bytes: u64| TransformCall {
        module: "split_python",
        wasm: &wasm,
        sha256: &sha256,
        direction: Direction::Up,
        reads: &[],
        writes: &writes,
        args,
        timeout: Duration::from_secs(60),
        memory_bytes,
    };

    // It runs, through the checked host API, within the default memory cap.
    let mut db = people().await;
    db.begin().await.expect("begin");
    let report = sandbox::run(&mut db, &call(&[], 256 << 20), None)
        .await
        .expect("the Python transform runs");
    db.commit().await.expect("commit");
    assert_eq!(report.stats.rows_written.get("people"), Some(&2000));
    let rows = db
        .query("SELECT first_name, last_name FROM people WHERE id = 7", &[])
        .await
        .expect("query");
    assert_eq!(
        rows.rows,
        [vec![
            Value::Text("Ada7".into()),
            Value::Text("Lovelace7".into())
        ]]
    );

    // The same guard holds for it: an undeclared table is refused, and nothing changes.
    static ATTACK: std::sync::LazyLock<Vec<(String, String)>> =
        std::sync::LazyLock::new(|| vec![("attack".to_string(), "secret".to_string())]);
    let mut db = people().await;
    db.begin().await.expect("begin");
    let err = sandbox::run(&mut db, &call(&ATTACK, 256 << 20), None)
        .await
        .expect_err("the attack is refused")
        .to_string();
    db.rollback().await.expect("rollback");
    assert!(err.contains("table 'secret' is not declared"), "{err}");
    let untouched = db
        .query(
            "SELECT count(*) FROM people WHERE first_name IS NOT NULL",
            &[],
        )
        .await
        .expect("count");
    assert_eq!(untouched.scalar(), Some(&Value::Integer(0)));

    // And its memory cap holds: CPython alone needs more than 8 MiB.
    let mut db = people().await;
    db.begin().await.expect("begin");
    let err = sandbox::run(&mut db, &call(&[], 8 << 20), None)
        .await
        .expect_err("8 MiB is too little")
        .to_string();
    db.rollback().await.expect("rollback");
    assert!(err.contains("memory"), "{err}");
}
