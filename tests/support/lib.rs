//! Shared fixtures for the integration tests: a fresh, empty database per test on each backend
//! (a temporary SQLite file, a new PostgreSQL database, a new MariaDB/MySQL database), dropped
//! again when the test ends.
//!
//! PostgreSQL and MariaDB are found at `RUNNER_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `RUNNER_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/mysql`). When one is unreachable its tests are skipped with a
//! printed reason, unless `RUNNER_REQUIRE_DBS=1` (set by `.ci/run`), where that is a failure.

pub mod guest_lang;
pub mod perf;

use std::sync::atomic::{AtomicU32, Ordering};

use runner::db::{ConnectOptions, DatabaseUrl, Db};
use runner::dialect::renderer;
use runner::dialect_kind::Dialect;

/// A fresh database for one test.
pub struct TestDb {
    pub dialect: Dialect,
    /// The URL to migrate.
    pub url: DatabaseUrl,
    admin: Option<(DatabaseUrl, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn require_dbs() -> bool {
    std::env::var("RUNNER_REQUIRE_DBS").is_ok_and(|v| v == "1")
}

fn server_url(dialect: Dialect) -> DatabaseUrl {
    let (var, default) = match dialect {
        Dialect::Postgres => (
            "RUNNER_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ),
        Dialect::Mysql => ("RUNNER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"),
        Dialect::Sqlite => ("", "sqlite::memory:"),
    };
    std::env::var(var)
        .unwrap_or_else(|_| default.to_string())
        .parse()
        .expect("test database URL")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!(
        "runner_t{}_{}_{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u16>()
    )
}

impl TestDb {
    /// A fresh database on `dialect`, or `None` (with a printed reason) when its server is not
    /// reachable and the run does not require it.
    pub async fn new(dialect: Dialect) -> Option<TestDb> {
        if dialect == Dialect::Sqlite {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display())
                .parse()
                .expect("sqlite url");
            return Some(TestDb {
                dialect,
                url,
                admin: None,
                _dir: Some(dir),
            });
        }
        let admin = server_url(dialect);
        let mut db = match Db::connect(&admin, &ConnectOptions::default()).await {
            Ok(db) => db,
            Err(e) if !require_dbs() => {
                eprintln!(
                    "skipping {dialect} tests: {e} (set RUNNER_REQUIRE_DBS=1 to fail instead)"
                );
                return None;
            }
            Err(e) => panic!("{dialect} is required (RUNNER_REQUIRE_DBS=1) but unreachable: {e}"),
        };
        let name = unique_name();
        let create = match dialect {
            Dialect::Postgres => format!("CREATE DATABASE \"{name}\""),
            _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
        };
        db.execute_script(&create)
            .await
            .expect("create test database");
        db.close().await.ok();
        let url = admin.with_database(Some(&name)).expect("test url");
        Some(TestDb {
            dialect,
            url,
            admin: Some((admin, name)),
            _dir: None,
        })
    }

    /// A new database holding a copy of this one's tables and rows, runner's own included:
    /// cheaper than building the same state again when a test needs it many times. Nothing may
    /// be connected to this database meanwhile (PostgreSQL copies it as a template).
    pub async fn copy(&self) -> TestDb {
        let copy = TestDb::new(self.dialect).await.expect("database");
        match self.dialect {
            Dialect::Sqlite => {
                let from = self.url.sqlite_path().expect("sqlite file");
                let to = copy.url.sqlite_path().expect("sqlite file");
                std::fs::copy(from, to).expect("copy the SQLite file");
            }
            Dialect::Postgres => {
                let (admin, name) = copy.admin.as_ref().expect("admin");
                let (_, source) = self.admin.as_ref().expect("admin");
                let mut db = Db::connect(admin, &ConnectOptions::default())
                    .await
                    .expect("admin connection");
                db.execute_script(&format!("DROP DATABASE \"{name}\""))
                    .await
                    .expect("drop the empty copy");
                db.execute_script(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{source}\""))
                    .await
                    .expect("copy the database");
                db.close().await.ok();
            }
            Dialect::Mysql => {
                let (_, source) = self.admin.as_ref().expect("admin");
                let mut db = copy.connect().await;
                let tables = db
                    .query(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'",
                        &[runner::db::Value::Text(source.clone())],
                    )
                    .await
                    .expect("tables");
                db.execute_simple("SET FOREIGN_KEY_CHECKS = 0")
                    .await
                    .expect("fk off");
                for table in tables.texts("table_name").into_iter().flatten() {
                    let create = db
                        .query(&format!("SHOW CREATE TABLE `{source}`.`{table}`"), &[])
                        .await
                        .expect("show create table");
                    let ddl = create.rows[0][1].to_text().expect("ddl");
                    db.execute_script(&ddl)
                        .await
                        .expect("create the copy's table");
                    db.execute_script(&format!(
                        "INSERT INTO `{table}` SELECT * FROM `{source}`.`{table}`"
                    ))
                    .await
                    .expect("copy rows");
                }
                db.execute_simple("SET FOREIGN_KEY_CHECKS = 1")
                    .await
                    .expect("fk on");
                db.close().await.ok();
            }
        }
        copy
    }

    /// A fresh database on every reachable backend.
    pub async fn all() -> Vec<TestDb> {
        let mut out = Vec::new();
        for dialect in Dialect::ALL {
            if let Some(db) = TestDb::new(dialect).await {
                out.push(db);
            }
        }
        out
    }

    /// A new connection to this database.
    pub async fn connect(&self) -> Db {
        Db::connect(&self.url, &ConnectOptions::default())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }

    /// The URL as the CLI takes it (password included).
    pub fn url_arg(&self) -> String {
        self.url.secret().to_string()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.admin.take() else {
            return;
        };
        let dialect = self.dialect;
        let shown = name.clone();
        // Drop runs outside any runtime the test may still hold: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut db = Db::connect(&admin, &ConnectOptions::default()).await.ok()?;
                let sql = match dialect {
                    Dialect::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS `{name}`"),
                };
                db.execute_script(&sql).await.ok()?;
                db.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: could not drop test database {shown}");
        }
    }
}

