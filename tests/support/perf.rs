//! The performance benchmark's parts (benches/performance.rs runs them at full size; the test
//! `bench_smoke` runs them small, so that CI knows every column still does the same work):
//!
//! * [`data_path`]: the backfill "split `full_name` at its first space into `first_name` and
//!   `last_name`, lower-case `email`" over N rows, as a whole `runner upgrade` of the revision
//!   holding the transform (process start included) written three ways, beside a native sqlx
//!   program, one set-based `UPDATE` (the floor) and an Alembic data migration, each a process
//!   of its own on a fresh copy of the same database, each checked after it ran;
//! * [`history`]: commands on a project of N generated revisions;
//! * [`start`]: a transform's first start (compiled) against a cached one.
//!
//! Every column runs under `runner-measure`, which reports the wall time and the peak RSS of
//! the process it runs (and of nothing else).

use std::path::{Path, PathBuf};
use std::process::Command;

use runner::db::{ConnectOptions, Db};
use runner::dialect_kind::Dialect;

use crate::{TestDb, transforms_target_dir, workspace_root};

/// Rows per page, for every program that reads in pages.
pub const PAGE: i64 = 1000;

/// The change every column makes to a row: `full_name` split at its first space (`""` after
/// a name without one).
pub fn split(full: &str) -> (&str, &str) {
    full.split_once(' ').unwrap_or((full, ""))
}

/// The whole backfill as one set-based `UPDATE`, in each database's functions.
pub fn backfill_update(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "UPDATE people SET \
             first_name = CASE WHEN instr(full_name, ' ') > 0 THEN substr(full_name, 1, instr(full_name, ' ') - 1) ELSE full_name END, \
             last_name = CASE WHEN instr(full_name, ' ') > 0 THEN substr(full_name, instr(full_name, ' ') + 1) ELSE '' END, \
             email = lower(email)"
        }
        Dialect::Postgres => {
            "UPDATE people SET \
             first_name = split_part(full_name, ' ', 1), \
             last_name = CASE WHEN strpos(full_name, ' ') > 0 THEN substr(full_name, strpos(full_name, ' ') + 1) ELSE '' END, \
             email = lower(email)"
        }
        Dialect::Mysql => {
            "UPDATE people SET \
             first_name = SUBSTRING_INDEX(full_name, ' ', 1), \
             last_name = CASE WHEN LOCATE(' ', full_name) > 0 THEN SUBSTRING(full_name, LOCATE(' ', full_name) + 1) ELSE '' END, \
             email = LOWER(email)"
        }
    }
}

/// The rows of the benchmark, made by the database itself: names of one to four words (every
/// 97th a single word), emails in mixed case.
fn fill_sql(dialect: Dialect, rows: usize) -> String {
    // `n` is the row number; the same expressions on every database.
    let full_name = "CASE WHEN n % 97 = 0 THEN 'Plato' \
         WHEN n % 5 = 0 THEN 'Jan van der Berg' \
         WHEN n % 5 = 1 THEN 'Ada Lovelace' \
         WHEN n % 5 = 2 THEN 'Grace Brewster Hopper' \
         WHEN n % 5 = 3 THEN 'Alan Turing' ELSE 'Edsger Dijkstra' END";
    let email = "CASE WHEN n % 3 = 0 THEN 'Ada.Lovelace' WHEN n % 3 = 1 THEN 'GRACE.hopper' ELSE 'alan.TURING' END";
    match dialect {
        Dialect::Sqlite => format!(
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) \
             INSERT INTO people (id, full_name, email) \
             SELECT n, {full_name} || ' ' || n, {email} || n || '@Example.COM' FROM s"
        ),
        Dialect::Postgres => format!(
            "INSERT INTO people (id, full_name, email) \
             SELECT n, {full_name} || ' ' || n, {email} || n || '@Example.COM' \
             FROM generate_series(1, {rows}) AS s(n)"
        ),
        // Digits crossed with themselves: no sequence engine or recursion limit needed, so
        // the same statement runs on MySQL 8 and MariaDB.
        Dialect::Mysql => {
            let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            let places = rows.max(1).to_string().len();
            let tables: Vec<String> = (0..places).map(|p| format!("{digits} AS d{p}")).collect();
            let number: Vec<String> = (0..places)
                .map(|p| format!("d{p}.d * {}", 10u64.pow(p as u32)))
                .collect();
            format!(
                "INSERT INTO people (id, full_name, email) \
                 SELECT n, CONCAT({full_name}, ' ', n), CONCAT({email}, n, '@Example.COM') \
                 FROM (SELECT {} + 1 AS n FROM {}) AS s WHERE n <= {rows}",
                number.join(" + "),
                tables.join(" CROSS JOIN ")
            )
        }
    }
}

