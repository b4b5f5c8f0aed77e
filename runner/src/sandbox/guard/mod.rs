//! The SQL guard: every statement a transform sends is parsed with the database's own SQL
//! dialect and walked against an allow-list (`walk.rs`: statement shapes; `functions.rs`:
//! functions) before anything reaches the database. It is allowed only as one SELECT, INSERT,
//! UPDATE, DELETE or WITH that touches only the tables the step declares (writes only those in
//! `writes`, resolved through aliases), never runner's own tables. What the database then runs
//! is not the transform's text but the statement rendered from the checked tree, parsed again
//! and compared, so that comments, tokenizer quirks and executable comments cannot make the
//! server read something the guard did not.

mod batch;
mod functions;
mod walk;

pub use batch::BatchShape;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Statement};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::dialect::Dialect;
use crate::version_table::is_runner_table;

/// The tables a transform step declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    reads: BTreeSet<String>,
    writes: BTreeSet<String>,
}

impl Grants {
    /// Grants for a step's `reads` and `writes` (tables in `writes` may be read too).
    pub fn new(reads: &[String], writes: &[String]) -> Self {
        Self {
            reads: reads.iter().cloned().collect(),
            writes: writes.iter().cloned().collect(),
        }
    }

    /// True if the step may read `table`.
    pub fn readable(&self, table: &str) -> bool {
        self.reads.contains(table) || self.writes.contains(table)
    }

    /// True if the step may change `table`.
    pub fn writable(&self, table: &str) -> bool {
        self.writes.contains(table)
    }

    /// True if the step may call the function `name` (lower case) on `dialect`: the guard's
    /// allow-list, for the database's own confirmation (SQLite's authorizer).
    pub fn function_allowed(dialect: Dialect, name: &str) -> bool {
        functions::allowed(dialect, name) || functions::table_function_allowed(dialect, name)
    }
}

/// The tables a statement the guard allowed reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// Every table it reads (not the names of its CTEs or table functions).
    pub tables: Vec<String>,
    /// The tables it changes.
    pub writes: Vec<String>,
    /// How it changes them: what a foreign key's cascade or a trigger answers to.
    pub actions: Actions,
}

/// The kinds of change a statement makes to the tables it writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions {
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

/// Why a statement was refused; the text is shown to the transform and in the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The longest statement text a transform may send, in bytes: the tokenizer holds about a
/// hundred bytes per byte of text while it works, and values belong in parameters.
pub const MAX_SQL_BYTES: usize = 256 << 10;
/// The most tokens (words, numbers, operators; not whitespace) one statement may have.
pub const MAX_TOKENS: usize = 50_000;
/// The most parameters one statement may take (PostgreSQL's and MySQL's protocol limit).
pub const MAX_PARAMETERS: usize = 65_535;
/// The stack the parser and the checks run on. A statement of `MAX_TOKENS` tokens nests at
/// most that deep, and dropping or walking such a tree recurses once per level: on this stack
/// no statement can overflow it (a wasm fiber's stack, where host calls run, is 2 MiB).
const CHECK_STACK_BYTES: usize = 256 << 20;

/// A statement the guard allowed, ready for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The statement the database receives: rendered from the checked tree (never the
    /// transform's own text), with the database's placeholders: `$1` on PostgreSQL, `?1` on
    /// SQLite, `?` on MySQL.
    pub sql: String,
    /// MySQL: the 0-based parameter each `?` of `sql` takes, in order. Elsewhere placeholders
    /// are numbered and this is empty.
    pub slots: Vec<usize>,
    /// How many parameters the statement takes (the highest placeholder number).
    pub parameters: usize,
    /// The tables it reads and writes.
    pub allowed: Allowed,
    /// How a batch of it can run as one statement, where it can.
    pub batch: Option<BatchShape>,
    /// True for a query (SELECT, VALUES, WITH ... SELECT), false for INSERT, UPDATE, DELETE.
    pub query: bool,
}

