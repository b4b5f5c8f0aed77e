//! The SQL guard: every statement a transform sends is parsed with the database's own SQL
//! dialect before it reaches the database, and allowed only if it is one SELECT, INSERT, UPDATE,
//! DELETE or WITH; touches only the tables the step declares (writes only those in `writes`);
//! never runner's own tables; and calls none of the functions that reach outside the database
//! (files, programs, other connections, locks, sleeps).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FromTable, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor,
    TableObject, TableWithJoins, Visit, Visitor,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

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

    fn readable(&self, table: &str) -> bool {
        self.reads.contains(table) || self.writes.contains(table)
    }
}

/// A statement the guard allowed, with the tables it reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// Every table it names (not the names of its CTEs or table functions).
    pub tables: Vec<String>,
    /// The tables it changes.
    pub writes: Vec<String>,
}

/// Why a statement was refused; the text is shown to the transform and in the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Functions that reach outside the database, by dialect (names compared in lowercase; an
/// entry ending in `*` is a prefix).
fn denied_functions(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Postgres => &[
            "pg_read_file",
            "pg_read_binary_file",
            "pg_ls_*",
            "pg_stat_file",
            "lo_*",
            "dblink*",
            "pg_sleep*",
            "pg_terminate_backend",
            "pg_cancel_backend",
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_promote",
            "pg_switch_wal",
            "pg_create_restore_point",
            "pg_file_*",
            "pg_logdir_ls",
            "set_config",
            "query_to_xml*",
            "table_to_xml*",
            "cursor_to_xml*",
            "database_to_xml*",
            "schema_to_xml*",
            "pg_advisory*",
            "pg_try_advisory*",
            "setval",
            "nextval",
            "pg_notify",
            "current_setting",
            "pg_import_system_collations",
            "pg_replication_*",
            "pg_logical_*",
            "txid_current",
        ],
        Dialect::Mysql => &[
            "load_file",
            "sleep",
            "benchmark",
            "get_lock",
            "release_lock",
            "release_all_locks",
            "is_free_lock",
            "is_used_lock",
            "sys_exec",
            "sys_eval",
            "master_pos_wait",
            "source_pos_wait",
            "wait_for_executed_gtid_set",
            "wait_until_sql_thread_after_gtids",
        ],
        Dialect::Sqlite => &[
            "load_extension",
            "readfile",
            "writefile",
            "edit",
            "fts3_tokenizer",
            "fsdir",
            "zipfile",
            "sqlar_*",
            "pragma_*",
            "sqlite_dbpage",
            "sqlite_dbdata",
            "sqlite_dbptr",
        ],
    }
}

fn is_denied_function(dialect: Dialect, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    denied_functions(dialect)
        .iter()
        .any(|entry| match entry.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *entry,
        })
}

