//! The writes a step's statements imply must be declared too: a foreign key whose cascade
//! changes the rows pointing at a table written, and a trigger that writes another table.
//! SQLite's authorizer reports them as a statement is prepared; PostgreSQL's and MySQL's are
//! read from the live catalog. Refused, the revision fails naming the table to declare and
//! leaves the database as it was; declared, the same revision applies.

use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, dump};

/// `deals`, `notes` pointing at deals with ON DELETE CASCADE, and `audit` filled by a trigger
/// on deals.
fn base(dialect: Dialect) -> String {
    let trigger = match dialect {
        Dialect::Sqlite => {
            "CREATE TRIGGER deals_audit AFTER UPDATE ON deals BEGIN INSERT INTO audit (note) VALUES (new.title); END"
        }
        Dialect::Postgres => {
            "CREATE FUNCTION deals_audit() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN INSERT INTO audit (note) VALUES (NEW.title); RETURN NEW; END $body$; CREATE TRIGGER deals_audit AFTER UPDATE ON deals FOR EACH ROW EXECUTE FUNCTION deals_audit()"
        }
        Dialect::Mysql => {
            "CREATE TRIGGER deals_audit AFTER UPDATE ON deals FOR EACH ROW INSERT INTO audit (note) VALUES (NEW.title)"
        }
    };
    let drop = match dialect {
        Dialect::Postgres => "DROP TRIGGER deals_audit ON deals; DROP FUNCTION deals_audit()",
        _ => "DROP TRIGGER deals_audit",
    };
    format!(
        "revision: aaaa00000001
parents: []
message: deals, notes, audit
upgrade:
  - create_table:
      table: deals
      columns:
        - {{name: id, type: integer, primary_key: true}}
        - {{name: title, type: string(100), nullable: false}}
  - create_table:
      table: notes
      columns:
        - {{name: id, type: integer, primary_key: true}}
        - {{name: deal_id, type: integer, references: deals.id, on_delete: cascade}}
  - create_table:
      table: audit
      columns:
        - {{name: id, type: integer, primary_key: true, autoincrement: true}}
        - {{name: note, type: string(200)}}
  - sql:
      up: \"INSERT INTO deals (id, title) VALUES (1, 'first'), (2, 'second')\"
      down: \"DELETE FROM deals\"
  - sql:
      up: \"INSERT INTO notes (id, deal_id) VALUES (10, 1), (20, 2)\"
      down: \"DELETE FROM notes\"
  - sql:
      up: {{{dialect}: \"{trigger}\"}}
      down: {{{dialect}: \"{drop}\"}}
"
    )
}

fn step(attack: &str, writes: &str) -> String {
    format!(
        "revision: bbbb00000002
parents: [aaaa00000001]
message: {attack}
upgrade:
  - transform: {{module: hostile, writes: [{writes}], args: {{attack: {attack}}}, timeout: 20s}}
"
    )
}

#[tokio::test]
async fn writes_through_cascades_and_triggers_must_be_declared() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        let project = Project::with_test_transforms();
        project.write("aaaa00000001_base.yaml", &base(dialect));
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let mut db = test_db.connect().await;
        let before = dump(&mut db).await;
        // The transform's first statement updates deals: the trigger writes audit.
        let refused = [
            ("none", "deals, notes", "audit"),
            ("delete_first", "deals, audit", "notes"),
        ];
        for (attack, writes, undeclared) in refused {
            project.write("bbbb00000002_step.yaml", &step(attack, writes));
            let output = project
                .runner(Some(&url))
                .arg("upgrade")
                .assert()
                .code(1)
                .get_output()
                .clone();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!("table '{undeclared}'"))
                    && stderr.contains("declare it in this step's `writes`"),
                "{dialect} {attack}: {stderr}"
            );
            assert_eq!(
                before,
                dump(&mut db).await,
                "{dialect} {attack}: the database changed"
            );
        }
        project.write(
            "bbbb00000002_step.yaml",
            &step("delete_first", "deals, notes, audit"),
        );
        project.runner(Some(&url)).arg("upgrade").assert().success();
        let notes = db
            .query("SELECT id FROM notes ORDER BY id", &[])
            .await
            .unwrap();
        assert_eq!(notes.rows.len(), 1, "{dialect}: the cascade ran");
        let audit = db.query("SELECT note FROM audit", &[]).await.unwrap();
        assert_eq!(
            audit.rows.len(),
            2,
            "{dialect}: the trigger ran for both deals"
        );
        db.close().await.ok();
    }
}

/// On PostgreSQL the plan of each statement is read too: a relation it scans must be declared,
/// even where the statement names only a declared one (a view over another table).
#[tokio::test]
async fn postgres_plans_are_checked_against_the_grants() {
    use std::time::Duration;

    use runner::config::Config;
    use runner::sandbox::{self, TransformCall};
    use runner::transforms::{self, Project as Transforms};
    use runner::version_table::Direction;
    use runner_integration_tests::{transforms_target_dir, workspace_root};

    let Some(test_db) = TestDb::new(Dialect::Postgres).await else {
        return;
    };
    // SAFETY of the environment change: the builds this test starts read it; no other thread
    // of this test binary changes it.
    unsafe { std::env::set_var("CARGO_TARGET_DIR", transforms_target_dir()) };
    let mut config = Config::load(&Default::default()).expect("config");
    config.transforms_dir = workspace_root().join("tests/transforms");
    let lock = tempfile::tempdir().expect("temp dir");
    config.migrations_dir = lock.path().to_path_buf();
    let modules = transforms::load(
        &Transforms::new(&config),
        &["roundtrip".to_string()],
        transforms::BuildPolicy::WhenStale,
        &mut |m| eprintln!("{m}"),
    )
    .await
    .expect("build roundtrip");
    let module = modules.get("roundtrip").expect("roundtrip built");
    let mut db = test_db.connect().await;
    db.execute_script(
        "CREATE TABLE secret (id integer PRIMARY KEY, s text);
         INSERT INTO secret VALUES (1, 'hidden');
         CREATE VIEW deals AS SELECT id, s FROM secret;",
    )
    .await
    .expect("schema");
    let args = vec![
        ("table".to_string(), "deals".to_string()),
        ("read".to_string(), "query".to_string()),
    ];
    let reads = vec!["deals".to_string()];
    let call = TransformCall {
        module: "roundtrip",
        wasm: &module.wasm,
        sha256: &module.sha256,
        direction: Direction::Up,
        reads: &reads,
        writes: &[],
        args: &args,
        timeout: Duration::from_secs(30),
        memory_bytes: 128 << 20,
    };
    db.begin().await.expect("begin");
    let err = sandbox::run(&mut db, &call, None)
        .await
        .expect_err("the view's table is not declared")
        .to_string();
    db.rollback().await.expect("rollback");
    assert!(
        err.contains("PostgreSQL's plan reads table 'secret'"),
        "{err}"
    );
    db.close().await.ok();
}
