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
