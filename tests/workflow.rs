//! The workflow our users come from (Flask-Migrate's, docs/workflow.md), the runner way: a
//! production database with its history and rows (loaded with `loaddata`), new models in
//! `schema.yaml`, `runner migrate`, a transform added by hand to the revision it wrote,
//! `runner check`, and the upgrade of production keeping every row.

use std::collections::BTreeMap;

use runner_integration_tests::{TestDb, count, demo_with_fixtures, folder};

/// The dumped records, each without `field` (the column the new revision fills).
fn without(records: &BTreeMap<String, String>, field: &str) -> BTreeMap<String, serde_json::Value> {
    records
        .iter()
        .filter(|(file, _)| file.as_str() != "fixtures.json")
        .map(|(file, text)| {
            let mut record: serde_json::Value = serde_json::from_str(text).expect("record");
            if let Some(map) = record.as_object_mut() {
                map.remove(field);
            }
            (file.clone(), record)
        })
        .collect()
}

#[tokio::test]
async fn production_rows_survive_migrate_a_transform_and_upgrade() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = demo_with_fixtures();
        // Production: its history applied, its rows loaded where they belong, then the rest.
        project.ok(Some(&url), &["upgrade", "e1c6f20d8b37"]);
        project.ok(Some(&url), &["loaddata", "migrations/data"]);
        project.ok(Some(&url), &["upgrade"]);
        project.ok(Some(&url), &["dumpdata", "before"]);
        let before = folder(&project.dir.path().join("before"));

        // New models on master: one table of email addresses, contacts pointing at it.
        let schema = project.dir.path().join("schema.yaml");
        let text = std::fs::read_to_string(&schema).expect("schema.yaml");
        let text = text.replacen(
            "      - {name: last_name, type: string(120)}\n",
            "      - {name: last_name, type: string(120)}\n      - {name: email_id, type: integer, references: email_addresses.id}\n",
            1,
        ) + "  email_addresses:\n    columns:\n      - {name: id, type: integer, primary_key: true, autoincrement: true}\n      - {name: address, type: string(320), nullable: false, unique: true}\n";
        std::fs::write(&schema, text).expect("write schema.yaml");
        let wrote = project.ok(None, &["migrate", "-m", "normalize emails"]);
        let file = wrote
            .split_whitespace()
            .next()
            .map(|path| project.dir.path().join(path))
            .expect("the new revision's path");
        let revision = std::fs::read_to_string(&file).expect("new revision");
        assert!(
            revision.contains("parents: [b5f08d2e6a91]"),
            "{dialect}: not on the production head:\n{revision}"
        );
        // The hand edits: contacts is small, so its foreign key is validated at once (lint
        // says what a large table would need); a transform moves the data once the new table
        // and column exist.
        let fk = revision
            .lines()
            .find(|line| line.starts_with("  - add_foreign_key:"))
            .unwrap_or_else(|| panic!("{dialect}: no add_foreign_key in\n{revision}"))
            .to_string();
        let revision = revision.replacen(
            &fk,
            &format!("{fk}\n    lint: {{ignore: [pg-constraint-not-valid]}}"),
            1,
        );
        let edited = revision.replacen(
            "downgrade: auto",
            "  - transform: {module: normalize_emails, reads: [contacts], writes: [contacts, email_addresses]}\ndowngrade: auto",
            1,
        );
        assert_ne!(
            edited, revision,
            "{dialect}: no `downgrade: auto` in\n{revision}"
        );
        std::fs::write(&file, edited).expect("edit revision");
        let check = project.ok(None, &["check"]);
        assert!(check.contains("check: passed"), "{dialect}: {check}");

        let upgraded = project.ok(Some(&url), &["upgrade"]);
        assert!(
            upgraded.contains("info: 4 contacts share 4 addresses"),
            "{dialect}: {upgraded}"
        );
        project.ok(Some(&url), &["dumpdata", "after"]);
        let after = folder(&project.dir.path().join("after"));
        // Every row is still there, every column the revision does not touch unchanged.
        let untouched: BTreeMap<String, serde_json::Value> = without(&after, "email_id")
            .into_iter()
            .filter(|(file, _)| !file.starts_with("email_addresses"))
            .collect();
        assert_eq!(untouched, without(&before, "email_id"), "{dialect}");
        // And the new column is filled where there is an email.
        let mut db = test_db.connect().await;
        assert_eq!(
            count(
                &mut db,
                "SELECT COUNT(*) FROM contacts WHERE email IS NOT NULL AND email_id IS NULL"
            )
            .await,
            0,
            "{dialect}"
        );
        assert_eq!(
            count(&mut db, "SELECT COUNT(*) FROM contacts c JOIN email_addresses e ON e.id = c.email_id WHERE e.address = LOWER(c.email)").await,
            4,
            "{dialect}"
        );
        db.close().await.expect("close");
    }
}
