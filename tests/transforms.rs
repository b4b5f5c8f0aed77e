//! The sandbox against real databases: every portable value survives a read and a write back,
//! 100,000 rows go through a cursor in batches in one transaction, every hostile transform is
//! stopped with a message naming the revision, the step, the transform and the reason, and the
//! database is left exactly as it was.

use predicates::prelude::*;
use runner::db::{Db, Value};
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, count, dump};

const BASE: &str = "revision: aaaa00000001
parents: []
message: deals
upgrade:
  - create_table:
      table: deals
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: title, type: string(100), nullable: false}
  - create_table:
      table: currencies
      columns:
        - {name: code, type: string(3), primary_key: true}
        - {name: name, type: string(60), nullable: false}
  - create_table:
      table: users
      columns:
        - {name: id, type: integer, primary_key: true}
  - sql:
      up: \"INSERT INTO deals (id, title) VALUES (1, 'first'), (2, 'second')\"
      down: \"DELETE FROM deals\"
  - sql:
      up: \"INSERT INTO currencies (code, name) VALUES ('EUR', 'Euro')\"
      down: \"DELETE FROM currencies\"
";

fn hostile_revision(attack: &str) -> String {
    format!(
        "revision: bbbb00000002
parents: [aaaa00000001]
message: attack {attack}
upgrade:
  - transform: {{module: hostile, reads: [currencies], writes: [deals], args: {{attack: {attack}}}, timeout: 3s, memory: 64MiB}}
"
    )
}

/// The attacks every database must stop, and those of one database's own escape hatches.
fn attacks(dialect: Dialect) -> Vec<(&'static str, &'static str)> {
    let mut attacks = vec![
        ("loop", "it ran out of time: the limit is 3s"),
        (
            "slow_sql",
            "it ran out of time running `WITH t(n) AS (SELECT 0 UNION ALL SELECT 1",
        ),
        ("memory", "it needed more memory than its limit of 64 MiB"),
        ("panic", "it panicked: the transform gave up on row 42"),
        (
            "undeclared",
            "table 'users' is not declared in this step's `reads` or `writes`",
        ),
        ("read_only", "table 'currencies' is read-only for this step"),
        (
            "drop_table",
            "only SELECT, INSERT, UPDATE, DELETE and WITH may run in a transform, not DROP TABLE",
        ),
        (
            "runner_version",
            "'runner_version' is one of runner's own tables",
        ),
        (
            "two_statements",
            "one statement per call: this text holds 2",
        ),
        ("file", "it returned an error"),
        ("socket", "it returned an error"),
        (
            "swallow",
            "refused `DELETE FROM users`: table 'users' is not declared",
        ),
    ];
    match dialect {
        Dialect::Sqlite => {
            attacks.push(("attach", "not ATTACH"));
            attacks.push(("pragma", "refused `PRAGMA foreign_keys = OFF`"));
        }
        Dialect::Postgres => {
            attacks.push(("copy_program", "not COPY"));
            attacks.push(("pg_read_file", "the function pg_read_file is not allowed"));
        }
        Dialect::Mysql => {
            attacks.push(("load_file", "the function load_file is not allowed"));
            attacks.push(("into_outfile", "does not parse as mysql SQL"));
        }
    }
    attacks
}

#[tokio::test]
async fn hostile_transforms_are_stopped_and_leave_the_database_as_it_was() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = Project::with_test_transforms();
        project.write("aaaa00000001_deals.yaml", BASE);
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;
        for (attack, reason) in attacks(dialect) {
            project.write("bbbb00000002_attack.yaml", &hostile_revision(attack));
            let started = std::time::Instant::now();
            let output = project
                .runner(Some(&url))
                .arg("upgrade")
                .assert()
                .code(1)
                .get_output()
                .clone();
            let stderr = String::from_utf8_lossy(&output.stderr);
            let expected = format!(
                "error: upgrade of revision bbbb00000002 (attack {attack}) failed at step 1 of 1, transform hostile \
                 (migrations/versions/bbbb00000002_attack.yaml:5:5): transform hostile: "
            );
            assert!(stderr.contains(&expected), "{dialect} {attack}:\n{stderr}");
            assert!(
                stderr.contains(reason),
                "{dialect} {attack}: expected {reason:?} in\n{stderr}"
            );
            if attack == "slow_sql" {
                assert!(
                    stderr.contains("`: the limit is 3s"),
                    "{dialect}: the limit is named:\n{stderr}"
                );
                // Stopped at the deadline, not when the 10^10 rows were counted.
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(20),
                    "{dialect}: the slow statement ran {:?}",
                    started.elapsed()
                );
            }
            assert_eq!(
                before,
                dump(&mut db).await,
                "{dialect} {attack}: the database changed"
            );
        }
        db.close().await.ok();
    }
}

