//! The sandbox against an attacker who writes the component by hand. `raw_hostile`
//! (tests/transforms/raw_hostile) calls the WIT imports directly, without the guest SDK, with
//! statements that hide text from the SQL guard (comments the guard and the database read
//! differently, `TABLE x`, `SELECT ... INTO` in a set operation), functions that run SQL given
//! as text or act outside the transaction, multi-table deletes whose target is an alias, and
//! inputs sized to exhaust the host (a 100,000-term expression, 40 MB statements, 200 MB
//! results, 100,000 cursors, a 50 MB error, 20 GB of log, a WASI sleep past the deadline).
//!
//! For every database and every attack that applies to it, `runner upgrade` must fail with exit
//! code 1, naming the revision, the step, the transform and the reason; leave the database
//! exactly as it was (runner's own tables included: only the failure is added to
//! `runner_history`); leave nothing behind on the server (replication slots, roles, tables,
//! sequence values, users, files); end within the step's timeout + 2 s; keep the runner's peak
//! memory under the step's memory limit + 100 MiB; print under 320 KB; and neither print nor
//! record raw control characters.
//!
//! Every expectation is in [`ATTACKS`] and the constants below it. The test runs every attack
//! and reports all that fail together, in one table. `RUNNER_TEST_CLI` runs the attacks against
//! another build of the CLI (the default is this package's `runner-cli`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runner::db::{Db, Rows, Value};
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, dump, history};

const ANY: &[Dialect] = &Dialect::ALL;
const SQLITE: &[Dialect] = &[Dialect::Sqlite];
const POSTGRES: &[Dialect] = &[Dialect::Postgres];
const MYSQL: &[Dialect] = &[Dialect::Mysql];

/// One attack: the `attack` argument of `raw_hostile`, the databases it applies to, and what the
/// failure must say.
struct Attack {
    name: &'static str,
    dialects: &'static [Dialect],
    /// The reason must contain one of these (none: any reason will do). Statements quoted in
    /// the reason (between backticks) do not count: `refused \`TABLE secret\`` alone does not
    /// say why.
    reasons: &'static [&'static str],
    /// Text of the transform's own that the failure must still show (escaped or shortened).
    shows: Option<&'static str>,
}

const fn attack(
    name: &'static str,
    dialects: &'static [Dialect],
    reasons: &'static [&'static str],
) -> Attack {
    Attack {
        name,
        dialects,
        reasons,
        shows: None,
    }
}

const COMMENTS: &[&str] = &["comments are not allowed"];
const TABLE: &[&str] = &["TABLE"];
const INTO: &[&str] = &["INTO"];
const NOT_DECLARED: &[&str] = &["not declared"];
const READ_ONLY: &[&str] = &["read-only"];
const RUNNER_TABLES: &[&str] = &["runner's own tables"];
const DEEP: &[&str] = &["too deeply nested", "too complex"];
const TOO_LONG: &[&str] = &["too long"];
const OUT_OF_TIME: &[&str] = &["ran out of time"];
const MEMORY_OR_TIME: &[&str] = &["memory", "ran out of time"];
const CURSORS: &[&str] = &["cursors"];
const ONE_STATEMENT: &[&str] = &["one statement"];
/// Any reason: the step must fail, and the limits on what it prints still hold.
const FAILS: &[&str] = &[];

