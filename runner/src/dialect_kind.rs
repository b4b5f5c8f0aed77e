//! Which database runner talks to and what it can do in place: the nouns that `model` (which
//! normalises a schema per database), `ops`, `dialect`, `db`, `sandbox` and `exec` share. A
//! leaf, so that `model` need not depend on `dialect`, which renders SQL from the model; the
//! renderer for a database is `dialect::renderer`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The databases runner migrates. MariaDB is served by `Mysql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// Every dialect, for tests and per-dialect listings.
    pub const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    /// The name used in YAML keys and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        }
    }

    /// The sqlparser dialect that reads SQL as this database does.
    pub fn parser(self) -> Box<dyn sqlparser::dialect::Dialect> {
        match self {
            Self::Sqlite => Box::new(sqlparser::dialect::SQLiteDialect {}),
            Self::Postgres => Box::new(sqlparser::dialect::PostgreSqlDialect {}),
            Self::Mysql => Box::new(sqlparser::dialect::MySqlDialect {}),
        }
    }

    /// The placeholder for the `n`th (1-based) parameter of a statement: `$n` or `?`.
    pub fn param(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::Sqlite | Self::Mysql => "?".into(),
        }
    }

    /// What this database can do in place.
    pub fn caps(self) -> &'static Capabilities {
        match self {
            Self::Sqlite => &SQLITE,
            Self::Postgres => &POSTGRES,
            Self::Mysql => &MYSQL,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a database can do in place; operations consult these instead of asking which database
/// they are on.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// DDL can run inside a transaction and roll back with it.
    pub transactional_ddl: bool,
    /// `ALTER TABLE` can add and drop foreign keys, unique and check constraints; if not, the
    /// table is rebuilt.
    pub alter_constraints: bool,
    /// `ADD COLUMN` can declare a primary key, a unique constraint or a foreign key, take an
    /// expression default, and add a NOT NULL column without a default; if not, the table is
    /// rebuilt for those (<https://www.sqlite.org/lang_altertable.html#altertabaddcol>).
    pub add_column_constraints: bool,
    /// `ALTER TABLE ... DROP COLUMN` is used; if not, the table is rebuilt.
    pub drop_column: bool,
    /// Indexes can have a `WHERE` predicate.
    pub partial_indexes: bool,
    /// Enums are named types created apart from tables.
    pub named_enums: bool,
    /// Indexes can be built without blocking writes (`CONCURRENTLY`).
    pub concurrent_index: bool,
    /// Renaming a column rewrites the check constraints that mention it; if not, they are
    /// dropped and added again around the rename.
    pub rename_column_rewrites_checks: bool,
}

/// SQLite: transactional DDL, but most of `ALTER TABLE` is a table rebuild.
static SQLITE: Capabilities = Capabilities {
    transactional_ddl: true,
    alter_constraints: false,
    add_column_constraints: false,
    drop_column: false,
    partial_indexes: true,
    named_enums: false,
    concurrent_index: false,
    rename_column_rewrites_checks: true,
};

/// PostgreSQL: transactional DDL, named enum types, `CONCURRENTLY`.
static POSTGRES: Capabilities = Capabilities {
    transactional_ddl: true,
    alter_constraints: true,
    add_column_constraints: true,
    drop_column: true,
    partial_indexes: true,
    named_enums: true,
    concurrent_index: true,
    rename_column_rewrites_checks: true,
};

/// MySQL and MariaDB: DDL commits implicitly, enums live in each column.
static MYSQL: Capabilities = Capabilities {
    transactional_ddl: false,
    alter_constraints: true,
    add_column_constraints: true,
    drop_column: true,
    partial_indexes: false,
    named_enums: false,
    concurrent_index: false,
    rename_column_rewrites_checks: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_database_gets_its_own_parser() {
        use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};
        use std::any::TypeId;
        for (dialect, parser) in [
            (Dialect::Sqlite, TypeId::of::<SQLiteDialect>()),
            (Dialect::Postgres, TypeId::of::<PostgreSqlDialect>()),
            (Dialect::Mysql, TypeId::of::<MySqlDialect>()),
        ] {
            assert_eq!(dialect.parser().dialect(), parser, "{dialect}");
        }
    }
}
