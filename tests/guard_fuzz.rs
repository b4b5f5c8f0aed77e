//! The guard against the database's own reading: statements generated from a grammar of what
//! transforms write and what attackers try (undeclared and runner's tables, CTEs that shadow
//! tables, table functions, functions on and off the allow-list, subqueries, joins, set
//! operations, writes through aliases, comments) go to the guard with SQLite's dialect; every
//! statement it accepts is prepared on a real SQLite database with an authorizer that records
//! each table read or written and each function called. Every one of those must be within the
//! grants (and the allow-list), and the statement sent must be one statement.
//!
//! `cargo test -p runner-integration-tests --test integration -- guard_fuzz::` runs 3,000
//! statements from a fixed seed. `RUNNER_FUZZ_SECONDS=600 RUNNER_FUZZ_SEED=<n>` runs for ten
//! minutes from a seed of your choice (random if unset, and printed); a failure prints the
//! seed and the statement.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use runner::dialect_kind::Dialect;
use runner::sandbox::guard::{self, Grants};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

const READS: &[&str] = &["contacts", "currencies"];
const WRITES: &[&str] = &["deals"];
/// Tables the step does not declare, runner's own among them.
const OTHERS: &[&str] = &["secret", "users", "runner_version", "runner_history"];
const COLUMNS: &[&str] = &["id", "name", "amount", "note"];
const FUNCTIONS: &[&str] = &[
    "lower",
    "upper",
    "length",
    "abs",
    "coalesce",
    "count",
    "max",
    "sum",
    "substr",
    "replace",
    "json_extract",
    "printf",
    "random",
    "zeroblob",
    "load_extension",
    "readfile",
    "sqlite_version",
    "randomblob",
    "changes",
    "char",
    "hex",
    "typeof",
    "iif",
    "unicode",
    "trim",
];
const TABLE_FUNCTIONS: &[&str] = &[
    "json_each",
    "json_tree",
    "dbstat",
    "pragma_table_info",
    "generate_series",
];

/// A random statement from the grammar.
struct Gen {
    rng: StdRng,
    depth: usize,
}