/// Every attack, where it applies, and the reason the sandbox must give.
const ATTACKS: &[Attack] = &[
    // MariaDB: comments the guard's tokenizer and the server read differently, and the ones
    // the server runs.
    attack("nbsp_comment", MYSQL, COMMENTS),
    attack("nbsp_comment_multi", MYSQL, COMMENTS),
    attack("nbsp_commit", MYSQL, COMMENTS),
    attack("versioned_comment", MYSQL, COMMENTS),
    attack("mariadb_comment", MYSQL, COMMENTS),
    attack("hint_comment", MYSQL, COMMENTS),
    // PostgreSQL: shapes that name tables the guard does not see.
    attack("table_stmt", POSTGRES, TABLE),
    attack("table_cte", POSTGRES, TABLE),
    attack("table_runner", POSTGRES, TABLE),
    attack("insert_table", POSTGRES, &["TABLE", "does not parse"]),
    attack("select_into_union", POSTGRES, INTO),
    attack("into_temp_runner", POSTGRES, INTO),
    // PostgreSQL: functions that run SQL given as text, or act outside the transaction.
    attack("ts_stat", POSTGRES, &["function ts_stat is not allowed"]),
    attack(
        "ts_rewrite",
        POSTGRES,
        &["function ts_rewrite is not allowed"],
    ),
    attack(
        "repl_slot",
        POSTGRES,
        &["function pg_create_physical_replication_slot is not allowed"],
    ),
    attack(
        "drop_slot",
        POSTGRES,
        &["function pg_drop_replication_slot is not allowed"],
    ),
    attack(
        "stat_reset",
        POSTGRES,
        &["function pg_stat_reset is not allowed"],
    ),
    attack(
        "file_settings",
        POSTGRES,
        &["function pg_show_all_file_settings is not allowed"],
    ),
    attack("hba", POSTGRES, NOT_DECLARED),
    attack(
        "activity",
        POSTGRES,
        &["function pg_stat_get_activity is not allowed"],
    ),
    // MariaDB: sequences, locks, files.
    attack("setval", MYSQL, &["function setval is not allowed"]),
    attack("nextval", MYSQL, &["function nextval is not allowed"]),
    attack(
        "release_locks",
        MYSQL,
        &["function release_all_locks is not allowed"],
    ),
    attack("load_file", MYSQL, &["function load_file is not allowed"]),
    attack("outfile", MYSQL, &["INTO", "does not parse"]),
    // MySQL multi-table deletes whose target alias names the read-only table.
    attack("delete_alias", MYSQL, READ_ONLY),
    attack("delete_using", MYSQL, READ_ONLY),
    // Every database: what the host must bound.
    attack("deep_expr", ANY, DEEP),
    attack("huge_whitespace", ANY, TOO_LONG),
    attack("long_whitespace", ANY, &["the limit is 256 KiB"]),
    attack("sleep", ANY, OUT_OF_TIME),
    attack(
        "zeroblob",
        ANY,
        &[
            "memory",
            "function zeroblob is not allowed",
            "function repeat is not allowed",
        ],
    ),
    // Stopped by the bound on what the host holds, or, on a loaded machine, by the deadline
    // while the database is still making the value.
    attack("amplify", ANY, MEMORY_OR_TIME),
    attack("many_statements", ANY, FAILS),
    Attack {
        shows: Some("LONG-ERROR xxxxxxxxxxxxxxxx"),
        ..attack("long_error", ANY, FAILS)
    },
    attack("huge_error", ANY, TOO_LONG),
    attack("log_flood", ANY, FAILS),
    Attack {
        shows: Some("FAKE: all revisions applied"),
        ..attack("control_chars", ANY, FAILS)
    },
    attack("cursor_flood", ANY, CURSORS),
    attack("writer_secret", ANY, NOT_DECLARED),
    attack("writer_select", ANY, &["writes nothing"]),
    attack("writer_flood", ANY, &["writers open at once"]),
    attack("start_query_secret", ANY, NOT_DECLARED),
    attack("start_query_ro_write", POSTGRES, READ_ONLY),
    attack("start_query_flood", ANY, &["started queries at once"]),
    // Only SQLite reads a started query on another thread; elsewhere it is `amplify` again.
    attack("start_query_amplify", SQLITE, MEMORY_OR_TIME),
    // MySQL stops a recursive CTE at 1,000 levels: endless only on the other two.
    attack(
        "start_query_endless",
        &[Dialect::Sqlite, Dialect::Postgres],
        OUT_OF_TIME,
    ),
    attack("writer_error_next", ANY, &["batch 1 of the writer failed"]),
    attack(
        "after_error",
        POSTGRES,
        // Only the first statement's own error says this.
        &["duplicate key value violates unique constraint"],
    ),
    attack("writer_unseen", SQLITE, &["never saw the error"]),
    attack(
        "writer_order",
        ANY,
        // `up` set every `v` to 'changed' first.
        &["order: started before changed, read after written, 2 rows changed"],
    ),
    attack("dbstat", SQLITE, &["function dbstat is not allowed"]),
    attack("read_secret", ANY, NOT_DECLARED),
    attack("runner_write", ANY, RUNNER_TABLES),
    attack("two_statements_swallow", ANY, ONE_STATEMENT),
];

