//! SQL rendering per database, with no IO: quoting, types, literals and the statements whose
//! syntax differs between databases. Operations build what is common and ask the dialect (and its
//! capabilities) for the rest, so adding a database is one file here and one in `db/`.

mod mysql;
mod postgres;
pub mod sqlite;

use std::time::Duration;

use crate::dialect_kind::{Capabilities, Dialect};
use crate::model::{
    Check, Column, ColumnDefault, ColumnType, ConstraintKind, EnumType, ForeignKey, Index, Literal,
    PrimaryKey, Schema, Table, Unique, temp_name,
};
use crate::vocab::Direction;

pub use mysql::MySql;
pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// The renderer for `dialect`: how that database spells what differs between databases.
pub fn renderer(dialect: Dialect) -> &'static dyn SqlDialect {
    match dialect {
        Dialect::Sqlite => &Sqlite,
        Dialect::Postgres => &Postgres,
        Dialect::Mysql => &MySql,
    }
}

/// How a session reads backslashes in string literals. MySQL treats `\` as an escape unless
/// the session's `sql_mode` has `NO_BACKSLASH_ESCAPES`; SQLite and PostgreSQL (with
/// `standard_conforming_strings`, the default since 9.1) never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quoting {
    pub mysql_backslash_escapes: bool,
}

/// `text` as a string literal of `dialect`: the quote doubled, and on MySQL with backslash
/// escapes also backslash and NUL escaped
/// (<https://dev.mysql.com/doc/refman/8.0/en/string-literals.html>). PostgreSQL text cannot
/// hold NUL at all; callers that may meet one refuse it first.
pub fn string_literal(dialect: Dialect, text: &str, quoting: Quoting) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_string_literal(&mut out, dialect, text, quoting);
    out
}

/// Appends `text` as a string literal of `dialect` (see [`string_literal`]), for callers that
/// build a long statement and should not allocate one string per literal.
pub fn push_string_literal(out: &mut String, dialect: Dialect, text: &str, quoting: Quoting) {
    let backslash = dialect == Dialect::Mysql && quoting.mysql_backslash_escapes;
    out.reserve(text.len() + 2);
    out.push('\'');
    for ch in text.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' if backslash => out.push_str("\\\\"),
            '\0' if backslash => out.push_str("\\0"),
            other => out.push(other),
        }
    }
    out.push('\'');
}

/// One thing the executor does for a step: run SQL, or (SQLite) rebuild a table, which needs
/// the live schema's views and triggers and so is finished at execution time.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Sql(String),
    Rebuild(Rebuild),
    /// A data transform, run in the sandbox on the same connection and transaction.
    Transform(TransformAction),
    /// A count the step needs to be zero before it changes anything.
    Guard(RowGuard),
}

/// Rows that would make a step lose data or fail half-way (an enum value being removed that
/// rows still hold): counted first, and the step refused with a message saying where they are
/// when there are any.
#[derive(Debug, Clone, PartialEq)]
pub struct RowGuard {
    /// `SELECT COUNT(*) FROM ... WHERE ...`.
    pub count_sql: String,
    /// What the step would do, for the message: "remove 'lost' from enum 'deal_state'".
    pub refusing: String,
    /// Where the rows are: "deals.state".
    pub place: String,
    /// What to do about it.
    pub hint: String,
}

impl RowGuard {
    /// The refusal when `count` rows are in the way.
    pub fn message(&self, count: i64) -> String {
        format!(
            "cannot {}: {count} row(s) of {} still hold it; {}",
            self.refusing, self.place, self.hint
        )
    }
}