/// How many rows differ from what the backfill must make of them (0 when it was done right).
fn wrong_rows_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "SELECT count(*) FROM people WHERE first_name IS NULL OR last_name IS NULL \
             OR full_name <> first_name || CASE WHEN last_name = '' THEN '' ELSE ' ' || last_name END \
             OR instr(first_name, ' ') > 0 OR email <> lower(email) OR email NOT LIKE '%@example.com'"
        }
        Dialect::Postgres => {
            "SELECT count(*) FROM people WHERE first_name IS NULL OR last_name IS NULL \
             OR full_name <> first_name || CASE WHEN last_name = '' THEN '' ELSE ' ' || last_name END \
             OR strpos(first_name, ' ') > 0 OR email <> lower(email) OR email NOT LIKE '%@example.com'"
        }
        // Compared as bytes: MySQL's default collations ignore case.
        Dialect::Mysql => {
            "SELECT count(*) FROM people WHERE first_name IS NULL OR last_name IS NULL \
             OR CAST(full_name AS BINARY) <> CAST(CONCAT(first_name, CASE WHEN last_name = '' THEN '' ELSE CONCAT(' ', last_name) END) AS BINARY) \
             OR LOCATE(' ', first_name) > 0 OR CAST(email AS BINARY) <> CAST(LOWER(email) AS BINARY) \
             OR CAST(email AS BINARY) NOT LIKE CAST('%@example.com' AS BINARY)"
        }
    }
}

/// The programs the benchmark runs (their paths, from cargo).
#[derive(Debug, Clone)]
pub struct Tools {
    /// The runner CLI.
    pub runner: PathBuf,
    /// `runner-measure`.
    pub measure: PathBuf,
    /// `runner-bench-helper`.
    pub helper: PathBuf,
}

/// One measured run: wall time and peak RSS of the process.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub seconds: f64,
    pub rss_mib: f64,
}

