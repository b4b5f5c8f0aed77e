//! Enum changes that keep every row, on every database: a value added and used in one revision
//! (one transaction on PostgreSQL), values reordered, a value removed; and a removal of a value
//! that rows still hold, refused before anything changes with the table, column and row count.

use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, count, dump};

/// The base revision: a `deals` table using `deal_state`, with rows in each state but `lost`.
const BASE: &str = r#"revision: e00000000001
parents: []
message: deals
created: 2026-11-24T12:00:00Z
branch_labels: []
depends_on: []
transactional: true
upgrade:
  - create_enum: {name: deal_state, values: [pending, open, won, lost]}
  - create_table:
      table: deals
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: title, type: string(100), nullable: false}
        - {name: state, type: enum(deal_state), nullable: false, default: open}
  - sql:
      up: "INSERT INTO deals (id, title, state) VALUES (1, 'a', 'pending'), (2, 'b', 'open'), (3, 'c', 'won'), (4, 'd', 'pending')"
      down: "DELETE FROM deals"
downgrade: auto
"#;

fn revision(id: &str, parent: &str, steps: &str) -> String {
    format!(
        "revision: {id}\nparents: [{parent}]\nmessage: change {id}\ncreated: 2026-11-24T12:00:00Z\n\
         branch_labels: []\ndepends_on: []\ntransactional: true\nupgrade:\n{steps}downgrade: auto\n"
    )
}

fn project(steps: &str) -> Project {
    let project = Project::new();
    project.write("e00000000001_deals.yaml", BASE);
    project.write(
        "e00000000002_change.yaml",
        &revision("e00000000002", "e00000000001", steps),
    );
    project
}

/// `(id, title, state)` of every deal, by id.
async fn deals(test_db: &TestDb) -> Vec<(i64, String, String)> {
    let mut db = test_db.connect().await;
    let cast = match test_db.dialect {
        Dialect::Postgres => "CAST(state AS text)",
        _ => "state",
    };
    let rows = db
        .query(
            &format!("SELECT id, title, {cast} FROM deals ORDER BY id"),
            &[],
        )
        .await
        .expect("read deals");
    rows.rows
        .iter()
        .map(|row| {
            (
                row[0].as_i64().expect("id"),
                row[1].as_str().expect("title").to_string(),
                row[2].as_str().expect("state").to_string(),
            )
        })
        .collect()
}

fn upgrade(project: &Project, test_db: &TestDb, target: &str) -> assert_cmd::assert::Assert {
    project
        .runner(Some(&test_db.url_arg()))
        .args(["upgrade", target])
        .assert()
}

