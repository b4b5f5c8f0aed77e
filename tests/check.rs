//! `runner check`, the CI gate: it passes on the demo, whose schema.yaml is its head (on an
//! in-memory SQLite, and on an empty PostgreSQL and MySQL it leaves empty again), and fails
//! with exit 3 and the finding named on two heads, a downgrade that does not undo its upgrade,
//! a module that does not match transforms.lock, a schema.yaml that disagrees with head, and
//! every lint code. It never touches the project's own database, and refuses a scratch
//! database that is not empty.

use std::collections::BTreeSet;

use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, dump, risky_project};
use serde_json::Value;

/// `runner --format json check ARGS`: its exit code and report.
fn check(project: &Project, args: &[&str]) -> (i32, Value) {
    let output = project
        .runner(None)
        .args(["--format", "json", "check"])
        .args(args)
        .output()
        .expect("runner check");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().expect("exit code"), report)
}

/// The status of each check, by name.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().expect("name").to_string(),
                c["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

fn status_of(report: &Value, check: &str) -> String {
    statuses(report)
        .into_iter()
        .find(|(name, _)| name == check)
        .map(|(_, status)| status)
        .unwrap_or_else(|| panic!("no check {check}: {report:#}"))
}

/// The problems one check found.
fn problems<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["check"] == check)
        .collect()
}

const BASE: &str = "revision: aaaaaaaaaaa1
parents: []
message: base
upgrade:
  - create_enum: {name: deal_state, values: [open, won]}
  - create_table:
      table: contacts
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: email, type: string(255)}
        - {name: state, type: enum(deal_state), nullable: false, default: open}
";