impl Action {
    /// The action's SQL as a script, for `show`, messages and `--sql`; a rebuild lists its
    /// statements without the views and triggers only the live database knows.
    pub fn script(&self) -> String {
        match self {
            Self::Sql(sql) => format!("{sql};"),
            Self::Rebuild(rebuild) => {
                let mut out = format!(
                    "-- rebuild of {} (views and triggers are dropped and recreated around it)\n",
                    Sqlite.quote(&rebuild.table)
                );
                for statement in sqlite::rebuild_statements(rebuild, &Default::default()) {
                    out.push_str(&statement);
                    out.push_str(";\n");
                }
                out.trim_end().to_string()
            }
            Self::Guard(guard) => format!(
                "-- runner first checks that this counts no rows ({}):\n-- {};",
                guard.place, guard.count_sql
            ),
            Self::Transform(t) => {
                let direction = t.direction.as_str();
                let list = |tables: &[String]| {
                    if tables.is_empty() {
                        "nothing".to_string()
                    } else {
                        tables.join(", ")
                    }
                };
                // A table it may write it may also read.
                let mut readable = t.reads.clone();
                readable.extend(t.writes.iter().filter(|w| !t.reads.contains(w)).cloned());
                format!(
                    "-- transform {} ({direction}) in the sandbox: reads {}; writes {}",
                    t.module,
                    list(&readable),
                    list(&t.writes)
                )
            }
        }
    }
}

/// What the executor runs for a transform step: the module, which way, its grants and limits.
/// Here beside [`Action`], which carries it, so that rendering needs nothing from `ops`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformAction {
    /// The transform crate (its package name).
    pub module: String,
    /// `up`, or `down` for a derived downgrade step.
    pub direction: Direction,
    /// Tables the transform may read.
    pub reads: Vec<String>,
    /// Tables the transform may read and change.
    pub writes: Vec<String>,
    /// Arguments as the transform receives them, as text.
    pub args: Vec<(String, String)>,
    /// The step's own timeout; `None` takes `[sandbox] timeout`.
    pub timeout: Option<Duration>,
    /// The step's own memory cap in bytes; `None` takes `[sandbox] memory`.
    pub memory_bytes: Option<u64>,
}

/// A SQLite table rebuild: create the new shape under a temporary name, copy the rows, drop the
/// old table, rename, then recreate indexes, triggers and views (the procedure of
/// <https://www.sqlite.org/lang_altertable.html#otheralter>).
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuild {
    /// The table's name, before and after.
    pub table: String,
    /// The temporary name the new shape is built under.
    pub temp: String,
    /// `CREATE TABLE temp (...)` with the new shape.
    pub create: String,
    /// Columns of the new table that are filled from the old one, quoted.
    pub insert_columns: Vec<String>,
    /// For each of those, the SQL expression over the old table's columns.
    pub select_exprs: Vec<String>,
    /// `CREATE INDEX` statements for the indexes the model knows on the new table.
    pub indexes: Vec<String>,
    /// Index names the model knows; other indexes on the table are recreated as they were.
    pub known_indexes: Vec<String>,
}

/// Why a step has no SQL for a database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{what} is not supported on {dialect}{hint}")]
    Unsupported {
        what: String,
        dialect: Dialect,
        hint: String,
    },
    #[error(transparent)]
    Schema(#[from] crate::model::SchemaError),
}

impl RenderError {
    /// The same error, saying which column it is about.
    pub fn in_column(self, column: &str) -> Self {
        match self {
            Self::Unsupported {
                what,
                dialect,
                hint,
            } => Self::Unsupported {
                what: format!("column '{column}': {what}"),
                dialect,
                hint,
            },
            other => other,
        }
    }

    /// A feature this database lacks, with advice.
    pub fn unsupported(what: impl Into<String>, dialect: Dialect, hint: &str) -> Self {
        Self::Unsupported {
            what: what.into(),
            dialect,
            hint: if hint.is_empty() {
                String::new()
            } else {
                format!("; {hint}")
            },
        }
    }
}

/// How one database spells what differs between databases. The default methods build the SQL
/// that is the same everywhere from the dialect's own quoting, types and literals.
pub trait SqlDialect: Send + Sync {
    /// Which database this is.
    fn dialect(&self) -> Dialect;

