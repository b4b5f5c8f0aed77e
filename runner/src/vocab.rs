//! The words every layer shares, with no dependencies of their own: runner's table names, the
//! direction a revision runs and what may name a transform module. A leaf, so that `model`,
//! `ops`, `dialect` and `db` can use them without depending on `version_table` (which depends on
//! `db`) or `transforms` (which depends on `config` and `sandbox`). `version_table` re-exports
//! the table names and `Direction`.

use serde::Serialize;

/// The version table.
pub const VERSION_TABLE: &str = "runner_version";
/// The history table.
pub const HISTORY_TABLE: &str = "runner_history";
/// Runner's own tables, which no revision or transform may touch.
pub const RESERVED_TABLES: [&str; 2] = [VERSION_TABLE, HISTORY_TABLE];
/// The prefix of the tables runner creates for a moment (`_runner_new_x` during a SQLite
/// rebuild, a transform's cursor tables).
pub const TEMPORARY_PREFIX: &str = "_runner_";

/// True for runner's own tables and the ones it creates for a moment.
pub fn is_runner_table(name: &str) -> bool {
    RESERVED_TABLES.contains(&name) || name.starts_with(TEMPORARY_PREFIX)
}

/// The version tables of the migration tools teams come from (Alembic, Flyway, Liquibase): not
/// the app's schema, so introspection leaves them out and a baseline does not adopt them.
pub const OTHER_TOOLS_TABLES: [&str; 4] = [
    "alembic_version",
    "flyway_schema_history",
    "databasechangelog",
    "databasechangeloglock",
];

/// True if `name` can name a transform crate and the module built from it: what a `transform`
/// step's `module` and `runner new-transform NAME` accept.
pub fn is_transform_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Which way a revision ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The word stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_names_are_crate_names() {
        assert!(is_transform_name("split_names"));
        assert!(is_transform_name("money-to-cents2"));
        for bad in ["", "Split", "2names", "a b", "../x"] {
            assert!(!is_transform_name(bad), "{bad}");
        }
    }
}
