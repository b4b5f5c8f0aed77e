//! `upgrade --dry-run` / `downgrade --dry-run`: on every database, a dry run of the demo on
//! seeded rows leaves the database as it was (schema, rows, runner's own tables, PostgreSQL's
//! sequences), reports each revision's steps, SQL and schema change, and counts the rows each
//! transform writes: the counts the real upgrade then shows in the database. A dry run that
//! fails reports how far it got and still changes nothing.

use runner::db::Db;
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, SEEDED_AT, TestDb, count, dump, history, seeded_demo};
use serde_json::Value;

/// Everything a dry run must leave as it found it.
async fn full_dump(db: &mut Db) -> String {
    let mut out = dump(db).await;
    out.push_str(&format!("{:?}\n", history(db).await.rows));
    if db.dialect() == Dialect::Postgres {
        let sequences = db
            .query(
                "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1",
                &[],
            )
            .await
            .expect("sequences");
        out.push_str(&format!("{:?}\n", sequences.rows));
    }
    out
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Rows each transform of the report wrote, per module and table.
fn written(report: &Value) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for revision in report["revisions"].as_array().expect("revisions") {
        for step in revision["steps"].as_array().expect("steps") {
            for transform in step["transforms"].as_array().into_iter().flatten() {
                let module = transform["module"].as_str().expect("module").to_string();
                for (table, n) in transform["rows_written"].as_object().expect("rows") {
                    out.push((module.clone(), table.clone(), n.as_u64().expect("count")));
                }
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_dry_run_of_the_demo_changes_nothing_and_counts_what_the_upgrade_writes() {
    let project = Project::demo();
    for dialect in Dialect::ALL {
        let Some(_) = TestDb::new(dialect).await else {
            continue;
        };
        let test_db = seeded_demo(dialect, &project).await;
        let mut db = test_db.connect().await;
        let before = full_dump(&mut db).await;
        db.close().await.ok();

        let out = project
            .runner(Some(&test_db.url_arg()))
            .args(["--format", "json", "upgrade", "--dry-run"])
            .output()
            .expect("runner");
        assert!(
            out.status.success(),
            "{dialect}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = json(&out);
        assert_eq!(report["dry_run"], true, "{dialect}");
        assert_eq!(report["heads_before"][0], SEEDED_AT, "{dialect}");
        let revisions = report["revisions"].as_array().expect("revisions");
        assert_eq!(revisions.len(), 6, "{dialect}: {report:#}");
        let split = revisions
            .iter()
            .find(|r| r["revision"] == "9c3e5a7b1d24")
            .expect("split revision");
        let schema: Vec<&str> = split["schema"]
            .as_array()
            .expect("schema")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            schema.len() == 1 && schema[0].starts_with("- column contacts.full_name "),
            "{dialect}: {schema:?}"
        );
        let drop_step = &split["steps"][1];
        assert_eq!(drop_step["describe"], "drop_column contacts.full_name");
        assert!(
            drop_step["sql"][0]
                .as_str()
                .is_some_and(|sql| sql.contains("contacts")),
            "{dialect}: {drop_step:#}"
        );

        let mut db = test_db.connect().await;
        assert_eq!(
            full_dump(&mut db).await,
            before,
            "{dialect}: the dry run changed the database"
        );

        // The real upgrade writes what the dry run counted.
        let counted = written(&report);
        let out = project
            .runner(Some(&test_db.url_arg()))
            .args(["upgrade"])
            .output()
            .expect("runner");
        assert!(
            out.status.success(),
            "{dialect}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let names = count(
            &mut db,
            "SELECT COUNT(*) FROM contacts WHERE first_name IS NOT NULL",
        )
        .await;
        let cents = count(
            &mut db,
            "SELECT COUNT(*) FROM deals WHERE amount_cents <> 0",
        )
        .await;
        assert_eq!(
            counted,
            vec![
                (
                    "money_to_cents".to_string(),
                    "deals".to_string(),
                    cents as u64
                ),
                (
                    "split_names".to_string(),
                    "contacts".to_string(),
                    names as u64
                ),
            ],
            "{dialect}"
        );
        assert!(
            names > 0 && cents > 0,
            "{dialect}: the seed has rows to move"
        );
        db.close().await.ok();
    }
}

const BASE: &str = "revision: aaaaaaaaaaa1
parents: []
message: base
upgrade:
  - create_table: {table: notes, columns: [{name: id, type: integer, primary_key: true}, {name: body, type: text}]}
  - sql: {up: \"INSERT INTO notes (id, body) VALUES (1, 'kept')\", down: \"DELETE FROM notes\"}
downgrade: auto
";

const BROKEN: &str = "revision: bbbbbbbbbbb2
parents: [aaaaaaaaaaa1]
message: broken
upgrade:
  - add_column: {table: notes, column: {name: extra, type: integer, nullable: true}}
  - sql: {up: \"UPDATE no_such_table SET x = 1\", down: \"SELECT 1\"}
downgrade: auto
";

#[tokio::test]
async fn a_dry_run_that_fails_reports_how_far_it_got_and_changes_nothing() {
    let project = Project::new();
    project.write("aaaaaaaaaaa1_base.yaml", BASE);
    project.write("bbbbbbbbbbb2_broken.yaml", BROKEN);
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let mut db = test_db.connect().await;
        let before = full_dump(&mut db).await;
        let tables_before = db
            .table_exists(runner::version_table::HISTORY_TABLE)
            .await
            .expect("table_exists");
        db.close().await.ok();

        let out = project
            .runner(Some(&test_db.url_arg()))
            .args(["--format", "json", "upgrade", "--dry-run"])
            .output()
            .expect("runner");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{dialect}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let failure = json(&out);
        assert_eq!(failure["ok"], false, "{dialect}");
        assert_eq!(
            failure["error"]["kind"], "step_failed",
            "{dialect}: {failure:#}"
        );
        let message = failure["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("the dry run stopped") && message.contains("no_such_table"),
            "{dialect}: {message}"
        );
        let revisions = failure["dry_run"]["revisions"]
            .as_array()
            .expect("partial report");
        assert_eq!(revisions.len(), 2, "{dialect}: {failure:#}");
        assert!(
            revisions[0]["duration_ms"].is_u64(),
            "{dialect}: base finished"
        );
        assert!(
            revisions[1]["duration_ms"].is_null(),
            "{dialect}: broken stopped"
        );
        assert_eq!(
            revisions[1]["steps"].as_array().map(Vec::len),
            Some(1),
            "{dialect}"
        );

        let mut db = test_db.connect().await;
        assert_eq!(full_dump(&mut db).await, before, "{dialect}");
        assert!(
            !db.table_exists("notes").await.expect("table_exists"),
            "{dialect}"
        );
        assert_eq!(
            db.table_exists(runner::version_table::HISTORY_TABLE)
                .await
                .expect("table_exists"),
            tables_before,
            "{dialect}: runner's tables"
        );
        db.close().await.ok();
    }
}

const CONCURRENT: &str = "revision: ccccccccccc3
parents: [aaaaaaaaaaa1]
message: index without blocking writes
transactional: false
upgrade:
  - create_index: {table: notes, name: ix_notes_body, columns: [body], concurrently: true}
downgrade: auto
";

#[tokio::test]
async fn a_postgres_dry_run_builds_a_concurrent_index_plainly_inside_its_transaction() {
    let Some(test_db) = TestDb::new(Dialect::Postgres).await else {
        return;
    };
    let project = Project::new();
    project.write("aaaaaaaaaaa1_base.yaml", BASE);
    project.write("ccccccccccc3_concurrent.yaml", CONCURRENT);
    let out = project
        .runner(Some(&test_db.url_arg()))
        .args(["upgrade", "aaaaaaaaaaa1"])
        .output()
        .expect("runner");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut db = test_db.connect().await;
    let before = full_dump(&mut db).await;
    let out = project
        .runner(Some(&test_db.url_arg()))
        .args(["--format", "json", "upgrade", "--dry-run"])
        .output()
        .expect("runner");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["isolation"], "rolled_back");
    let sql = report["revisions"][0]["steps"][0]["sql"][0]
        .as_str()
        .expect("sql");
    assert!(
        sql.starts_with("CREATE INDEX") && !sql.contains("CONCURRENTLY"),
        "{sql}"
    );
    assert!(
        report["notes"]
            .to_string()
            .contains("`concurrently` index steps run as plain"),
        "{report:#}"
    );
    assert_eq!(
        report["revisions"][0]["schema"][0],
        "+ index notes.ix_notes_body (body)"
    );
    assert_eq!(full_dump(&mut db).await, before);
    db.close().await.ok();
}