    /// What the database can do in place.
    fn caps(&self) -> &'static Capabilities {
        self.dialect().caps()
    }

    /// Quotes an identifier: double quotes, as the SQL standard says.
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// Quotes a string literal for the connection runner migrates with.
    fn string_literal(&self, text: &str) -> String {
        string_literal(self.dialect(), text, Quoting::default())
    }

    /// The column type as declared in this database.
    fn column_type(&self, ty: &ColumnType, schema: &Schema) -> Result<String, RenderError>;

    /// A boolean literal.
    fn bool_literal(&self, value: bool) -> &'static str {
        if value { "1" } else { "0" }
    }

    /// A default value clause, without the `DEFAULT` keyword.
    fn default_value(&self, default: &ColumnDefault, _ty: &ColumnType) -> String {
        match default {
            ColumnDefault::Literal(literal) => self.literal(literal),
            ColumnDefault::Sql(sql) => sql_default(sql),
        }
    }

    /// A literal value.
    fn literal(&self, literal: &Literal) -> String {
        match literal {
            Literal::Bool(b) => self.bool_literal(*b).to_string(),
            Literal::Int(i) => i.to_string(),
            Literal::Float(x) => crate::model::literal::float_text(*x),
            Literal::String(s) => self.string_literal(s),
        }
    }

    /// The `id ... AUTOINCREMENT` part of a column, where the column is the table's whole
    /// primary key and `autoincrement` is set.
    fn autoincrement_column(&self, column: &Column, schema: &Schema)
    -> Result<String, RenderError>;

    /// True if this database writes an autoincrement column's primary key inline (SQLite), so
    /// the table-level primary key constraint is left out.
    fn inline_autoincrement_key(&self) -> bool {
        false
    }

    /// Extra column-level SQL (SQLite's CHECK for enum columns).
    fn column_suffix(&self, _column: &Column, _schema: &Schema) -> Result<String, RenderError> {
        Ok(String::new())
    }

    /// A column definition as used in `CREATE TABLE` and `ADD COLUMN`.
    fn column_definition(&self, column: &Column, schema: &Schema) -> Result<String, RenderError> {
        if column.autoincrement {
            return self.autoincrement_column(column, schema);
        }
        let mut def = format!(
            "{} {}",
            self.quote(&column.name),
            self.column_type(&column.ty, schema)
                .map_err(|e| e.in_column(&column.name))?
        );
        if !column.nullable {
            def.push_str(" NOT NULL");
        }
        if let Some(default) = &column.default {
            def.push_str(" DEFAULT ");
            def.push_str(&self.default_value(default, &column.ty));
        }
        def.push_str(&self.column_suffix(column, schema)?);
        Ok(def)
    }

    /// Text after `CREATE TABLE (...)` (MySQL's character set).
    fn table_options(&self) -> &'static str {
        ""
    }

    /// A quoted, comma-separated column list.
    fn column_list(&self, columns: &[String]) -> String {
        columns
            .iter()
            .map(|c| self.quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `CONSTRAINT name PRIMARY KEY (...)`.
    fn primary_key_clause(&self, pk: &PrimaryKey) -> String {
        format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            self.quote(&pk.name),
            self.column_list(&pk.columns)
        )
    }

    /// `CONSTRAINT name UNIQUE (...)`.
    fn unique_clause(&self, unique: &Unique) -> String {
        format!(
            "CONSTRAINT {} UNIQUE ({})",
            self.quote(&unique.name),
            self.column_list(&unique.columns)
        )
    }

    /// `CONSTRAINT name CHECK (...)`.
    fn check_clause(&self, check: &Check) -> String {
        format!(
            "CONSTRAINT {} CHECK ({})",
            self.quote(&check.name),
            check.expr
        )
    }

    /// `CONSTRAINT name FOREIGN KEY (...) REFERENCES ...`.
    fn foreign_key_clause(&self, fk: &ForeignKey) -> String {
        let mut clause = format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
            self.quote(&fk.name),
            self.column_list(&fk.columns),
            self.quote(&fk.ref_table),
            self.column_list(&fk.ref_columns)
        );
        if let Some(action) = fk.on_delete {
            clause.push_str(" ON DELETE ");
            clause.push_str(action.sql());
        }
        if let Some(action) = fk.on_update {
            clause.push_str(" ON UPDATE ");
            clause.push_str(action.sql());
        }
        clause
    }

    /// `CREATE TABLE` for `table`'s shape, constraints included, under `name` (the table's
    /// own, or a SQLite rebuild's temp table); indexes come separately.
    fn create_table_named(
        &self,
        table: &Table,
        name: &str,
        schema: &Schema,
    ) -> Result<String, RenderError> {
        let mut parts = Vec::new();
        for column in &table.columns {
            parts.push(self.column_definition(column, schema)?);
        }
        let inline_key = self.inline_autoincrement_key()
            && table.columns.iter().any(|column| column.autoincrement);
        if let Some(pk) = table.primary_key.as_ref().filter(|_| !inline_key) {
            parts.push(self.primary_key_clause(pk));
        }
        for unique in &table.uniques {
            parts.push(self.unique_clause(unique));
        }
        for fk in &table.foreign_keys {
            parts.push(self.foreign_key_clause(fk));
        }
        for check in &table.checks {
            parts.push(self.check_clause(check));
        }
        Ok(format!(
            "CREATE TABLE {} (\n    {}\n){}",
            self.quote(name),
            parts.join(",\n    "),
            self.table_options()
        ))
    }

    /// `CREATE INDEX`.
    fn create_index(
        &self,
        table: &str,
        index: &Index,
        concurrently: bool,
    ) -> Result<String, RenderError> {
        if index.where_clause.is_some() && !self.caps().partial_indexes {
            return Err(RenderError::unsupported(
                format!("partial index '{}'", index.name),
                self.dialect(),
                "drop the `where` for this database or use a `sql` step",
            ));
        }
        let mut sql = format!(
            "CREATE {}INDEX {}{} ON {} ({})",
            if index.unique { "UNIQUE " } else { "" },
            if concurrently && self.caps().concurrent_index {
                "CONCURRENTLY "
            } else {
                ""
            },
            self.quote(&index.name),
            self.quote(table),
            self.column_list(&index.columns)
        );
        if let Some(predicate) = &index.where_clause {
            sql.push_str(" WHERE ");
            sql.push_str(predicate);
        }
        Ok(sql)
    }

    /// `DROP INDEX`.
    fn drop_index(&self, table: &str, index: &str, concurrently: bool) -> String;

    /// Drops a named constraint of the given kind: the standard `DROP CONSTRAINT`, where the
    /// database has `alter_constraints`.
    fn drop_constraint(&self, table: &str, name: &str, _kind: ConstraintKind) -> String {
        format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            self.quote(table),
            self.quote(name)
        )
    }

    /// Changes a column's type, nullability and/or default to `after`.
    fn alter_column(&self, change: &ColumnChange<'_>) -> Result<Vec<Action>, RenderError>;

    /// Statements that create an enum type (none where enums live in columns).
    fn create_enum(&self, _enum_type: &EnumType) -> Vec<String> {
        Vec::new()
    }

    /// Statements that drop an enum type.
    fn drop_enum(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }

    /// Statements that change an enum's values.
    fn alter_enum(&self, change: &EnumChange<'_>) -> Result<Vec<Action>, RenderError>;
}

/// A column change for [`SqlDialect::alter_column`].
pub struct ColumnChange<'a> {
    /// The schema before the change.
    pub before: &'a Schema,
    /// The schema after the change.
    pub after: &'a Schema,
    /// The table, after the change.
    pub table: &'a Table,
    /// The column before.
    pub old: &'a Column,
    /// The column after.
    pub new: &'a Column,
    /// SQL computing the new value from the old row, if given.
    pub using: Option<&'a str>,
}