/// Runs `command` under `runner-measure`; panics with its output if it fails.
pub fn measure(tools: &Tools, command: Command) -> Measured {
    let report = tempfile::NamedTempFile::new().expect("report file");
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let mut measured = Command::new(&tools.measure);
    measured
        .arg(report.path())
        .args(["0", "7200000"])
        .arg(&program)
        .args(&args);
    if let Some(dir) = command.get_current_dir() {
        measured.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => measured.env(key, value),
            None => measured.env_remove(key),
        };
    }
    let out = measured.output().expect("runner-measure runs");
    let text = std::fs::read_to_string(report.path()).expect("measure report");
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    assert!(
        field("code") == 0.0,
        "{} {args:?} failed ({text}):\n{}{}",
        program.to_string_lossy(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Measured {
        seconds: field("elapsed_ms") / 1000.0,
        rss_mib: field("max_rss_kib") / 1024.0,
    }
}

/// The benchmark's project: one revision creating `people`, one running the `backfill`
/// transform (tests/transforms/backfill) in the mode it is given.
pub struct BackfillProject {
    pub dir: tempfile::TempDir,
}

/// The revision that creates `people`.
pub const PEOPLE_REVISION: &str = "b0000000000a";
const BACKFILL_REVISION: &str = "b0000000000b";

impl BackfillProject {
    /// The project, its transforms built (into target/transforms, shared with the tests).
    pub fn new(tools: &Tools) -> BackfillProject {
        BackfillProject::with_transforms(tools, "tests/transforms")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The project with the Python `backfill` of tests/benches/python, built by runner with
    /// componentize-py (installed with pip the first time); `Err` says why it could not be
    /// built (no Python, no pip, no registry), and the benchmark goes on without the column.
    pub fn python(tools: &Tools) -> Result<BackfillProject, String> {
        BackfillProject::with_transforms(tools, "tests/benches/python")
    }

    fn with_transforms(tools: &Tools, folder: &str) -> Result<BackfillProject, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let versions = dir.path().join("migrations/versions");
        std::fs::create_dir_all(&versions).expect("versions folder");
        std::fs::write(
            dir.path().join("runner.toml"),
            format!(
                "transforms = {:?}\n",
                workspace_root().join(folder).display().to_string()
            ),
        )
        .expect("runner.toml");
        std::fs::write(
            versions.join(format!("{PEOPLE_REVISION}_people.yaml")),
            format!(
                "revision: {PEOPLE_REVISION}\nparents: []\nmessage: people\nupgrade:\n  - create_table:\n      table: people\n      columns:\n        - {{name: id, type: bigint, primary_key: true}}\n        - {{name: full_name, type: string(255), nullable: false}}\n        - {{name: email, type: string(255), nullable: false}}\n        - {{name: first_name, type: string(255)}}\n        - {{name: last_name, type: string(255)}}\n"
            ),
        )
        .expect("revision");
        let project = BackfillProject { dir };
        project.set_mode("batch");
        let out = Command::new(&tools.runner)
            .args(["build"])
            .current_dir(project.dir.path())
            .env("CARGO_TARGET_DIR", transforms_target_dir())
            .env_remove("DATABASE_URL")
            .output()
            .expect("runner build");
        if !out.status.success() {
            return Err(format!(
                "runner build of {folder}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(project)
    }

    /// Writes the backfill revision with `mode` (`rows`, `batch` or `helper`).
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(
            self.dir
                .path()
                .join(format!("migrations/versions/{BACKFILL_REVISION}_backfill.yaml")),
            format!(
                "revision: {BACKFILL_REVISION}\nparents: [{PEOPLE_REVISION}]\nmessage: backfill people\nupgrade:\n  - transform: {{module: backfill, reads: [people], writes: [people], args: {{mode: {mode}}}, timeout: 2h}}\n"
            ),
        )
        .expect("backfill revision");
    }

    /// `runner ARGS` in the project against `url`, as a command to run.
    pub fn runner(&self, tools: &Tools, url: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&tools.runner);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("DATABASE_URL", url)
            .env_remove("RUST_LOG");
        command
    }
}

/// The Alembic column's Python environment: a virtual environment in target/ with the
/// packages of benches/alembic/requirements.txt, made by pip on first use.
pub struct Alembic {
    venv: PathBuf,
}

impl Alembic {
    /// The environment, made if missing; `Err` says why there is none (no Python, no pip, no
    /// registry), and the benchmark goes on without the column.
    pub fn prepare() -> Result<Alembic, String> {
        let venv = workspace_root().join("target/bench-venv");
        let requirements = workspace_root().join("tests/benches/alembic/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements)
            .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
        let stamp = venv.join("runner-requirements.txt");
        if std::fs::read_to_string(&stamp).is_ok_and(|had| had == wanted) {
            return Ok(Alembic { venv });
        }
        eprintln!(
            "creating a Python virtual environment for the Alembic column in {} (pip install -r {})",
            venv.display(),
            requirements.display()
        );
        let run = |command: &mut Command, what: &str| -> Result<(), String> {
            let out = command
                .output()
                .map_err(|e| format!("{what} did not start: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{what} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
        run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
            "pip install",
        )?;
        std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
        Ok(Alembic { venv })
    }

    /// `alembic upgrade head` of benches/alembic against `url` (runner's form of the URL).
    pub fn upgrade(&self, url: &str) -> Command {
        let sqlalchemy = if let Some(path) = url.strip_prefix("sqlite://") {
            format!("sqlite:///{path}")
        } else if let Some(rest) = url.strip_prefix("postgres://") {
            format!("postgresql+psycopg2://{rest}")
        } else if let Some(rest) = url.strip_prefix("mysql://") {
            format!("mysql+pymysql://{rest}")
        } else {
            url.to_string()
        };
        let mut command = Command::new(self.venv.join("bin/alembic"));
        command
            .arg("-c")
            .arg(workspace_root().join("tests/benches/alembic/alembic.ini"))
            .args(["upgrade", "head"])
            .env("BENCH_DATABASE_URL", sqlalchemy);
        command
    }
}

/// What the columns beyond runner's Rust transforms, native Rust and SQL run with, where it
/// could be made: `None` leaves the column out.
#[derive(Default, Clone, Copy)]
pub struct Others<'a> {
    pub alembic: Option<&'a Alembic>,
    pub python: Option<&'a BackfillProject>,
}

/// The columns of the data path, in the order they run and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// runner, a cursor and one `execute` per row.
    PerRow,
    /// runner, a cursor and one `execute_many` per batch of 1000.
    Batch,
    /// runner, `Db::backfill` from the guest SDK.
    Helper,
    /// A native Rust program with sqlx.
    Native,
    /// One set-based `UPDATE`.
    SetBased,
    /// An Alembic data migration, batched.
    Alembic,
    /// runner, a Python transform with the Python SDK's `db.backfill`.
    Python,
}

impl Column {
    pub const ALL: [Column; 7] = [
        Column::PerRow,
        Column::Batch,
        Column::Helper,
        Column::Native,
        Column::SetBased,
        Column::Alembic,
        Column::Python,
    ];

    /// The name the benchmark prints and `--skip` takes.
    pub fn name(self) -> &'static str {
        match self {
            Column::PerRow => "runner, execute per row",
            Column::Batch => "runner, execute_many",
            Column::Helper => "runner, Db::backfill",
            Column::Native => "native sqlx",
            Column::SetBased => "set-based UPDATE",
            Column::Alembic => "Alembic, batched",
            Column::Python => "runner, Python backfill",
        }
    }

    /// The short name `--skip` takes.
    pub fn key(self) -> &'static str {
        match self {
            Column::PerRow => "rows",
            Column::Batch => "batch",
            Column::Helper => "helper",
            Column::Native => "native",
            Column::SetBased => "set",
            Column::Alembic => "alembic",
            Column::Python => "python",
        }
    }
}

/// One database's results: each column that ran, measured.
pub struct DataPathResult {
    pub dialect: Dialect,
    pub rows: usize,
    pub measured: Vec<(Column, Measured)>,
}

impl DataPathResult {
    /// The wall time of a column that ran.
    pub fn seconds(&self, column: Column) -> Option<f64> {
        self.measured
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, m)| m.seconds)
    }
}