/// The server's statement time limit set for a transform is put back before the revision's
/// next steps run, so they do not inherit the transform's deadline.
#[tokio::test]
async fn the_steps_after_a_transform_keep_the_servers_own_statement_time_limit() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        if dialect == Dialect::Sqlite {
            continue;
        }
        let url = test_db.url_arg();
        let mut db = test_db.connect().await;
        let setting = match dialect {
            Dialect::Postgres => "current_setting('statement_timeout')",
            _ if db.info.mariadb => "@@SESSION.max_statement_time",
            _ => "@@SESSION.max_execution_time",
        };
        let project = Project::with_test_transforms();
        project.write("aaaa00000001_deals.yaml", BASE);
        project.write(
            "bbbb00000002_limit.yaml",
            &format!(
                "revision: bbbb00000002
parents: [aaaa00000001]
upgrade:
  - create_table: {{table: limits, columns: [{{name: id, type: integer, primary_key: true}}, {{name: setting, type: string(40)}}]}}
  - transform: {{module: roundtrip, writes: [deals], args: {{table: deals}}, timeout: 7s}}
  - sql: {{up: \"INSERT INTO limits (id, setting) SELECT 1, {setting}\", down: \"DELETE FROM limits\"}}
"
            ),
        );
        let default = db
            .query(
                &if dialect == Dialect::Postgres {
                    format!("SELECT {setting}")
                } else {
                    format!("SELECT CAST({setting} AS CHAR)")
                },
                &[],
            )
            .await
            .unwrap()
            .scalar()
            .and_then(Value::to_text)
            .unwrap();
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let after = db
            .query("SELECT setting FROM limits", &[])
            .await
            .unwrap()
            .texts("setting");
        // MySQL gives the number as text in its own format: compare the numbers.
        let number = |text: &Option<String>| text.as_deref().and_then(|t| t.parse::<f64>().ok());
        if dialect == Dialect::Postgres {
            assert_eq!(after, [Some(default)], "{dialect}");
        } else {
            assert_eq!(after.len(), 1, "{dialect}");
            assert_eq!(
                number(&after[0]),
                number(&Some(default)),
                "{dialect}: {after:?}"
            );
        }
        db.close().await.ok();
    }
}

/// Inserts the sample rows: NULLs, extremes, unicode, 30-digit decimals, zero bytes, zones.
async fn insert_samples(db: &mut Db) {
    let dialect = db.dialect();
    let rows: Vec<Vec<Value>> = vec![
        vec![Value::Integer(1)],
        vec![
            Value::Integer(2),
            Value::Boolean(true),
            Value::Integer(-32768),
            Value::Integer(-2_147_483_648),
            Value::Integer(i64::MIN),
            Value::Real(-3.4e38),
            Value::Real(-1.797_693_134_862_315_7e308),
            Value::Decimal("-12345678901234567890123456789012.123456".into()),
            Value::Text("ünïcødé ✓ 'quoted' \\ back".into()),
            Value::Text("line one\nline two\ttab 😀 \"double\"".into()),
            Value::Blob(vec![0, 1, 0, 255, 0]),
            Value::Date("1970-01-01".into()),
            Value::Time("00:00:00".into()),
            Value::Timestamp("1999-12-31T23:59:59.999999".into()),
            Value::Timestamp("2026-11-24T12:00:00Z".into()),
            Value::Json(r#"{"a": [1, 2.5, "x"], "b": null}"#.into()),
            Value::Uuid("00000000-0000-0000-0000-000000000000".into()),
            Value::Text("happy".into()),
        ],
        vec![
            Value::Integer(3),
            Value::Boolean(false),
            Value::Integer(32767),
            Value::Integer(2_147_483_647),
            Value::Integer(i64::MAX),
            Value::Real(0.1),
            Value::Real(0.1),
            Value::Decimal("99999999999999999999999999999999.999999".into()),
            Value::Text(String::new()),
            Value::Text("x".repeat(10_000)),
            Value::Blob(Vec::new()),
            Value::Date("2026-02-28".into()),
            Value::Time("23:59:59.5".into()),
            Value::Timestamp("2038-01-19T03:14:08".into()),
            Value::Timestamp("2000-01-01T00:00:00.123456+02:00".into()),
            Value::Json("[]".into()),
            Value::Uuid("123e4567-e89b-12d3-a456-426614174000".into()),
            Value::Text("sad 😢".into()),
        ],
    ];
    let columns = "id, flag, small, whole, big, single, double_value, exact, label, body, raw, day, moment, stamp, stamp_tz, doc, ident, feeling";
    for row in rows {
        let names: Vec<&str> = columns.split(", ").take(row.len()).collect();
        let placeholders: Vec<String> = (1..=row.len()).map(|n| db.param(n)).collect();
        let mut sql = format!(
            "INSERT INTO samples ({}) VALUES ({})",
            names.join(", "),
            placeholders.join(", ")
        );
        if dialect == Dialect::Postgres {
            // Text parameters are typed text on PostgreSQL: name the enum and JSON types.
            sql = sql
                .replace("$18)", "$18::mood)")
                .replace("$16,", "$16::jsonb,");
        }
        db.execute(&sql, &row)
            .await
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
    }
}

const SAMPLES: &str = r#"revision: aaaa00000001
parents: []
message: samples of every type
upgrade:
  - create_enum: {name: mood, values: [happy, "sad 😢"]}
  - create_table:
      table: samples
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: flag, type: boolean}
        - {name: small, type: smallint}
        - {name: whole, type: integer}
        - {name: big, type: bigint}
        - {name: single, type: real}
        - {name: double_value, type: double}
        - {name: exact, type: "decimal(38,6)"}
        - {name: label, type: string(100)}
        - {name: body, type: text}
        - {name: raw, type: binary}
        - {name: day, type: date}
        - {name: moment, type: time}
        - {name: stamp, type: timestamp}
        - {name: stamp_tz, type: timestamptz}
        - {name: doc, type: json}
        - {name: ident, type: uuid}
        - {name: feeling, type: enum(mood)}