/// What happens to an enum's values, for [`SqlDialect::alter_enum`].
pub enum EnumEdit<'a> {
    Add {
        value: &'a str,
        before: Option<&'a str>,
        after: Option<&'a str>,
    },
    Rename {
        from: &'a str,
        to: &'a str,
    },
    Remove {
        value: &'a str,
    },
    /// The same values in a new order.
    Reorder,
}

/// An enum change with the schemas around it.
pub struct EnumChange<'a> {
    pub before: &'a Schema,
    pub after: &'a Schema,
    pub name: &'a str,
    pub edit: EnumEdit<'a>,
    /// A later step of the same transaction uses the value this change adds. PostgreSQL cannot
    /// use a value `ADD VALUE` added before the transaction commits (SQLSTATE 55P04), so there
    /// the type is swapped instead.
    pub used_in_transaction: bool,
}

/// Renders a raw SQL default: the datetime keywords as they are, anything else in parentheses,
/// which all three databases accept for expressions.
fn sql_default(sql: &str) -> String {
    let keyword = sql.trim().to_ascii_uppercase();
    if matches!(
        keyword.as_str(),
        "CURRENT_TIMESTAMP" | "CURRENT_DATE" | "CURRENT_TIME" | "NULL"
    ) {
        keyword
    } else {
        format!("({})", sql.trim())
    }
}

