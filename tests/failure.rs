//! A revision whose third step fails: PostgreSQL and SQLite end exactly at the previous
//! revision (schema and rows), MariaDB's history names the failed step, and the next upgrade
//! refuses to run over the half-applied revision until it is repaired.

use predicates::prelude::*;
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, count, dump};

const ITEMS: &str = "revision: aaaa00000001
parents: []
message: create items
upgrade:
  - create_table:
      table: items
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: name, type: string(50), nullable: false, unique: true}
  - sql:
      up: \"INSERT INTO items (id, name) VALUES (1, 'bolt'), (2, 'nut')\"
      down: \"DELETE FROM items\"
";

const FAILING: &str = "revision: bbbb00000002
parents: [aaaa00000001]
message: prices and skus
upgrade:
  - add_column: {table: items, column: {name: price, type: \"decimal(10,2)\"}}
  - create_index: {table: items, columns: [price]}
  - sql: {up: \"INSERT INTO items (id, name) VALUES (1, 'duplicate')\", down: \"\"}
  - add_column: {table: items, column: {name: sku, type: string(20)}}
  - create_index: {table: items, columns: [sku]}
";

#[tokio::test]
async fn a_failing_third_step_leaves_the_previous_revision_or_a_precise_record() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("aaaa00000001_items.yaml", ITEMS);
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        project.write("bbbb00000002_prices.yaml", FAILING);
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;

        let output = project
            .runner(Some(&url))
            .arg("upgrade")
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "upgrade of revision bbbb00000002 (prices and skus) failed at step 3 of 5, sql ("
            ) && stderr.contains("bbbb00000002_prices.yaml:7:5)"),
            "{dialect}: {stderr}"
        );
        let history = db
            .query(
                "SELECT status, steps_applied, steps_total, error FROM runner_history WHERE revision = 'bbbb00000002' ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(history.rows.len(), 1, "{dialect}: {history:?}");
        let row = &history.rows[0];
        assert_eq!(row[0].as_str(), Some("failed"), "{dialect}");
        assert_eq!(row[2].as_i64(), Some(5));
        let error = row[3].to_text().unwrap_or_default();

        if dialect == Dialect::Mysql {
            assert!(
                stderr.contains("steps 1 to 2 are in, step 3 left nothing"),
                "{stderr}"
            );
            assert_eq!(row[1].as_i64(), Some(2), "two steps are in the database");
            assert!(error.contains("step 3 of 5 (sql) failed"), "{error}");
            assert_eq!(
                count(
                    &mut db,
                    "SELECT count(*) FROM runner_version WHERE revision = 'aaaa00000001'"
                )
                .await,
                1
            );
            // The next run refuses until a person has looked, and `current` says why.
            project
                .runner(Some(&url))
                .arg("upgrade")
                .assert()
                .code(1)
                .stderr(predicate::str::contains(
                    "revision bbbb00000002 is half applied: its upgrade (started ",
                ))
                .stderr(predicate::str::contains("stopped after step 2 of 5"))
                .stderr(predicate::str::contains("runner upgrade --resume"))
                .stderr(predicate::str::contains("runner repair"));
            project
                .runner(Some(&url))
                .arg("current")
                .assert()
                .code(1)
                .stdout(predicate::str::contains(
                    "blocked: revision bbbb00000002 is half applied",
                ));
            // Starting it over would fail on steps 1 and 2: repair refuses while they are in.
            project
                .runner(Some(&url))
                .arg("repair")
                .assert()
                .code(1)
                .stderr(predicate::str::contains(
                    "not repairing revision bbbb00000002: steps 1 to 2 of its half-applied run are still in the database",
                ))
                .stderr(predicate::str::contains("runner upgrade --resume"));
            // The failed step fixed, the run goes on from it: steps 1 and 2 do not run again.
            let fixed = FAILING.replace("VALUES (1, 'duplicate')", "VALUES (3, 'washer')");
            project.write("bbbb00000002_prices.yaml", &fixed);
            project
                .runner(Some(&url))
                .args(["upgrade", "--resume"])
                .assert()
                .code(2)
                .stderr(predicate::str::contains("--resume --allow-changed"));
            project
                .runner(Some(&url))
                .args(["upgrade", "--resume", "--allow-changed"])
                .assert()
                .success();
            assert_eq!(count(&mut db, "SELECT count(*) FROM items").await, 3);
            project.runner(Some(&url)).arg("current").assert().success();
        } else {
            assert!(stderr.contains("the revision was rolled back"), "{stderr}");
            assert_eq!(row[1].as_i64(), Some(0));
            assert!(error.contains("step 3 rolled back"), "{error}");
            assert_eq!(
                before,
                dump(&mut db).await,
                "{dialect}: not exactly at the previous revision"
            );
            // Fixed, the revision applies cleanly.
            let fixed = FAILING.replace("VALUES (1, 'duplicate')", "VALUES (3, 'washer')");
            project.write("bbbb00000002_prices.yaml", &fixed);
            project.runner(Some(&url)).arg("upgrade").assert().success();
            assert_eq!(count(&mut db, "SELECT count(*) FROM items").await, 3);
        }
    }
}