/// Checks one statement against the grants.
pub fn check(sql: &str, dialect: Dialect, grants: &Grants) -> Result<Allowed, Denied> {
    let parser_dialect = dialect.parser();
    if dialect == Dialect::Mysql {
        // MySQL runs the text of `/*! ... */` comments: what the parser skips, the server runs.
        let tokens = Tokenizer::new(parser_dialect.as_ref(), sql)
            .tokenize()
            .map_err(|e| Denied(format!("the statement does not parse: {e}")))?;
        let executable = tokens.iter().any(|t| {
            matches!(t, Token::Whitespace(Whitespace::MultiLineComment(text))
                if text.starts_with('!') || text.starts_with("M!"))
        });
        if executable {
            return Err(Denied(
                "executable comments (/*! ... */) are not allowed".into(),
            ));
        }
    }
    let statements = Parser::parse_sql(parser_dialect.as_ref(), sql).map_err(|e| {
        Denied(format!(
            "the statement does not parse as {dialect} SQL (transforms may run one SELECT, INSERT, UPDATE, DELETE or WITH): {e}"
        ))
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => return Err(Denied("the text holds no statement".into())),
        many => {
            return Err(Denied(format!(
                "one statement per call: this text holds {}",
                many.len()
            )));
        }
    };
    if !matches!(
        statement,
        Statement::Query(_) | Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
    ) {
        let keyword = statement.to_string();
        let keyword: String = keyword
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(Denied(format!(
            "only SELECT, INSERT, UPDATE, DELETE and WITH may run in a transform, not {keyword}"
        )));
    }
    let mut walk = Walk {
        dialect,
        grants,
        tables: Vec::new(),
        writes: Vec::new(),
        scopes: Vec::new(),
        function_name_next: false,
        denied: None,
    };
    let _ = statement.visit(&mut walk);
    if let Some(denied) = walk.denied {
        return Err(denied);
    }
    let mut writes = Vec::new();
    for target in &walk.writes {
        let name = table_name(target, dialect)?;
        if !grants.writes.contains(&name) {
            return Err(Denied(format!(
                "table '{name}' is read-only for this step: declare it in `writes` to change it"
            )));
        }
        if !writes.contains(&name) {
            writes.push(name);
        }
    }
    Ok(Allowed {
        tables: walk.tables,
        writes,
    })
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

/// The names of the CTEs one query defines, and how many of them the text being walked sees.
struct Scope {
    names: Vec<String>,
    /// The CTEs' bodies, to tell when the walk enters one.
    bodies: Vec<*const Query>,
    recursive: bool,
    /// How many of `names`, from the first, are in scope where the walk is.
    visible: usize,
}

/// Checks each table a statement reads as the walk meets it, collects what it writes, and
/// stops at the first thing that is never allowed.
struct Walk<'a> {
    dialect: Dialect,
    grants: &'a Grants,
    /// The tables it reads, each once.
    tables: Vec<String>,
    writes: Vec<ObjectName>,
    /// The CTEs of the queries the walk is inside, outermost first.
    scopes: Vec<Scope>,
    /// The next relation is the name of a table function (`generate_series(1, 3)`).
    function_name_next: bool,
    denied: Option<Denied>,
}

impl Walk<'_> {
    fn deny(&mut self, message: String) -> ControlFlow<()> {
        self.denied = Some(Denied(message));
        ControlFlow::Break(())
    }

    fn relation_names(joins: &[TableWithJoins]) -> Vec<ObjectName> {
        let mut names = Vec::new();
        for table in joins {
            if let TableFactor::Table { name, .. } = &table.relation {
                names.push(name.clone());
            }
            for join in &table.joins {
                if let TableFactor::Table { name, .. } = &join.relation {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// True if a one-part name refers to a CTE at this point of the statement. Only a CTE the
    /// database would resolve the name to counts: otherwise the name is checked as a table.
    fn is_cte(&self, name: &ObjectName) -> bool {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return false;
        };
        let name = fold(&ident.value, ident.quote_style.is_some(), self.dialect);
        self.scopes
            .iter()
            .any(|scope| scope.names[..scope.visible].contains(&name))
    }

    /// The scope whose CTE `query` is the body of, and which CTE.
    fn body_of(&mut self, query: &Query) -> Option<(&mut Scope, usize)> {
        let scope = self.scopes.last_mut()?;
        let index = scope
            .bodies
            .iter()
            .position(|body| std::ptr::eq(*body, query))?;
        Some((scope, index))
    }
}

impl Visitor for Walk<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let dialect = self.dialect;
        // Inside the body of its CTE number `index`, the CTEs before it are in scope, and
        // itself under WITH RECURSIVE; without it, PostgreSQL and MySQL read a table of the same
        // name (`WITH users AS (SELECT * FROM users)` reads the real `users`). SQLite resolves
        // more (every CTE of the WITH, https://sqlite.org/lang_with.html): a name the guard
        // takes for a table there is checked as one, which is only stricter.
        if let Some((scope, index)) = self.body_of(query) {
            scope.visible = index + usize::from(scope.recursive);
        }
        let mut scope = Scope {
            names: Vec::new(),
            bodies: Vec::new(),
            recursive: false,
            visible: 0,
        };
        if let Some(with) = &query.with {
            scope.recursive = with.recursive;
            for cte in &with.cte_tables {
                let alias = &cte.alias.name;
                scope
                    .names
                    .push(fold(&alias.value, alias.quote_style.is_some(), dialect));
                scope.bodies.push(&*cte.query);
            }
            scope.visible = scope.names.len();
        }
        self.scopes.push(scope);
        if let SetExpr::Select(select) = query.body.as_ref()
            && select.into.is_some()
        {
            return self.deny(
                "SELECT ... INTO is not allowed: it writes outside the declared tables".into(),
            );
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.scopes.pop();
        // Past a CTE's body, the rest of the statement sees every CTE of its WITH.
        if let Some((scope, _)) = self.body_of(query) {
            scope.visible = scope.names.len();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let function = std::mem::take(&mut self.function_name_next);
        let name = match table_name(relation, self.dialect) {
            Ok(name) => name,
            Err(denied) => {
                self.denied = Some(denied);
                return ControlFlow::Break(());
            }
        };
        // Before anything is skipped: no CTE or function name makes runner's tables reachable.
        if is_reserved(&name) {
            return self.deny(format!(
                "'{name}' is one of runner's own tables, off limits to transforms"
            ));
        }
        if function || self.is_cte(relation) {
            return ControlFlow::Continue(());
        }
        if !self.grants.readable(&name) {
            return self.deny(format!(
                "table '{name}' is not declared in this step's `reads` or `writes`"
            ));
        }
        if !self.tables.contains(&name) {
            self.tables.push(name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => {
                if is_denied_function(self.dialect, name_tail(name)) {
                    return self.deny(format!("the function {name} is not allowed in a transform"));
                }
                // Its name is visited next, as a relation: not a table.
                self.function_name_next = true;
                ControlFlow::Continue(())
            }
            TableFactor::Function { name, .. } => {
                if is_denied_function(self.dialect, name_tail(name)) {
                    return self.deny(format!("the function {name} is not allowed in a transform"));
                }
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr
            && is_denied_function(self.dialect, name_tail(&function.name))
        {
            return self.deny(format!(
                "the function {} is not allowed in a transform",
                function.name
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        match statement {
            Statement::Insert(insert) => match &insert.table {
                TableObject::TableName(name) => self.writes.push(name.clone()),
                other => return self.deny(format!("INSERT into {other} is not allowed")),
            },
            Statement::Update(update) => {
                self.writes
                    .extend(Self::relation_names(std::slice::from_ref(&update.table)));
            }
            Statement::Delete(delete) => {
                if delete.tables.is_empty() {
                    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                        &delete.from;
                    self.writes.extend(Self::relation_names(from));
                } else {
                    self.writes.extend(delete.tables.iter().cloned());
                }
            }
            Statement::Query(_) => {}
            other => {
                let keyword: String = other
                    .to_string()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                return self.deny(format!(
                    "{keyword} is not allowed inside a transform's statement"
                ));
            }
        }
        ControlFlow::Continue(())
    }
}

fn name_tail(name: &ObjectName) -> &str {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => &ident.value,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::new(&["contacts".into(), "currencies".into()], &["deals".into()])
    }

    fn allowed(sql: &str, dialect: Dialect) -> Allowed {
        check(sql, dialect, &grants()).unwrap_or_else(|e| panic!("{sql}: {e}"))
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
}
