//! What stops a run other than its process dying, on the servers: the session killed from
//! another one in the middle of a transform, a table lock another session holds, a concurrent
//! index build that fails. Each ends the run with a message that says why, leaves nothing
//! half done that `runner current` does not report, and the next run recovers.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runner::db::Db;
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, count, dump, seeded_demo};

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Ends every other session on the database `db` is connected to.
async fn kill_other_sessions(db: &mut Db) -> usize {
    match db.dialect() {
        Dialect::Postgres => {
            let rows = db
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .expect("terminate");
            rows.rows.len()
        }
        _ => {
            let rows = db
                .query(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
                    &[],
                )
                .await
                .expect("processlist");
            let ids: Vec<i64> = rows.rows.iter().filter_map(|r| r[0].as_i64()).collect();
            for id in &ids {
                db.execute_simple(&format!("KILL {id}"))
                    .await
                    .expect("kill");
            }
            ids.len()
        }
    }
}

#[tokio::test]
async fn a_session_killed_in_the_middle_of_a_transform_fails_cleanly_and_the_next_run_recovers() {
    for dialect in [Dialect::Postgres, Dialect::Mysql] {
        if TestDb::new(dialect).await.is_none() {
            continue;
        }
        let project = Project::demo();
        // What a run nobody interrupts leaves.
        let clean = seeded_demo(dialect, &project).await;
        project
            .runner(Some(&clean.url_arg()))
            .arg("upgrade")
            .assert()
            .success();
        let expected = dump(&mut clean.connect().await).await;

        let test_db = seeded_demo(dialect, &project).await;
        let url = test_db.url_arg();
        // Names split: the transform left to run is money_to_cents, step 2 of b5f08d2e6a91.
        project
            .runner(Some(&url))
            .args(["upgrade", "9c3e5a7b1d24"])
            .assert()
            .success();
        let dir = tempfile::tempdir().expect("dir");
        let stall = dir.path().join("stalled");
        let child = Command::new(assert_cmd::cargo::cargo_bin("runner-cli"))
            .current_dir(project.dir.path())
            .env("DATABASE_URL", &url)
            .env("RUNNER_STALL_AT", "transform-statement:2")
            .env("RUNNER_STALL_FILE", &stall)
            .arg("upgrade")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let until = Instant::now() + Duration::from_secs(120);
        while !stall.exists() {
            assert!(
                Instant::now() < until,
                "{dialect}: the run never reached the transform"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut admin = test_db.connect().await;
        assert!(
            kill_other_sessions(&mut admin).await > 0,
            "{dialect}: no session to kill"
        );
        std::fs::remove_file(&stall).expect("release the run");
        let out = child.wait_with_output().expect("runner");
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{dialect}: {text}");
        assert!(
            text.contains("step 2 of 5, transform money_to_cents"),
            "{dialect}: the failure does not name the step: {text}"
        );
        assert!(
            text.contains("the connection to the database was lost"),
            "{dialect}: no reason given: {text}"
        );
        if dialect == Dialect::Postgres {
            assert!(
                text.contains("terminating connection due to administrator command"),
                "{text}"
            );
        }
        assert!(
            !text.contains("could not record the failure"),
            "{dialect}: the failure was not recorded: {text}"
        );
        let current = project
            .runner(Some(&url))
            .arg("current")
            .output()
            .expect("current");
        let again = project
            .runner(Some(&url))
            .arg("upgrade")
            .output()
            .expect("upgrade");
        if dialect == Dialect::Postgres {
            // Rolled back: at the previous revision, nothing half done.
            assert!(text.contains("the revision was rolled back"), "{text}");
            assert_eq!(current.status.code(), Some(0), "{}", output_text(&current));
            assert!(again.status.success(), "{}", output_text(&again));
        } else {
            // Step 1 (add_column) is in; the transform's rows went with its transaction.
            assert!(
                text.contains("steps 1 to 1 are in, step 2 left nothing"),
                "{text}"
            );
            assert_eq!(current.status.code(), Some(1), "{}", output_text(&current));
            let again_text = output_text(&again);
            assert_eq!(again.status.code(), Some(1), "{again_text}");
            assert!(
                again_text.contains("runner upgrade --resume"),
                "{again_text}"
            );
            project
                .runner(Some(&url))
                .args(["upgrade", "--resume"])
                .assert()
                .success();
        }
        assert_eq!(
            dump(&mut admin).await,
            expected,
            "{dialect}: the recovered database differs from an uninterrupted run's"
        );
    }
}

const ITEMS: &str = "revision: aaaa00000001
parents: []
message: items
upgrade:
  - create_table:
      table: items
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: code, type: string(10)}
  - sql: {up: \"INSERT INTO items (id, code) VALUES (1, 'a'), (2, 'a'), (3, 'b')\", down: \"DELETE FROM items\"}
";

const PRICES: &str = "revision: bbbb00000002
parents: [aaaa00000001]
message: prices
upgrade:
  - add_column: {table: items, column: {name: price, type: integer}}
";

#[tokio::test]
async fn ddl_behind_another_sessions_lock_gives_up_naming_the_table_and_the_session() {
    for dialect in [Dialect::Postgres, Dialect::Mysql] {
        let Some(test_db) = TestDb::new(dialect).await else {
            continue;
        };
        let project = Project::new();
        project.write("aaaa00000001_items.yaml", ITEMS);
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        project.write("bbbb00000002_prices.yaml", PRICES);
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;
        let history_before = count(&mut db, "SELECT count(*) FROM runner_history").await;

        // Another session reads the table in an open transaction: its lock outlives the read.
        let mut holder = test_db.connect().await;
        holder.begin().await.expect("begin");
        holder
            .query("SELECT * FROM items", &[])
            .await
            .expect("read");
        let pid_sql = match dialect {
            Dialect::Postgres => "SELECT pg_backend_pid()::bigint",
            _ => "SELECT CONNECTION_ID()",
        };
        let pid = count(&mut holder, pid_sql).await;

        let started = Instant::now();
        let out = project
            .runner(Some(&url))
            .args([
                "upgrade",
                "--ddl-lock-timeout",
                "500ms",
                "--lock-retries",
                "1",
            ])
            .output()
            .expect("runner");
        let waited = started.elapsed();
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{dialect}: {text}");
        assert!(
            text.contains("gave up waiting for a lock after 2 tries")
                && text.contains("table `items`")
                && text.contains(&format!("session {pid} ")),
            "{dialect}: the message does not name the table and the session {pid}: {text}"
        );
        assert!(
            text.contains("trying again in"),
            "{dialect}: no notice of the retry: {text}"
        );
        assert!(
            waited < Duration::from_secs(30),
            "{dialect}: waited {waited:?}"
        );
        holder.rollback().await.expect("rollback");
        assert_eq!(
            dump(&mut db).await,
            before,
            "{dialect}: the database changed"
        );
        // One row saying why it failed, nothing more.
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM runner_history").await,
            history_before + 1,
            "{dialect}"
        );
        let current = project
            .runner(Some(&url))
            .arg("current")
            .output()
            .expect("current");
        assert_eq!(
            current.status.code(),
            Some(0),
            "{dialect}: {}",
            output_text(&current)
        );
        project.runner(Some(&url)).arg("upgrade").assert().success();
    }
}

const UNIQUE_CODES: &str = "revision: cccc00000003
parents: [aaaa00000001]
message: unique codes, built without blocking writes
transactional: false
upgrade:
  - create_index: {table: items, columns: [code], unique: true, concurrently: true}
";

#[tokio::test]
async fn a_failed_concurrent_index_build_can_simply_be_run_again() {
    let Some(test_db) = TestDb::new(Dialect::Postgres).await else {
        return;
    };
    let project = Project::new();
    project.write("aaaa00000001_items.yaml", ITEMS);
    let url = test_db.url_arg();
    project.runner(Some(&url)).arg("upgrade").assert().success();
    project.write("cccc00000003_unique_codes.yaml", UNIQUE_CODES);
    let mut db = test_db.connect().await;
    let before = dump(&mut db).await;
    let out = project
        .runner(Some(&url))
        .arg("upgrade")
        .output()
        .expect("runner");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("could not create unique index"), "{text}");
    assert!(
        text.contains("step 1 left nothing") || text.contains("nothing of the revision is in"),
        "{text}"
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'uqix_items_code'").await,
        0,
        "the INVALID index the failed build left is dropped"
    );
    assert_eq!(dump(&mut db).await, before);
    let current = project
        .runner(Some(&url))
        .arg("current")
        .output()
        .expect("current");
    assert_eq!(current.status.code(), Some(0), "{}", output_text(&current));
    db.execute_script("DELETE FROM items WHERE id = 2")
        .await
        .expect("fix the data");
    project.runner(Some(&url)).arg("upgrade").assert().success();
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'uqix_items_code' AND i.indisvalid").await,
        1
    );
}

