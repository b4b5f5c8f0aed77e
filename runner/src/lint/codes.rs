//! The lint codes: stable names users write in `lint: {ignore: [...]}`, so a code is never
//! renamed or reused once released. docs/lint.md explains each.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Data is deleted.
    Destructive,
    /// The step fails or changes values depending on the rows the table holds.
    DataDependent,
    /// PostgreSQL holds a lock that blocks the application while the step runs.
    PostgresLocking,
    /// PostgreSQL cannot run the step as written.
    PostgresEnum,
}

/// One lint code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    DropTable,
    DropColumn,
    DropEnumValue,
    AddUnique,
    NotNullWithoutDefault,
    TypeNarrowing,
    PgIndexNotConcurrent,
    PgTypeRewrite,
    PgConstraintNotValid,
    PgEnumRewrite,
    PgEnumAddThenUse,
}

impl Code {
    /// Every code, in the order docs list them.
    pub const ALL: [Code; 11] = [
        Code::DropTable,
        Code::DropColumn,
        Code::DropEnumValue,
        Code::AddUnique,
        Code::NotNullWithoutDefault,
        Code::TypeNarrowing,
        Code::PgIndexNotConcurrent,
        Code::PgTypeRewrite,
        Code::PgConstraintNotValid,
        Code::PgEnumRewrite,
        Code::PgEnumAddThenUse,
    ];

    /// True for a code no longer reported (still accepted in `lint: {ignore: [...]}`).
    pub fn is_retired(self) -> bool {
        matches!(self, Self::PgEnumAddThenUse)
    }

    /// The name written in files and printed in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DropTable => "drop-table",
            Self::DropColumn => "drop-column",
            Self::DropEnumValue => "drop-enum-value",
            Self::AddUnique => "add-unique",
            Self::NotNullWithoutDefault => "not-null-without-default",
            Self::TypeNarrowing => "type-narrowing",
            Self::PgIndexNotConcurrent => "pg-index-not-concurrent",
            Self::PgTypeRewrite => "pg-type-rewrite",
            Self::PgConstraintNotValid => "pg-constraint-not-valid",
            Self::PgEnumRewrite => "pg-enum-rewrite",
            Self::PgEnumAddThenUse => "pg-enum-add-then-use",
        }
    }

    /// What the code is about.
    pub fn kind(self) -> Kind {
        match self {
            Self::DropTable | Self::DropColumn | Self::DropEnumValue => Kind::Destructive,
            Self::AddUnique | Self::NotNullWithoutDefault | Self::TypeNarrowing => {
                Kind::DataDependent
            }
            Self::PgIndexNotConcurrent
            | Self::PgTypeRewrite
            | Self::PgConstraintNotValid
            | Self::PgEnumRewrite => Kind::PostgresLocking,
            Self::PgEnumAddThenUse => Kind::PostgresEnum,
        }
    }

    /// True for the codes that only concern PostgreSQL.
    pub fn postgres_only(self) -> bool {
        matches!(self.kind(), Kind::PostgresLocking | Kind::PostgresEnum)
    }

    /// The one-line explanation of the code.
    pub fn explain(self) -> &'static str {
        match self {
            Self::DropTable => "drops a table that may hold rows",
            Self::DropColumn => "drops a column that may hold values",
            Self::DropEnumValue => "removes an enum value rows may hold",
            Self::AddUnique => "adds a uniqueness rule that existing duplicates break",
            Self::NotNullWithoutDefault => "requires a value where existing rows may have none",
            Self::TypeNarrowing => "changes a type to one that not every existing value fits",
            Self::PgIndexNotConcurrent => {
                "builds an index on PostgreSQL without CONCURRENTLY, blocking writes"
            }
            Self::PgTypeRewrite => {
                "changes a type in a way PostgreSQL does by rewriting the table under an exclusive lock"
            }
            Self::PgConstraintNotValid => {
                "adds a constraint PostgreSQL validates at once, scanning the table under a lock"
            }
            Self::PgEnumRewrite => {
                "changes an enum in a way PostgreSQL does by rewriting every table using it"
            }
            // Retired: runner now adds such a value by swapping the type (`pg-enum-rewrite`).
            // Kept so that `lint: {ignore: [pg-enum-add-then-use]}` in old revisions still reads.
            Self::PgEnumAddThenUse => {
                "uses an enum value added in the same transaction (retired: now pg-enum-rewrite)"
            }
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FromStr for Code {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Code::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown lint code '{name}'; the codes are: {}",
                    names.join(", ")
                )
            })
    }
}