impl Gen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    fn table(&mut self) -> String {
        let table = match self.rng.random_range(0..10) {
            0..=4 => self.pick(READS),
            5..=7 => self.pick(WRITES),
            _ => self.pick(OTHERS),
        };
        match self.rng.random_range(0..12) {
            0 => format!("main.{table}"),
            1 => format!("\"{table}\""),
            2 => table.to_ascii_uppercase(),
            3 => format!("temp.{table}"),
            _ => table.to_string(),
        }
    }

    fn literal(&mut self) -> String {
        match self.rng.random_range(0..6) {
            0 => self.rng.random_range(-5..100).to_string(),
            1 => "'text'".into(),
            2 => "NULL".into(),
            3 => format!("${}", self.rng.random_range(1..4)),
            4 => "'it''s -- not a comment'".into(),
            _ => "1.5".into(),
        }
    }

    fn expr(&mut self) -> String {
        self.depth += 1;
        let expr = if self.depth > 4 {
            match self.rng.random_range(0..2) {
                0 => self.pick(COLUMNS).to_string(),
                _ => self.literal(),
            }
        } else {
            match self.rng.random_range(0..12) {
                0..=2 => self.pick(COLUMNS).to_string(),
                3 => self.literal(),
                4 => format!(
                    "{} {} {}",
                    self.expr(),
                    self.pick(&["+", "=", "<", "||", "AND", "OR"]),
                    self.expr()
                ),
                5 | 6 => {
                    let function = self.pick(FUNCTIONS);
                    format!("{function}({})", self.expr())
                }
                7 => format!("({})", self.select()),
                8 => format!("EXISTS ({})", self.select()),
                9 => format!("{} IN ({})", self.expr(), self.select()),
                10 => format!(
                    "CASE WHEN {} THEN {} ELSE {} END",
                    self.expr(),
                    self.expr(),
                    self.expr()
                ),
                _ => format!("CAST({} AS TEXT)", self.expr()),
            }
        };
        self.depth -= 1;
        expr
    }

    fn source(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0 => {
                let function = self.pick(TABLE_FUNCTIONS);
                format!("{function}('[1, 2]')")
            }
            1 if self.depth < 3 => {
                self.depth += 1;
                let inner = self.select();
                self.depth -= 1;
                format!("({inner}) AS s{}", self.rng.random_range(0..3))
            }
            _ => {
                let table = self.table();
                if self.chance(40) {
                    format!(
                        "{table} AS {}",
                        self.pick(&["a", "b", "deals", "secret", "contacts"])
                    )
                } else {
                    table
                }
            }
        }
    }

    fn select(&mut self) -> String {
        let mut sql = String::new();
        if self.chance(25) && self.depth < 3 {
            // A CTE named like a table, declared or not.
            let name = self.pick(&["secret", "deals", "t", "runner_version", "users"]);
            self.depth += 1;
            let body = self.select();
            self.depth -= 1;
            sql.push_str(&format!("WITH {name} AS ({body}) "));
        }
        let columns = match self.rng.random_range(0..3) {
            0 => "*".to_string(),
            _ => self.expr(),
        };
        sql.push_str(&format!("SELECT {columns} FROM {}", self.source()));
        if self.chance(30) {
            sql.push_str(&format!(" JOIN {} ON {}", self.source(), self.expr()));
        }
        if self.chance(40) {
            sql.push_str(&format!(" WHERE {}", self.expr()));
        }
        if self.chance(10) && self.depth < 3 {
            self.depth += 1;
            let other = self.select();
            self.depth -= 1;
            sql.push_str(&format!(" UNION ALL {other}"));
        }
        sql
    }

    fn statement(&mut self) -> String {
        let statement = match self.rng.random_range(0..10) {
            0..=4 => self.select(),
            5 | 6 => format!(
                "UPDATE {} SET {} = {} WHERE {}",
                self.table(),
                self.pick(COLUMNS),
                self.expr(),
                self.expr()
            ),
            7 => format!(
                "INSERT INTO {} (id, name) {}",
                self.table(),
                if self.chance(50) {
                    format!("VALUES ({}, {})", self.expr(), self.expr())
                } else {
                    self.select()
                }
            ),
            8 => format!("DELETE FROM {} WHERE {}", self.table(), self.expr()),
            _ => self
                .pick(&[
                    "ATTACH DATABASE 'x.db' AS x",
                    "PRAGMA writable_schema = 1",
                    "SELECT 1; DROP TABLE deals",
                    "/*!50700 SELECT 1 */ SELECT 2",
                    "SELECT 1 -- comment",
                    "CREATE TEMP TABLE x AS SELECT * FROM secret",
                    "REPLACE INTO deals (id) VALUES (1)",
                    "INSERT OR REPLACE INTO deals (id) SELECT id FROM secret",
                    "UPDATE deals SET name = (SELECT s FROM secret)",
                ])
                .to_string(),
        };
        if self.chance(5) {
            format!("{statement} /* trailing */")
        } else {
            statement
        }
    }
}

/// What SQLite reported for one preparation.
#[derive(Default)]
struct Seen {
    reads: Vec<String>,
    writes: Vec<String>,
    functions: Vec<String>,
    other: Vec<String>,
}

fn database() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("in-memory SQLite");
    conn.execute_batch(
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT);
         CREATE TABLE currencies (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT);
         CREATE TABLE deals (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT);
         CREATE TABLE secret (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT, s TEXT);
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT);
         CREATE TABLE runner_version (revision TEXT PRIMARY KEY, id INTEGER, name TEXT, amount INTEGER, note TEXT);
         CREATE TABLE runner_history (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT);",
    )
    .expect("schema");
    conn
}

