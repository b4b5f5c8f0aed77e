//! The in-memory schema: what a database looks like at a revision. The runner replays
//! operations from base onto this model to know the exact schema at every revision; that model
//! drives validation, `downgrade: auto`, SQLite table rebuilds and comparisons with live databases.

pub mod compare;
pub mod drift;
pub mod expr;
pub mod literal;
mod names;
pub mod outline;
mod tables;
pub mod types;

use std::fmt;

use indexmap::IndexMap;
use serde::Serialize;

pub use literal::Literal;
pub use names::{
    derived_name, fk_name, index_name, pk_name, temp_name, unique_name, validate_identifier,
};
pub use tables::Tables;
pub use types::ColumnType;

/// Longest identifier every supported database accepts (PostgreSQL's 63 bytes).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// A whole schema: tables in creation order, and enum types.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Schema {
    pub tables: Tables,
    pub enums: IndexMap<String, EnumType>,
}

/// A table with its columns, keys, constraints and indexes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<PrimaryKey>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uniques: Vec<Unique>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    pub nullable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<ColumnDefault>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub autoincrement: bool,
}

/// A column default: a literal rendered per dialect, or a raw SQL expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnDefault {
    Literal(Literal),
    Sql(String),
}

/// The primary key of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrimaryKey {
    pub name: String,
    pub columns: Vec<String>,
}

/// What a foreign key does when the referenced row is deleted or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    Cascade,
    Restrict,
    SetNull,
    SetDefault,
    NoAction,
}

impl FkAction {
    /// The SQL keywords, the same on every supported database.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Cascade => "CASCADE",
            Self::Restrict => "RESTRICT",
            Self::SetNull => "SET NULL",
            Self::SetDefault => "SET DEFAULT",
            Self::NoAction => "NO ACTION",
        }
    }
}

/// A foreign key constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<FkAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_update: Option<FkAction>,
}

/// A unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unique {
    pub name: String,
    pub columns: Vec<String>,
}

/// A check constraint; `expr` is SQL shared by all dialects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub expr: String,
}

/// An index, possibly unique or partial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_clause: Option<String>,
}

/// An enum type and its values in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    pub name: String,
    pub values: Vec<String>,
}

/// The kinds of named table constraints, for `drop_constraint` and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    PrimaryKey,
    ForeignKey,
    Unique,
    Check,
}

impl ConstraintKind {
    /// How messages name this kind.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PrimaryKey => "primary key",
            Self::ForeignKey => "foreign key",
            Self::Unique => "unique constraint",
            Self::Check => "check constraint",
        }
    }
}

/// Why an operation does not fit the schema it is applied to. Found before any SQL is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// `hint` is a "did you mean" or nothing.
    #[error("no table '{table}'{hint}")]
    TableNotFound { table: String, hint: String },
    #[error("table '{table}' already exists")]
    TableExists { table: String },
    #[error("table '{table}' has no column '{column}'{hint}")]
    ColumnNotFound {
        table: String,
        column: String,
        hint: String,
    },
    #[error("table '{table}' already has a column '{column}'")]
    ColumnExists { table: String, column: String },
    #[error("no index '{index}'")]
    IndexNotFound { index: String },
    #[error("table '{table}' has no constraint '{name}'")]
    ConstraintNotFound { table: String, name: String },
    #[error("the name '{name}' is already used by {owner}")]
    NameTaken { name: String, owner: String },
    #[error("no enum '{name}'")]
    EnumNotFound { name: String },
    #[error("enum '{name}' already exists")]
    EnumExists { name: String },
    #[error("enum '{name}' has no value '{value}'")]
    EnumValueNotFound { name: String, value: String },
    #[error("enum '{name}' already has the value '{value}'")]
    EnumValueExists { name: String, value: String },
    #[error("enum '{name}' is still used by column '{table}.{column}'")]
    EnumInUse {
        name: String,
        table: String,
        column: String,
    },
    #[error("column '{table}.{column}' is used by {by}; drop or change that first")]
    ColumnInUse {
        table: String,
        column: String,
        by: String,
    },
    #[error(
        "table '{table}' is referenced by foreign key '{constraint}' on '{by_table}'; drop that first"
    )]
    TableReferenced {
        table: String,
        by_table: String,
        constraint: String,
    },
    #[error("foreign key '{constraint}' on '{by_table}' needs '{name}'; drop that first")]
    NeededByForeignKey {
        name: String,
        by_table: String,
        constraint: String,
    },
    #[error("column '{table}.{column}' cannot default to {default}: {reason}")]
    DefaultMismatch {
        table: String,
        column: String,
        default: String,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Something that uses a column of its table, as [`Table::column_users`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnUser {
    Constraint { kind: ConstraintKind, name: String },
    Index { name: String },
}

impl fmt::Display for ColumnUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Constraint { kind, name } => write!(f, "{} '{name}'", kind.describe()),
            Self::Index { name } => write!(f, "index '{name}'"),
        }
    }
}

