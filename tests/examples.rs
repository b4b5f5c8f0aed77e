//! The example transforms on every database, their effect checked row by row, and their
//! downgrade where they have one.

use predicates::prelude::*;
use runner::db::{Db, Value};
use runner_integration_tests::{Project, TestDb, workspace_root};

async fn rows(db: &mut Db, sql: &str) -> Vec<Vec<Option<String>>> {
    db.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
        .iter()
        .map(|row| row.iter().map(Value::to_text).collect())
        .collect()
}

/// Expected texts; `NULL` stands for SQL NULL.
fn text(values: &[&str]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| (*v != "NULL").then(|| v.to_string()))
        .collect()
}

/// The demo at `revision`, with a few contacts and deals.
async fn demo_with_data(test_db: &TestDb, revision: &str) -> Project {
    let project = Project::demo();
    let url = test_db.url_arg();
    project
        .runner(Some(&url))
        .args(["upgrade", revision])
        .assert()
        .success();
    let mut db = test_db.connect().await;
    for sql in [
        "INSERT INTO users (id, email, display_name) VALUES (1, 'owner@example.com', 'Owner')",
        "INSERT INTO companies (id, name) VALUES (1, 'Engines')",
        "INSERT INTO contacts (id, full_name, email, company_id, owner_id) VALUES \
         (1, 'Ada King Lovelace', ' Ada@Example.COM ', 1, 1), \
         (2, 'Plato', 'ada@example.com', NULL, 1), \
         (3, '  Alan   Turing ', 'alan@example.org', 1, 1), \
         (4, 'Grace Hopper', NULL, NULL, 1), \
         (5, 'Joan Clarke', '   ', NULL, 1)",
        "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type) VALUES \
         (1, 'engine', 1234.56, 'EUR', 'upsell'), \
         (2, 'republic', 999, 'JPY', 'new_business'), \
         (3, 'bombe', 0.1, 'USD', 'upsell'), \
         (4, 'compiler', 19.99, 'USD', 'renewal')",
    ] {
        db.execute_script(sql)
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", test_db.dialect));
    }
    db.close().await.ok();
    project
}

#[tokio::test]
async fn split_names_splits_and_joins_back() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = demo_with_data(&test_db, "7ab4d9e2c610").await;
        project
            .runner(Some(&url))
            .args(["upgrade", "9c3e5a7b1d24"])
            .assert()
            .success();
        let mut db = test_db.connect().await;
        assert_eq!(
            rows(
                &mut db,
                "SELECT first_name, last_name FROM contacts ORDER BY id"
            )
            .await,
            vec![
                text(&["Ada King", "Lovelace"]),
                text(&["Plato", ""]),
                text(&["Alan", "Turing"]),
                text(&["Grace", "Hopper"]),
                text(&["Joan", "Clarke"]),
            ],
            "{dialect}"
        );
        project
            .runner(Some(&url))
            .args(["downgrade", "-1"])
            .assert()
            .success();
        assert_eq!(
            rows(&mut db, "SELECT full_name FROM contacts ORDER BY id").await,
            vec![
                text(&["Ada King Lovelace"]),
                text(&["Plato"]),
                text(&["Alan Turing"]),
                text(&["Grace Hopper"]),
                text(&["Joan Clarke"]),
            ],
            "{dialect}: names come back, white space normalised"
        );
    }
}

#[tokio::test]
async fn money_to_cents_counts_minor_units_and_converts_back() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = demo_with_data(&test_db, "7ab4d9e2c610").await;
        project
            .runner(Some(&url))
            .args(["upgrade", "9c3e5a7b1d24"])
            .assert()
            .success();
        project
            .runner(Some(&url))
            .args(["upgrade", "b5f08d2e6a91"])
            .assert()
            .success();
        let mut db = test_db.connect().await;
        assert_eq!(
            rows(&mut db, "SELECT title, amount_cents FROM deals ORDER BY id").await,
            vec![
                text(&["engine", "123456"]),
                text(&["republic", "999"]),
                text(&["bombe", "10"]),
                text(&["compiler", "1999"]),
            ],
            "{dialect}"
        );
        let refused = db
            .execute_script("UPDATE deals SET amount_cents = -1 WHERE id = 1")
            .await;
        assert!(refused.is_err(), "{dialect}: the new check holds");
        project
            .runner(Some(&url))
            .args(["downgrade", "-1"])
            .assert()
            .success();
        let amounts: Vec<f64> = db
            .query("SELECT amount FROM deals ORDER BY id", &[])
            .await
            .unwrap()
            .rows
            .iter()
            .map(|r| match &r[0] {
                Value::Real(x) => *x,
                other => other
                    .to_text()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(f64::NAN),
            })
            .collect();
        assert_eq!(amounts, [1234.56, 999.0, 0.1, 19.99], "{dialect}");
    }
}

fn add_example(project: &Project, file: &str) {
    let source = workspace_root().join("examples/revisions").join(file);
    std::fs::copy(&source, project.versions().join(file)).expect("copy example revision");
}

#[tokio::test]
async fn normalize_emails_stores_each_address_once_and_restores_them() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = demo_with_data(&test_db, "7ab4d9e2c610").await;
        add_example(&project, "d7e1a4c9b2f0_normalize_emails.yaml");
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        assert_eq!(
            rows(
                &mut db,
                "SELECT address FROM email_addresses ORDER BY address"
            )
            .await,
            vec![text(&["ada@example.com"]), text(&["alan@example.org"])],
            "{dialect}"
        );
        assert_eq!(
            rows(
                &mut db,
                "SELECT c.id, e.address FROM contacts c LEFT JOIN email_addresses e ON e.id = c.email_id ORDER BY c.id"
            )
            .await,
            vec![
                text(&["1", "ada@example.com"]),
                text(&["2", "ada@example.com"]),
                text(&["3", "alan@example.org"]),
                text(&["4", "NULL"]),
                text(&["5", "NULL"]),
            ],
            "{dialect}"
        );
        project
            .runner(Some(&url))
            .args(["downgrade", "-1"])
            .assert()
            .success();
        assert_eq!(
            rows(&mut db, "SELECT email FROM contacts ORDER BY id").await,
            vec![
                text(&["ada@example.com"]),
                text(&["ada@example.com"]),
                text(&["alan@example.org"]),
                text(&["NULL"]),
                text(&["NULL"]),
            ],
            "{dialect}: addresses come back, normalised"
        );
    }
}

#[tokio::test]
async fn remap_deal_type_remaps_in_place_and_cannot_be_downgraded() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = demo_with_data(&test_db, "7ab4d9e2c610").await;
        add_example(&project, "e8f2b5d0c3a1_remap_deal_types.yaml");
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        assert_eq!(
            rows(&mut db, "SELECT title, deal_type FROM deals ORDER BY id").await,
            vec![
                text(&["engine", "renewal"]),
                text(&["republic", "new_business"]),
                text(&["bombe", "renewal"]),
                text(&["compiler", "renewal"]),
            ],
            "{dialect}"
        );
        let refused = db
            .execute_script("UPDATE deals SET deal_type = 'upsell' WHERE id = 2")
            .await;
        assert!(
            refused.is_err(),
            "{dialect}: 'upsell' is no longer a deal type"
        );
        let before = runner_integration_tests::dump(&mut db).await;
        project
            .runner(Some(&url))
            .args(["downgrade", "-1"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "revision e8f2b5d0c3a1 cannot be downgraded: transform remap_deal_type has no `down`",
            ));
        assert_eq!(
            before,
            runner_integration_tests::dump(&mut db).await,
            "{dialect}: nothing changed"
        );
    }
}