"#;

#[tokio::test]
async fn every_portable_value_survives_a_read_and_a_write_back() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = Project::with_test_transforms();
        project.write("aaaa00000001_samples.yaml", SAMPLES);
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        insert_samples(&mut db).await;
        let before = dump(&mut db).await;
        assert!(
            before.contains("12345678901234567890123456789012.123456"),
            "{dialect}: {before}"
        );
        for (id, read) in [("bbbb00000002", "cursor"), ("cccc00000003", "query")] {
            let parent = if id == "bbbb00000002" {
                "aaaa00000001"
            } else {
                "bbbb00000002"
            };
            project.write(
                &format!("{id}_roundtrip.yaml"),
                &format!(
                    "revision: {id}\nparents: [{parent}]\nupgrade:\n  - transform: {{module: roundtrip, writes: [samples], args: {{table: samples, read: {read}}}}}\n"
                ),
            );
            project
                .runner(Some(&url))
                .args(["upgrade", "-v"])
                .assert()
                .success()
                .stderr(predicate::str::contains("info: wrote back"));
            let after = dump(&mut db).await;
            // runner_version moved on; every value of samples must be exactly as it was.
            let samples = |text: &str| {
                text[text.find("samples:").unwrap_or(0)..]
                    .lines()
                    .take(4)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(
                samples(&before),
                samples(&after),
                "{dialect} ({read}): a value changed on the way"
            );
        }
    }
}

#[tokio::test]
async fn a_cursor_reads_100000_rows_in_batches_and_writes_each_back_in_one_transaction() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = Project::demo();
        project
            .runner(Some(&url))
            .args(["upgrade", "7ab4d9e2c610"])
            .assert()
            .success();
        let mut db = test_db.connect().await;
        // 100,000 contacts from a cross join of digits, in one statement on every database.
        db.execute_script("CREATE TABLE digits (d INTEGER NOT NULL)")
            .await
            .unwrap();
        db.execute_script(
            "INSERT INTO digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
        )
        .await
        .unwrap();
        db.execute_script(
            "INSERT INTO contacts (id, full_name) \
             SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d, 'Person Number' \
             FROM digits a, digits b, digits c, digits e, digits f",
        )
        .await
        .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        db.execute_script(
            "UPDATE contacts SET full_name = 'Grace Brewster Hopper' WHERE id = 77777",
        )
        .await
        .unwrap();
        assert_eq!(
            count(&mut db, "SELECT count(*) FROM contacts").await,
            100_000
        );
        let started = std::time::Instant::now();
        project
            .runner(Some(&url))
            .args(["upgrade", "9c3e5a7b1d24", "-v"])
            .assert()
            .success()
            .stderr(predicate::str::contains("info: split 100000 names"));
        eprintln!("{dialect}: split 100000 names in {:?}", started.elapsed());
        assert_eq!(
            count(
                &mut db,
                "SELECT count(*) FROM contacts WHERE first_name = 'Person' AND last_name = 'Number'"
            )
            .await,
            99_999,
            "{dialect}"
        );
        let grace = db
            .query(
                "SELECT first_name, last_name FROM contacts WHERE id = 77777",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(
            grace.texts("first_name"),
            [Some("Grace Brewster".to_string())],
            "{dialect}"
        );
        assert_eq!(
            grace.texts("last_name"),
            [Some("Hopper".to_string())],
            "{dialect}"
        );
    }
}

