//! Fixtures on every database: `dumpdata`, `loaddata` into an empty database and `dumpdata`
//! again give the same folder byte for byte, with every portable type, rows that reference
//! their own table and two tables that reference each other; the same rows dump to the same
//! bytes from SQLite, PostgreSQL and MariaDB; fixtures that do not fit are refused whole with
//! the file and field named; and the demo's fixtures go through both data transforms.

use std::path::Path;

use runner_integration_tests::{Project, TestDb, count, demo_with_fixtures, dump, folder};

const KINDS: &str = r#"revision: f1f1f1f1f1f1
parents: []
message: every kind of value, a tree and a cycle
upgrade:
  - create_enum: {name: mood, values: [calm, wild]}
  - create_table:
      table: kinds
      columns:
        - {name: id, type: integer, primary_key: true, autoincrement: true}
        - {name: small, type: smallint}
        - {name: big, type: bigint}
        - {name: flag, type: boolean}
        - {name: ratio, type: real}
        - {name: precise, type: double}
        - {name: amount, type: "decimal(12,3)"}
        - {name: label, type: string(20)}
        - {name: body, type: text}
        - {name: raw, type: binary}
        - {name: day, type: date}
        - {name: at_time, type: time}
        - {name: stamp, type: timestamp}
        - {name: zoned, type: timestamptz}
        - {name: doc, type: json}
        - {name: uid, type: uuid}
        - {name: mood, type: enum(mood)}
  - create_table:
      table: employees
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: name, type: string(50), nullable: false}
        - {name: manager_id, type: integer, references: employees.id}
  - create_table:
      table: teams
      columns:
        - {name: code, type: string(10), primary_key: true}
        - {name: lead_id, type: integer}
  - create_table:
      table: people
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: team_code, type: string(10), references: teams.code}
  - add_foreign_key: {table: teams, columns: [lead_id], references: {table: people, columns: [id]}}
"#;