/// The expressions that copy `old`'s rows into `new` in a rebuild: each column of `new` that
/// existed in `old` is copied, `overrides` win, and new columns are left to their defaults.
pub fn rebuild_copy(
    dialect: &dyn SqlDialect,
    old: &Table,
    new: &Table,
    overrides: &[(&str, String)],
) -> (Vec<String>, Vec<String>) {
    let mut columns = Vec::new();
    let mut exprs = Vec::new();
    for column in &new.columns {
        if let Some((_, expr)) = overrides.iter().find(|(name, _)| *name == column.name) {
            columns.push(dialect.quote(&column.name));
            exprs.push(format!("({expr})"));
        } else if old.has_column(&column.name) {
            columns.push(dialect.quote(&column.name));
            exprs.push(dialect.quote(&column.name));
        }
    }
    (columns, exprs)
}

/// A SQLite-style rebuild of `old` into the shape `new` (same name), copying rows as
/// [`rebuild_copy`] says.
pub fn rebuild(
    dialect: &dyn SqlDialect,
    schema_after: &Schema,
    old: &Table,
    new: &Table,
    overrides: &[(&str, String)],
) -> Result<Action, RenderError> {
    let temp = temp_name("new", &new.name);
    let (insert_columns, select_exprs) = rebuild_copy(dialect, old, new, overrides);
    let indexes = new
        .indexes
        .iter()
        .map(|index| dialect.create_index(&new.name, index, false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Action::Rebuild(Rebuild {
        table: new.name.clone(),
        temp: temp.clone(),
        create: dialect.create_table_named(new, &temp, schema_after)?,
        insert_columns,
        select_exprs,
        indexes,
        known_indexes: old
            .indexes
            .iter()
            .chain(&new.indexes)
            .map(|i| i.name.clone())
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_escape_what_each_session_reads_as_special() {
        let text = "it's a \\ and a \0";
        let escapes = Quoting {
            mysql_backslash_escapes: true,
        };
        assert_eq!(
            string_literal(Dialect::Mysql, text, escapes),
            "'it''s a \\\\ and a \\0'"
        );
        assert_eq!(
            string_literal(Dialect::Mysql, text, Quoting::default()),
            "'it''s a \\ and a \0'"
        );
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            assert_eq!(
                string_literal(dialect, text, escapes),
                "'it''s a \\ and a \0'"
            );
        }
        assert_eq!(MySql.string_literal("a\\b"), "'a\\\\b'");
        assert_eq!(Postgres.string_literal("a\\b"), "'a\\b'");
    }

    #[test]
    fn identifiers_are_quoted_as_each_database_reads_them() {
        assert_eq!(Sqlite.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(Postgres.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(MySql.quote("a`b"), "`a``b`");
    }
}