const STATES: &str = "revision: aaaa00000001
parents: []
message: deals with a state
upgrade:
  - create_enum: {name: deal_state, values: [open, won]}
  - create_table:
      table: deals
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: state, type: enum(deal_state), nullable: false, default: open}
";

/// Step by step, so that the value added in step 1 is committed before step 2 uses it.
const LOST: &str = "revision: bbbb00000002
parents: [aaaa00000001]
message: lost deals
transactional: false
upgrade:
  - alter_enum: {name: deal_state, add: lost}
  - sql: {up: \"INSERT INTO deals (id, state) VALUES (1, 'won'), (2, 'lost')\", down: \"DELETE FROM deals WHERE id = 1\"}
";

/// Regression: a `transactional: false` downgrade on PostgreSQL that failed at an enum step
/// left the column on a type named `_runner_old_deal_state`, blamed the database for not
/// rolling back DDL, told the user to stamp the revision itself, and `runner current` showed
/// the revision as current with exit 0.
#[tokio::test]
async fn a_half_done_downgrade_is_reported_and_resumed_the_way_it_was_going() {
    let Some(test_db) = TestDb::new(Dialect::Postgres).await else {
        return;
    };
    let project = Project::new();
    project.write("aaaa00000001_states.yaml", STATES);
    project.write("bbbb00000002_lost.yaml", LOST);
    let url = test_db.url_arg();
    project.runner(Some(&url)).arg("upgrade").assert().success();
    let mut db = test_db.connect().await;

    // Step 1 of the downgrade deletes deal 1; step 2 removes `lost`, which deal 2 still holds.
    let out = project
        .runner(Some(&url))
        .args(["downgrade", "-1"])
        .output()
        .expect("runner");
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("downgrade of revision bbbb00000002 (lost deals) failed at step 2 of 2")
            && text.contains("the revision is `transactional: false`, so each step commits on its own: steps 1 to 1 are in, step 2 left nothing")
            && text.contains("`runner downgrade --resume`"),
        "{text}"
    );
    assert!(!text.contains("cannot roll back DDL"), "{text}");
    // The step's own transaction took the type swap back whole.
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM pg_type WHERE typname LIKE '%runner\\_old\\_%' OR typname LIKE '%runner\\_new\\_%'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'deal_state'").await,
        3
    );
    let current = project
        .runner(Some(&url))
        .arg("current")
        .output()
        .expect("current");
    let current_text = output_text(&current);
    assert_eq!(current.status.code(), Some(1), "{current_text}");
    assert!(
        current_text.contains("blocked: revision bbbb00000002 is half applied: its downgrade")
            && current_text.contains("`runner downgrade --resume`"),
        "{current_text}"
    );
    let status = project
        .runner(Some(&url))
        .arg("status")
        .output()
        .expect("status");
    assert_eq!(status.status.code(), Some(1), "{}", output_text(&status));
    // Resuming the other way is refused, and says which way to go.
    let up = project
        .runner(Some(&url))
        .args(["upgrade", "--resume"])
        .output()
        .expect("runner");
    assert_eq!(up.status.code(), Some(2), "{}", output_text(&up));
    assert!(output_text(&up).contains("`runner downgrade --resume`"));

    // Once no row holds the value, the downgrade goes on from step 2; deal 1 stays deleted.
    db.execute_script("UPDATE deals SET state = 'won' WHERE id = 2")
        .await
        .expect("fix the data");
    project
        .runner(Some(&url))
        .args(["downgrade", "--resume"])
        .assert()
        .success();
    assert_eq!(count(&mut db, "SELECT count(*) FROM deals").await, 1);
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM runner_version WHERE revision = 'aaaa00000001'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'deal_state'").await,
        2
    );
    project.runner(Some(&url)).arg("current").assert().success();
    let status = project
        .runner(Some(&url))
        .arg("status")
        .output()
        .expect("status");
    let status_text = output_text(&status);
    assert_eq!(status.status.code(), Some(0), "{status_text}");
    assert!(
        status_text.contains("1 revision(s) to apply: bbbb00000002"),
        "{status_text}"
    );
}
