//! `--format json` on failure: one JSON object on stdout with the error's kind, message, place
//! and exit code, for bad arguments, bad targets, bad files and failed migrations alike.

use runner_integration_tests::{Project, TestDb};

fn failure(project: &Project, url: Option<&str>, args: &[&str]) -> serde_json::Value {
    let out = project
        .runner(url)
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("runner");
    assert!(!out.status.success(), "{args:?} succeeded");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(value["ok"], false, "{value}");
    assert_eq!(
        value["exit"],
        out.status.code().unwrap_or_default(),
        "{value}"
    );
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{value}"
    );
    value
}

const BROKEN: &str = "revision: aaaa00000001
parents: []
message: broken
upgrade:
  - add_colum: {table: t}
";

const FAILS: &str = "revision: aaaa00000001
parents: []
message: fails
upgrade:
  - sql: {up: \"SELECT * FROM no_such_table\", down: \"\"}
";

#[tokio::test]
async fn every_failure_is_one_json_object_with_its_kind_and_place() {
    let test_db = TestDb::new(runner::dialect_kind::Dialect::Sqlite)
        .await
        .expect("sqlite");
    let url = test_db.url_arg();
    let demo = Project::demo();

    let usage = failure(&demo, Some(&url), &["upgrade", "--bogus"]);
    assert_eq!(usage["error"]["kind"], "usage", "{usage}");
    assert_eq!(usage["exit"], 2);

    let target = failure(&demo, Some(&url), &["upgrade", "nosuchrev"]);
    assert_eq!(target["error"]["kind"], "target", "{target}");
    assert_eq!(target["exit"], 2);
    // Refused before connecting: not even the SQLite file was created.
    let file = test_db.url.sqlite_path().expect("a file");
    assert!(!file.exists(), "bad input created {}", file.display());

    let broken = Project::new();
    broken.write("aaaa00000001_broken.yaml", BROKEN);
    let input = failure(&broken, Some(&url), &["upgrade"]);
    assert_eq!(input["exit"], 2, "{input}");
    assert!(
        input["error"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("aaaa00000001_broken.yaml")),
        "{input}"
    );
    assert_eq!(input["error"]["line"], 5, "{input}");
    assert_eq!(input["error"]["column"], 5, "{input}");

    let fails = Project::new();
    fails.write("aaaa00000001_fails.yaml", FAILS);
    let step = failure(&fails, Some(&url), &["upgrade"]);
    assert_eq!(step["error"]["kind"], "step_failed", "{step}");
    assert_eq!(step["exit"], 1, "{step}");
    assert_eq!(step["error"]["line"], 5, "{step}");
}

/// A branch tip whose row a `depends_on` absorbed is still shown, as Alembic's `current` shows
/// effective heads; JSON lists every branch tip.
#[tokio::test]
async fn current_shows_effective_heads() {
    let test_db = TestDb::new(runner::dialect_kind::Dialect::Sqlite)
        .await
        .expect("sqlite");
    let url = test_db.url_arg();
    let project = Project::new();
    let revision = |id: &str, parents: &str, depends: &str, table: &str| {
        format!(
            "revision: {id}\nparents: [{parents}]\ndepends_on: [{depends}]\nmessage: {table}\nupgrade:\n  - create_table: {{table: {table}, columns: [{{name: id, type: integer, primary_key: true}}]}}\n"
        )
    };
    project.write(
        "aaaa00000001_a.yaml",
        &revision("aaaa00000001", "", "", "a"),
    );
    project.write(
        "bbbb00000002_b.yaml",
        &revision("bbbb00000002", "aaaa00000001", "", "b"),
    );
    project.write(
        "cccc00000003_c.yaml",
        &revision("cccc00000003", "aaaa00000001", "bbbb00000002", "c"),
    );
    project
        .runner(Some(&url))
        .args(["upgrade", "cccc00000003"])
        .assert()
        .success();
    let out = project
        .runner(Some(&url))
        .args(["--format", "json", "current"])
        .output()
        .expect("current");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["heads"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(json["heads"][0]["revision"], "cccc00000003");
    assert_eq!(
        json["effective_heads"],
        serde_json::json!(["bbbb00000002", "cccc00000003"])
    );
    let out = project
        .runner(Some(&url))
        .arg("current")
        .output()
        .expect("current");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cccc00000003 (head) c")
            && text.contains("bbbb00000002 (effective head: cccc00000003 depends on it) b"),
        "{text}"
    );
}