impl Schema {
    /// A copy with columns, constraints and indexes sorted by name, for comparisons where
    /// order carries no meaning (a column re-added by a downgrade comes back last).
    pub fn normalized(&self) -> Schema {
        let mut schema = self.clone();
        schema.tables.sort_keys();
        schema.enums.sort_keys();
        for table in schema.tables.values_mut() {
            table.columns.sort_by(|a, b| a.name.cmp(&b.name));
            table.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
            table.uniques.sort_by(|a, b| a.name.cmp(&b.name));
            table.checks.sort_by(|a, b| a.name.cmp(&b.name));
            table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        }
        schema
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Result<&Table, SchemaError> {
        self.tables.get(name).ok_or_else(|| self.no_table(name))
    }

    /// The table called `name`, to change it.
    pub fn table_mut(&mut self, name: &str) -> Result<&mut Table, SchemaError> {
        if !self.tables.contains_key(name) {
            return Err(self.no_table(name));
        }
        self.tables
            .get_mut(name)
            .ok_or_else(|| SchemaError::TableNotFound {
                table: name.into(),
                hint: String::new(),
            })
    }

    /// Why there is no table `name`, with the closest name there is.
    pub fn no_table(&self, name: &str) -> SchemaError {
        SchemaError::TableNotFound {
            table: name.into(),
            hint: crate::suggest::did_you_mean(name, self.tables.keys().map(String::as_str)),
        }
    }

    /// The enum called `name`.
    pub fn enum_type(&self, name: &str) -> Result<&EnumType, SchemaError> {
        self.enums
            .get(name)
            .ok_or_else(|| SchemaError::EnumNotFound { name: name.into() })
    }

    /// The table holding the index `name`, with the index.
    pub fn find_index(&self, name: &str) -> Option<(&Table, &Index)> {
        self.tables.carrying(name).find_map(|table| {
            table
                .indexes
                .iter()
                .find(|index| index.name == name)
                .map(|index| (table, index))
        })
    }

    /// Foreign keys that point at `table`, as (table, constraint) pairs: those of other tables
    /// and the table's own self-references.
    pub fn references_to<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = (&'a Table, &'a ForeignKey)> + 'a {
        self.tables.values().flat_map(move |t| {
            t.foreign_keys
                .iter()
                .filter(move |fk| fk.ref_table == table)
                .map(move |fk| (t, fk))
        })
    }