/// Checks one statement against the grants and renders what the database will run.
pub fn check(sql: &str, dialect: Dialect, grants: &Grants) -> Result<Checked, Denied> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Denied(format!(
            "the statement is too long: {} bytes, the limit is {} KiB (pass values as parameters, many rows with execute_many)",
            sql.len(),
            MAX_SQL_BYTES >> 10
        )));
    }
    // Parsing, walking and dropping a tree recurse once per level of nesting: do it all on a
    // stack sized for the deepest tree a statement of `MAX_TOKENS` can make.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("runner-sql-guard".into())
            .stack_size(CHECK_STACK_BYTES)
            .spawn_scoped(scope, || check_here(sql, dialect, grants))
            .map_err(|e| Denied(format!("the statement could not be checked: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Denied("the statement could not be checked".into())))
    })
}

/// [`check`], on the current thread's stack.
fn check_here(sql: &str, dialect: Dialect, grants: &Grants) -> Result<Checked, Denied> {
    let parser_dialect = dialect.parser();
    let tokens = Tokenizer::new(parser_dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|e| Denied(format!("the statement does not parse: {e}")))?;
    screen_text(sql)?;
    screen_tokens(&tokens, dialect)?;
    let statements = Parser::new(parser_dialect.as_ref())
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| {
            Denied(format!(
                "the statement does not parse as {dialect} SQL (transforms may run one SELECT, INSERT, UPDATE, DELETE or WITH): {e}"
            ))
        })?;
    let mut statement = match <[Statement; 1]>::try_from(statements) {
        Ok([one]) => one,
        Err(many) if many.is_empty() => return Err(Denied("the text holds no statement".into())),
        Err(many) => {
            return Err(Denied(format!(
                "one statement per call: this text holds {}",
                many.len()
            )));
        }
    };
    let mut walk = walk::Walk::new(dialect, grants);
    walk.statement(&statement)?;
    walk::number_placeholders(&mut walk.placeholders)?;
    let parameters = walk
        .placeholders
        .iter()
        .filter_map(|p| p.number)
        .max()
        .unwrap_or(0);
    normalize_placeholders(&mut statement, dialect, &walk.placeholders);
    let batch = match walk.writes.as_slice() {
        [table] if walk.reads.iter().all(|read| read == table) => batch::shape(&statement, table),
        _ => None,
    };
    let rendered = statement.to_string();
    // What is sent must mean what was checked: the rendering, parsed again, is the same tree.
    let reparsed = Parser::parse_sql(parser_dialect.as_ref(), &rendered);
    if !matches!(reparsed.as_deref(), Ok([again]) if *again == statement) {
        return Err(Denied(
            "the statement cannot be sent as it was checked (its rendering reads differently); write it more plainly"
                .into(),
        ));
    }
    let (sql, slots) = match dialect {
        Dialect::Mysql => positional(&rendered, dialect)?,
        Dialect::Postgres | Dialect::Sqlite => (rendered, Vec::new()),
    };
    Ok(Checked {
        sql,
        slots,
        parameters,
        allowed: Allowed {
            tables: walk.reads,
            writes: walk.writes,
            actions: walk.actions,
        },
        batch,
        query: matches!(statement, Statement::Query(_)),
    })
}

/// Refuses executable comments and hints by their text, wherever they are: MySQL's tokenizer
/// expands `/*! ... */` into tokens of their own, so no token shows them. (A string that holds
/// such a text is refused too: pass it as a parameter.)
fn screen_text(sql: &str) -> Result<(), Denied> {
    let lower = sql.to_ascii_lowercase();
    if ["/*!", "/*m!", "/*+"]
        .iter()
        .any(|mark| lower.contains(mark))
    {
        return Err(Denied(
            "executable comments and hints (/*! */, /*M! */, /*+ */) are not allowed: comments are not allowed where the database reads them (pass such text as a parameter)".into(),
        ));
    }
    Ok(())
}

