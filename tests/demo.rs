//! The demo CRM history on every database: up, down to base, up again to the same schema, and
//! rows surviving the table rebuilds and column changes on the way.

use std::collections::HashSet;

use predicates::prelude::*;
use runner::db::introspect::introspect;
use runner::db::{Db, Value};
use runner::dialect_kind::Dialect;
use runner::model::Schema;
use runner::model::compare::comparable;
use runner::revision::Repository;
use runner_integration_tests::{Project, TestDb};

fn expected_at(repo: &Repository, heads: &[&str], dialect: Dialect) -> Schema {
    let heads: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    let applied = repo.graph.ancestors(&heads).expect("known heads");
    comparable(&repo.schema_of(&applied).expect("replay"), dialect)
}

async fn live(db: &mut Db) -> Schema {
    comparable(&introspect(db).await.expect("introspect"), db.dialect())
}

#[tokio::test]
async fn the_demo_goes_up_down_to_base_and_up_again_to_the_same_schema() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::demo();
        let url = test_db.url_arg();
        let repo = project.repository();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        let first = live(&mut db).await;
        assert_eq!(
            format!("{first:#?}"),
            format!("{:#?}", expected_at(&repo, &["b5f08d2e6a91"], dialect)),
            "{dialect}: the live schema differs from the model"
        );
        project
            .runner(Some(&url))
            .args(["downgrade", "base"])
            .assert()
            .success()
            .stdout(predicate::str::contains("downgraded 9 revision(s)"));
        let empty = live(&mut db).await;
        assert!(
            empty.tables.is_empty() && empty.enums.is_empty(),
            "{dialect}: {empty:#?}"
        );
        project.runner(Some(&url)).arg("upgrade").assert().success();
        assert_eq!(
            format!("{first:#?}"),
            format!("{:#?}", live(&mut db).await),
            "{dialect}"
        );
    }
}

async fn rows(db: &mut Db, sql: &str) -> Vec<Vec<Value>> {
    db.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

#[tokio::test]
async fn rows_survive_rebuilds_renames_and_type_changes() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::demo();
        let url = test_db.url_arg();
        project
            .runner(Some(&url))
            .args(["upgrade", "c47e09b3f812"])
            .assert()
            .success();
        let mut db = test_db.connect().await;
        for sql in [
            "INSERT INTO users (id, email, display_name, is_admin) VALUES (1, 'ada@example.com', 'Ada', TRUE), (2, 'alan@example.com', 'Alan', FALSE)",
            "INSERT INTO companies (id, name, website) VALUES (1, 'Analytical Engines', 'https://engines.example'), (2, 'Bletchley', NULL)",
            "INSERT INTO contacts (id, full_name, email, phone, company_id, owner_id, notes) VALUES \
             (1, 'Charles Babbage', 'cb@example.com', '+44 1', 1, 1, 'first customer'), \
             (2, 'Joan Clarke', NULL, NULL, 2, 2, NULL), \
             (3, 'Tommy Flowers', 'tf@example.com', '+44 3', NULL, 1, 'ünïcødé ✓')",
            // Ids from the database's own counter (PostgreSQL's identity ignores explicit ones).
            "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
             (1, 'Difference engine', 1234.5, 'EUR', 'new_business', 'won')",
            "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
             (2, 'Bombe upgrade', 99.25, 'USD', 'upsell', 'open')",
            "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
             (3, 'Colossus', 0, 'JPY', 'renewal', 'lost')",
            "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
             (1, 'Analytical engine', 10, 'EUR', 'renewal', 'open')",
            // The highest id goes away: it must not be handed out again after the rebuilds.
            "DELETE FROM deals WHERE id = 4",
        ] {
            db.execute_script(sql)
                .await
                .unwrap_or_else(|e| panic!("{dialect}: {sql}: {e}"));
        }
        let users = "SELECT id, email, display_name, is_admin FROM users ORDER BY id";
        let companies = "SELECT id, name, website FROM companies ORDER BY id";
        let deals = "SELECT id, contact_id, title, amount, currency_code, deal_type, state FROM deals ORDER BY id";
        let before = (
            rows(&mut db, users).await,
            rows(&mut db, companies).await,
            rows(&mut db, "SELECT id, full_name, email, phone, company_id, owner_id, notes FROM contacts ORDER BY id").await,
            rows(&mut db, deals).await,
        );

        // Up to the revision before the transforms, which change these columns on purpose.
        project
            .runner(Some(&url))
            .args(["upgrade", "7ab4d9e2c610"])
            .assert()
            .success();

        let after = (
            rows(&mut db, users).await,
            rows(&mut db, companies).await,
            rows(&mut db, "SELECT id, full_name, email, phone_number, company_id, owner_id, notes FROM contacts ORDER BY id").await,
            rows(&mut db, deals).await,
        );
        assert_eq!(before, after, "{dialect}: rows changed across the upgrade");
        let probabilities = rows(&mut db, "SELECT DISTINCT probability FROM deals").await;
        assert_eq!(
            probabilities,
            [[Value::Integer(10)]],
            "{dialect}: new column default"
        );

        // Keys still hold after the rebuilds: a dangling reference is refused, deletes cascade.
        let dangling = db
            .execute_script(
                "INSERT INTO contacts (id, full_name, company_id) VALUES (9, 'Nobody', 999)",
            )
            .await;
        assert!(dangling.is_err(), "{dialect}: foreign key lost");
        db.execute_script("DELETE FROM contacts WHERE id = 3")
            .await
            .unwrap();
        let left: HashSet<i64> = rows(&mut db, "SELECT id FROM deals")
            .await
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect();
        assert_eq!(
            left,
            HashSet::from([1, 2]),
            "{dialect}: ON DELETE CASCADE lost"
        );
        db.execute_script(
            "INSERT INTO deals (contact_id, title, currency_code) VALUES (1, 'Next', 'EUR')",
        )
        .await
        .unwrap();
        let next = rows(&mut db, "SELECT max(id) FROM deals").await;
        assert!(
            next[0][0].as_i64().unwrap() >= 5,
            "{dialect}: a deleted id was reused: {next:?}"
        );
    }
}