/// Prepares `sql` with an authorizer that records everything SQLite reports and allows it.
fn reported(conn: &rusqlite::Connection, sql: &str) -> (Result<(), String>, Seen) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let installed = conn.authorizer(Some(move |context: AuthContext<'_>| {
        if let Ok(mut seen) = record.lock() {
            match context.action {
                AuthAction::Read { table_name, .. } => {
                    // A CTE's rows have no schema.
                    if context.database_name.is_some() {
                        seen.reads.push(table_name.to_ascii_lowercase());
                    }
                }
                AuthAction::Insert { table_name }
                | AuthAction::Update { table_name, .. }
                | AuthAction::Delete { table_name } => {
                    seen.writes.push(table_name.to_ascii_lowercase())
                }
                AuthAction::Function { function_name } => {
                    seen.functions.push(function_name.to_ascii_lowercase())
                }
                AuthAction::Select | AuthAction::Recursive => {}
                other => seen.other.push(format!("{other:?}")),
            }
        }
        Authorization::Allow
    }));
    assert!(installed.is_ok(), "the authorizer is installed");
    let result = match conn.prepare(sql) {
        Ok(statement) => {
            drop(statement);
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    };
    let removed = conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    assert!(removed.is_ok(), "the authorizer is removed");
    let seen = Arc::try_unwrap(seen)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    (result, seen)
}

#[test]
fn every_statement_the_guard_accepts_touches_only_what_the_step_declares() {
    let seconds: Option<u64> = std::env::var("RUNNER_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("RUNNER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            if seconds.is_some() {
                rand::random()
            } else {
                0x7275_6e6e
            }
        });
    eprintln!("guard_fuzz: seed {seed}");
    let mut generator = Gen {
        rng: StdRng::seed_from_u64(seed),
        depth: 0,
    };
    let reads: Vec<String> = READS.iter().map(|t| t.to_string()).collect();
    let writes: Vec<String> = WRITES.iter().map(|t| t.to_string()).collect();
    let grants = Grants::new(&reads, &writes);
    let conn = database();
    let started = Instant::now();
    let deadline = seconds.map(|s| started + Duration::from_secs(s));
    let (mut tried, mut accepted) = (0u64, 0u64);
    loop {
        match deadline {
            Some(deadline) if Instant::now() >= deadline => break,
            None if tried >= 3000 => break,
            _ => {}
        }
        tried += 1;
        let sql = generator.statement();
        let Ok(checked) = guard::check(&sql, Dialect::Sqlite, &grants) else {
            continue;
        };
        accepted += 1;
        let context = format!(
            "seed {seed}, statement {tried}: {sql}\n  sent: {}",
            checked.sql
        );
        let (prepared, seen) = reported(&conn, &checked.sql);
        if let Err(error) = prepared {
            // The database may refuse what it cannot run (a column no table has): that is
            // not an escape. Several statements would be.
            assert!(!error.contains("Multiple statements"), "{context}: {error}");
            continue;
        }
        for table in &seen.reads {
            assert!(
                grants.readable(table) || Grants::function_allowed(Dialect::Sqlite, table),
                "{context}\n  reads undeclared table {table}"
            );
        }
        for table in &seen.writes {
            assert!(
                grants.writable(table),
                "{context}\n  writes undeclared table {table}"
            );
        }
        for function in &seen.functions {
            assert!(
                Grants::function_allowed(Dialect::Sqlite, function),
                "{context}\n  calls {function}"
            );
        }
        assert!(seen.other.is_empty(), "{context}\n  does {:?}", seen.other);
        assert!(
            checked
                .allowed
                .tables
                .iter()
                .chain(&checked.allowed.writes)
                .all(|t| grants.readable(t)),
            "{context}\n  the guard's own account names an undeclared table"
        );
    }
    eprintln!(
        "guard_fuzz: {tried} statements in {:?}, {accepted} accepted and confirmed by SQLite",
        started.elapsed()
    );
    // The grammar must reach the guard's yes as well as its no.
    assert!(
        accepted * 20 > tried,
        "only {accepted} of {tried} statements were accepted"
    );
}