/// The step's `timeout` and `memory`.
const TIMEOUT: Duration = Duration::from_secs(3);
const MEMORY_MIB: u64 = 64;
/// A run must end within the step's timeout and this.
const GRACE: Duration = Duration::from_secs(2);
/// The runner's peak resident memory may pass the step's memory limit by this much.
const MEMORY_SLACK_MIB: u64 = 100;
/// The longest error runner_history may record.
const OUTPUT_LIMIT: usize = 64 * 1024;
/// The most a run may print on stderr: what a transform may log in all (256 KiB, the rest
/// is dropped) and runner's own report.
const STDERR_LIMIT: usize = 320 * 1024;
/// An attack run still going after this is killed (and fails).
const KILL_AFTER: Duration = Duration::from_secs(30);
/// The same for the runs that set up (`runner build` may compile the transforms).
const SETUP_KILL_AFTER: Duration = Duration::from_secs(600);
/// Not a limit under test: the data segment each attack run may have at most (`RLIMIT_DATA`),
/// so that a host that holds whatever it is sent fails (a failed allocation aborts it) instead
/// of taking the machine's memory. Far above the limit under test.
const DATA_LIMIT: u64 = 2 << 30;
/// How much of the start and of the end of a run's output is kept to look at (it is all
/// counted and scanned).
const KEEP: usize = 1 << 20;

const ATTACK_REVISION: &str = "bbbb00000002";
const ATTACK_FILE: &str = "bbbb00000002_attack.yaml";

const BASE: &str = r#"revision: aaaa00000001
parents: []
message: allowed, read-only and secret tables
upgrade:
  - create_table:
      table: allowed
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: v, type: string(100)}
  - create_table:
      table: ro
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: v, type: string(100)}
  - create_table:
      table: secret
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: s, type: string(100)}
  - sql:
      up: "INSERT INTO allowed (id, v) VALUES (1, 'one'), (2, 'two'), (3, 'three')"
      down: "DELETE FROM allowed"
  - sql:
      up: "INSERT INTO ro (id, v) VALUES (1, 'read'), (2, 'only')"
      down: "DELETE FROM ro"
  - sql:
      up: "INSERT INTO secret (id, s) VALUES (101, 'hunter2'), (102, 'swordfish')"
      down: "DELETE FROM secret"
  - sql:
      up: {sqlite: "", postgres: "", mysql: "CREATE SEQUENCE seq NOCACHE"}
      down: {sqlite: "", postgres: "", mysql: "DROP SEQUENCE seq"}
"#;

fn attack_revision(attack: &str, tag: &str) -> String {
    format!(
        "revision: {ATTACK_REVISION}
parents: [aaaa00000001]
message: attack {attack}
upgrade:
  - transform: {{module: raw_hostile, reads: [ro], writes: [allowed], args: {{attack: {attack}, tag: \"{tag}\"}}, timeout: {}s, memory: {MEMORY_MIB}MiB}}
",
        TIMEOUT.as_secs()
    )
}

/// The CLI under test.
fn cli() -> PathBuf {
    std::env::var_os("RUNNER_TEST_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_runner-cli")))
}

/// Counts of the raw control characters a message must not carry.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Controls {
    esc: usize,
    cr: usize,
    nul: usize,
    rlo: usize,
}

impl Controls {
    const RLO: &'static [u8] = "\u{202e}".as_bytes();

    /// Counts in `bytes`; `carry` holds the end of the bytes before, for a U+202E split
    /// between two reads.
    fn scan(&mut self, carry: &mut Vec<u8>, bytes: &[u8]) {
        for byte in bytes {
            match byte {
                0x1b => self.esc += 1,
                b'\r' => self.cr += 1,
                0 => self.nul += 1,
                _ => {}
            }
        }
        let mut joined = std::mem::take(carry);
        joined.extend_from_slice(bytes);
        self.rlo += joined
            .windows(Self::RLO.len())
            .filter(|w| *w == Self::RLO)
            .count();
        let keep = joined.len().min(Self::RLO.len() - 1);
        *carry = joined[joined.len() - keep..].to_vec();
    }

    fn of(text: &str) -> Self {
        let mut controls = Self::default();
        controls.scan(&mut Vec::new(), text.as_bytes());
        controls
    }

    fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// What one run of the CLI did.
struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    killed: bool,
    elapsed: Duration,
    /// Peak resident memory, from `wait4` (the process and any children it waited for, and no
    /// more than runner-measure's few MB from before it started).
    max_rss_kib: u64,
    /// The first and the last [`KEEP`] bytes of stderr.
    stderr: String,
    stderr_bytes: usize,
    stderr_controls: Controls,
}

impl Run {
    fn outcome(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(_)) if self.killed => "hung, killed".into(),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "no exit status".into(),
        }
    }
}

