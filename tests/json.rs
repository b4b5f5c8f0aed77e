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

/// Runs `runner --format json ARGS` in `project` against `url` and returns its one JSON value,
/// after checking the exit code.
fn json_of(project: &Project, url: &str, args: &[&str], code: i32) -> serde_json::Value {
    let out = project
        .runner(Some(url))
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("runner");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON value ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The keys of a JSON object, sorted.
fn keys(value: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Every command's success prints one JSON value with the shape docs/json.md gives.
#[tokio::test]
async fn every_command_prints_its_documented_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    let demo = Project::demo();
    let run = |args: &[&str]| json_of(&demo, &url, args, 0);

    assert_eq!(keys(&run(&["createdb"])), ["action", "changed", "database"]);
    let up = run(&["upgrade", "a92f3b7c1e05"]);
    assert_eq!(keys(&up), ["database", "heads", "ran"]);
    let out = dir.path().join("rows").display().to_string();
    assert_eq!(
        keys(&run(&["dumpdata", &out])),
        [
            "database",
            "dir",
            "heads",
            "removed",
            "rows",
            "tables",
            "unchanged",
            "written"
        ]
    );
    let loaded = run(&["loaddata", &out]);
    assert_eq!(
        keys(&loaded),
        [
            "database",
            "deferred_updates",
            "dir",
            "overwritten",
            "tables"
        ]
    );
    assert_eq!(keys(&loaded["tables"][0]), ["rows", "table"]);
    assert_eq!(
        keys(&up["ran"][0]),
        ["direction", "duration_ms", "message", "revision", "steps"]
    );
    assert_eq!(
        keys(&run(&["current"])),
        ["database", "effective_heads", "half_applied", "heads"]
    );
    assert_eq!(
        keys(&run(&["status"])),
        [
            "database",
            "effective_heads",
            "half_applied",
            "heads",
            "pending"
        ]
    );
    let revision_info = [
        "branch_labels",
        "created",
        "depends_on",
        "is_base",
        "is_branch_point",
        "is_head",
        "message",
        "parents",
        "path",
        "revision",
    ];
    let heads = run(&["heads"]);
    assert_eq!(keys(&heads[0]), revision_info);
    let branches = run(&["branches"]);
    let mut with_children: Vec<&str> = revision_info.to_vec();
    with_children.push("children");
    with_children.sort();
    assert_eq!(keys(&branches[0]), with_children);
    let history = run(&["history", "-i"]);
    let mut with_applied: Vec<&str> = revision_info.to_vec();
    with_applied.push("applied");
    with_applied.sort();
    assert_eq!(keys(&history[0]), with_applied);
    let show = run(&["show", "a92f3b7c1e05"]);
    for key in [
        "upgrade",
        "downgrade",
        "downgrade_auto",
        "dialect",
        "transactional",
    ] {
        assert!(show.get(key).is_some(), "show has no {key}: {show}");
    }
    assert_eq!(keys(&show["upgrade"][0]), ["at", "describe", "sql", "step"]);
    assert_eq!(
        keys(&run(&["diff"])),
        ["clean", "database", "drift", "heads"]
    );
    assert_eq!(
        keys(&json_of(&demo, &url, &["lint"], 0)),
        ["clean", "findings"]
    );
    assert_eq!(
        keys(&run(&["stamp", "a92f3b7c1e05"])),
        ["database", "heads"]
    );
    assert_eq!(keys(&run(&["repair"])), ["database", "repaired"]);
    let down = run(&["downgrade", "base"]);
    assert_eq!(keys(&down), ["database", "heads", "ran"]);
    assert_eq!(down["ran"][0]["direction"], "down");
    let written = run(&[
        "revision",
        "-m",
        "more",
        "--head",
        "a92f3b7c1e05",
        "--splice",
    ]);
    assert_eq!(keys(&written), ["parents", "path", "revision", "steps"]);
    let merged = run(&["merge", "heads", "-m", "join"]);
    assert_eq!(keys(&merged), ["parents", "path", "revision", "steps"]);
    assert_eq!(
        keys(&run(&["dropdb", "--yes"])),
        ["action", "changed", "database"]
    );

    let fresh = Project::new();
    let init = json_of(&fresh, &url, &["init", "app"], 0);
    assert_eq!(keys(&init), ["created"]);
}
