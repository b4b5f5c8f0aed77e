//! The CLI end to end, as users type it: project setup, the inspection commands, and every
//! kind of bad input, each of which must exit 2 with a located message and change nothing.

use predicates::prelude::*;
use runner::db::{ConnectOptions, Db};
use runner_integration_tests::{Project, dump};

const BASE: &str = "revision: aaaa00000001
parents: []
message: create contacts
upgrade:
  - create_table:
      table: contacts
      columns:
        - {name: id, type: integer, primary_key: true, autoincrement: true}
        - {name: full_name, type: string(100), nullable: false}
  - sql:
      up: \"INSERT INTO contacts (full_name) VALUES ('Ada Lovelace'), ('Alan Turing')\"
      down: \"DELETE FROM contacts\"
";

/// A project with one applied revision on a SQLite file.
fn applied_project() -> (Project, String) {
    let project = Project::new();
    project.write("aaaa00000001_create_contacts.yaml", BASE);
    let url = format!("sqlite://{}", project.dir.path().join("app.db").display());
    project.runner(Some(&url)).arg("upgrade").assert().success();
    (project, url)
}

async fn snapshot(url: &str) -> String {
    let mut db = Db::connect(&url.parse().unwrap(), &ConnectOptions::default())
        .await
        .unwrap();
    let mut text = dump(&mut db).await;
    let history = db
        .query(
            "SELECT revision, status FROM runner_history ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    text.push_str(&format!("{:?}", history.rows));
    text
}

/// Adds `text` as a revision, runs `args`, and checks exit code 2, the message, and that the
/// database did not change.
async fn rejects(file: &str, text: &str, args: &[&str], expected: &[&str]) {
    let (project, url) = applied_project();
    if !file.is_empty() {
        project.write(file, text);
    }
    let before = snapshot(&url).await;
    let output = project
        .runner(Some(&url))
        .args(args)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "expected {fragment:?} in:\n{stderr}"
        );
    }
    assert_eq!(before, snapshot(&url).await, "the database changed");
}

#[tokio::test]
async fn an_unknown_operation_is_located() {
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_colum: {table: contacts, column: {name: x, type: text}}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:5: unknown operation `add_colum`, expected one of create_table"],
    )
    .await;
}

#[tokio::test]
async fn a_typo_in_an_operation_a_key_a_table_or_a_column_gets_a_suggestion() {
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_colum: {table: contacts, column: {name: x, type: text}}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:5: unknown operation `add_colum`", "did you mean `add_column`?"],
    )
    .await;
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_column: {tabel: contacts, column: {name: x, type: text}}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:18: unknown field `tabel`", "did you mean `table`?"],
    )
    .await;
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_column: {table: contact, column: {name: x, type: text}}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:5: no table 'contact'; did you mean 'contacts'?"],
    )
    .await;
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - drop_column: {table: contacts, column: fullname}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:5: table 'contacts' has no column 'fullname'; did you mean 'full_name'?"],
    )
    .await;
}

#[tokio::test]
async fn a_typo_in_a_module_is_located_and_does_not_block_repairing_other_revisions() {
    let (project, url) = applied_project();
    // A module built elsewhere: the lock alone makes it known.
    std::fs::write(
        project.dir.path().join("migrations/transforms.lock"),
        format!(
            "[modules.split_names]\nsha256 = \"{}\"\nsource = \"{}\"\nhas_down = true\nsdk = \"0.1.0\"\n",
            "ab".repeat(32),
            "cd".repeat(32)
        ),
    )
    .unwrap();
    project.write(
        "bbbb00000002_split.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - transform: {module: split_name, writes: [contacts]}\n",
    );
    let before = snapshot(&url).await;
    project
        .runner(Some(&url))
        .arg("upgrade")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bbbb00000002_split.yaml:4:5: no transform module 'split_name'; did you mean 'split_names'?",
        ))
        .stderr(predicate::str::contains("runner new-transform split_name"));
    assert_eq!(before, snapshot(&url).await, "the database changed");
    // An applied revision edited on purpose is repaired, the typo elsewhere notwithstanding.
    let path = project.versions().join("aaaa00000001_create_contacts.yaml");
    std::fs::write(&path, format!("{BASE}# reviewed\n")).unwrap();
    project
        .runner(Some(&url))
        .arg("repair")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "re-recorded the checksum of aaaa00000001",
        ));
}