async fn connect(test_db: &TestDb) -> Db {
    Db::connect(&test_db.url, &ConnectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", test_db.url))
}

/// One run of `column` on a fresh copy of `template`, whose rows it then checks; `None` for
/// the Alembic column without an environment.
async fn run_column(
    tools: &Tools,
    project: &BackfillProject,
    template: &TestDb,
    column: Column,
    rows: usize,
    others: &Others<'_>,
) -> Option<Measured> {
    let dialect = template.dialect;
    let copy = template.copy().await;
    let url = copy.url_arg();
    let command = match column {
        Column::PerRow | Column::Batch | Column::Helper => {
            project.set_mode(match column {
                Column::PerRow => "rows",
                Column::Batch => "batch",
                _ => "helper",
            });
            project.runner(tools, &url, &["upgrade", "--no-build", "-q"])
        }
        Column::Native | Column::SetBased => {
            let mut command = Command::new(&tools.helper);
            let mode = if column == Column::Native {
                "native"
            } else {
                "set"
            };
            command.args([mode, url.as_str()]);
            command
        }
        Column::Alembic => others.alembic?.upgrade(&url),
        Column::Python => {
            let python = others.python?;
            python.set_mode("helper");
            python.runner(tools, &url, &["upgrade", "--no-build", "-q"])
        }
    };
    let result = measure(tools, command);
    let mut db = connect(&copy).await;
    let wrong = crate::count(&mut db, wrong_rows_sql(dialect)).await;
    let total = crate::count(&mut db, "SELECT count(*) FROM people").await;
    db.close().await.ok();
    assert_eq!(
        (wrong, total),
        (0, rows as i64),
        "{dialect}: {} left {wrong} of {total} rows wrong",
        column.name()
    );
    Some(result)
}

/// Runs every column in `columns` on `dialect` over `rows` rows, each on a fresh copy of one
/// prepared database, and checks each copy's rows afterwards; a column that takes under a
/// minute runs `repeat` times, in rounds, and its best run counts. `None` when the database is not
/// reachable (and not required).
pub async fn data_path(
    tools: &Tools,
    project: &BackfillProject,
    dialect: Dialect,
    rows: usize,
    columns: &[Column],
    others: &Others<'_>,
    repeat: usize,
) -> Option<DataPathResult> {
    let template = TestDb::new(dialect).await?;
    let url = template.url_arg();
    let out = project
        .runner(tools, &url, &["upgrade", PEOPLE_REVISION, "-q"])
        .output()
        .expect("runner upgrade");
    assert!(
        out.status.success(),
        "{dialect}: upgrade to {PEOPLE_REVISION}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        let mut db = connect(&template).await;
        db.execute_script(&fill_sql(dialect, rows))
            .await
            .unwrap_or_else(|e| panic!("{dialect}: fill: {e}"));
        // Every copy starts from the same settled table: statistics taken, PostgreSQL's
        // visibility hints set (else the first column to read pays for writing them).
        let settle = match dialect {
            Dialect::Sqlite => "ANALYZE",
            Dialect::Postgres => "VACUUM (FREEZE, ANALYZE) people",
            Dialect::Mysql => "ANALYZE TABLE people",
        };
        db.execute_script(settle)
            .await
            .unwrap_or_else(|e| panic!("{dialect}: {settle}: {e}"));
        db.close().await.ok();
    }
    // A column that runs in under a minute runs `repeat` times, each on a fresh copy, and its
    // best run counts: this shared machine's speed moves by a third between runs, and by more
    // over minutes. The runs go in rounds (every column once, then again), so a slow spell
    // of the machine falls on every column rather than on whichever ran during it.
    let mut best: Vec<(Column, Option<Measured>)> = columns.iter().map(|&c| (c, None)).collect();
    for round in 0..repeat.max(1) {
        for (column, best) in &mut best {
            let again = round == 0 || best.is_some_and(|b| b.seconds < 60.0);
            if !again {
                continue;
            }
            let Some(measured) = run_column(tools, project, &template, *column, rows, others).await
            else {
                continue;
            };
            if best.is_none_or(|b| measured.seconds < b.seconds) {
                *best = Some(measured);
            }
        }
    }
    let measured = best
        .into_iter()
        .filter_map(|(column, best)| Some((column, best?)))
        .collect();
    Some(DataPathResult {
        dialect,
        rows,
        measured,
    })
}

/// Writes `count` revisions into `dir`/migrations/versions, each a small `create_table` on the
/// one before, last changed an hour ago (as a project's history is: runner does not trust its
/// headers' cache with a file changed in the last seconds).
pub fn generate_history(dir: &Path, count: usize) {
    let versions = dir.join("migrations/versions");
    std::fs::create_dir_all(&versions).expect("versions folder");
    let mut parent: Option<String> = None;
    for i in 0..count {
        let id = format!("{:012x}", 0xa000_0000_0000_u64 + i as u64);
        let parents = parent.as_deref().unwrap_or_default();
        let path = versions.join(format!("{id}_t{i}.yaml"));
        std::fs::write(
            &path,
            format!(
                "revision: {id}\nparents: [{parents}]\nmessage: table {i}\nupgrade:\n  - create_table: {{table: t{i}, columns: [{{name: id, type: integer, primary_key: true}}, {{name: name, type: string(50)}}]}}\n"
            ),
        )
        .expect("revision file");
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(an_hour_ago))
            .expect("file time");
        parent = Some(id);
    }
}

