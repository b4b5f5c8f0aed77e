//! Two `runner upgrade` processes started together against the same database apply every
//! revision exactly once, whether the revisions run in one transaction each or step by step
//! (`transactional: false`: on SQLite the lock file is what keeps the second runner out).

use std::process::{Command, Stdio};

use runner_integration_tests::{Project, TestDb, count};

#[tokio::test]
async fn two_runners_started_together_apply_each_revision_once() {
    for (test_db, step_by_step) in TestDb::all()
        .await
        .into_iter()
        .zip([false, false, false])
        .chain(TestDb::all().await.into_iter().zip([true, true, true]))
    {
        let dialect = test_db.dialect;
        let project = if step_by_step {
            Project::demo_step_by_step()
        } else {
            Project::demo()
        };
        let binary = assert_cmd::cargo::cargo_bin("runner-cli");
        let start = || {
            Command::new(&binary)
                .current_dir(project.dir.path())
                .env("DATABASE_URL", test_db.url_arg())
                .args(["upgrade", "--lock-timeout", "120s"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn runner")
        };
        let (first, second) = (start(), start());
        for child in [first, second] {
            let output = child.wait_with_output().expect("runner output");
            assert!(
                output.status.success(),
                "{dialect} (step by step: {step_by_step}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut db = test_db.connect().await;
        let applied = count(
            &mut db,
            "SELECT count(*) FROM runner_history WHERE status = 'applied'",
        )
        .await;
        let distinct = count(
            &mut db,
            "SELECT count(DISTINCT revision) FROM runner_history WHERE status = 'applied'",
        )
        .await;
        assert_eq!(
            (applied, distinct),
            (9, 9),
            "{dialect} (step by step: {step_by_step}): each revision exactly once"
        );
        let steps = count(
            &mut db,
            "SELECT count(*) FROM runner_history WHERE status NOT IN ('applied')",
        )
        .await;
        assert_eq!(steps, 0, "{dialect}: no run failed or was left half done");
        let heads = db
            .query("SELECT revision FROM runner_version", &[])
            .await
            .unwrap();
        assert_eq!(
            heads.texts("revision"),
            [Some("b5f08d2e6a91".to_string())],
            "{dialect}"
        );
    }
}

const SLOW: &str = "revision: aaaa00000001
parents: []
message: two tables, step by step
transactional: false
upgrade:
  - create_table: {table: a, columns: [{name: id, type: integer, primary_key: true}]}
  - create_table: {table: b, columns: [{name: id, type: integer, primary_key: true}]}
";

/// A runner stopped between two steps of a `transactional: false` revision (where SQLite's own
/// write lock is not held) still keeps a second one out, which gives up after its
/// `--lock-timeout`; once the first is killed, the lock is gone with it and the second can
/// resume what it left.
#[tokio::test]
async fn a_second_runner_waits_for_the_first_and_a_dead_one_holds_nothing() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("aaaa00000001_slow.yaml", SLOW);
        let url = test_db.url_arg();
        let dir = tempfile::tempdir().expect("dir");
        let stall = dir.path().join("stalled");
        let mut first = Command::new(assert_cmd::cargo::cargo_bin("runner-cli"))
            .current_dir(project.dir.path())
            .env("DATABASE_URL", &url)
            .env("RUNNER_STALL_AT", "step-start:2")
            .env("RUNNER_STALL_FILE", &stall)
            .arg("upgrade")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !stall.exists() {
            assert!(
                std::time::Instant::now() < until,
                "{dialect}: never stalled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let second = project
            .runner(Some(&url))
            .args(["upgrade", "--lock-timeout", "500ms"])
            .output()
            .expect("runner");
        assert_eq!(second.status.code(), Some(1), "{dialect}");
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(
            stderr.contains("another runner is migrating") && stderr.contains("--lock-timeout"),
            "{dialect}: {stderr}"
        );
        first.kill().expect("kill the first runner");
        first.wait().expect("reap");
        // Step 1 is in and recorded; the lock died with its holder.
        project.runner(Some(&url)).arg("current").assert().code(1);
        project
            .runner(Some(&url))
            .args(["upgrade", "--resume", "--lock-timeout", "5s"])
            .assert()
            .success();
        let mut db = test_db.connect().await;
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM runner_version").await,
            1,
            "{dialect}"
        );
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM b").await,
            0,
            "{dialect}"
        );
    }
}