/// What was read from a pipe: its first and last [`KEEP`] bytes, how many there were, and the
/// control characters among all of them.
struct Drained {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: usize,
    controls: Controls,
}

impl Drained {
    /// The bytes kept, as text, with a note where some were left out.
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        let left_out = self.total - self.head.len() - self.tail.len();
        if left_out > 0 {
            text.push_str(&format!("\n[... {left_out} bytes left out ...]\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }
}

/// Reads a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Drained> {
    std::thread::spawn(move || {
        let mut drained = Drained {
            head: Vec::new(),
            tail: Vec::new(),
            total: 0,
            controls: Controls::default(),
        };
        let mut carry = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match pipe.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let bytes = &buffer[..n];
            drained.total += n;
            drained.controls.scan(&mut carry, bytes);
            let room = KEEP.saturating_sub(drained.head.len());
            drained.head.extend_from_slice(&bytes[..n.min(room)]);
            drained.tail.extend_from_slice(&bytes[n.min(room)..]);
            if drained.tail.len() > 2 * KEEP {
                let excess = drained.tail.len() - KEEP;
                drained.tail.drain(..excess);
            }
        }
        if drained.tail.len() > KEEP {
            let excess = drained.tail.len() - KEEP;
            drained.tail.drain(..excess);
        }
        drained
    })
}

/// Runs the CLI in `dir`, on `url`, through `runner-measure` (see tests/support/measure.rs),
/// which measures it and kills it after [`KILL_AFTER`]. `setup` is for the runs that prepare,
/// which may take up to [`SETUP_KILL_AFTER`]; the others run under [`DATA_LIMIT`].
fn run_cli(dir: &Path, url: Option<&str>, cache: &Path, args: &[&str], setup: bool) -> Run {
    let kill_after = if setup { SETUP_KILL_AFTER } else { KILL_AFTER };
    let reports = tempfile::tempdir().expect("report dir");
    let report = reports.path().join("report");
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner-measure"));
    command
        .arg(&report)
        .arg(if setup { 0 } else { DATA_LIMIT }.to_string())
        .arg(kill_after.as_millis().to_string())
        .arg(cli())
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("RUNNER_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = url {
        command.env("DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("runner-measure");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    // runner-measure kills the CLI after KILL_AFTER; this only catches runner-measure itself.
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > kill_after + Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runner-measure did not end");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = stdout.join();
    let drained = stderr.join().expect("stderr reader");
    let stderr = drained.text();
    let line = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("runner-measure wrote no report ({e}):\n{stderr}"));
    let field = |name: &str| -> i64 {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| match value {
                "true" => Some(1),
                "false" => Some(0),
                number => number.parse().ok(),
            })
            .unwrap_or_else(|| panic!("runner-measure report without {name}: {line}"))
    };
    let known = |value: i64| i32::try_from(value).ok().filter(|v| *v >= 0);
    Run {
        code: known(field("code")),
        signal: known(field("signal")),
        killed: field("killed") == 1,
        elapsed: Duration::from_millis(u64::try_from(field("elapsed_ms")).unwrap_or(0)),
        max_rss_kib: u64::try_from(field("max_rss_kib")).unwrap_or(0),
        stderr,
        stderr_bytes: drained.total,
        stderr_controls: drained.controls,
    }
}

/// Everything an attack must leave as it was.
struct State {
    /// Every user table (schema and rows) and `runner_version`.
    dump: String,
    history: Rows,
    /// What lives outside the test's database: replication slots, roles, users, sequence
    /// values, tables created elsewhere, files.
    server: Vec<String>,
}

async fn lines(db: &mut Db, label: &str, sql: &str) -> String {
    match db.query(sql, &[]).await {
        Ok(rows) => format!(
            "{label}: {:?}",
            rows.rows
                .iter()
                .map(|row| row.iter().map(Value::to_text).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        ),
        Err(e) => format!("{label}: cannot read: {e}"),
    }
}

/// The files an `INTO OUTFILE` could have left.
fn evil_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir("/tmp")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("runner-evil-") && name.ends_with(".txt"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

async fn state(db: &mut Db, dialect: Dialect) -> State {
    let mut server = vec![format!("files in /tmp: {:?}", evil_files())];
    match dialect {
        Dialect::Postgres => {
            server.push(
                lines(
                    db,
                    "replication slots",
                    "SELECT slot_name FROM pg_replication_slots ORDER BY 1",
                )
                .await,
            );
            server.push(lines(db, "roles", "SELECT rolname FROM pg_roles ORDER BY 1").await);
            server.push(
                lines(
                    db,
                    "tables named newtab",
                    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relname = 'newtab' ORDER BY 1",
                )
                .await,
            );
        }
        Dialect::Mysql => {
            server.push(
                lines(
                    db,
                    "users",
                    "SELECT user, host FROM mysql.user ORDER BY 1, 2",
                )
                .await,
            );
            server.push(lines(db, "sequence seq", "SELECT next_not_cached_value FROM seq").await);
        }
        Dialect::Sqlite => {}
    }
    State {
        dump: dump(db).await,
        history: history(db).await,
        server,
    }
}

/// The first line where two texts differ, shortened.
fn first_difference(before: &str, after: &str) -> String {
    let short = |line: Option<&str>| -> String {
        line.unwrap_or("(nothing)")
            .chars()
            .take(160)
            .collect::<String>()
            .escape_debug()
            .to_string()
    };
    let (mut old, mut new) = (before.lines(), after.lines());
    loop {
        match (old.next(), new.next()) {
            (None, None) => return "(same lines)".into(),
            (a, b) if a != b => return format!("was `{}`, is `{}`", short(a), short(b)),
            _ => {}
        }
    }
}

/// The text after the failure's prefix, to the end of its line, without the statements it
/// quotes between backticks.
fn reason_of(stderr: &str, prefix: &str) -> Option<(String, String)> {
    let at = stderr.find(prefix)? + prefix.len();
    let line = stderr[at..].lines().next().unwrap_or_default().to_string();
    let mut unquoted = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            unquoted.push_str(part);
        } else {
            unquoted.push_str("`...`");
        }
    }
    Some((line, unquoted))
}

fn text(value: &Value) -> String {
    value.to_text().unwrap_or_default()
}

/// What one run got wrong, by kind, for the report.
#[derive(Default)]
struct Verdict {
    /// Exit status, or what the failure says.
    failure: Vec<String>,
    /// What it left changed: the database, runner's tables, the server, files.
    damage: Vec<String>,
    /// Time, memory, output size, control characters.
    limits: Vec<String>,
}

impl Verdict {
    fn passed(&self) -> bool {
        self.failure.is_empty() && self.damage.is_empty() && self.limits.is_empty()
    }

