//! `runner lint`: every code fires on the step that earns it, at its `file:line:col`, with exit
//! 3; `lint: {ignore: [CODE]}` silences exactly that code on exactly that step; an unknown
//! code is bad input (exit 2, at its place); the demo is clean.

use runner_integration_tests::{Project, risky_project};
use serde_json::Value;

fn lint_json(project: &Project, args: &[&str]) -> (i32, Value) {
    let output = project
        .runner(None)
        .args(["--format", "json", "lint"])
        .args(args)
        .output()
        .expect("runner lint");
    let json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code().expect("exit code"), json)
}

/// (code, file name, line) of each finding.
fn found(json: &Value) -> Vec<(String, String, u64)> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let file = f["file"].as_str().expect("file");
            let name = std::path::Path::new(file)
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (
                f["code"].as_str().expect("code").to_string(),
                name,
                f["line"].as_u64().expect("line"),
            )
        })
        .collect()
}

#[test]
fn every_code_fires_on_its_step() {
    let project = risky_project();
    let (code, json) = lint_json(&project, &[]);
    assert_eq!(code, 3, "{json}");
    assert_eq!(json["clean"], false);
    let risky = "bbbbbbbbbbb2_risky.yaml".to_string();
    let enums = "ccccccccccc3_enum.yaml".to_string();
    let f = |code: &str, file: &String, line| (code.to_string(), file.clone(), line);
    assert_eq!(
        found(&json),
        vec![
            f("drop-table", &risky, 5),
            f("drop-column", &risky, 6),
            f("add-unique", &risky, 7),
            f("not-null-without-default", &risky, 8),
            f("type-narrowing", &risky, 9),
            f("pg-type-rewrite", &risky, 9),
            f("pg-index-not-concurrent", &risky, 10),
            f("pg-constraint-not-valid", &risky, 11),
            f("pg-constraint-not-valid", &risky, 12),
            f("pg-enum-rewrite", &enums, 5),
            f("drop-enum-value", &enums, 7),
            f("pg-enum-rewrite", &enums, 7),
        ],
        "{json:#}"
    );
    // Steps on the table the revision created itself risk nothing: it holds no rows yet; nor
    // does a unique rule on a column just added, NULL in every row.
    let first = &json["findings"][0];
    assert_eq!(first["revision"], "bbbbbbbbbbb2");
    assert_eq!(first["step"], 1);
    assert_eq!(first["column"], 5);
    assert_eq!(first["kind"], "destructive");
    assert!(first["explain"].as_str().is_some_and(|e| !e.is_empty()));
}

#[test]
fn an_enum_value_added_and_used_in_one_revision_says_what_postgres_will_do() {
    let project = risky_project();
    let output = project
        .runner(None)
        .args(["lint", "ccccccccccc3"])
        .output()
        .expect("runner lint");
    assert_eq!(output.status.code(), Some(3));
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("ccccccccccc3_enum.yaml:5:5: pg-enum-rewrite:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("value 'signed' of enum 'deal_state' is used later in this revision's transaction (step 2: its SQL writes 'signed')"),
        "{line}"
    );
    assert!(line.contains("rewrites deals.state"), "{line}");
    assert!(line.contains("in a revision of its own"), "{line}");
    // The range holds one revision: the findings of the others are not listed.
    assert!(!text.contains("bbbbbbbbbbb2_risky.yaml"), "{text}");
}

#[test]
fn a_step_by_step_revision_may_use_the_value_it_added() {
    let project = risky_project();
    let path = project.versions().join("ccccccccccc3_enum.yaml");
    let text = std::fs::read_to_string(&path).expect("revision");
    std::fs::write(
        &path,
        text.replace(
            "message: signed deals\n",
            "message: signed deals\ntransactional: false\n",
        ),
    )
    .expect("rewrite");
    let (_, json) = lint_json(&project, &["ccccccccccc3"]);
    let codes: Vec<String> = found(&json).into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(codes, ["drop-enum-value", "pg-enum-rewrite"], "{json:#}");
}

#[test]
fn postgres_rules_apply_only_where_postgres_is_named() {
    let project = risky_project();
    let (code, json) = lint_json(&project, &["--dialect", "sqlite", "--dialect", "mysql"]);
    assert_eq!(code, 3);
    let codes: Vec<String> = found(&json).into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(
        codes,
        [
            "drop-table",
            "drop-column",
            "add-unique",
            "not-null-without-default",
            "type-narrowing",
            "drop-enum-value"
        ]
    );
}

#[test]
fn an_ignore_silences_that_code_on_that_step_only() {
    let project = risky_project();
    let path = project.versions().join("bbbbbbbbbbb2_risky.yaml");
    let text = std::fs::read_to_string(&path).expect("revision");
    let edited = text
        .replace(
            "  - drop_table: {table: audit}\n",
            "  - drop_table: {table: audit}\n    lint: {ignore: [drop-table]}\n",
        )
        .replace(
            "  - alter_column: {table: users, column: age, type: integer}\n",
            "  - lint: {ignore: [pg-type-rewrite]}\n    alter_column: {table: users, column: age, type: integer}\n",
        );
    std::fs::write(&path, edited).expect("rewrite");
    let (code, json) = lint_json(&project, &["bbbbbbbbbbb2"]);
    assert_eq!(code, 3);
    let codes: Vec<(String, u64)> = found(&json).into_iter().map(|(c, _, l)| (c, l)).collect();
    assert_eq!(
        codes,
        [
            ("drop-column".to_string(), 7),
            ("add-unique".to_string(), 8),
            ("not-null-without-default".to_string(), 9),
            ("type-narrowing".to_string(), 10),
            ("pg-index-not-concurrent".to_string(), 12),
            ("pg-constraint-not-valid".to_string(), 13),
            ("pg-constraint-not-valid".to_string(), 14),
        ],
        "{json:#}"
    );
}

#[test]
fn an_unknown_code_is_bad_input_at_its_place() {
    let project = risky_project();
    let path = project.versions().join("bbbbbbbbbbb2_risky.yaml");
    let text = std::fs::read_to_string(&path).expect("revision");
    std::fs::write(
        &path,
        text.replace(
            "  - drop_table: {table: audit}\n",
            "  - drop_table: {table: audit}\n    lint: {ignore: [drop-tables]}\n",
        ),
    )
    .expect("rewrite");
    let output = project.runner(None).arg("lint").output().expect("lint");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bbbbbbbbbbb2_risky.yaml:6:21")
            && stderr.contains("unknown lint code 'drop-tables'; the codes are: drop-table,"),
        "{stderr}"
    );
    // A second operation beside the first is refused at load, with its place.
    std::fs::write(
        &path,
        text.replace(
            "  - drop_table: {table: audit}\n",
            "  - drop_table: {table: audit}\n    drop_column: {table: users, column: age}\n",
        ),
    )
    .expect("rewrite");
    let output = project.runner(None).arg("lint").output().expect("lint");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bbbbbbbbbbb2_risky.yaml:")
            && stderr.contains(
                "a step holds one operation, but this one has `drop_table` and `drop_column`"
            ),
        "{stderr}"
    );
}

#[test]
fn the_demo_is_clean() {
    let project = Project::demo();
    let output = project.runner(None).arg("lint").output().expect("lint");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("lint: no findings"));
}
