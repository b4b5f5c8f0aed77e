//! The words every layer shares, with no dependencies of their own: runner's table names and
//! the direction a revision runs. A leaf, so that `model`, `ops`, `dialect` and `db` can use them
//! without depending on `version_table` (which depends on `db`). `version_table` re-exports them.

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