    /// Fails if a foreign key (of any table, `table` itself included) points at columns of
    /// `table` that are gone or no longer its primary key or unique: what dropping a column,
    /// constraint or index of `table` must not leave behind, as every database refuses it (SQLite
    /// only at the next write). `dropped` names what was dropped, for the message.
    pub fn ensure_fk_targets(&self, table: &str, dropped: &str) -> Result<(), SchemaError> {
        let target = self.table(table)?;
        let broken = self.references_to(table).find(|(_, fk)| {
            !fk.ref_columns.iter().all(|c| target.has_column(c))
                || !target.is_unique_key(&fk.ref_columns)
        });
        match broken {
            Some((by, fk)) => Err(SchemaError::NeededByForeignKey {
                name: dropped.into(),
                by_table: by.name.clone(),
                constraint: fk.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Columns (table, column) whose type is the enum `name`.
    pub fn enum_users<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Table, &'a Column)> {
        self.tables.values().flat_map(move |t| {
            t.columns
                .iter()
                .filter(move |c| c.ty.enum_name() == Some(name))
                .map(move |c| (t, c))
        })
    }

    /// Fails if an index or constraint anywhere already carries `name`. Names are kept unique
    /// across the schema because PostgreSQL indexes (and the indexes behind unique constraints)
    /// live in one namespace per schema.
    pub fn ensure_name_free(&self, name: &str) -> Result<(), SchemaError> {
        validate_identifier(name)?;
        for table in self.tables.carrying(name) {
            if let Some(kind) = table.constraint_kind(name) {
                return Err(SchemaError::NameTaken {
                    name: name.into(),
                    owner: format!("a {} on '{}'", kind.describe(), table.name),
                });
            }
            if table.indexes.iter().any(|i| i.name == name) {
                return Err(SchemaError::NameTaken {
                    name: name.into(),
                    owner: format!("an index on '{}'", table.name),
                });
            }
            if table.name == name {
                return Err(SchemaError::NameTaken {
                    name: name.into(),
                    owner: "a table".into(),
                });
            }
        }
        Ok(())
    }

    /// Fails if `name` cannot name a new table: a table, an enum, an index or a constraint has
    /// it. Enums count because PostgreSQL gives every table a type of its name, so tables and
    /// enums share one namespace there. Used by `create_table`, `rename_table` and
    /// `create_enum`.
    pub fn ensure_table_name_free(&self, name: &str) -> Result<(), SchemaError> {
        if self.enums.contains_key(name) {
            return Err(SchemaError::NameTaken {
                name: name.into(),
                owner: "an enum".into(),
            });
        }
        self.ensure_name_free(name)
    }

    /// Checks that a column's literal default is a value of its type (see [`Literal::fits`]);
    /// SQL defaults are the database's to read. `table` names the column's table in messages.
    pub fn check_default(&self, table: &str, column: &Column) -> Result<(), SchemaError> {
        let Some(ColumnDefault::Literal(literal)) = &column.default else {
            return Ok(());
        };
        let enum_values = match column.ty.enum_name() {
            Some(name) => Some(self.enum_type(name)?.values.as_slice()),
            None => None,
        };
        literal
            .fits(&column.ty, enum_values)
            .map_err(|reason| SchemaError::DefaultMismatch {
                table: table.into(),
                column: column.name.clone(),
                default: literal.to_string(),
                reason,
            })
    }

    /// Checks that a foreign key's target exists and is a primary key or unique, which every
    /// database requires (SQLite only at the first write, so the model checks it for SQLite).
    pub fn validate_reference(&self, table: &Table, fk: &ForeignKey) -> Result<(), SchemaError> {
        if fk.columns.is_empty() || fk.columns.len() != fk.ref_columns.len() {
            return Err(SchemaError::Invalid(format!(
                "foreign key '{}' has {} column(s) but references {}",
                fk.name,
                fk.columns.len(),
                fk.ref_columns.len()
            )));
        }
        for column in &fk.columns {
            table.column(column)?;
        }
        // A self-reference is checked against the table being built.
        let target = if fk.ref_table == table.name {
            table
        } else {
            self.table(&fk.ref_table)?
        };
        for (column, ref_column) in fk.columns.iter().zip(&fk.ref_columns) {
            let referenced = target.column(ref_column)?;
            let own = table.column(column)?;
            // MySQL and MariaDB refuse even integers of different widths, so every database
            // gets the same rule.
            if own.ty != referenced.ty {
                return Err(SchemaError::Invalid(format!(
                    "foreign key '{}': column '{}.{}' is {} but '{}.{}' is {}; both sides of a \
                     foreign key need the same type (MySQL and MariaDB refuse even integers of \
                     different widths)",
                    fk.name,
                    table.name,
                    own.name,
                    own.ty,
                    target.name,
                    referenced.name,
                    referenced.ty
                )));
            }
        }
        if !target.is_unique_key(&fk.ref_columns) {
            return Err(SchemaError::Invalid(format!(
                "foreign key '{}' references ({}) on '{}', which is neither its primary key nor unique",
                fk.name,
                fk.ref_columns.join(", "),
                target.name
            )));
        }
        Ok(())
    }
}

impl Table {
    /// An empty table called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            columns: Vec::new(),
            primary_key: None,
            foreign_keys: Vec::new(),
            uniques: Vec::new(),
            checks: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Result<&Column, SchemaError> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| self.no_column(name))
    }

    /// Why there is no column `name`, with the closest name there is.
    pub fn no_column(&self, name: &str) -> SchemaError {
        SchemaError::ColumnNotFound {
            table: self.name.clone(),
            column: name.into(),
            hint: crate::suggest::did_you_mean(
                name,
                self.columns.iter().map(|column| column.name.as_str()),
            ),
        }
    }

    /// The column called `name`, to change it.
    pub fn column_mut(&mut self, name: &str) -> Result<&mut Column, SchemaError> {
        match self.columns.iter().position(|c| c.name == name) {
            Some(at) => Ok(&mut self.columns[at]),
            None => Err(self.no_column(name)),
        }
    }

    /// True if the table has a column called `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// What kind of constraint on this table is called `name`, if any.
    pub fn constraint_kind(&self, name: &str) -> Option<ConstraintKind> {
        if self.primary_key.as_ref().is_some_and(|pk| pk.name == name) {
            Some(ConstraintKind::PrimaryKey)
        } else if self.foreign_keys.iter().any(|c| c.name == name) {
            Some(ConstraintKind::ForeignKey)
        } else if self.uniques.iter().any(|c| c.name == name) {
            Some(ConstraintKind::Unique)
        } else if self.checks.iter().any(|c| c.name == name) {
            Some(ConstraintKind::Check)
        } else {
            None
        }
    }

    /// True if `columns` are exactly the primary key, a unique constraint or a full unique
    /// index, in the same order: what a foreign key may point at (MySQL needs the order too).
    pub fn is_unique_key(&self, columns: &[String]) -> bool {
        let same = |other: &[String]| other == columns;
        self.primary_key
            .as_ref()
            .is_some_and(|pk| same(&pk.columns))
            || self.uniques.iter().any(|u| same(&u.columns))
            || self
                .indexes
                .iter()
                .any(|i| i.unique && i.where_clause.is_none() && same(&i.columns))
    }

    /// What uses `column` (keys, constraints, indexes, checks): the primary key, foreign
    /// keys and unique constraints listing it, indexes listing it or reading it in their
    /// predicate, and checks reading it.
    pub fn column_users(&self, column: &str) -> Vec<ColumnUser> {
        let has = |cols: &[String]| cols.iter().any(|c| c == column);
        let constraint = |kind, name: &str| ColumnUser::Constraint {
            kind,
            name: name.into(),
        };
        let mut users = Vec::new();
        if let Some(pk) = &self.primary_key
            && has(&pk.columns)
        {
            users.push(constraint(ConstraintKind::PrimaryKey, &pk.name));
        }
        for fk in self.foreign_keys.iter().filter(|fk| has(&fk.columns)) {
            users.push(constraint(ConstraintKind::ForeignKey, &fk.name));
        }
        for unique in self.uniques.iter().filter(|u| has(&u.columns)) {
            users.push(constraint(ConstraintKind::Unique, &unique.name));
        }
        for index in &self.indexes {
            let in_where = index
                .where_clause
                .as_deref()
                .is_some_and(|w| expr::mentions_column(w, column));
            if has(&index.columns) || in_where {
                users.push(ColumnUser::Index {
                    name: index.name.clone(),
                });
            }
        }
        for check in &self.checks {
            if expr::mentions_column(&check.expr, column) {
                users.push(constraint(ConstraintKind::Check, &check.name));
            }
        }
        users
    }

    /// The names of every constraint and index of this table.
    pub fn object_names(&self) -> impl Iterator<Item = &str> {
        self.primary_key
            .iter()
            .map(|pk| pk.name.as_str())
            .chain(self.foreign_keys.iter().map(|c| c.name.as_str()))
            .chain(self.uniques.iter().map(|c| c.name.as_str()))
            .chain(self.checks.iter().map(|c| c.name.as_str()))
            .chain(self.indexes.iter().map(|c| c.name.as_str()))
    }
}