const PARENTS: &str = "revision: aaaa00000001
parents: []
message: accounts and their contacts
upgrade:
  - create_table:
      table: accounts
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: name, type: string(50), nullable: false}
  - create_table:
      table: contacts
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: account_id, type: integer, references: accounts.id, on_delete: cascade}
  - sql:
      up: \"INSERT INTO accounts (id, name) VALUES (1, 'acme'), (2, 'globex')\"
      down: \"DELETE FROM accounts\"
  - sql:
      up: \"INSERT INTO contacts (id, account_id) VALUES (10, 1), (11, 1), (12, 2)\"
      down: \"DELETE FROM contacts\"
";

/// Regression: a SQLite rebuild in a `transactional: false` revision ran with foreign keys on,
/// so dropping the old table deleted the rows of every ON DELETE CASCADE child.
#[tokio::test]
async fn a_rebuild_outside_a_revision_transaction_keeps_the_rows_pointing_at_the_table() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("aaaa00000001_accounts.yaml", PARENTS);
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        project.write(
            "bbbb00000002_wider.yaml",
            "revision: bbbb00000002
parents: [aaaa00000001]
message: wider names
transactional: false
upgrade:
  - alter_column: {table: accounts, column: name, type: string(200), nullable: true}
",
        );
        // The next revision, in the same run, meets foreign keys enforced again.
        project.write(
            "cccc00000003_orphan.yaml",
            "revision: cccc00000003
parents: [bbbb00000002]
message: an orphan
upgrade:
  - sql: {up: \"INSERT INTO contacts (id, account_id) VALUES (13, 99)\", down: \"\"}
",
        );
        let output = project
            .runner(Some(&url))
            .arg("upgrade")
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("upgrade of revision cccc00000003 (an orphan) failed at step 1 of 1")
                && stderr.to_ascii_lowercase().contains("foreign key"),
            "{dialect}: {stderr}"
        );
        let mut db = test_db.connect().await;
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM contacts").await,
            3,
            "{dialect}: the rebuild deleted child rows"
        );
        assert_eq!(count(&mut db, "SELECT count(*) FROM accounts").await, 2);
        assert_eq!(
            count(
                &mut db,
                "SELECT count(*) FROM runner_version WHERE revision = 'bbbb00000002'"
            )
            .await,
            1,
            "{dialect}"
        );
        std::fs::remove_file(project.versions().join("cccc00000003_orphan.yaml")).unwrap();
        project
            .runner(Some(&url))
            .args(["downgrade", "aaaa00000001"])
            .assert()
            .success();
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM contacts").await,
            3,
            "{dialect}: the downgrade's rebuild deleted child rows"
        );
    }
}

/// Regression: in a `transactional: false` revision a transform ran in autocommit on SQLite and
/// PostgreSQL: PostgreSQL refused its cursor ("DECLARE CURSOR can only be used in transaction
/// blocks"), and the writes of a transform that then failed stayed behind.
#[tokio::test]
async fn a_transform_outside_a_revision_transaction_gets_a_transaction_of_its_own() {
    const DEALS: &str = "revision: aaaa00000001
parents: []
message: deals
upgrade:
  - create_table:
      table: deals
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: title, type: string(100), nullable: false}
  - create_table:
      table: currencies
      columns:
        - {name: code, type: string(3), primary_key: true}
  - sql:
      up: \"INSERT INTO deals (id, title) VALUES (1, 'first'), (2, 'second'), (3, 'third')\"
      down: \"DELETE FROM deals\"
";
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::with_test_transforms();
        project.write("aaaa00000001_deals.yaml", DEALS);
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;

        // A transform that fails after writing: its write is rolled back.
        project.write(
            "bbbb00000002_hostile.yaml",
            "revision: bbbb00000002
parents: [aaaa00000001]
message: writes then panics
transactional: false
upgrade:
  - transform: {module: hostile, reads: [currencies], writes: [deals], args: {attack: panic}}
",
        );
        let output = project
            .runner(Some(&url))
            .arg("upgrade")
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("failed at step 1 of 1, transform hostile")
                && stderr.contains("it panicked: the transform gave up on row 42"),
            "{dialect}: {stderr}"
        );
        assert_eq!(
            before,
            dump(&mut db).await,
            "{dialect}: the failed transform's write stayed"
        );
        std::fs::remove_file(project.versions().join("bbbb00000002_hostile.yaml")).unwrap();

        // A transform that reads through a cursor.
        project.write(
            "cccc00000003_roundtrip.yaml",
            "revision: cccc00000003
parents: [aaaa00000001]
message: every row written back
transactional: false
upgrade:
  - transform: {module: roundtrip, writes: [deals], args: {table: deals}}
",
        );
        let output = project
            .runner(Some(&url))
            .arg("upgrade")
            .output()
            .expect("runner");
        assert!(
            output.status.success(),
            "{dialect}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            count(
                &mut db,
                "SELECT count(*) FROM runner_version WHERE revision = 'cccc00000003'"
            )
            .await,
            1,
            "{dialect}"
        );
        assert_eq!(count(&mut db, "SELECT count(*) FROM deals").await, 3);
    }
}