    fn problems(&self) -> impl Iterator<Item = &String> {
        self.failure.iter().chain(&self.damage).chain(&self.limits)
    }

    /// One word for the table.
    fn class(&self, run: &Run) -> &'static str {
        match run.code {
            _ if self.passed() => "STOPPED",
            Some(0) => "THROUGH",
            None if run.killed => "HUNG",
            None => "CRASHED",
            Some(_) if !self.damage.is_empty() => "DAMAGED",
            Some(_) if !self.limits.is_empty() => "LIMITS",
            Some(_) => "REASON",
        }
    }
}

/// Everything wrong with one run.
fn judge(attack: &Attack, run: &Run, before: &State, after: &State, prefix: &str) -> Verdict {
    let mut verdict = Verdict::default();
    match run.code {
        Some(1) => {}
        Some(0) => verdict
            .failure
            .push("exit 0: the upgrade succeeded, the attack went through".into()),
        _ => verdict
            .failure
            .push(format!("{}, not exit 1", run.outcome())),
    }
    // What the failure says (a run that succeeded has no failure to look at).
    if run.code != Some(0) {
        match reason_of(&run.stderr, prefix) {
            None => verdict.failure.push(
                "stderr does not name the revision, the step and the transform as a failure".into(),
            ),
            Some((_, unquoted)) => {
                if !attack.reasons.is_empty()
                    && !attack.reasons.iter().any(|r| unquoted.contains(r))
                {
                    verdict
                        .failure
                        .push(format!("the reason is not one of {:?}", attack.reasons));
                }
            }
        }
        if let Some(shown) = attack.shows
            && !run.stderr.contains(shown)
        {
            verdict
                .failure
                .push(format!("the failure does not show {shown:?}"));
        }
    }
    if before.dump != after.dump {
        verdict.damage.push(format!(
            "the database changed: {}",
            first_difference(&before.dump, &after.dump)
        ));
    }
    let kept = before.history.rows.len();
    if after.history.rows.len() < kept || after.history.rows[..kept] != before.history.rows[..] {
        verdict
            .damage
            .push("runner_history's earlier rows changed".into());
    }
    let column = |name: &str| after.history.column(name);
    let added = after.history.rows.get(kept..).unwrap_or_default();
    if added.is_empty() && run.code == Some(1) {
        verdict
            .damage
            .push("runner_history does not record the failure".into());
    }
    for row in added {
        let get = |name: &str| column(name).map(|i| text(&row[i])).unwrap_or_default();
        if get("revision") != ATTACK_REVISION || get("status") != "failed" {
            verdict.damage.push(format!(
                "runner_history gained a row for {} with status {}",
                get("revision"),
                get("status")
            ));
        }
        let error = get("error");
        if error.len() > OUTPUT_LIMIT {
            verdict.limits.push(format!(
                "runner_history.error holds {} bytes, over {OUTPUT_LIMIT}",
                error.len()
            ));
        }
        let controls = Controls::of(&error);
        if controls.any() {
            verdict.limits.push(format!(
                "runner_history.error holds raw control characters: {controls:?}"
            ));
        }
    }
    for (old, new) in before.server.iter().zip(&after.server) {
        if old != new {
            verdict
                .damage
                .push(format!("left behind: was `{old}`, is `{new}`"));
        }
    }
    if run.elapsed > TIMEOUT + GRACE {
        verdict.limits.push(format!(
            "took {:.1?}, over the timeout + {GRACE:?}",
            run.elapsed
        ));
    }
    let rss_limit_kib = (MEMORY_MIB + MEMORY_SLACK_MIB) * 1024;
    if run.max_rss_kib > rss_limit_kib {
        verdict.limits.push(format!(
            "peak RSS {} MiB, over {} MiB",
            run.max_rss_kib / 1024,
            rss_limit_kib / 1024
        ));
    }
    if run.stderr_bytes > STDERR_LIMIT {
        verdict.limits.push(format!(
            "stderr is {} bytes, over {STDERR_LIMIT}",
            run.stderr_bytes
        ));
    }
    if run.stderr_controls.any() {
        verdict.limits.push(format!(
            "stderr holds raw control characters: {:?}",
            run.stderr_controls
        ));
    }
    verdict
}

