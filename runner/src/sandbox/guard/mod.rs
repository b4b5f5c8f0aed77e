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
pub mod keyset;
mod walk;

pub use batch::BatchShape;
pub use keyset::KeysetShape;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Statement};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::dialect_kind::Dialect;
use crate::vocab::is_runner_table;

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
/// most half that deep (an operator and an operand a level), and dropping such a tree recurses
/// once per level, a few hundred bytes each: on this stack no statement can overflow it (a
/// wasm fiber's stack, where host calls run, is 2 MiB). Reserved, not committed: only the
/// pages a deep tree touches are used.
const CHECK_STACK_BYTES: usize = 64 << 20;

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
    /// How a cursor can read it page by page by its key, where it can.
    pub keyset: Option<KeysetShape>,
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
    let keyset = match (walk.reads.as_slice(), walk.writes.is_empty()) {
        ([table], true) => keyset::shape(&statement, table, dialect, parameters),
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
        keyset,
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
mod tests;