#[test]
fn show_says_what_a_transform_may_read_and_that_it_cannot_be_reversed() {
    let project = Project::new();
    project.write("aaaa00000001_create_contacts.yaml", BASE);
    std::fs::write(
        project.dir.path().join("migrations/transforms.lock"),
        format!(
            "[modules.merge_duplicates]\nsha256 = \"{}\"\nsource = \"{}\"\nhas_down = false\nsdk = \"0.1.0\"\n",
            "ab".repeat(32),
            "cd".repeat(32)
        ),
    )
    .unwrap();
    project.write(
        "bbbb00000002_merge.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - transform: {module: merge_duplicates, writes: [contacts]}\n",
    );
    project
        .runner(None)
        .args(["show", "bbbb00000002"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "-- transform merge_duplicates (up) in the sandbox: reads contacts; writes contacts",
        ))
        .stdout(predicate::str::contains("(down)").not())
        .stdout(predicate::str::contains(
            "downgrade (sqlite, auto): not possible",
        ))
        .stdout(predicate::str::contains(
            "transform merge_duplicates has no `down`",
        ));
}

#[tokio::test]
async fn a_key_given_twice_gets_our_advice_not_the_parsers() {
    let (project, url) = applied_project();
    // What `runner revision` wrote before, with its example filled in below it.
    project.write(
        "bbbb00000002_twice.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade: []\nupgrade:\n  - add_column: {table: contacts, column: {name: x, type: text}}\n",
    );
    let before = snapshot(&url).await;
    let output = project
        .runner(Some(&url))
        .arg("upgrade")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bbbb00000002_twice.yaml:4:1: `upgrade` is given twice in this mapping"),
        "{stderr}"
    );
    assert!(!stderr.contains("DuplicateKeyPolicy"), "{stderr}");
    assert_eq!(before, snapshot(&url).await, "the database changed");
}

#[tokio::test]
async fn an_unknown_key_is_located() {
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - drop_table: {table: contacts, cascade: true}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:35: unknown field `cascade`, expected one of table"],
    )
    .await;
}

#[tokio::test]
async fn a_wrong_value_type_is_located() {
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_column: {table: contacts, column: {name: x, type: text, nullable: maybe}}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:75: invalid boolean"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_column_type_is_located() {
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_column: {table: contacts, column: {name: x, type: strng(5)}}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:4:59: unknown column type 'strng(5)'", "string(n)"],
    )
    .await;
}

#[tokio::test]
async fn a_step_that_does_not_fit_the_schema_is_located() {
    rejects(
        "bbbb00000002_bad.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - add_column: {table: contacts, column: {name: x, type: text}}\n  - drop_column: {table: contacts, column: email}\n",
        &["upgrade"],
        &["bbbb00000002_bad.yaml:5:5: table 'contacts' has no column 'email'"],
    )
    .await;
}

#[tokio::test]
async fn a_cycle_is_located() {
    let (project, url) = applied_project();
    project.write(
        "bbbb00000002_one.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001, cccc00000003]\n",
    );
    project.write(
        "cccc00000003_two.yaml",
        "revision: cccc00000003\nparents: [bbbb00000002]\n",
    );
    let before = snapshot(&url).await;
    project
        .runner(Some(&url))
        .arg("upgrade")
        .assert()
        .code(2)
        .stderr(
            predicate::str::is_match(r"_(one|two)\.yaml:2:\d+: the revisions form a cycle: ")
                .unwrap(),
        );
    assert_eq!(before, snapshot(&url).await, "the database changed");
}

#[tokio::test]
async fn a_missing_parent_is_located() {
    rejects(
        "bbbb00000002_orphan.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001, deadbeef0000]\n",
        &["upgrade"],
        &["bbbb00000002_orphan.yaml:2:25: revision 'bbbb00000002' names parent 'deadbeef0000', which does not exist"],
    )
    .await;
}