/// A fresh database at the base revision, with a connection to look at it.
struct Fixture {
    url: String,
    db: Db,
    // Dropped last: it drops the database.
    _test_db: TestDb,
}

impl Fixture {
    async fn new(dialect: Dialect, project: &Project, cache: &Path) -> Option<Fixture> {
        let test_db = TestDb::new(dialect).await?;
        let url = test_db.url_arg();
        let _ = std::fs::remove_file(project.versions().join(ATTACK_FILE));
        let base = run_cli(
            project.dir.path(),
            Some(&url),
            cache,
            &["upgrade", "aaaa00000001"],
            true,
        );
        assert_eq!(
            base.code,
            Some(0),
            "{dialect}: the base revision:\n{}",
            base.stderr
        );
        let mut db = test_db.connect().await;
        // Whatever an earlier, interrupted run may have left.
        clean_up(&mut db, dialect, &std::process::id().to_string()).await;
        Some(Fixture {
            url,
            db,
            _test_db: test_db,
        })
    }

    async fn close(self) {
        let Fixture { db, _test_db, .. } = self;
        db.close().await.ok();
    }
}

/// Takes away what an attack that went through left outside the database.
async fn clean_up(db: &mut Db, dialect: Dialect, tag: &str) {
    if dialect == Dialect::Postgres {
        let _ = db
            .query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = 'runner_evil'",
                &[],
            )
            .await;
    }
    let _ = std::fs::remove_file(format!("/tmp/runner-evil-{tag}.txt"));
}

/// One line of the report: the attack, what happened, and what is wrong.
struct Line {
    dialect: Dialect,
    attack: &'static str,
    class: &'static str,
    outcome: String,
    reason: String,
    problems: Vec<String>,
}