#[tokio::test]
async fn the_demo_passes_and_a_given_scratch_database_is_left_empty() {
    let demo = Project::demo();
    let (code, report) = check(&demo, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["clean"], true);
    assert_eq!(report["database"], "sqlite::memory:");
    assert_eq!(report["revisions"], 9);
    assert_eq!(
        statuses(&report),
        [
            ("parse", "ok"),
            ("heads", "ok"),
            ("transforms", "ok"),
            ("sandbox", "ok"),
            ("stairway", "ok"),
            ("schema", "ok"),
            ("lint", "ok"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    for test_db in TestDb::all().await {
        if test_db.dialect == Dialect::Sqlite {
            continue;
        }
        let url = test_db.url_arg();
        let (code, report) = check(&demo, &["--database-url", &url]);
        assert_eq!(code, 0, "{}: {report:#}", test_db.dialect);
        assert_eq!(status_of(&report, "stairway"), "ok");
        // Nothing of the project is left behind: no table, no enum, no applied revision.
        let mut db = test_db.connect().await;
        let live = runner::db::introspect::introspect(&mut db)
            .await
            .expect("introspect");
        assert!(
            live.tables.is_empty() && live.enums.is_empty(),
            "{}: {live:?}",
            test_db.dialect
        );
        assert!(
            runner::version_table::heads(&mut db)
                .await
                .expect("heads")
                .is_empty()
        );
        db.close().await.expect("close");
    }
}

#[test]
fn two_heads_fail_unless_allowed() {
    let project = Project::new();
    project.write("aaaaaaaaaaa1_base.yaml", BASE);
    for (id, column) in [("bbbbbbbbbbb2", "phone"), ("ccccccccccc3", "city")] {
        project.write(
            &format!("{id}_{column}.yaml"),
            &format!(
                "revision: {id}\nparents: [aaaaaaaaaaa1]\nmessage: {column}\nupgrade:\n  - add_column: {{table: contacts, column: {{name: {column}, type: text}}}}\n"
            ),
        );
    }
    let (code, report) = check(&project, &[]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(status_of(&report, "heads"), "failed");
    let heads = problems(&report, "heads");
    let message = heads[0]["message"].as_str().expect("message");
    assert!(
        message.contains("the graph has 2 heads: bbbbbbbbbbb2 (")
            && message.contains("runner merge bbbbbbbbbbb2 ccccccccccc3 -m MESSAGE"),
        "{message}"
    );
    // The rest passes: both branches go up and down on their own.
    assert_eq!(status_of(&report, "stairway"), "ok");
    let (code, report) = check(&project, &["--allow-heads"]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_downgrade_that_does_not_undo_its_upgrade_fails_the_stairway() {
    let project = Project::new();
    project.write("aaaaaaaaaaa1_base.yaml", BASE);
    project.write(
        "bbbbbbbbbbb2_phone.yaml",
        "revision: bbbbbbbbbbb2
parents: [aaaaaaaaaaa1]
message: phone
upgrade:
  - add_column: {table: contacts, column: {name: phone, type: text}}
  - create_index: {table: contacts, columns: [phone]}
downgrade:
  - drop_index: {name: ix_contacts_phone}
",
    );
    let (code, report) = check(&project, &[]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(status_of(&report, "stairway"), "failed");
    let stairway = problems(&report, "stairway");
    let message = stairway[0]["message"].as_str().expect("message");
    assert!(
        message.starts_with("the downgrade of bbbbbbbbbbb2 does not undo its upgrade")
            && message.contains("column contacts.phone: left behind"),
        "{message}"
    );
    assert!(
        stairway[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("bbbbbbbbbbb2_phone.yaml")),
        "{report:#}"
    );
    assert_eq!(stairway[0]["line"], 1);
}

#[test]
fn a_module_that_does_not_match_transforms_lock_fails() {
    let demo = Project::demo();
    let (code, report) = check(&demo, &[]);
    assert_eq!(code, 0, "{report:#}");
    let lock_path = demo.dir.path().join("migrations/transforms.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("lock");
    let start = lock
        .find("[modules.split_names]")
        .expect("split_names in the lock");
    let sha_at = start + lock[start..].find("sha256 = \"").expect("sha") + "sha256 = \"".len();
    let mut edited = lock.clone();
    edited.replace_range(sha_at..sha_at + 64, &"0".repeat(64));
    std::fs::write(&lock_path, edited).expect("edit lock");
    let (code, report) = check(&demo, &[]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(status_of(&report, "transforms"), "failed");
    assert_eq!(status_of(&report, "stairway"), "skipped");
    let message = problems(&report, "transforms")[0]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(
        message.contains("transform module 'split_names'")
            && message.contains("does not match transforms.lock")
            && message.contains("the lock says 000000000000"),
        "{message}"
    );
}

#[test]
fn schema_yaml_must_be_the_schema_at_head() {
    let project = Project::new();
    project.write("aaaaaaaaaaa1_base.yaml", BASE);
    let schema = project.dir.path().join("schema.yaml");
    let same = "enums:
  deal_state: [open, won]
tables:
  contacts:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: email, type: string(255)}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
";
    std::fs::write(&schema, same).expect("schema.yaml");
    let (code, report) = check(&project, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status_of(&report, "schema"), "ok");

    let differs = same.replace("string(255)", "string(320)")
        + "  notes:\n    columns:\n      - {name: id, type: integer, primary_key: true}\n";
    std::fs::write(&schema, differs).expect("schema.yaml");
    let (code, report) = check(&project, &[]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(status_of(&report, "schema"), "failed");
    let messages: Vec<&str> = problems(&report, "schema")
        .iter()
        .map(|p| p["message"].as_str().expect("message"))
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("column contacts.email: differs: ")
            && messages[0].contains("string(320)"),
        "{messages:?}"
    );
    assert_eq!(
        messages[1], "table notes: declared in schema.yaml, not made by the revisions",
        "{messages:?}"
    );
}

#[test]
fn every_lint_code_fails_check() {
    let project = risky_project();
    let (code, report) = check(&project, &[]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(status_of(&report, "lint"), "failed");
    let codes: BTreeSet<&str> = report["lint"]
        .as_array()
        .expect("lint")
        .iter()
        .map(|f| f["code"].as_str().expect("code"))
        .collect();
    let all: BTreeSet<&str> = runner::lint::Code::ALL
        .iter()
        .filter(|c| !c.is_retired())
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, all);
}

#[test]
fn an_enum_value_added_and_used_is_reported_as_the_rewrite_postgres_will_do() {
    let project = Project::new();
    project.write("aaaaaaaaaaa1_base.yaml", BASE);
    project.write(
        "bbbbbbbbbbb2_signed.yaml",
        "revision: bbbbbbbbbbb2
parents: [aaaaaaaaaaa1]
message: signed
upgrade:
  - alter_enum: {name: deal_state, add: signed}
  - sql: {up: \"UPDATE contacts SET state = 'signed' WHERE state = 'won'\", down: \"UPDATE contacts SET state = 'won' WHERE state = 'signed'\"}
",
    );
    let (code, report) = check(&project, &[]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(status_of(&report, "stairway"), "ok");
    let finding = &report["lint"][0];
    assert_eq!(finding["code"], "pg-enum-rewrite", "{report:#}");
    assert_eq!(finding["line"], 5);
    assert!(
        finding["message"].as_str().is_some_and(|m| m
            .contains("runner adds it by swapping in a new type, which rewrites contacts.state")
            && m.contains("in a revision of its own")),
        "{finding}"
    );
}

#[tokio::test]
async fn the_projects_own_database_is_never_used_and_a_full_scratch_one_is_refused() {
    let demo = Project::demo();
    // DATABASE_URL names the project's database: check runs on an in-memory SQLite instead,
    // and the file is not even created.
    let dir = tempfile::tempdir().expect("temp dir");
    let own = dir.path().join("own.db");
    let own_url = format!("sqlite://{}", own.display());
    let output = demo
        .runner(Some(&own_url))
        .args(["--format", "json", "check"])
        .output()
        .expect("check");
    let report: Value = serde_json::from_slice(&output.stdout).expect("report");
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["database"], "sqlite::memory:");
    assert!(!own.exists());

    // A scratch database given on the command line must be empty.
    let test_db = TestDb::new(Dialect::Sqlite).await.expect("sqlite");
    let mut db = test_db.connect().await;
    db.execute_script("CREATE TABLE keep (x INTEGER); INSERT INTO keep VALUES (1)")
        .await
        .expect("seed");
    let before = dump(&mut db).await;
    db.close().await.expect("close");
    let url = test_db.url_arg();
    let output = demo
        .runner(None)
        .args(["check", "--database-url", &url])
        .output()
        .expect("check");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not empty (it holds keep); give it an empty one"),
        "{stderr}"
    );
    // Typed on the command line, the URL is the scratch database even when DATABASE_URL says
    // the same: refused as well.
    let output = demo
        .runner(Some(&url))
        .args(["check", "--database-url", &url])
        .output()
        .expect("check");
    assert_eq!(output.status.code(), Some(2));
    let mut db = test_db.connect().await;
    assert_eq!(dump(&mut db).await, before);
    db.close().await.expect("close");
}

#[test]
fn a_project_runner_init_made_passes() {
    let project = Project::new();
    project
        .runner(None)
        .args(["init", "app"])
        .assert()
        .success();
    let (code, report) = check(&project, &["--config", "app/runner.toml"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["revisions"], 0);
    assert_eq!(status_of(&report, "schema"), "skipped");
}