#[tokio::test]
async fn a_compiled_component_is_cached_and_the_second_run_does_not_compile_it() {
    let Some(test_db) = TestDb::new(Dialect::Sqlite).await else {
        return;
    };
    let url = test_db.url_arg();
    let project = Project::with_test_transforms();
    let cache = tempfile::tempdir().unwrap();
    project.write("aaaa00000001_deals.yaml", BASE);
    let run = |id: &str, parent: &str| {
        project.write(
            &format!("{id}_roundtrip.yaml"),
            &format!("revision: {id}\nparents: [{parent}]\nupgrade:\n  - transform: {{module: roundtrip, writes: [deals], args: {{table: deals}}}}\n"),
        );
        let output = project
            .runner(Some(&url))
            .env("RUNNER_CACHE_DIR", cache.path())
            .env("RUNNER_LOG", "runner=debug")
            .arg("upgrade")
            .assert()
            .success()
            .get_output()
            .clone();
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    // The build compiles each module of the workspace once (to ask its `info`) and caches it.
    let first = run("bbbb00000002", "aaaa00000001");
    let cached = std::fs::read_dir(cache.path().join("components"))
        .unwrap()
        .count();
    let built = runner::transforms::Lock::read(&project.config().transforms_lock())
        .unwrap()
        .modules
        .len();
    assert!(
        built >= 2,
        "the build recorded every module of the workspace"
    );
    assert_eq!(cached, built, "one cached compilation per module:\n{first}");
    assert!(
        first.contains("(Memory)"),
        "the run reused the build's compilation:\n{first}"
    );
    let second = run("cccc00000003", "bbbb00000002");
    assert!(
        !second.contains("compiled component"),
        "the second run compiled again:\n{second}"
    );
    assert!(
        second.contains("(Disk)"),
        "the second run loaded the cached compilation:\n{second}"
    );
}

#[tokio::test]
async fn a_transform_scaffolded_in_a_new_project_builds_runs_and_rebuilds_when_edited() {
    let project = Project::new();
    let app = project.dir.path().join("app");
    let run = |args: &[&str]| {
        let mut command = project.runner(None);
        command.current_dir(&app).args(args);
        command
    };
    project
        .runner(None)
        .args(["init", app.to_str().unwrap()])
        .assert()
        .success();
    let versions = app.join("migrations/versions");
    std::fs::write(
        versions.join("aaaa00000001_notes.yaml"),
        "revision: aaaa00000001\nparents: []\nupgrade:\n  - create_table: {table: notes, columns: [{name: id, type: integer, primary_key: true}, {name: body, type: text}]}\n  - sql: {up: \"INSERT INTO notes (id, body) VALUES (1, 'quiet please')\", down: \"DELETE FROM notes\"}\n",
    )
    .unwrap();
    run(&["new-transform", "shout"])
        .assert()
        .success()
        .stdout(predicate::str::contains("migrations/transforms/shout"));
    // The scaffold builds and runs as it is.
    std::fs::write(
        versions.join("bbbb00000002_scaffold.yaml"),
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - transform: {module: shout, reads: [notes]}\n",
    )
    .unwrap();
    run(&["upgrade"])
        .assert()
        .success()
        .stderr(predicate::str::contains("info: shout ran (1)"));
    // A new transform has no `down` until one is written: the lock says so, and a downgrade
    // past it is refused before anything is reverted.
    let lock_path = app.join("migrations/transforms.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(lock.contains("has_down = false"), "{lock}");
    run(&["downgrade", "base"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "revision bbbb00000002 cannot be downgraded: transform shout has no `down`",
        ));
    // Edited, it is rebuilt before the next upgrade runs it.
    std::fs::write(
        app.join("migrations/transforms/shout/src/lib.rs"),
        "use runner_guest_sdk::prelude::*;\n\nfn up(db: &Db, _args: &Args) -> Result<()> {\n    let rows = db.query(\"SELECT id, body FROM notes\", &[])?;\n    for row in rows.iter() {\n        let body: String = row.get(\"body\")?;\n        db.execute(\"UPDATE notes SET body = $1 WHERE id = $2\", &params![body.to_uppercase(), row.get::<i64>(\"id\")?])?;\n    }\n    Ok(())\n}\n\nrunner_guest_sdk::transform!(up = up);\n",
    )
    .unwrap();
    std::fs::write(
        versions.join("cccc00000003_shout.yaml"),
        "revision: cccc00000003\nparents: [bbbb00000002]\nupgrade:\n  - transform: {module: shout, writes: [notes]}\n",
    )
    .unwrap();
    // bbbb00000002, applied, ran the module as it was: upgrade does not build over it.
    let wasm_path = app.join("migrations/transforms/wasm/shout.wasm");
    let wasm = std::fs::read(&wasm_path).unwrap();
    run(&["upgrade"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "transform module 'shout' was edited after revision bbbb00000002 ran it",
        ))
        .stderr(predicate::str::contains("runner repair"));
    assert_eq!(
        std::fs::read(&wasm_path).unwrap(),
        wasm,
        "the module was rebuilt"
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock);
    // Built on purpose, the checksum says which part of the revision changed.
    run(&["build"]).assert().success();
    run(&["upgrade"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "revision bbbb00000002 was changed after it was applied: transform module 'shout', which it runs, changed (it was rebuilt); its file did not",
        ));
    // Accepted deliberately.
    run(&["repair"]).assert().success();
    run(&["upgrade"]).assert().success();
    let url = format!("sqlite://{}", app.join("app.db").display());
    let mut db = Db::connect(&url.parse().unwrap(), &Default::default())
        .await
        .unwrap();
    let body = db.query("SELECT body FROM notes", &[]).await.unwrap();
    assert_eq!(body.texts("body"), [Some("QUIET PLEASE".to_string())]);

    // The tutorial (docs/transforms.md), as written: its transform and its two revisions.
    let tutorial = std::fs::read_to_string(
        runner_integration_tests::workspace_root().join("docs/transforms.md"),
    )
    .unwrap();
    let blocks = |language: &str| -> Vec<String> {
        let fence = format!("```{language}\n");
        tutorial
            .split(fence.as_str())
            .skip(1)
            .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_string()))
            .collect()
    };
    let code = blocks("rust")
        .into_iter()
        .next()
        .expect("the tutorial's transform");
    let steps: Vec<String> = blocks("yaml")
        .into_iter()
        .filter(|block| block.starts_with("upgrade:"))
        .collect();
    assert_eq!(steps.len(), 2, "the tutorial's two revisions");
    run(&["new-transform", "split_names"]).assert().success();
    std::fs::write(
        app.join("migrations/transforms/split_names/src/lib.rs"),
        code,
    )
    .unwrap();
    std::fs::write(
        versions.join("dddd00000004_contacts.yaml"),
        format!(
            "revision: dddd00000004\nparents: [cccc00000003]\n{}",
            steps[0]
        ),
    )
    .unwrap();
    run(&["upgrade"]).assert().success();
    db.execute_script("INSERT INTO contacts (full_name) VALUES ('Ada King Lovelace'), ('Plato')")
        .await
        .unwrap();
    std::fs::write(
        versions.join("eeee00000005_split.yaml"),
        format!(
            "revision: eeee00000005\nparents: [dddd00000004]\n{}",
            steps[1]
        ),
    )
    .unwrap();
    run(&["upgrade", "-v"])
        .assert()
        .success()
        .stderr(predicate::str::contains("info: split 2 names"));
    let names = db
        .query(
            "SELECT first_name, last_name FROM contacts ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (names.texts("first_name"), names.texts("last_name")),
        (
            vec![Some("Ada King".to_string()), Some("Plato".to_string())],
            vec![Some("Lovelace".to_string()), Some(String::new())]
        )
    );
    run(&["downgrade", "-1"]).assert().success();
    let names = db
        .query("SELECT full_name FROM contacts ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(
        names.texts("full_name"),
        [
            Some("Ada King Lovelace".to_string()),
            Some("Plato".to_string())
        ]
    );

    // A build says what it is doing as it goes, and a compile error points at the file from
    // where runner runs, not from inside the transforms workspace.
    run(&["new-transform", "broken"]).assert().success();
    let broken = app.join("migrations/transforms/broken/src/lib.rs");
    let source = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        source.replace("    Ok(())", "    Ok(no_such_value)"),
    )
    .unwrap();
    run(&["build"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "building transforms in migrations/transforms",
        ))
        .stderr(predicate::str::contains("  Compiling broken v0.1.0"))
        .stderr(predicate::str::contains(
            "--> migrations/transforms/broken/src/lib.rs:",
        ));
}