impl Line {
    fn text(&self) -> String {
        let mut out = format!(
            "{:<8} {:<24} {:<7} {} | {}\n",
            self.dialect.to_string(),
            self.attack,
            self.class,
            self.outcome,
            self.reason
        );
        for problem in &self.problems {
            out.push_str(&format!("{:<41}- {problem}\n", ""));
        }
        out
    }
}

/// The table of every run. STOPPED: as it must be. THROUGH: the upgrade succeeded. HUNG,
/// CRASHED: killed after KILL_AFTER, or died of a signal. DAMAGED: failed, but left something
/// changed. LIMITS: failed and changed nothing, but over a limit of time, memory or output.
/// REASON: failed cleanly, with another reason than the one expected.
fn report(lines: &[Line]) -> String {
    let failed = lines.iter().filter(|l| !l.problems.is_empty()).count();
    let mut out = format!(
        "{} of {} attack runs were stopped as they must be; {failed} were not\n",
        lines.len() - failed,
        lines.len()
    );
    let mut classes: Vec<&str> = lines.iter().map(|l| l.class).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let count = lines.iter().filter(|l| l.class == class).count();
        out.push_str(&format!("{class}: {count}\n"));
    }
    for line in lines {
        out.push_str(&line.text());
    }
    out
}

#[tokio::test]
async fn hand_written_hostile_components_are_stopped_by_the_host_and_leave_no_trace() {
    let project = Project::with_test_transforms();
    project.write("aaaa00000001_base.yaml", BASE);
    let cache = tempfile::tempdir().expect("cache dir");
    let tag = std::process::id().to_string();
    // Built (and compiled into the cache) before any run is measured.
    let built = run_cli(project.dir.path(), None, cache.path(), &["build"], true);
    assert_eq!(built.code, Some(0), "runner build:\n{}", built.stderr);
    let mut lines = Vec::new();
    for dialect in Dialect::ALL {
        let mut fixture: Option<Fixture> = None;
        for attack in ATTACKS.iter().filter(|a| a.dialects.contains(&dialect)) {
            if fixture.is_none() {
                fixture = Fixture::new(dialect, &project, cache.path()).await;
            }
            let Some(current) = fixture.as_mut() else {
                break;
            };
            let before = state(&mut current.db, dialect).await;
            project.write(ATTACK_FILE, &attack_revision(attack.name, &tag));
            let run = run_cli(
                project.dir.path(),
                Some(&current.url),
                cache.path(),
                &["upgrade"],
                false,
            );
            let _ = std::fs::remove_file(project.versions().join(ATTACK_FILE));
            let after = state(&mut current.db, dialect).await;
            let name = attack.name;
            let prefix = format!(
                "error: upgrade of revision {ATTACK_REVISION} (attack {name}) failed at step 1 of 1, \
                 transform raw_hostile (migrations/versions/{ATTACK_FILE}:5:5): transform raw_hostile: "
            );
            let verdict = judge(attack, &run, &before, &after, &prefix);
            clean_up(&mut current.db, dialect, &tag).await;
            let reason = match reason_of(&run.stderr, &prefix) {
                Some((line, _)) => line,
                None => run
                    .stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default()
                    .to_string(),
            };
            let reason: String = reason.chars().take(300).collect();
            let line = Line {
                dialect,
                attack: name,
                class: verdict.class(&run),
                outcome: format!(
                    "{}, {:.1}s, {} MiB, {} B stderr",
                    run.outcome(),
                    run.elapsed.as_secs_f64(),
                    run.max_rss_kib / 1024,
                    run.stderr_bytes
                ),
                reason: reason.escape_debug().to_string(),
                problems: verdict.problems().cloned().collect(),
            };
            eprint!("{}", line.text());
            // A run that went wrong may have left what would trouble the next (a table gone,
            // a 50 MB row in runner_history, a revision marked running): start again.
            let remake = !verdict.passed();
            lines.push(line);
            if remake && let Some(old) = fixture.take() {
                old.close().await;
            }
        }
        if let Some(old) = fixture.take() {
            old.close().await;
        }
    }
    let table = report(&lines);
    assert!(
        lines.iter().all(|l| l.problems.is_empty()),
        "the sandbox let attacks through:\n{table}"
    );
}
