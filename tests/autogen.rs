//! Autogenerate on every database, one kind of schema change per test: `runner migrate` writes a
//! revision from the schema at head to `schema.yaml`; applying it makes the live schema what
//! `schema.yaml` declares (compared by introspection: `migrate --from-database` then finds
//! nothing to do); and autogenerating again writes nothing.

use runner_integration_tests::{Project, TestDb};

const BASE: &str = r#"
enums:
  deal_state: [open, won, lost]
  spare: [x, y]
tables:
  companies:
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: name, type: string(100), nullable: false}
      - {name: website, type: string(200)}
  contacts:
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: company_id, type: integer, references: companies.id}
      - {name: phone, type: string(40)}
      - {name: email, type: string(200)}
      - {name: score, type: integer, default: 0}
    indexes:
      - {columns: [email]}
    checks:
      - {name: ck_contacts_score, expr: "score >= 0"}
  deals:
    columns:
      - {name: id, type: bigint, primary_key: true, autoincrement: true}
      - {name: contact_id, type: integer, nullable: false, references: contacts.id, on_delete: cascade}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
  notes:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: body, type: text}
"#;

fn run(project: &Project, url: &str, args: &[&str]) -> (i32, String) {
    let out = project
        .runner(Some(url))
        .args(args)
        .output()
        .expect("runner");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn revisions(project: &Project) -> usize {
    std::fs::read_dir(project.versions())
        .expect("versions")
        .count()
}

/// BASE, migrated; then `edit` applied to schema.yaml, migrated and upgraded, on each database.
async fn change(edit: impl Fn(&str) -> String, extra: &[&str], expect_in_revision: &[&str]) {
    let target = edit(BASE);
    assert_ne!(target, BASE, "the edit changes nothing");
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = Project::new();
        std::fs::write(project.dir.path().join("schema.yaml"), BASE).expect("schema.yaml");
        let (code, out) = run(&project, &url, &["migrate", "-m", "base"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        let (code, out) = run(&project, &url, &["upgrade"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        let mut db = test_db.connect().await;
        db.execute_script(
            "INSERT INTO companies (name) VALUES ('Acme');\
             INSERT INTO contacts (company_id, phone, email) VALUES (1, '+1', 'a@example.com');\
             INSERT INTO deals (contact_id) VALUES (1)",
        )
        .await
        .unwrap_or_else(|e| panic!("{dialect}: {e}"));

        std::fs::write(project.dir.path().join("schema.yaml"), &target).expect("schema.yaml");
        let mut args = vec!["migrate", "-m", "change"];
        args.extend_from_slice(extra);
        let (code, out) = run(&project, &url, &args);
        assert_eq!(code, 0, "{dialect}: {out}");
        assert_eq!(revisions(&project), 2, "{dialect}: {out}");
        let written = std::fs::read_dir(project.versions())
            .expect("versions")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
            .find(|text| text.contains("message: change"))
            .expect("the new revision");
        for expected in expect_in_revision {
            assert!(
                written.contains(expected),
                "{dialect}: no {expected} in\n{written}"
            );
        }
        let (code, out) = run(&project, &url, &["upgrade"]);
        assert_eq!(code, 0, "{dialect}: {out}\n{written}");
        for args in [
            &["migrate", "-m", "again"][..],
            &["migrate", "-m", "again", "--from-database"][..],
        ] {
            let (code, out) = run(&project, &url, args);
            assert_eq!(code, 0, "{dialect}: {out}");
            assert!(
                out.contains("no changes"),
                "{dialect} {args:?}: {out}\n{written}"
            );
            assert_eq!(revisions(&project), 2, "{dialect}: {out}");
        }
        // The row survived whatever the change did to its tables.
        let (code, out) = run(&project, &url, &["downgrade", "-1"]);
        assert_eq!(code, 0, "{dialect}: downgrade: {out}\n{written}");
        drop(db);
    }
}

#[tokio::test]
async fn tables_created_and_dropped() {
    change(
        |s| {
            s.replace(
                "  notes:\n    columns:\n      - {name: id, type: integer, primary_key: true}\n      - {name: body, type: text}\n",
                "  tags:\n    columns:\n      - {name: id, type: integer, primary_key: true}\n      - {name: contact_id, type: integer, references: contacts.id}\n      - {name: label, type: string(50), nullable: false}\n",
            )
        },
        &[],
        &["drop_table: {table: notes}", "create_table:"],
    )
    .await;
}

#[tokio::test]
async fn columns_added_and_dropped() {
    change(
        |s| {
            s.replace(
                "      - {name: website, type: string(200)}\n",
                "      - {name: domain, type: string(255), nullable: false, default: example.com}\n",
            )
        },
        &[],
        &["drop_column: {table: companies, column: website}", "add_column:"],
    )
    .await;
}

#[tokio::test]
async fn a_likely_rename_is_proposed_and_written_when_asked() {
    let edit = |s: &str| s.replace("{name: phone, type", "{name: phone_number, type");
    change(
        edit,
        &[],
        &[
            "# column 'contacts.phone' is dropped and 'phone_number' added",
            "--rename contacts.phone:phone_number",
        ],
    )
    .await;
    change(
        edit,
        &["--rename", "contacts.phone:phone_number"],
        &["rename_column: {table: contacts, column: phone, to: phone_number}"],
    )
    .await;
}

#[tokio::test]
async fn types_nullability_and_defaults() {
    change(
        |s| {
            s.replace(
                "{name: email, type: string(200)}",
                "{name: email, type: string(320), nullable: false, default: none@example.com}",
            )
            .replace(
                "{name: score, type: integer, default: 0}",
                "{name: score, type: bigint}",
            )
        },
        &[],
        &[
            "alter_column: {table: contacts, column: email",
            "type: bigint",
        ],
    )
    .await;
}

#[tokio::test]
async fn indexes_uniques_and_checks() {
    change(
        |s| {
            s.replace(
                "    indexes:\n      - {columns: [email]}\n    checks:\n      - {name: ck_contacts_score, expr: \"score >= 0\"}\n",
                "    unique:\n      - [email, phone]\n    indexes:\n      - {columns: [phone]}\n      - {name: ix_contacts_score, columns: [score, phone]}\n    checks:\n      - {name: ck_contacts_score, expr: \"score >= -1\"}\n",
            )
        },
        &[],
        &["drop_index:", "add_unique:", "create_index:", "drop_constraint:", "add_check:"],
    )
    .await;
}

#[tokio::test]
async fn foreign_keys_added_changed_and_dropped() {
    change(
        |s| {
            s.replace("{name: company_id, type: integer, references: companies.id}", "{name: company_id, type: integer, references: companies.id, on_delete: set_null}")
                .replace("{name: contact_id, type: integer, nullable: false, references: contacts.id, on_delete: cascade}", "{name: contact_id, type: integer, nullable: false}")
                .replace("      - {name: body, type: text}\n", "      - {name: body, type: text}\n      - {name: company_id, type: integer, references: companies.id}\n")
        },
        &[],
        &["drop_foreign_key:", "add_foreign_key:"],
    )
    .await;
}

#[tokio::test]
async fn enums_created_changed_renamed_reordered_and_dropped() {
    change(
        |s| {
            s.replace("  spare: [x, y]\n", "  kind: [new, renewal]\n")
                .replace(
                    "deal_state: [open, won, lost]",
                    "deal_state: [signed, open, closed_won]",
                )
                .replace(
                    "      - {name: body, type: text}\n",
                    "      - {name: body, type: text}\n      - {name: kind, type: enum(kind)}\n",
                )
        },
        &["--rename", "deal_state.won:closed_won"],
        &[
            "create_enum: {name: kind",
            "drop_enum: {name: spare}",
            "rename: {from: won, to: closed_won}",
            "add: signed",
            "remove: lost",
        ],
    )
    .await;
    change(
        |s| {
            s.replace(
                "deal_state: [open, won, lost]",
                "deal_state: [lost, won, open]",
            )
        },
        &[],
        &["reorder: [lost, won, open]"],
    )
    .await;
}

#[test]
fn nothing_to_do_writes_nothing_and_bad_input_is_refused_before_writing() {
    let project = Project::demo();
    let before = revisions(&project);
    let run = |args: &[&str]| {
        let out = project.runner(None).args(args).output().expect("runner");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, out) = run(&["migrate", "-m", "nothing"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("no changes: the schema at b5f08d2e6a91 already matches schema.yaml; no revision written"),
        "{out}"
    );
    let (code, out) = run(&["migrate", "-m", "x", "--rename", "contacts.fax:phone"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--rename contacts.fax:phone: table 'contacts' has no column 'fax' to rename"),
        "{out}"
    );
    let (code, out) = run(&["migrate", "-m", "x", "--rename", "nocolon"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("expected OLD:NEW"), "{out}");
    let (code, out) = run(&["revision", "-m", "x", "--rename", "a:b"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("go with --autogenerate"), "{out}");
    assert_eq!(revisions(&project), before);

    // Two revisions on the same head: autogenerate names the heads and says to merge first.
    let (code, out) = run(&["revision", "-m", "one"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&[
        "revision",
        "-m",
        "two",
        "--head",
        "b5f08d2e6a91",
        "--splice",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&["migrate", "-m", "three"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("there are several heads (") && out.contains("`runner merge`"),
        "{out}"
    );
    assert_eq!(revisions(&project), before + 2);

    std::fs::write(project.dir.path().join("schema.yaml"), "tables: {}\n").expect("schema.yaml");
    let (code, out) = run(&[
        "revision",
        "--autogenerate",
        "-m",
        "x",
        "--head",
        "b5f08d2e6a91",
        "--splice",
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("schema.yaml declares no tables"), "{out}");
    assert_eq!(revisions(&project), before + 2);
}

#[tokio::test]
async fn baseline_adopts_a_database_made_by_hand_then_migrate_and_upgrade_work() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let mut db = test_db.connect().await;
        db.execute_script(
            "CREATE TABLE authors (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\
             CREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors (id), title VARCHAR(200));\
             CREATE INDEX ix_books_title ON books (title);\
             CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);\
             INSERT INTO alembic_version VALUES ('3f2a1b9c8d7e');\
             INSERT INTO authors VALUES (1, 'Le Guin');\
             INSERT INTO books VALUES (1, 1, 'The Dispossessed')",
        )
        .await
        .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        let project = Project::new();
        let (code, out) = run(&project, &url, &["baseline", "-m", "adopt"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        assert!(
            out.contains("migrated by Alembic, at revision 3f2a1b9c8d7e"),
            "{dialect}: {out}"
        );
        assert_eq!(revisions(&project), 1);
        let written = std::fs::read_dir(project.versions())
            .expect("versions")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
            .next()
            .expect("the base revision");
        assert!(
            written.contains("parents: []") && !written.contains("alembic_version"),
            "{written}"
        );
        // Stamped: nothing to apply, the database is at the new base.
        let (code, out) = run(&project, &url, &["upgrade"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        let (code, out) = run(&project, &url, &["diff"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        // The next revision changes those tables.
        let (_, schema) = run(&project, &url, &["schema"]);
        let schema = schema.replace(
            "      - {name: title, type: string(200)}\n",
            "      - {name: title, type: string(200)}\n      - {name: pages, type: integer}\n",
        );
        assert!(schema.contains("pages"), "{dialect}: {schema}");
        std::fs::write(project.dir.path().join("schema.yaml"), &schema).expect("schema.yaml");
        let (code, out) = run(&project, &url, &["migrate", "-m", "pages"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        let (code, out) = run(&project, &url, &["upgrade"]);
        assert_eq!(code, 0, "{dialect}: {out}");
        let (code, out) = run(
            &project,
            &url,
            &["migrate", "-m", "again", "--from-database"],
        );
        assert_eq!(code, 0, "{dialect}: {out}");
        assert!(out.contains("no changes"), "{dialect}: {out}");
        let rows = db
            .query("SELECT title FROM books", &[])
            .await
            .expect("books");
        assert_eq!(
            rows.rows[0][0].as_str(),
            Some("The Dispossessed"),
            "{dialect}"
        );
        // A project with revisions already is refused.
        let (code, out) = run(&project, &url, &["baseline", "-m", "again"]);
        assert_eq!(code, 2, "{dialect}: {out}");
        assert!(
            out.contains("already has 2 revision(s)"),
            "{dialect}: {out}"
        );
    }
}