/// One command of the history part, measured.
pub struct HistoryRow {
    pub revisions: usize,
    pub command: &'static str,
    pub measured: Measured,
}

/// For each count of revisions: a whole `upgrade` from empty for the smallest count (the
/// larger ones are `stamp`ed: thousands of CREATE TABLEs measure SQLite, not runner), then a
/// no-op `upgrade`, `current`, `heads` and `history`, each the best of three runs.
pub fn history(tools: &Tools, counts: &[usize]) -> Vec<HistoryRow> {
    let commands: [(&'static str, &[&str]); 4] = [
        ("no-op upgrade", &["upgrade"]),
        ("current", &["current"]),
        ("heads", &["heads"]),
        ("history", &["history"]),
    ];
    let mut out = Vec::new();
    for (index, &count) in counts.iter().enumerate() {
        let dir = tempfile::tempdir().expect("temp dir");
        generate_history(dir.path(), count);
        let run = |args: &[&str]| {
            let mut command = Command::new(&tools.runner);
            command
                .args(["--database-url", "sqlite://bench.db", "-q"])
                .args(args)
                .current_dir(dir.path())
                .env_remove("DATABASE_URL")
                .stdout(std::process::Stdio::null());
            measure(tools, command)
        };
        if index == 0 {
            out.push(HistoryRow {
                revisions: count,
                command: "upgrade from empty",
                measured: run(&["upgrade"]),
            });
        } else {
            run(&["stamp", "heads"]);
        }
        for (command, args) in commands {
            let best = (0..3)
                .map(|_| run(args))
                .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
                .expect("three runs");
            out.push(HistoryRow {
                revisions: count,
                command,
                measured: best,
            });
        }
    }
    out
}

/// A transform's start, load and instantiate: the first (compiled, then cached on disk) and
/// the best of five later ones (from the cache), in milliseconds.
pub fn start(tools: &Tools, wasm: &Path) -> (f64, f64) {
    let cache = tempfile::tempdir().expect("cache dir");
    let once = || -> f64 {
        let out = Command::new(&tools.helper)
            .arg("start")
            .arg(wasm)
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .expect("runner-bench-helper start");
        assert!(
            out.status.success(),
            "start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("milliseconds")
    };
    let first = once();
    let cached = (0..5).map(|_| once()).fold(f64::INFINITY, f64::min);
    (first, cached)
}