/// Refuses what must not reach the parser: comments the database runs or obeys (MySQL's
/// `/*! ... */` and MariaDB's `/*M! ... */` are code to them; `/*+ ... */` are optimizer
/// hints), a `--` that the database does not read as a comment where the tokenizer does (MySQL
/// needs a space or control character after it, not any Unicode space), unquoted identifiers
/// that are not ASCII (the databases disagree on which characters are letters), and texts of
/// more than `MAX_TOKENS` tokens.
fn screen_tokens(tokens: &[TokenWithSpan], dialect: Dialect) -> Result<(), Denied> {
    let mut count = 0usize;
    for token in tokens {
        match &token.token {
            Token::Whitespace(Whitespace::MultiLineComment(text))
                if text.starts_with('!') || text.starts_with("M!") || text.starts_with('+') =>
            {
                return Err(Denied(
                    "executable comments and hints (/*! */, /*M! */, /*+ */) are not allowed: comments are not allowed where the database reads them".into(),
                ));
            }
            Token::Whitespace(Whitespace::SingleLineComment { prefix, comment })
                if dialect == Dialect::Mysql
                    && prefix == "--"
                    && !comment
                        .chars()
                        .next()
                        .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control()) =>
            {
                return Err(Denied(
                    "this `--` is not a comment to MySQL (it needs an ASCII space after it): comments are not allowed here".into(),
                ));
            }
            Token::Whitespace(_) => {}
            Token::Word(word) if word.quote_style.is_none() && !word.value.is_ascii() => {
                return Err(Denied(format!(
                    "quote the identifier {}: unquoted names must be ASCII",
                    word.value
                )));
            }
            _ => {
                count += 1;
                if count > MAX_TOKENS {
                    return Err(Denied(format!(
                        "the statement is too complex: more than {MAX_TOKENS} tokens"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Writes every placeholder in the form the database is sent: `$n` on PostgreSQL, `?n` on
/// SQLite (which numbers `$n` by first appearance, not by n), and on MySQL the word `$n`,
/// which [`positional`] turns into `?` once the text is rendered.
fn normalize_placeholders(
    statement: &mut Statement,
    dialect: Dialect,
    placeholders: &[walk::Placeholder],
) {
    use sqlparser::ast::{Ident, Value, visit_expressions_mut};
    let number_at = |at: (u64, u64)| {
        placeholders
            .iter()
            .find(|p| p.at == at)
            .and_then(|p| p.number)
            .unwrap_or(0)
    };
    let _ = visit_expressions_mut(statement, |expr| {
        let at = match expr {
            Expr::Value(value) if matches!(value.value, Value::Placeholder(_)) => {
                Some(walk::position(value.span.start))
            }
            Expr::Identifier(ident)
                if dialect == Dialect::Mysql
                    && ident.quote_style.is_none()
                    && ident.value.starts_with('$') =>
            {
                Some(walk::position(ident.span.start))
            }
            _ => None,
        };
        if let Some(at) = at {
            let n = number_at(at);
            *expr = match dialect {
                Dialect::Postgres => Expr::value(Value::Placeholder(format!("${n}"))),
                Dialect::Sqlite => Expr::value(Value::Placeholder(format!("?{n}"))),
                Dialect::Mysql => Expr::Identifier(Ident::new(format!("${n}"))),
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// MySQL takes positional `?` only: the rendered text's `$n` words become `?`, and the
/// parameter each takes is recorded in order.
fn positional(rendered: &str, dialect: Dialect) -> Result<(String, Vec<usize>), Denied> {
    let mut slots = Vec::new();
    let sql = replace_placeholders(rendered, dialect, |n| {
        slots.push(n - 1);
        "?".to_string()
    })?;
    Ok((sql, slots))
}

/// Replaces each placeholder of a rendered statement (`$n`, `?n`, and MySQL's `$n` words)
/// with what `with` makes of its number, in the order of the text.
pub fn replace_placeholders(
    rendered: &str,
    dialect: Dialect,
    mut with: impl FnMut(usize) -> String,
) -> Result<String, Denied> {
    let parser_dialect = dialect.parser();
    let tokens = Tokenizer::new(parser_dialect.as_ref(), rendered)
        .tokenize_with_location()
        .map_err(|e| Denied(format!("the statement does not parse: {e}")))?;
    let mut out = String::with_capacity(rendered.len());
    let mut last = 0usize;
    let mut locator = Locator::new(rendered);
    for token in &tokens {
        let text = match &token.token {
            Token::Placeholder(text) => text.as_str(),
            Token::Word(word) if dialect == Dialect::Mysql && word.quote_style.is_none() => {
                word.value.as_str()
            }
            _ => continue,
        };
        let Some(n) = text
            .strip_prefix(['$', '?'])
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
        else {
            continue;
        };
        let start = locator.offset(token.span.start);
        out.push_str(&rendered[last..start]);
        out.push_str(&with(n));
        last = start + text.len();
    }
    out.push_str(&rendered[last..]);
    Ok(out)
}

/// Turns the tokenizer's 1-based line/column locations (columns count characters) into byte
/// offsets, walking the text once for locations that come in order.
struct Locator<'a> {
    text: &'a str,
    /// The byte offset of `line`/`column`.
    index: usize,
    line: u64,
    column: u64,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            index: 0,
            line: 1,
            column: 1,
        }
    }

    fn offset(&mut self, at: Location) -> usize {
        if (at.line, at.column) < (self.line, self.column) {
            *self = Self::new(self.text);
        }
        for ch in self.text[self.index..].chars() {
            if (self.line, self.column) == (at.line, at.column) {
                return self.index;
            }
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            self.index += ch.len_utf8();
        }
        self.text.len()
    }
}

/// An identifier as the database compares it: PostgreSQL folds unquoted names to lower case,
/// SQLite compares without case; both fold ASCII letters only. MySQL compares table names
/// exactly (on the case-sensitive file systems servers run on).
fn fold(text: &str, quoted: bool, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres if !quoted => text.to_ascii_lowercase(),
        Dialect::Sqlite => text.to_ascii_lowercase(),
        _ => text.to_string(),
    }
}

/// True for runner's own tables, however the statement spells them.
fn is_reserved(name: &str) -> bool {
    is_runner_table(&name.to_ascii_lowercase())
}

/// The table a name refers to, as the step declares it: unquoted names are folded as the
/// database folds them; a schema is allowed only where it is the default one.
fn table_name(name: &ObjectName, dialect: Dialect) -> Result<String, Denied> {
    let parts: Vec<(String, bool)> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => {
                Ok((ident.value.clone(), ident.quote_style.is_some()))
            }
            other => Err(Denied(format!("unsupported table name '{other}'"))),
        })
        .collect::<Result<_, _>>()?;
    let fold = |(text, quoted): &(String, bool)| fold(text, *quoted, dialect);
    match parts.as_slice() {
        [table] => Ok(fold(table)),
        [schema, table] => {
            let default_schema = match dialect {
                Dialect::Postgres => "public",
                Dialect::Sqlite => "main",
                Dialect::Mysql => "",
            };
            if fold(schema) == default_schema {
                Ok(fold(table))
            } else {
                Err(Denied(format!(
                    "'{name}' names another schema or database; transforms reach only the tables of their step"
                )))
            }
        }
        _ => Err(Denied(format!("'{name}' names another schema or database"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::new(&["contacts".into(), "currencies".into()], &["deals".into()])
    }

    fn allowed(sql: &str, dialect: Dialect) -> Allowed {
        check(sql, dialect, &grants())
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .allowed
    }

    fn denied(sql: &str, dialect: Dialect) -> String {
        match check(sql, dialect, &grants()) {
            Ok(allowed) => panic!("{sql} was allowed: {allowed:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn allows_dml_on_declared_tables() {
        for dialect in Dialect::ALL {
            let q = allowed(
                "SELECT c.id, d.amount FROM contacts c JOIN deals d ON d.contact_id = c.id WHERE c.id > 1",
                dialect,
            );
            assert_eq!(q.tables, ["contacts", "deals"]);
            let u = allowed(
                "UPDATE deals SET amount = 1 WHERE contact_id IN (SELECT id FROM contacts)",
                dialect,
            );
            assert_eq!(u.writes, ["deals"]);
            allowed(
                "INSERT INTO deals (id, amount) SELECT id, 0 FROM contacts",
                dialect,
            );
            allowed("DELETE FROM deals WHERE amount < 0", dialect);
            allowed(
                "WITH big AS (SELECT id FROM deals WHERE amount > 10) SELECT * FROM big",
                dialect,
            );
            allowed(
                "SELECT COUNT(*), lower(full_name) FROM contacts GROUP BY 2",
                dialect,
            );
            // CTEs see the CTEs before them, and their own name under WITH RECURSIVE.
            let q = allowed(
                "WITH a AS (SELECT id FROM contacts), b AS (SELECT id FROM a) SELECT * FROM b",
                dialect,
            );
            assert_eq!(q.tables, ["contacts"]);
            allowed(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 9) SELECT x FROM n",
                dialect,
            );
            allowed(
                "SELECT * FROM (WITH big AS (SELECT id FROM deals) SELECT * FROM big) s",
                dialect,
            );
        }
        // Unquoted names fold as the database folds them; MySQL compares table names exactly.
        allowed("SELECT * FROM CONTACTS", Dialect::Postgres);
        allowed("SELECT * FROM Contacts", Dialect::Sqlite);
        assert!(denied("SELECT * FROM CONTACTS", Dialect::Mysql).contains("not declared"));
        assert!(denied("SELECT * FROM \"Contacts\"", Dialect::Postgres).contains("not declared"));
        allowed("SELECT * FROM public.contacts", Dialect::Postgres);
        allowed("SELECT * FROM generate_series(1, 3)", Dialect::Postgres);
        allowed(
            "UPDATE deals SET amount = 0 FROM contacts WHERE deals.contact_id = contacts.id",
            Dialect::Postgres,
        );
    }

    #[test]
    fn refuses_undeclared_and_read_only_tables_and_runner_tables() {
        for dialect in Dialect::ALL {
            assert!(
                denied("SELECT * FROM users", dialect).contains("table 'users' is not declared")
            );
            assert!(
                denied("UPDATE contacts SET full_name = 'x'", dialect)
                    .contains("table 'contacts' is read-only")
            );
            assert!(denied("DELETE FROM currencies", dialect).contains("read-only"));
            assert!(
                denied("UPDATE runner_version SET revision = 'x'", dialect)
                    .contains("runner's own tables")
            );
            assert!(
                denied("SELECT * FROM runner_history", dialect).contains("runner's own tables")
            );
            assert!(
                denied("SELECT * FROM deals; DROP TABLE deals", dialect)
                    .contains("one statement per call")
            );
            assert!(denied("DROP TABLE deals", dialect).contains("not DROP TABLE"));
            assert!(denied("CREATE TABLE x (a int)", dialect).contains("not CREATE TABLE"));
        }
        assert!(denied("SELECT * FROM other.deals", Dialect::Postgres).contains("another schema"));
        assert!(
            denied("SELECT * FROM RUNNER_HISTORY", Dialect::Mysql).contains("runner's own tables")
        );
        assert!(denied("SELECT * FROM crm.deals", Dialect::Mysql).contains("another schema"));
        assert!(
            denied(
                "WITH x AS (DELETE FROM contacts RETURNING id) SELECT * FROM x",
                Dialect::Postgres
            )
            .contains("read-only")
        );
        assert!(
            denied("SELECT * INTO copy FROM deals", Dialect::Postgres).contains("SELECT ... INTO")
        );
    }

    #[test]
    fn a_cte_name_hides_a_table_only_where_the_database_resolves_it_to_the_cte() {
        for dialect in Dialect::ALL {
            // The name is the real table inside the CTE's own body (or an error on SQLite).
            assert!(
                denied(
                    "WITH users AS (SELECT * FROM users) SELECT * FROM users",
                    dialect
                )
                .contains("table 'users' is not declared"),
                "{dialect}"
            );
            // A CTE defined in a subquery does not hide the table outside it.
            assert!(
                denied(
                    "SELECT * FROM runner_history, (WITH runner_history AS (SELECT 1) SELECT 1 FROM runner_history) s",
                    dialect
                )
                .contains("runner's own tables"),
                "{dialect}"
            );
            assert!(
                denied(
                    "SELECT * FROM users, (WITH users AS (SELECT 1 AS x) SELECT x FROM users) s",
                    dialect
                )
                .contains("table 'users' is not declared"),
                "{dialect}"
            );
            // Runner's names are refused even as a CTE's.
            assert!(
                denied(
                    "WITH runner_version AS (SELECT 1 AS x) SELECT x FROM runner_version",
                    dialect
                )
                .contains("runner's own tables"),
                "{dialect}"
            );
            // A table function's name hides nothing.
            assert!(
                denied("SELECT * FROM runner_history(1), runner_history", dialect)
                    .contains("runner's own tables"),
                "{dialect}"
            );
            // A CTE sees only the CTEs before it, and itself only under RECURSIVE.
            assert!(
                denied(
                    "WITH a AS (SELECT * FROM users), users AS (SELECT 1) SELECT * FROM a",
                    dialect
                )
                .contains("table 'users' is not declared"),
                "{dialect}"
            );
            assert!(
                denied(
                    "WITH users(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM users) SELECT x FROM users",
                    dialect
                )
                .contains("table 'users' is not declared"),
                "{dialect}"
            );
        }
        // A qualified name is always a table.
        assert!(
            denied(
                "WITH users AS (SELECT 1) SELECT * FROM main.users",
                Dialect::Sqlite
            )
            .contains("table 'users' is not declared")
        );
        // A quoted CTE name keeps its case on PostgreSQL: `users` is the table.
        assert!(
            denied(
                "WITH \"Users\" AS (SELECT 1) SELECT * FROM users",
                Dialect::Postgres
            )
            .contains("table 'users' is not declared")
        );
    }

    #[test]
    fn refuses_each_dialects_escape_hatches() {
        let sqlite = [
            "ATTACH DATABASE '/tmp/x.db' AS x",
            "PRAGMA writable_schema = 1",
            "SELECT load_extension('/tmp/evil')",
            "SELECT * FROM pragma_table_info('deals')",
            "SELECT readfile('/etc/passwd') FROM deals",
        ];
        for sql in sqlite {
            denied(sql, Dialect::Sqlite);
        }
        let postgres = [
            "COPY deals TO PROGRAM 'cat /etc/passwd'",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT lo_import('/etc/passwd')",
            "SELECT * FROM pg_catalog.pg_tables",
            "SELECT pg_sleep(100)",
            "SELECT query_to_xml('select * from users', true, true, '')",
            "DO $$ BEGIN END $$",
            "SET search_path = other",
        ];
        for sql in postgres {
            denied(sql, Dialect::Postgres);
        }
        let mysql = [
            "SELECT LOAD_FILE('/etc/passwd')",
            "SELECT amount FROM deals INTO OUTFILE '/tmp/out'",
            "LOAD DATA INFILE '/etc/passwd' INTO TABLE deals",
            "SELECT 1 /*! , sleep(10) */ FROM deals",
            "SELECT GET_LOCK('runner:x', 10)",
        ];
        for sql in mysql {
            denied(sql, Dialect::Mysql);
        }
        assert!(
            denied("SELECT pg_read_file('/etc/passwd')", Dialect::Postgres)
                .contains("pg_read_file is not allowed")
        );
    }

    /// Every way the first sandbox was got round, as a statement: each is refused for the
    /// reason named, before anything reaches a database.
    #[test]
    fn refuses_what_got_past_the_deny_list() {
        let pg = Dialect::Postgres;
        let my = Dialect::Mysql;
        let lite = Dialect::Sqlite;
        let cases: &[(Dialect, &str, &str)] = &[
            (
                my,
                "SELECT 1 --\u{a0}\nUNION SELECT s FROM secret",
                "comments are not allowed",
            ),
            (
                my,
                "SELECT 1 --\u{3000}\n; DROP TABLE secret",
                "comments are not allowed",
            ),
            (
                my,
                "/*!50700 WITH secret AS (SELECT 1 AS id) */ DELETE allowed FROM secret AS allowed",
                "comments are not allowed",
            ),
            (
                my,
                "SELECT 1 /*M! , (SELECT s FROM secret) */",
                "comments are not allowed",
            ),
            (
                my,
                "SELECT /*+ SET_VAR(sql_mode='') */ 1 FROM deals",
                "comments are not allowed",
            ),
            (pg, "TABLE secret", "TABLE"),
            (
                pg,
                "WITH t AS (TABLE pg_catalog.pg_authid) SELECT * FROM t",
                "TABLE",
            ),
            (pg, "TABLE public.runner_history", "TABLE"),
            (pg, "INSERT INTO deals TABLE contacts", "does not parse"),
            (
                pg,
                "SELECT * INTO newtab FROM deals UNION SELECT * FROM deals",
                "INTO",
            ),
            (pg, "SELECT * INTO TEMP runner_version FROM deals", "INTO"),
            (
                pg,
                "SELECT * FROM ts_stat('SELECT to_tsvector(s) FROM secret')",
                "table function ts_stat is not allowed",
            ),
            (
                pg,
                "SELECT ts_rewrite('a'::tsquery, 'SELECT s::tsquery FROM secret')",
                "function ts_rewrite is not allowed",
            ),
            (
                pg,
                "SELECT pg_create_physical_replication_slot('evil')",
                "function pg_create_physical_replication_slot is not allowed",
            ),
            (pg, "SELECT pg_drop_replication_slot('x')", "is not allowed"),
            (
                pg,
                "SELECT pg_stat_reset()",
                "function pg_stat_reset is not allowed",
            ),
            (
                pg,
                "SELECT * FROM pg_show_all_file_settings()",
                "is not allowed",
            ),
            (pg, "SELECT * FROM pg_hba_file_rules", "not declared"),
            (
                pg,
                "SELECT query FROM pg_stat_get_activity(NULL)",
                "is not allowed",
            ),
            (
                pg,
                "SELECT 'deals'::regclass",
                "type REGCLASS is not allowed",
            ),
            (pg, "SELECT pg_catalog.lower('x')", "plain name"),
            (pg, "SELECT * FROM deals FOR UPDATE", "row locks"),
            (
                my,
                "SELECT SETVAL(seq, 100)",
                "function setval is not allowed",
            ),
            (my, "SELECT NEXTVAL(seq)", "function nextval is not allowed"),
            (
                my,
                "SELECT RELEASE_ALL_LOCKS()",
                "function release_all_locks is not allowed",
            ),
            (
                my,
                "SELECT LOAD_FILE('/etc/passwd')",
                "function load_file is not allowed",
            ),
            (
                my,
                "DELETE deals FROM currencies AS deals",
                "'currencies' is read-only",
            ),
            (
                my,
                "DELETE FROM deals USING currencies AS deals",
                "'currencies' is read-only",
            ),
            (
                my,
                "UPDATE deals JOIN contacts c ON c.id = deals.id SET c.full_name = 'x'",
                "'contacts' is read-only",
            ),
            (my, "SELECT 'a\\\\b' FROM deals", "backslash"),
            (my, "SELECT @@secure_file_priv", "variables"),
            (
                lite,
                "SELECT * FROM dbstat('main')",
                "table function dbstat is not allowed",
            ),
            (
                lite,
                "SELECT zeroblob(200000000)",
                "function zeroblob is not allowed",
            ),
        ];
        for (dialect, sql, reason) in cases {
            let text = denied(sql, *dialect);
            assert!(text.contains(reason), "{dialect} {sql}: {text}");
        }
        // Allowed forms of the same statements.
        allowed(
            "DELETE deals FROM deals JOIN contacts c ON c.id = deals.id",
            my,
        );
        let u = allowed(
            "UPDATE deals JOIN contacts c ON c.id = deals.id SET deals.amount = c.id",
            my,
        );
        assert_eq!(u.writes, ["deals"]);
        allowed(
            "DELETE FROM deals USING contacts WHERE deals.id = contacts.id",
            pg,
        );
    }

    #[test]
    fn no_text_can_exhaust_the_guard() {
        for dialect in Dialect::ALL {
            let terms = |n: usize| format!("SELECT {} FROM deals", vec!["1"; n].join("+"));
            assert!(
                denied(&terms(100_000), dialect).contains("too complex"),
                "{dialect}"
            );
            assert!(
                denied(&terms(20_000), dialect).contains("too deeply nested"),
                "{dialect}"
            );
            allowed(&terms(200), dialect);
            let long = format!("SELECT 1{}", " ".repeat(MAX_SQL_BYTES));
            assert!(denied(&long, dialect).contains("too long"), "{dialect}");
            let parens = format!(
                "SELECT {}1{} FROM deals",
                "(".repeat(5000),
                ")".repeat(5000)
            );
            denied(&parens, dialect);
            let broken = format!("SELECT {} +) FROM deals", vec!["1"; 20_000].join(" + "));
            denied(&broken, dialect);
        }
    }

    #[test]
    fn what_is_sent_is_the_rendering_of_what_was_checked() {
        let checked = check(
            "select  c.id /* a comment */, lower(full_name) -- another\nfrom contacts c where c.id > ?",
            Dialect::Mysql,
            &grants(),
        )
        .unwrap();
        assert_eq!(
            checked.sql,
            "SELECT c.id, lower(full_name) FROM contacts c WHERE c.id > ?"
        );
        assert_eq!(checked.slots, [0]);
    }
}