/// The lock's `source` of `module` replaced by `source`, and its `files` line dropped if
/// `legacy`: the lock a runner with another SDK (and, `legacy`, an older runner) wrote.
fn as_if_built_elsewhere(lock: &str, source: &str, legacy: bool) -> String {
    lock.lines()
        .filter(|line| !(legacy && line.starts_with("files = ")))
        .map(|line| {
            if line.starts_with("source = ") {
                format!("source = \"{source}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[tokio::test]
async fn a_runner_with_another_sdk_rebuilds_a_module_an_applied_revision_ran_without_calling_it_edited()
 {
    let project = Project::new();
    let app = project.dir.path().join("app");
    let run = |args: &[&str]| {
        let mut command = project.runner(None);
        command.current_dir(&app).args(args);
        command
    };
    project
        .runner(None)
        .args(["init", app.to_str().unwrap()])
        .assert()
        .success();
    run(&["new-transform", "hello"]).assert().success();
    std::fs::write(
        app.join("migrations/versions/aaaa00000001_hello.yaml"),
        "revision: aaaa00000001\nparents: []\nupgrade:\n  - create_table: {table: notes, columns: [{name: id, type: integer, primary_key: true}]}\n  - transform: {module: hello, reads: [notes]}\n",
    )
    .unwrap();
    run(&["upgrade"]).assert().success();
    let lock_path = app.join("migrations/transforms.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(lock.contains("files = "), "{lock}");
    let wasm_path = app.join("migrations/transforms/wasm/hello.wasm");
    let wasm = std::fs::read(&wasm_path).unwrap();
    // Built by a runner whose SDK differs, then by one from before `files` was recorded: the
    // module is stale, its own files are not edited, and the upgrade rebuilds it to the same
    // bytes and goes on.
    for legacy in [false, true] {
        std::fs::write(
            &lock_path,
            as_if_built_elsewhere(&lock, &"0".repeat(64), legacy),
        )
        .unwrap();
        // A deploy without a build runs the module it was handed, built from these files; a
        // lock that cannot say so is refused, as before.
        let deployed = run(&["upgrade", "--no-build"]).output().unwrap();
        assert_eq!(
            deployed.status.code(),
            Some(if legacy { 2 } else { 0 }),
            "legacy {legacy}: {}",
            String::from_utf8_lossy(&deployed.stderr)
        );
        let upgraded = run(&["upgrade"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&upgraded.stderr);
        assert!(upgraded.status.success(), "legacy {legacy}: {stderr}");
        assert!(!stderr.contains("edited"), "legacy {legacy}: {stderr}");
        assert_eq!(std::fs::read(&wasm_path).unwrap(), wasm, "legacy {legacy}");
        assert_eq!(
            std::fs::read_to_string(&lock_path).unwrap(),
            lock,
            "legacy {legacy}: the lock is current again"
        );
    }
}

#[tokio::test]
async fn without_a_toolchain_a_missing_module_says_what_to_run_and_changes_nothing() {
    let Some(test_db) = TestDb::new(Dialect::Sqlite).await else {
        return;
    };
    let url = test_db.url_arg();
    let project = Project::with_test_transforms();
    project.write("aaaa00000001_deals.yaml", BASE);
    project.write(
        "bbbb00000002_roundtrip.yaml",
        "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - transform: {module: roundtrip, writes: [deals], args: {table: deals}}\n",
    );
    project
        .runner(Some(&url))
        .env("PATH", "")
        .arg("upgrade")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "transform module 'roundtrip' has not been built; build it with `runner build`",
        ))
        .stderr(predicate::str::contains("rustup target add wasm32-wasip2"));
    assert!(
        !test_db.url.sqlite_path().unwrap().exists() || {
            let mut db = test_db.connect().await;
            count(
                &mut db,
                "SELECT count(*) FROM sqlite_master WHERE name = 'deals'",
            )
            .await
                == 0
        }
    );
}