/// Hand-written records, in forms other than the canonical ones where a type allows it
/// (unsorted JSON keys, an offset, a decimal number, an upper-case UUID).
const RECORDS: &[(&str, &str)] = &[
    (
        "kinds/1.json",
        r#"{"id": 1, "small": -32768, "big": 9007199254740993, "flag": true, "ratio": 0.1,
            "precise": 2.718281828459045, "amount": 12.5, "label": "naïve ✓", "body": "line\none",
            "raw": "AAEC/w==", "day": "2026-02-28", "at_time": "23:59:58.5",
            "stamp": "2026-03-01T12:30:00.25", "zoned": "2026-03-01T12:30:00+02:00",
            "doc": {"b": [1, 2, {"z": null, "a": "x"}], "a": 1.5},
            "uid": "6F9619FF-8B86-D011-B42D-00C04FC964FF", "mood": "wild"}"#,
    ),
    (
        "kinds/2.json",
        r#"{"id": 2, "small": null, "big": null, "flag": false, "ratio": null, "precise": null,
            "amount": "-0.001", "label": "", "body": null, "raw": "", "day": null,
            "at_time": null, "stamp": null, "zoned": null, "doc": [], "uid": null, "mood": "calm"}"#,
    ),
    (
        "employees/1.json",
        r#"{"id": 1, "name": "Root", "manager_id": 1}"#,
    ),
    (
        "employees/2.json",
        r#"{"id": 2, "name": "Mid", "manager_id": 3}"#,
    ),
    (
        "employees/3.json",
        r#"{"id": 3, "name": "Top", "manager_id": 1}"#,
    ),
    ("teams/red.json", r#"{"code": "red", "lead_id": 10}"#),
    ("teams/blue.json", r#"{"code": "blue", "lead_id": null}"#),
    ("people/10.json", r#"{"id": 10, "team_code": "red"}"#),
    ("people/11.json", r#"{"id": 11, "team_code": "blue"}"#),
];

fn write_records(dir: &Path, records: &[(&str, &str)]) {
    for (file, text) in records {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("table folder");
        std::fs::write(path, text).expect("record");
    }
}

#[tokio::test]
async fn dump_load_dump_gives_the_same_bytes_with_every_type_a_tree_and_a_cycle() {
    let mut dumps = Vec::new();
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("f1f1f1f1f1f1_kinds.yaml", KINDS);
        let url = test_db.url_arg();
        project.ok(Some(&url), &["upgrade"]);
        let hand = project.dir.path().join("hand");
        write_records(&hand, RECORDS);
        let loaded = project.ok(Some(&url), &["loaddata", "hand"]);
        assert!(
            loaded.contains("loaded 9 row(s) into 4 table(s) from hand (6 reference(s) set after their rows, to break cycles)"),
            "{dialect}: {loaded}"
        );
        project.ok(Some(&url), &["dumpdata", "first"]);
        let first = folder(&project.dir.path().join("first"));

        // Into an empty database of its own, and out again.
        let empty = TestDb::new(dialect).await.expect("second database");
        let empty_url = empty.url_arg();
        project.ok(Some(&empty_url), &["upgrade"]);
        project.ok(Some(&empty_url), &["loaddata", "first"]);
        project.ok(Some(&empty_url), &["dumpdata", "second"]);
        let second = folder(&project.dir.path().join("second"));
        assert_eq!(
            first, second,
            "{dialect}: dump, load, dump changed the files"
        );

        // Dumping again over the folder writes nothing.
        let again = project.ok(Some(&empty_url), &["dumpdata", "second"]);
        assert!(
            again.contains("(0 file(s) written, 9 unchanged, 0 removed)"),
            "{dialect}: {again}"
        );

        // The canonical forms.
        let kinds = &first["kinds/1.json"];
        for expected in [
            r#""amount": "12.500""#,
            r#""zoned": "2026-03-01T10:30:00Z""#,
            r#""stamp": "2026-03-01T12:30:00.250""#,
            r#""uid": "6f9619ff-8b86-d011-b42d-00c04fc964ff""#,
            r#""ratio": 0.1"#,
            r#""big": 9007199254740993"#,
            r#""raw": "AAEC/w==""#,
            r#""at_time": "23:59:58.500""#,
        ] {
            assert!(
                kinds.contains(expected),
                "{dialect}: no {expected} in\n{kinds}"
            );
        }
        assert!(
            kinds.contains("\"doc\": {\n    \"a\": 1.5,\n    \"b\": [\n      1,\n      2,\n      {\n        \"a\": \"x\",\n        \"z\": null\n      }"),
            "{dialect}: JSON keys not sorted:\n{kinds}"
        );
        assert_eq!(
            first["employees/2.json"],
            "{\n  \"id\": 2,\n  \"manager_id\": 3,\n  \"name\": \"Mid\"\n}\n"
        );
        assert_eq!(
            first["fixtures.json"],
            "{\n  \"heads\": [\n    \"f1f1f1f1f1f1\"\n  ]\n}\n"
        );

        // The application's next insert takes a new id (PostgreSQL's identity sequence moved).
        let mut db = empty.connect().await;
        db.execute_script("INSERT INTO kinds (label) VALUES ('next')")
            .await
            .unwrap_or_else(|e| panic!("{dialect}: insert after loaddata: {e}"));
        assert_eq!(
            count(&mut db, "SELECT MAX(id) FROM kinds").await,
            3,
            "{dialect}"
        );
        // A row that is gone loses its file; the others are left as they are.
        db.execute_script("DELETE FROM kinds WHERE id >= 2")
            .await
            .expect("delete rows");
        db.close().await.expect("close");
        let again = project.ok(Some(&empty_url), &["dumpdata", "second"]);
        assert!(
            again.contains("(0 file(s) written, 8 unchanged, 1 removed)"),
            "{dialect}: {again}"
        );
        let second = folder(&project.dir.path().join("second"));
        assert!(!second.contains_key("kinds/2.json"), "{dialect}");
        assert_eq!(
            second.get("kinds/1.json"),
            first.get("kinds/1.json"),
            "{dialect}"
        );
        dumps.push((dialect, first));
    }
    // The same rows give the same bytes on every database.
    if let Some(((first_dialect, first), rest)) = dumps.split_first() {
        for (dialect, other) in rest {
            for (file, text) in first {
                assert_eq!(
                    Some(text),
                    other.get(file),
                    "{file}: {first_dialect} and {dialect} dump differently"
                );
            }
        }
    }
}

#[tokio::test]
async fn fixtures_that_do_not_fit_are_refused_whole_naming_file_and_field() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = Project::new();
        project.write("f1f1f1f1f1f1_kinds.yaml", KINDS);
        let url = test_db.url_arg();
        project.ok(Some(&url), &["upgrade"]);
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;

        let bad = project.dir.path().join("bad");
        write_records(
            &bad,
            &[
                ("employees/1.json", r#"{"id": 1, "name": "Fine"}"#),
                (
                    "employees/2.json",
                    r#"{"id": 2, "name": "Typo", "manger_id": 1}"#,
                ),
                (
                    "employees/3.json",
                    "{\"id\": 3,\n  \"name\": \"Broken\",\n}",
                ),
                ("employees/4.json", r#"{"id": 5, "name": "Misnamed"}"#),
                (
                    "kinds/1.json",
                    r#"{"id": 1, "small": 70000, "amount": "1.2345", "mood": "sad", "raw": "%%"}"#,
                ),
                ("nosuch/1.json", r#"{"id": 1}"#),
            ],
        );
        let (code, text) = project.run(Some(&url), &["loaddata", "bad"]);
        assert_eq!(code, 2, "{dialect}: {text}");
        assert!(
            text.contains("1 problem(s) in the fixtures, nothing was loaded:\n  bad/employees/3.json:3:1: trailing comma"),
            "{dialect}: {text}"
        );
        assert_eq!(
            dump(&mut db).await,
            before,
            "{dialect}: a refused load changed the database"
        );

        // Once the file parses, the other problems are all reported.
        std::fs::write(
            bad.join("employees/3.json"),
            r#"{"id": 3, "name": "Fixed"}"#,
        )
        .unwrap();
        let (code, text) = project.run(Some(&url), &["loaddata", "bad"]);
        assert_eq!(code, 2, "{dialect}: {text}");
        for expected in [
            "7 problem(s) in the fixtures, nothing was loaded",
            "bad/employees/2.json: field 'manger_id': table employees has no such column (it has id, name, manager_id)",
            "bad/employees/4.json: the record's key is 5, so its file is 5.json",
            "bad/kinds/1.json: field 'small' (smallint): 70000 is out of range for smallint",
            "bad/kinds/1.json: field 'amount' (decimal(12,3)): 1.2345 has more than the column's 3 digit(s) after the point",
            "bad/kinds/1.json: field 'mood' (enum(mood)): 'sad' is not a value of enum mood (calm, wild)",
            "bad/kinds/1.json: field 'raw' (binary): expected base64",
            "bad/nosuch: no table 'nosuch' in the database",
        ] {
            assert!(
                text.contains(expected),
                "{dialect}: no '{expected}' in:\n{text}"
            );
        }
        assert_eq!(
            dump(&mut db).await,
            before,
            "{dialect}: a refused load changed the database"
        );

        // Records that fit but that the database refuses (a reference to no row): the file is
        // named, and the rows loaded before it are rolled back.
        let dangling = project.dir.path().join("dangling");
        write_records(
            &dangling,
            &[
                ("employees/1.json", r#"{"id": 1, "name": "Fine"}"#),
                ("people/1.json", r#"{"id": 1, "team_code": "nowhere"}"#),
            ],
        );
        let (code, text) = project.run(Some(&url), &["loaddata", "dangling"]);
        assert_eq!(code, 2, "{dialect}: {text}");
        assert!(
            text.contains(
                "dangling/people/1.json: the database refused this record, so nothing was loaded"
            ),
            "{dialect}: {text}"
        );
        assert_eq!(
            dump(&mut db).await,
            before,
            "{dialect}: a refused load changed the database"
        );
        db.close().await.expect("close");
    }
}

#[tokio::test]
async fn the_demo_fixtures_go_through_both_data_transforms() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let project = demo_with_fixtures();
        let url = test_db.url_arg();
        // A target short of the fixtures' revision is refused before anything runs.
        let (code, text) = project.run(
            Some(&url),
            &["upgrade", "c47e09b3f812", "--fixtures", "migrations/data"],
        );
        assert_eq!(code, 2, "{dialect}: {text}");
        assert!(
            text.contains("c47e09b3f812 does not include the fixtures' revision e1c6f20d8b37"),
            "{dialect}: {text}"
        );
        let mut db = test_db.connect().await;
        assert_eq!(
            runner::version_table::heads(&mut db).await.expect("heads"),
            Vec::<String>::new(),
            "{dialect}: a refused upgrade ran revisions"
        );
        db.close().await.expect("close");
        // The README's first command.
        let text = project.ok(Some(&url), &["upgrade", "--fixtures", "migrations/data"]);
        for expected in [
            "loaded 22 row(s) into 7 table(s) from migrations/data",
            "info: split 5 names",
            "info: converted 4 amounts",
            "upgraded 9 revision(s)",
        ] {
            assert!(
                text.contains(expected),
                "{dialect}: no '{expected}' in:\n{text}"
            );
        }
        let mut db = test_db.connect().await;
        let names = db
            .query(
                "SELECT first_name, last_name FROM contacts ORDER BY id",
                &[],
            )
            .await
            .expect("contacts");
        assert_eq!(
            names.texts("last_name"),
            ["Curie", "Scorpio", "Fontaine", "", "Tanaka"].map(|s| Some(s.to_string())),
            "{dialect}"
        );
        assert_eq!(
            count(&mut db, "SELECT amount_cents FROM deals WHERE id = 1").await,
            1_250_050,
            "{dialect}"
        );
        assert_eq!(
            count(&mut db, "SELECT amount_cents FROM deals WHERE id = 4").await,
            150_000,
            "{dialect}: yen have no minor unit"
        );
        let before = dump(&mut db).await;
        // Again: the database is past the fixtures' revision, so they are not loaded twice.
        let text = project.ok(Some(&url), &["upgrade", "--fixtures", "migrations/data"]);
        assert!(
            text.contains("belong to e1c6f20d8b37, and the database is past it: not loaded")
                && text.contains("nothing to do"),
            "{dialect}: {text}"
        );
        assert_eq!(dump(&mut db).await, before, "{dialect}");
        // loaddata itself refuses a database at another revision.
        let (code, text) = project.run(Some(&url), &["loaddata", "migrations/data"]);
        assert_eq!(code, 2, "{dialect}: {text}");
        assert!(
            text.contains(
                "holds rows of revision e1c6f20d8b37, and the database is at b5f08d2e6a91"
            ),
            "{dialect}: {text}"
        );
        assert_eq!(dump(&mut db).await, before, "{dialect}");
        db.close().await.expect("close");
    }
}

#[tokio::test]
async fn check_with_fixtures_runs_the_later_revisions_over_their_rows() {
    let project = demo_with_fixtures();
    project.write(
        "d00d00d00d00_unique_emails.yaml",
        "revision: d00d00d00d00\nparents: [b5f08d2e6a91]\nmessage: one contact per email\nupgrade:\n  - add_unique: {table: contacts, columns: [email]}\n",
    );
    let mut scratches = vec![("sqlite::memory:".to_string(), None)];
    for test_db in TestDb::all().await {
        if test_db.dialect != runner::dialect_kind::Dialect::Sqlite {
            scratches.push((test_db.url_arg(), Some(test_db)));
        }
    }
    for (url, test_db) in &scratches {
        // Without rows the new unique key goes in.
        let (_, text) = project.run(None, &["check", "--database-url", url]);
        assert!(
            text.contains("ok      stairway   10 revision(s) up, down and up again"),
            "{url}: {text}"
        );
        // With the fixtures, two contacts share an email: the stairway fails at that revision.
        let contact = project.dir.path().join("migrations/data/contacts/6.json");
        std::fs::write(
            &contact,
            r#"{"id": 6, "full_name": "Marie Sklodowska", "email": "marie@acme.example"}"#,
        )
        .expect("write record");
        let with_fixtures = |url: &str| {
            project.run(
                None,
                &[
                    "check",
                    "--fixtures",
                    "migrations/data",
                    "--database-url",
                    url,
                ],
            )
        };
        let (code, text) = with_fixtures(url);
        std::fs::remove_file(&contact).expect("remove record");
        assert_eq!(code, 3, "{url}: {text}");
        assert!(
            text.contains("failed  stairway")
                && text.contains("d00d00d00d00_unique_emails.yaml")
                && text.contains("the upgrade of d00d00d00d00 failed"),
            "{url}: {text}"
        );
        // And without the duplicate, every revision runs over the 22 rows (a failed stairway
        // leaves a scratch database as it stopped: a fresh one for a server).
        let fresh = match test_db {
            Some(test_db) => Some(TestDb::new(test_db.dialect).await.expect("fresh scratch")),
            None => None,
        };
        let fresh_url = fresh.as_ref().map_or(url.clone(), TestDb::url_arg);
        let (_, text) = with_fixtures(&fresh_url);
        assert!(
            text.contains("10 revision(s) up, down and up again")
                && text.contains("over 22 fixture row(s)"),
            "{url}: {text}"
        );
    }
}