#[tokio::test]
async fn a_duplicate_revision_id_is_located() {
    rejects(
        "aaaa00000001_again.yaml",
        "revision: aaaa00000001\nparents: []\n",
        &["upgrade"],
        &[
            "aaaa00000001_",
            ".yaml:1:11: revision 'aaaa00000001' is defined twice",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_ambiguous_prefix_names_the_candidates() {
    rejects(
        "aaaa00000002_second.yaml",
        "revision: aaaa00000002\nparents: [aaaa00000001]\n",
        &["upgrade", "aaaa"],
        &["'aaaa' is ambiguous: it starts aaaa00000001, aaaa00000002"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_target_and_bad_arguments_exit_2() {
    rejects("", "", &["upgrade", "zzzz"], &["no revision 'zzzz'"]).await;
    rejects("", "", &["downgrade", "+1"], &["'+1' moves up"]).await;
    rejects(
        "",
        "",
        &["upgrade", "--lock-timeout", "soon"],
        &["not a duration"],
    )
    .await;
    rejects("", "", &["upgrade", "--no-such-flag"], &["--no-such-flag"]).await;
    rejects("", "", &["dropdb"], &["pass --yes"]).await;
}

#[tokio::test]
async fn an_unreachable_database_exits_2_without_its_password() {
    let project = Project::new();
    project.write("aaaa00000001_create_contacts.yaml", BASE);
    for url in [
        "postgres://app:s3cretpw@127.0.0.1:1/crm",
        "mysql://app:s3cretpw@127.0.0.1:1/crm",
    ] {
        let output = project
            .runner(Some(url))
            .arg("upgrade")
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot connect to"), "{stderr}");
        assert!(stderr.contains("app:***@127.0.0.1:1/crm"), "{stderr}");
        assert!(!stderr.contains("s3cretpw"), "password leaked: {stderr}");
    }
    project
        .runner(None)
        .args(["upgrade", "--database-url", "oracle://app:s3cretpw@h/db"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a database URL"))
        .stderr(predicate::str::contains("s3cretpw").not());
    project
        .runner(Some("postgres://app:s3cretpw@127.0.0.1:1/crm"))
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("s3cretpw").not());
}

#[tokio::test]
async fn an_edited_applied_revision_stops_upgrade_until_repaired() {
    let (project, url) = applied_project();
    let path = project.versions().join("aaaa00000001_create_contacts.yaml");
    let edited = BASE.replace("string(100)", "string(150)");
    std::fs::write(&path, edited).unwrap();
    project.write(
        "bbbb00000002_next.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\n",
    );
    let before = snapshot(&url).await;
    project
        .runner(Some(&url))
        .arg("upgrade")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("revision aaaa00000001"))
        .stderr(predicate::str::contains("was changed after it was applied"))
        .stderr(predicate::str::contains("runner repair"));
    assert_eq!(before, snapshot(&url).await);
    project
        .runner(Some(&url))
        .arg("repair")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "re-recorded the checksum of aaaa00000001",
        ));
    project.runner(Some(&url)).arg("upgrade").assert().success();
}

#[tokio::test]
async fn init_creates_a_project_a_revision_can_be_written_into_and_run() {
    let project = Project::new();
    let root = project.dir.path().join("app");
    project
        .runner(None)
        .args(["init", root.to_str().unwrap()])
        .assert()
        .success();
    for file in [
        "runner.toml",
        "schema.yaml",
        "migrations/versions",
        "migrations/transforms/Cargo.toml",
    ] {
        assert!(root.join(file).exists(), "{file} missing");
    }
    let run = |args: &[&str]| {
        let mut command = project.runner(None);
        command.current_dir(&root).args(args);
        command
    };
    run(&["init"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    let first = run(&["revision", "-m", "create notes", "--format", "json"])
        .assert()
        .success();
    let first: serde_json::Value = serde_json::from_slice(&first.get_output().stdout).unwrap();
    let path = root.join(first["path"].as_str().unwrap());
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "upgrade:\n",
        "upgrade:\n  - create_table: {table: notes, columns: [{name: id, type: integer, primary_key: true}, {name: body, type: text}]}\n",
    );
    std::fs::write(&path, text).unwrap();
    let second = run(&["revision", "-m", "index notes", "--format", "json"])
        .assert()
        .success();
    let second: serde_json::Value = serde_json::from_slice(&second.get_output().stdout).unwrap();
    assert_eq!(second["parents"][0], first["revision"]);
    run(&["upgrade"])
        .assert()
        .success()
        .stdout(predicate::str::contains("upgraded 2 revision(s)"));
    assert!(
        root.join("app.db").exists(),
        "the SQLite file is made next to runner.toml"
    );
    let current = run(&["current", "--format", "json"]).assert().success();
    let current: serde_json::Value = serde_json::from_slice(&current.get_output().stdout).unwrap();
    assert_eq!(current["heads"][0]["revision"], second["revision"]);
    run(&["downgrade", "base"])
        .assert()
        .success()
        .stdout(predicate::str::contains("is at base"));
}

#[tokio::test]
async fn the_graph_commands_describe_the_demo() {
    let project = Project::demo();
    project
        .runner(None)
        .arg("heads")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "b5f08d2e6a91 (head) deal amounts in integer cents",
        ));
    project
        .runner(None)
        .arg("branches")
        .assert()
        .success()
        .stdout(predicate::str::contains("c47e09b3f812 (branchpoint)"))
        .stdout(predicate::str::contains("-> 5d0e8a61f9c4 tag contacts"))
        .stdout(predicate::str::contains("-> a92f3b7c1e05 deal pipeline"));
    let graph = project
        .runner(None)
        .args(["history", "--graph"])
        .assert()
        .success();
    let graph = String::from_utf8_lossy(&graph.get_output().stdout).to_string();
    let expected = "\
*  b5f08d2e6a91 (head) deal amounts in integer cents
*  9c3e5a7b1d24 split contact names
*  7ab4d9e2c610 contact names and longer emails
*  e1c6f20d8b37 (merge) merge tagging and pipeline
|\\
| *  a92f3b7c1e05 (pipeline) deal pipeline stages and probability
* |  5d0e8a61f9c4 (tagging) tag contacts
|/
*  c47e09b3f812 (branchpoint) create currencies and deals
*  8b21d4e0c5a3 create contacts
o  3f9a1c2e7b10 create users and companies
";
    assert_eq!(graph, expected);
    project
        .runner(None)
        .args(["history", "--format", "dot"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\"e1c6f20d8b37\" -> \"a92f3b7c1e05\";",
        ));
    project
        .runner(None)
        .args(["history", "-r", "c47e:e1c6"])
        .assert()
        .success()
        .stdout(predicate::str::contains("-> 8b21d4e0c5a3").not())
        .stdout(predicate::str::contains("-> e1c6f20d8b37 (merge)"))
        .stdout(predicate::str::contains("-> c47e09b3f812 (branchpoint)"));
    project
        .runner(None)
        .args(["show", "pipeline", "--dialect", "postgres"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ALTER TYPE \"deal_state\" ADD VALUE 'negotiation' AFTER 'open';",
        ))
        .stdout(predicate::str::contains("downgrade (postgres, auto)"))
        .stdout(predicate::str::contains(
            "DROP INDEX \"ix_deals_state_probability\";",
        ));
}

#[tokio::test]
async fn branches_need_a_merge_or_a_head_and_merge_joins_them() {
    let project = Project::new();
    project.write(
        "aaaa00000001_base.yaml",
        "revision: aaaa00000001\nparents: []\n",
    );
    project.write(
        "bbbb00000002_left.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\n",
    );
    project.write(
        "cccc00000003_right.yaml",
        "revision: cccc00000003\nparents: [aaaa00000001]\n",
    );
    project
        .runner(None)
        .args(["revision", "-m", "next"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "several heads (bbbb00000002, cccc00000003)",
        ));
    project
        .runner(None)
        .args(["revision", "-m", "next", "--head", "aaaa"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "aaaa00000001 is not a head; pass --splice",
        ));
    project
        .runner(None)
        .args(["merge", "heads", "-m", "join the branches"])
        .assert()
        .success();
    let repo = project.repository();
    assert_eq!(repo.graph.heads().len(), 1);
    let merge = repo.get(&repo.graph.heads()[0]).unwrap();
    assert_eq!(merge.parents, ["bbbb00000002", "cccc00000003"]);
    assert_eq!(merge.message, "join the branches");
}

#[tokio::test]
async fn a_downgrade_past_an_irreversible_step_is_refused_before_anything_is_reverted() {
    let (project, url) = applied_project();
    project.write(
        "bbbb00000002_raw.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - sql: {up: \"UPDATE contacts SET full_name = upper(full_name)\"}\n",
    );
    project.write(
        "cccc00000003_email.yaml",
        "revision: cccc00000003\nparents: [bbbb00000002]\nupgrade:\n  - add_column: {table: contacts, column: {name: email, type: text}}\n",
    );
    project.runner(Some(&url)).arg("upgrade").assert().success();
    let before = snapshot(&url).await;
    // cccc00000003 could be reverted, but the run would then stop at bbbb00000002: nothing
    // is reverted, and the exit code says nothing ran.
    project
        .runner(Some(&url))
        .args(["downgrade", "base"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bbbb00000002_raw.yaml:4:5: revision bbbb00000002 cannot be downgraded automatically: sql has no reverse",
        ));
    assert_eq!(before, snapshot(&url).await, "the database changed");
}

#[tokio::test]
async fn stamp_records_without_running_and_an_irreversible_step_stops_downgrade() {
    let (project, url) = applied_project();
    project.write(
        "bbbb00000002_raw.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - sql: {up: \"UPDATE contacts SET full_name = upper(full_name)\"}\n",
    );
    project.runner(Some(&url)).arg("upgrade").assert().success();
    let before = snapshot(&url).await;
    project
        .runner(Some(&url))
        .args(["downgrade", "-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bbbb00000002_raw.yaml:4:5: revision bbbb00000002 cannot be downgraded automatically: sql has no reverse",
        ));
    assert_eq!(before, snapshot(&url).await);
    project
        .runner(Some(&url))
        .args(["stamp", "-1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("at aaaa00000001"));
    let mut db = Db::connect(&url.parse().unwrap(), &ConnectOptions::default())
        .await
        .unwrap();
    let names = db
        .query("SELECT full_name FROM contacts ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(
        names.texts("full_name"),
        [Some("ADA LOVELACE".into()), Some("ALAN TURING".into())]
    );
    project
        .runner(Some(&url))
        .args(["current"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("aaaa00000001 create contacts"));
    project
        .runner(Some(&url))
        .args(["stamp", "bbbb00000002"])
        .assert()
        .success();
    project
        .runner(Some(&url))
        .args(["current"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("bbbb00000002"));
    assert_eq!(
        db.query("SELECT full_name FROM contacts ORDER BY id", &[])
            .await
            .unwrap()
            .texts("full_name"),
        names.texts("full_name"),
        "stamp ran nothing"
    );
}

#[tokio::test]
async fn a_password_in_a_url_or_config_that_does_not_load_is_never_printed() {
    let project = Project::new();
    project.write("aaaa00000001_create_contacts.yaml", BASE);
    let config = project.dir.path().join("runner.toml");
    let leaks = |command: &mut assert_cmd::Command, password: &str, expected: &str| {
        let output = command.assert().code(2).get_output().clone();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert!(
            !stdout.contains(password) && !stderr.contains(password),
            "password leaked:\n{stdout}\n{stderr}"
        );
    };
    // A URL that does not parse (`#` starts a fragment), on the command line and in the
    // environment.
    leaks(
        project
            .runner(None)
            .args(["upgrade", "--database-url", "postgres://app:p#ss@db/crm"]),
        "p#ss",
        "malformed",
    );
    leaks(
        project
            .runner(Some("postgres://app:p#ss@db/crm"))
            .arg("current"),
        "p#ss",
        "malformed",
    );
    // The same URL in runner.toml.
    std::fs::write(&config, "database_url = \"postgres://app:p#ss@db/crm\"\n").unwrap();
    leaks(project.runner(None).arg("upgrade"), "p#ss", "malformed");
    // A TOML error on the line after the URL: the snippet shows the line before.
    std::fs::write(
        &config,
        "database_url = \"postgres://app:s3cretpw@127.0.0.1:1/crm\"\nmigrations = [oops\n",
    )
    .unwrap();
    leaks(
        project.runner(None).arg("upgrade"),
        "s3cretpw",
        "runner.toml:2:",
    );
    leaks(
        project
            .runner(None)
            .args(["--config", config.to_str().unwrap(), "heads"]),
        "s3cretpw",
        "runner.toml:2:",
    );
}

#[tokio::test]
async fn branch_labels_that_targets_cannot_read_are_refused_at_load() {
    for label in ["release-2", "\"a:b\"", "\"a@b\"", "heads"] {
        rejects(
            "bbbb00000002_label.yaml",
            &format!("revision: bbbb00000002\nparents: [aaaa00000001]\nbranch_labels: [{label}]\n"),
            &["upgrade"],
            &[
                "bbbb00000002_label.yaml:3:17: branch label",
                "must be 1 to 64 lowercase letters, digits or underscores, and not head, heads, base",
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn revision_writes_nothing_that_would_not_load() {
    let (project, url) = applied_project();
    project
        .runner(Some(&url))
        .args(["revision", "-m", "labelled", "--branch-label", "crm"])
        .assert()
        .success();
    let files = || std::fs::read_dir(project.versions()).unwrap().count();
    let before = files();
    for (labels, expected) in [
        (&["a", "a"][..], "branch label 'a' is given twice"),
        (&["release-2"][..], "branch label 'release-2' must be"),
        (&["base"][..], "branch label 'base' must be"),
        (&["crm"][..], "branch label 'crm' is on both"),
        (&["aaaa00000001"][..], "is also a revision id"),
    ] {
        let mut command = project.runner(Some(&url));
        command.args(["revision", "-m", "next"]);
        for label in labels {
            command.args(["--branch-label", label]);
        }
        command
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "the new revision would not load, so it was not written",
            ))
            .stderr(predicate::str::contains(expected));
        assert_eq!(files(), before, "{labels:?}: a file was written");
    }
    project.runner(Some(&url)).arg("heads").assert().success();
    project
        .runner(Some(&url))
        .args(["upgrade", "crm@head"])
        .assert()
        .success();
}

#[tokio::test]
async fn a_concurrent_step_in_an_explicit_downgrade_needs_a_non_transactional_revision() {
    rejects(
        "bbbb00000002_index.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - create_index: {table: contacts, columns: [full_name]}\ndowngrade:\n  - drop_index: {name: ix_contacts_full_name, concurrently: true}\n",
        &["upgrade"],
        &["bbbb00000002_index.yaml:6:5: `concurrently` cannot run inside a transaction: set `transactional: false` on this revision"],
    )
    .await;
}

#[tokio::test]
async fn an_absurd_step_count_exits_2() {
    for target in ["-9223372036854775808", "-99999999999999999999"] {
        rejects(
            "",
            "",
            &["downgrade", target],
            &[&format!("'{target}' takes too many steps")],
        )
        .await;
    }
    rejects(
        "",
        "",
        &["upgrade", "+9223372036854775807"],
        &["takes too many steps"],
    )
    .await;
}

#[tokio::test]
async fn format_dot_is_only_for_history() {
    for command in [
        &["heads"][..],
        &["current"],
        &["upgrade"],
        &["show", "aaaa"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--format", "dot"]);
        rejects(
            "",
            "",
            &args,
            &["--format dot draws the revision graph: only `runner history` takes it"],
        )
        .await;
    }
    let project = Project::new();
    let root = project.dir.path().join("new");
    project
        .runner(None)
        .args(["init", root.to_str().unwrap(), "--format", "dot"])
        .assert()
        .code(2);
    assert!(!root.exists(), "init ran");
}

#[tokio::test]
async fn looking_at_a_missing_sqlite_file_finds_base_and_creates_nothing() {
    let project = Project::new();
    project.write("aaaa00000001_create_contacts.yaml", BASE);
    let file = project.dir.path().join("app.db");
    let url = format!("sqlite://{}", file.display());
    project
        .runner(Some(&url))
        .arg("current")
        .assert()
        .success()
        .stdout("base (no revision applied)\n");
    project
        .runner(Some(&url))
        .args(["history", "-i"])
        .assert()
        .success()
        .stdout("<base> -> aaaa00000001 (head) create contacts\n");
    let json = project
        .runner(Some(&url))
        .args(["history", "-i", "--format", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(json[0]["revision"], "aaaa00000001");
    assert_eq!(json[0]["applied"], false);
    assert!(!file.exists(), "looking created the SQLite file");
    // Without -i the dot output does not read the database at all: a file that is not a
    // database does not matter to it.
    std::fs::write(&file, "not a database").unwrap();
    project
        .runner(Some(&url))
        .args(["history", "--format", "dot"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"aaaa00000001\" [label="))
        .stdout(predicate::str::contains("filled").not());
    project
        .runner(Some(&url))
        .args(["history", "--format", "dot", "-i"])
        .assert()
        .failure();
}

#[tokio::test]
async fn init_creates_nothing_when_one_of_its_files_exists() {
    let project = Project::new();
    let root = project.dir.path().join("app");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("schema.yaml"), "tables: []\n").unwrap();
    project
        .runner(None)
        .args(["init", root.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("schema.yaml already exists"))
        .stderr(predicate::str::contains("created nothing"));
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["schema.yaml"]);
    assert_eq!(
        std::fs::read_to_string(root.join("schema.yaml")).unwrap(),
        "tables: []\n"
    );
}