#[tokio::test]
async fn a_value_added_and_used_in_one_revision_runs_in_one_transaction_everywhere() {
    // The seed's case: move PENDING deals to a new SIGNED state in the revision that adds it.
    let project = project(
        "  - alter_enum: {name: deal_state, add: signed, after: open}\n\
         \x20 - sql:\n      up: \"UPDATE deals SET state = 'signed' WHERE state = 'pending'\"\n      \
         down: \"UPDATE deals SET state = 'pending' WHERE state = 'signed'\"\n",
    );
    for test_db in TestDb::all().await {
        upgrade(&project, &test_db, "heads").success();
        assert_eq!(
            deals(&test_db).await,
            [
                (1, "a".into(), "signed".into()),
                (2, "b".into(), "open".into()),
                (3, "c".into(), "won".into()),
                (4, "d".into(), "signed".into()),
            ],
            "{}",
            test_db.dialect
        );
        let mut db = test_db.connect().await;
        // The new value sits where it was placed, and is usable by later writes.
        db.execute(
            "INSERT INTO deals (id, title, state) VALUES (5, 'e', 'signed')",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", test_db.dialect));
        if test_db.dialect == Dialect::Postgres {
            let order = db
                .query(
                    "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid \
                     WHERE t.typname = 'deal_state' ORDER BY e.enumsortorder",
                    &[],
                )
                .await
                .expect("labels");
            let labels: Vec<&str> = order.rows.iter().filter_map(|r| r[0].as_str()).collect();
            assert_eq!(labels, ["pending", "open", "signed", "won", "lost"]);
            // The old type went away inside the same transaction.
            assert_eq!(
                count(
                    &mut db,
                    "SELECT COUNT(*) FROM pg_type WHERE typname LIKE '_runner_old%'"
                )
                .await,
                0
            );
        }
    }
}

#[tokio::test]
async fn reordering_values_keeps_every_row() {
    let project =
        project("  - alter_enum: {name: deal_state, reorder: [won, lost, open, pending]}\n");
    for test_db in TestDb::all().await {
        upgrade(&project, &test_db, "e00000000001").success();
        let before = deals(&test_db).await;
        upgrade(&project, &test_db, "heads").success();
        assert_eq!(deals(&test_db).await, before, "{}", test_db.dialect);
        // Sorting by the enum follows the new order where the database sorts enums by position.
        if test_db.dialect != Dialect::Sqlite {
            let mut db = test_db.connect().await;
            let first = db
                .query("SELECT id FROM deals ORDER BY state, id", &[])
                .await
                .expect("sorted");
            assert_eq!(first.rows[0][0].as_i64(), Some(3), "{}", test_db.dialect);
        }
        // And back: the downgrade restores the old order, rows unchanged.
        project
            .runner(Some(&test_db.url_arg()))
            .args(["downgrade", "e00000000001"])
            .assert()
            .success();
        assert_eq!(deals(&test_db).await, before, "{}", test_db.dialect);
    }
}

#[tokio::test]
async fn removing_a_value_no_row_holds_keeps_every_row() {
    let project = project("  - alter_enum: {name: deal_state, remove: lost}\n");
    for test_db in TestDb::all().await {
        upgrade(&project, &test_db, "e00000000001").success();
        let before = deals(&test_db).await;
        upgrade(&project, &test_db, "heads").success();
        assert_eq!(deals(&test_db).await, before, "{}", test_db.dialect);
        let mut db = test_db.connect().await;
        let refused = db
            .execute(
                "INSERT INTO deals (id, title, state) VALUES (9, 'z', 'lost')",
                &[],
            )
            .await;
        assert!(refused.is_err(), "{}: 'lost' is gone", test_db.dialect);
    }
}

#[tokio::test]
async fn removing_a_value_rows_hold_fails_before_anything_changes() {
    // The first step would change the schema; the removal must stop the revision before it
    // does, on MySQL too, where DDL commits as it runs: the check comes first in the revision.
    let project = project("  - alter_enum: {name: deal_state, remove: pending}\n");
    for test_db in TestDb::all().await {
        upgrade(&project, &test_db, "e00000000001").success();
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;
        let out = upgrade(&project, &test_db, "heads").code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            stderr.contains(
                "cannot remove 'pending' from enum 'deal_state': 2 row(s) of deals.state still hold it"
            ),
            "{}: {stderr}",
            test_db.dialect
        );
        assert!(
            stderr.contains("rename: {from: pending, to: NEW}"),
            "{stderr}"
        );
        assert_eq!(dump(&mut db).await, before, "{}", test_db.dialect);
    }
}

#[tokio::test]
async fn an_auto_downgrade_of_an_added_value_rows_now_hold_fails_naming_them() {
    let project = project("  - alter_enum: {name: deal_state, add: signed}\n");
    for test_db in TestDb::all().await {
        upgrade(&project, &test_db, "heads").success();
        let mut db = test_db.connect().await;
        db.execute("UPDATE deals SET state = 'signed' WHERE id = 3", &[])
            .await
            .expect("use the value");
        let before = dump(&mut db).await;
        let out = project
            .runner(Some(&test_db.url_arg()))
            .args(["downgrade", "e00000000001"])
            .assert()
            .code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            stderr.contains(
                "cannot remove 'signed' from enum 'deal_state': 1 row(s) of deals.state still hold it"
            ),
            "{}: {stderr}",
            test_db.dialect
        );
        assert_eq!(dump(&mut db).await, before, "{}", test_db.dialect);
    }
}
