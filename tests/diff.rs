//! `runner diff` on every database: nothing on a database `upgrade` made; each kind of change
//! made by hand (a column added, a type changed, an index dropped, a table dropped, an enum
//! value added) named, with exit 3.

use runner::db::Db;
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb};

/// Rebuilds a SQLite table with `from` replaced by `to` in its definition (SQLite cannot change a
/// column's type or a CHECK in place), keeping its rows and indexes.
async fn sqlite_rebuild(db: &mut Db, table: &str, from: &str, to: &str) {
    let sql = db
        .query(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            &[runner::db::Value::Text(table.into())],
        )
        .await
        .expect("table sql")
        .scalar()
        .and_then(runner::db::Value::to_text)
        .expect("a table");
    assert!(sql.contains(from), "{sql}");
    let indexes = db
        .query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            &[runner::db::Value::Text(table.into())],
        )
        .await
        .expect("index sql");
    let mut script = vec![
        "PRAGMA foreign_keys = OFF".to_string(),
        "PRAGMA legacy_alter_table = ON".to_string(),
        format!("ALTER TABLE \"{table}\" RENAME TO \"{table}_by_hand\""),
        sql.replace(from, to),
        format!("INSERT INTO \"{table}\" SELECT * FROM \"{table}_by_hand\""),
        format!("DROP TABLE \"{table}_by_hand\""),
    ];
    script.extend(indexes.texts("sql").into_iter().flatten());
    script.push("PRAGMA foreign_keys = ON".into());
    for statement in script {
        db.execute_script(&statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

#[tokio::test]
async fn diff_names_each_change_made_by_hand_and_nothing_after_upgrade() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::demo();
        let url = test_db.url_arg();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let clean = project
            .runner(Some(&url))
            .arg("diff")
            .output()
            .expect("diff");
        let text = String::from_utf8_lossy(&clean.stdout);
        assert_eq!(clean.status.code(), Some(0), "{dialect}: {text}");
        assert!(text.contains("no drift"), "{dialect}: {text}");

        let mut db = test_db.connect().await;
        db.execute_script("ALTER TABLE companies ADD COLUMN note VARCHAR(20)")
            .await
            .expect("add a column");
        db.execute_script("DROP TABLE contacts_tags")
            .await
            .expect("drop a table");
        match dialect {
            Dialect::Postgres => {
                db.execute_script("ALTER TABLE tags ALTER COLUMN color TYPE varchar(9)")
                    .await
                    .expect("change a type");
                db.execute_script("DROP INDEX ix_contacts_email")
                    .await
                    .expect("drop an index");
                db.execute_script("ALTER TYPE deal_state ADD VALUE 'stalled'")
                    .await
                    .expect("add an enum value");
            }
            Dialect::Mysql => {
                db.execute_script(
                    "ALTER TABLE tags MODIFY color VARCHAR(9) NOT NULL DEFAULT '#808080'",
                )
                .await
                .expect("change a type");
                db.execute_script("DROP INDEX ix_contacts_email ON contacts")
                    .await
                    .expect("drop an index");
                db.execute_script(
                    "ALTER TABLE deals MODIFY state ENUM('open', 'negotiation', 'won', 'lost', 'stalled') NOT NULL DEFAULT 'open'",
                )
                .await
                .expect("add an enum value");
            }
            Dialect::Sqlite => {
                sqlite_rebuild(
                    &mut db,
                    "tags",
                    "\"color\" VARCHAR(7)",
                    "\"color\" VARCHAR(9)",
                )
                .await;
                db.execute_script("DROP INDEX ix_contacts_email")
                    .await
                    .expect("drop an index");
                sqlite_rebuild(&mut db, "deals", "'lost')", "'lost', 'stalled')").await;
            }
        }
        let drifted = project
            .runner(Some(&url))
            .arg("diff")
            .output()
            .expect("diff");
        let text = String::from_utf8_lossy(&drifted.stdout);
        assert_eq!(drifted.status.code(), Some(3), "{dialect}: {text}");
        let state = if dialect == Dialect::Postgres {
            "deal_state"
        } else {
            "deals.state"
        };
        for expected in [
            "in 5 place(s):".to_string(),
            "extra column companies.note: string(20) null".to_string(),
            "missing table contacts_tags: the database has no such table".to_string(),
            "changed column tags.color: type string(7) expected, found string(9)".to_string(),
            "missing index contacts.ix_contacts_email: expected (email)".to_string(),
            format!("changed enum {state}: extra value(s) stalled"),
        ] {
            assert!(
                text.contains(&expected),
                "{dialect}: no '{expected}' in:\n{text}"
            );
        }
        let json = project
            .runner(Some(&url))
            .args(["--format", "json", "diff"])
            .output()
            .expect("diff");
        assert_eq!(json.status.code(), Some(3), "{dialect}");
        let report: serde_json::Value =
            serde_json::from_slice(&json.stdout).expect("diff --format json is JSON");
        assert_eq!(report["clean"], false, "{dialect}: {report}");
        assert_eq!(
            report["drift"].as_array().map(Vec::len),
            Some(5),
            "{dialect}: {report}"
        );
        // Tables by name, then enums.
        assert_eq!(
            report["drift"][0]["name"], "companies.note",
            "{dialect}: {report}"
        );
        assert_eq!(report["drift"][0]["change"], "extra", "{dialect}: {report}");
        assert_eq!(report["drift"][4]["object"], "enum", "{dialect}: {report}");
    }
}