/// Regression: when a step of a `transactional: false` revision failed and its failure could
/// not be written to runner_history, the error about runner_history replaced the step's.
#[tokio::test]
async fn a_failed_step_is_reported_even_when_its_failure_cannot_be_recorded() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("aaaa00000001_items.yaml", ITEMS);
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        // The step drops runner_history (committed as it runs, where the database does so)
        // and then fails.
        project.write(
            "bbbb00000002_break.yaml",
            "revision: bbbb00000002
parents: [aaaa00000001]
message: break the history
transactional: false
upgrade:
  - sql: {up: \"DROP TABLE runner_history; SELECT * FROM no_such_table\", down: \"\"}
",
        );
        let output = project
            .runner(Some(&url))
            .arg("upgrade")
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "upgrade of revision bbbb00000002 (break the history) failed at step 1 of 1, sql ("
            ) && stderr.contains("no_such_table"),
            "{dialect}: {stderr}"
        );
        let mut db = test_db.connect().await;
        assert_eq!(
            count(
                &mut db,
                "SELECT count(*) FROM runner_version WHERE revision = 'aaaa00000001'"
            )
            .await,
            1,
            "{dialect}"
        );
    }
}

/// Regression: the start of a half-applied revision was shown as each database returned it
/// (PostgreSQL in the session's zone, MySQL without any), not as UTC RFC 3339 everywhere.
#[tokio::test]
async fn a_half_applied_revision_names_its_start_in_utc_on_every_database() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("aaaa00000001_items.yaml", ITEMS);
        project.write(
            "bbbb00000002_half.yaml",
            "revision: bbbb00000002
parents: [aaaa00000001]
message: half
transactional: false
upgrade:
  - add_column: {table: items, column: {name: price, type: integer}}
  - sql: {up: \"INSERT INTO items (id, name) VALUES (1, 'duplicate')\", down: \"\"}
",
        );
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().code(1);
        let output = project
            .runner(Some(&url))
            .arg("upgrade")
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let started = stderr
            .split_once("is half applied: its upgrade (started ")
            .and_then(|(_, rest)| rest.split_once(") stopped after step 1 of 2: "))
            .map(|(started, _)| started)
            .unwrap_or_else(|| panic!("{dialect}: {stderr}"));
        // 2026-11-24T12:00:00.123456Z
        let shape: String = started
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99T99:99:99.999999Z", "{dialect}: {started}");
    }
}

const STEP_BY_STEP: &str = "revision: bbbb00000002
parents: [aaaa00000001]
message: prices, step by step
transactional: false
upgrade:
  - add_column: {table: items, column: {name: price, type: integer}}
  - sql: {up: \"INSERT INTO items (id, name) VALUES (1, 'duplicate')\", down: \"\"}
";

/// The other way out of a half-applied run: undo its steps by hand, `repair`, and the next
/// upgrade starts the revision over. `repair` refuses while the steps are still in.
#[tokio::test]
async fn repair_starts_a_half_applied_revision_over_once_its_steps_are_undone() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("aaaa00000001_items.yaml", ITEMS);
        project.write("bbbb00000002_prices.yaml", STEP_BY_STEP);
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().code(1);
        let mut db = test_db.connect().await;
        let history = runner_integration_tests::history(&mut db).await;
        project
            .runner(Some(&url))
            .arg("repair")
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "steps 1 to 1 of its half-applied run are still in the database (the schema is as step 1 left it)",
            ));
        assert_eq!(
            runner_integration_tests::history(&mut db).await.rows,
            history.rows,
            "{dialect}: a refused repair wrote nothing"
        );
        db.execute_script("ALTER TABLE items DROP COLUMN price")
            .await
            .expect("undo step 1 by hand");
        project
            .runner(Some(&url))
            .arg("repair")
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "cleared the failure of bbbb00000002 (stopped after step 1 of 2)",
            ));
        project.runner(Some(&url)).arg("current").assert().success();
        project.write(
            "bbbb00000002_prices.yaml",
            &STEP_BY_STEP.replace("VALUES (1, 'duplicate')", "VALUES (3, 'washer')"),
        );
        project.runner(Some(&url)).arg("upgrade").assert().success();
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM items").await,
            3,
            "{dialect}"
        );
    }
}