/// The workspace root (where the demo `migrations/` lives).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The target folder the tests build transforms into (shared, so dependencies build once).
pub fn transforms_target_dir() -> std::path::PathBuf {
    workspace_root().join("target").join("transforms")
}

/// A throwaway project folder: `migrations/versions/` and nothing else unless asked.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// An empty project.
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("migrations/versions")).expect("versions dir");
        Project { dir }
    }

    /// A project holding a copy of the demo CRM revisions and its `schema.yaml`, with the
    /// example transforms.
    pub fn demo() -> Project {
        let project = Project::with_examples();
        std::fs::copy(
            workspace_root().join("schema.yaml"),
            project.dir.path().join("schema.yaml"),
        )
        .expect("copy schema.yaml");
        let source = workspace_root().join("migrations/versions");
        for entry in std::fs::read_dir(&source).expect("demo revisions") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let name = path.file_name().expect("file name");
                std::fs::copy(&path, project.versions().join(name)).expect("copy revision");
            }
        }
        project
    }

    /// The demo with every revision `transactional: false`, so that each step commits on its
    /// own on every database.
    pub fn demo_step_by_step() -> Project {
        let project = Project::demo();
        for entry in std::fs::read_dir(project.versions()).expect("versions") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("revision");
            std::fs::write(
                &path,
                text.replace("transactional: true", "transactional: false"),
            )
            .expect("rewrite revision");
        }
        project
    }

    /// An empty project whose transforms are the repository's examples (built on first use).
    pub fn with_examples() -> Project {
        Project::with_transforms("examples/transforms")
    }

    /// An empty project whose transforms are the test suite's own (`tests/transforms`: a
    /// round-trip transform and a hostile one).
    pub fn with_test_transforms() -> Project {
        Project::with_transforms("tests/transforms")
    }

    fn with_transforms(folder: &str) -> Project {
        let project = Project::new();
        let transforms = workspace_root().join(folder);
        std::fs::write(
            project.dir.path().join("runner.toml"),
            format!("transforms = {:?}\n", transforms.display().to_string()),
        )
        .expect("runner.toml");
        project
    }

    /// The project's configuration, as the CLI reads it.
    pub fn config(&self) -> runner::config::Config {
        runner::config::Config::load(&runner::config::Overrides {
            config: Some(self.dir.path().join("runner.toml")),
            ..Default::default()
        })
        .expect("config")
    }

    /// The `versions/` folder.
    pub fn versions(&self) -> std::path::PathBuf {
        self.dir.path().join("migrations/versions")
    }

    /// Writes a revision file.
    pub fn write(&self, file: &str, text: &str) -> std::path::PathBuf {
        let path = self.versions().join(file);
        std::fs::write(&path, text).expect("write revision");
        path
    }

    /// The revisions as the library loads them.
    pub fn repository(&self) -> runner::revision::Repository {
        runner::revision::Repository::load(&self.versions()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs the CLI in this project against `url` (or no database): its exit code and its
    /// output, stdout then stderr.
    pub fn run(&self, url: Option<&str>, args: &[&str]) -> (i32, String) {
        let out = self.runner(url).args(args).output().expect("runner");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// [`Project::run`] that must exit 0; its output.
    pub fn ok(&self, url: Option<&str>, args: &[&str]) -> String {
        let (code, text) = self.run(url, args);
        assert_eq!(code, 0, "runner {args:?}: {text}");
        text
    }

    /// The CLI, run in this project against `url` (or no database when `None`).
    pub fn runner(&self, url: Option<&str>) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::cargo_bin("runner-cli").expect("runner-cli binary");
        command
            .current_dir(self.dir.path())
            .env_remove("DATABASE_URL");
        if let Some(url) = url {
            command.env("DATABASE_URL", url);
        }
        command
    }
}

/// Every user table (and `runner_version`) with its schema and rows, as text: two dumps are
/// equal exactly when the database holds the same schema and the same data. `runner_history`
/// is left out, as it records failures on purpose.
pub async fn dump(db: &mut Db) -> String {
    let schema = runner::db::introspect::introspect(db)
        .await
        .unwrap_or_else(|e| panic!("introspect: {e}"));
    let mut out = format!("{:#?}\n", schema.normalized());
    let mut tables: Vec<String> = schema.tables.keys().cloned().collect();
    tables.push("runner_version".into());
    for table in tables {
        let quoted = renderer(db.dialect()).quote(&table);
        let exists = db
            .query(&format!("SELECT * FROM {quoted} LIMIT 0"), &[])
            .await;
        if exists.is_err() {
            continue;
        }
        let rows = db
            .query(&format!("SELECT * FROM {quoted}"), &[])
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        let mut lines: Vec<String> = rows.rows.iter().map(|r| format!("{r:?}")).collect();
        lines.sort();
        out.push_str(&format!(
            "{table}: {:?}\n{}\n",
            rows.columns,
            lines.join("\n")
        ));
    }
    out
}

/// `runner_history` as it is, every column, row by row in the order of `id` (no rows where
/// the table does not exist yet). [`dump`] leaves it out, since a failed revision is recorded
/// there on purpose; a test that must see all of runner's own tables compares these rows too:
/// the rows before unchanged, and only the rows it expects added.
pub async fn history(db: &mut Db) -> runner::db::Rows {
    let table = runner::version_table::HISTORY_TABLE;
    if db
        .query(&format!("SELECT * FROM {table} LIMIT 0"), &[])
        .await
        .is_err()
    {
        return runner::db::Rows::default();
    }
    db.query(&format!("SELECT * FROM {table} ORDER BY id"), &[])
        .await
        .unwrap_or_else(|e| panic!("read {table}: {e}"))
}

/// Reads one number from the database.
pub async fn count(db: &mut Db, sql: &str) -> i64 {
    db.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .scalar()
        .and_then(runner::db::Value::as_i64)
        .unwrap_or_else(|| panic!("{sql}: no number"))
}

/// Where [`seeded_demo`] seeds the demo: every table exists, no transform has run.
pub const SEEDED_AT: &str = "c47e09b3f812";

/// Rows for every table the demo's transforms read or write, with every value given (no
/// defaults that depend on the clock), so that two seeded databases hold the same rows.
pub const DEMO_SEED: &[&str] = &[
    "INSERT INTO users (id, email, display_name, is_admin, created_at) VALUES \
     (1, 'ada@example.com', 'Ada', TRUE, '2026-01-01 00:00:00'), \
     (2, 'alan@example.com', 'Alan', FALSE, '2026-01-01 00:00:00')",
    "INSERT INTO companies (id, name, website, created_at) VALUES \
     (1, 'Analytical Engines', 'https://engines.example', '2026-01-01 00:00:00'), \
     (2, 'Bletchley', NULL, '2026-01-01 00:00:00')",
    "INSERT INTO contacts (id, full_name, email, phone, company_id, owner_id, notes) VALUES \
     (1, 'Charles Babbage', 'cb@example.com', '+44 1', 1, 1, 'first customer'), \
     (2, 'Joan Clarke', NULL, NULL, 2, 2, NULL), \
     (3, 'Tommy Flowers', 'tf@example.com', '+44 3', NULL, 1, 'ünïcødé ✓'), \
     (4, 'Ada King Lovelace', NULL, NULL, 1, 1, NULL), \
     (5, 'Plato', NULL, NULL, NULL, 2, NULL)",
    "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
     (1, 'Difference engine', 1234.5, 'EUR', 'new_business', 'won')",
    "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
     (2, 'Bombe upgrade', 99.25, 'USD', 'upsell', 'open')",
    "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
     (3, 'Colossus', 120, 'JPY', 'renewal', 'lost')",
    "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type, state) VALUES \
     (4, 'Notes on the engine', 10.01, 'EUR', 'renewal', 'open')",
];

/// A fresh database with `project` (the demo, or a variant of it) upgraded to [`SEEDED_AT`]
/// and [`DEMO_SEED`] in it.
pub async fn seeded_demo(dialect: Dialect, project: &Project) -> TestDb {
    let test_db = TestDb::new(dialect).await.expect("database");
    let out = project
        .runner(Some(&test_db.url_arg()))
        .args(["upgrade", SEEDED_AT])
        .output()
        .expect("runner");
    assert!(
        out.status.success(),
        "{dialect}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut db = test_db.connect().await;
    for sql in DEMO_SEED {
        db.execute_script(sql)
            .await
            .unwrap_or_else(|e| panic!("{dialect}: {sql}: {e}"));
    }
    db.close().await.expect("close");
    test_db
}

/// A project whose revisions earn every lint code (tests/lint.rs lists them by line): a base
/// revision with tables, one with every risky step, and one that adds an enum value and uses it.
pub fn risky_project() -> Project {
    let project = Project::new();
    project.write(
        "aaaaaaaaaaa1_base.yaml",
        r#"revision: aaaaaaaaaaa1
parents: []
message: base
upgrade:
  - create_enum: {name: deal_state, values: [open, won, lost]}
  - create_table:
      table: users
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: email, type: string(320)}
        - {name: age, type: bigint}
        - {name: nickname, type: string(40)}
  - create_table:
      table: deals
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: owner_id, type: integer}
        - {name: state, type: enum(deal_state), nullable: false, default: open}
  - create_table:
      table: audit
      columns:
        - {name: id, type: integer, primary_key: true}
"#,
    );
    project.write(
        "bbbbbbbbbbb2_risky.yaml",
        r#"revision: bbbbbbbbbbb2
parents: [aaaaaaaaaaa1]
message: risky
upgrade:
  - drop_table: {table: audit}
  - drop_column: {table: users, column: nickname}
  - add_unique: {table: users, columns: [email]}
  - add_column: {table: users, column: {name: team, type: string(20), nullable: false}}
  - alter_column: {table: users, column: age, type: integer}
  - create_index: {table: deals, columns: [owner_id]}
  - add_foreign_key: {table: deals, columns: [owner_id], references: {table: users, columns: [id]}}
  - add_check: {table: deals, name: ck_deals_owner, expr: "owner_id > 0"}
  - create_table:
      table: fresh
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: code, type: string(10), nullable: false}
  - create_index: {table: fresh, columns: [code], unique: true}
  - drop_table: {table: fresh}
  - add_column: {table: users, column: {name: referral, type: string(20)}}
  - add_unique: {table: users, columns: [referral]}
"#,
    );
    project.write(
        "ccccccccccc3_enum.yaml",
        r#"revision: ccccccccccc3
parents: [bbbbbbbbbbb2]
message: signed deals
upgrade:
  - alter_enum: {name: deal_state, add: signed, after: open}
  - sql: {up: "UPDATE deals SET state = 'signed' WHERE state = 'won'"}
  - alter_enum: {name: deal_state, remove: lost}
"#,
    );
    project
}

/// Every file under `dir`, by path relative to it, with its text.
pub fn folder(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).expect("read folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                files.insert(name, std::fs::read_to_string(&path).expect("file"));
            }
        }
    }
    files
}

/// The demo project with the repository's own fixtures in `migrations/data` (the CRM's rows
/// at its merge revision, e1c6f20d8b37).
pub fn demo_with_fixtures() -> Project {
    let project = Project::demo();
    let from = workspace_root().join("migrations/data");
    for (file, text) in folder(&from) {
        let path = project.dir.path().join("migrations/data").join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(path, text).expect("copy fixture");
    }
    project
}
