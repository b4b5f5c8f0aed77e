//! The YAML pieces operations share: column definitions, key and constraint lists, foreign key
//! targets. Each converts to the model, and back (for `downgrade: auto`, and for autogenerate
//! when it is built).

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{
    self, Check, Column, ColumnDefault, ColumnType, FkAction, ForeignKey, Index, Literal,
    SchemaError, Table, Unique, fk_name, index_name, unique_name,
};

/// A column as written in `create_table` and `add_column`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Literal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_sql: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub autoincrement: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<ColumnRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<FkAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<FkAction>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ColumnSpec {
    /// The model column, checked on its own (constraints are added by the caller, and the
    /// default is checked against the type by [`model::Schema::check_default`], which knows
    /// the enums).
    pub fn to_column(&self) -> Result<Column, SchemaError> {
        model::validate_identifier(&self.name)?;
        if self.nullable == Some(true) && self.primary_key {
            return Err(SchemaError::Invalid(format!(
                "column '{}' is a primary key and cannot be nullable",
                self.name
            )));
        }
        if self.default.is_some() && self.default_sql.is_some() {
            return Err(SchemaError::Invalid(format!(
                "column '{}' has both `default` and `default_sql`; keep one",
                self.name
            )));
        }
        if self.autoincrement && !self.ty.is_integer() {
            return Err(SchemaError::Invalid(format!(
                "column '{}' is {} and cannot autoincrement; use integer or bigint",
                self.name, self.ty
            )));
        }
        if self.autoincrement && (self.default.is_some() || self.default_sql.is_some()) {
            return Err(SchemaError::Invalid(format!(
                "column '{}' autoincrements and cannot have a default",
                self.name
            )));
        }
        if self.references.is_none() && (self.on_delete.is_some() || self.on_update.is_some()) {
            return Err(SchemaError::Invalid(format!(
                "column '{}' has `on_delete`/`on_update` without `references`",
                self.name
            )));
        }
        Ok(Column {
            name: self.name.clone(),
            ty: self.ty.clone(),
            nullable: self.nullable.unwrap_or(!self.primary_key),
            default: column_default(self.default.clone(), self.default_sql.clone()),
            autoincrement: self.autoincrement,
        })
    }

    /// The unique constraint and foreign key this column declares inline, named after the
    /// table.
    pub fn inline_constraints(&self, table: &str) -> (Option<Unique>, Option<ForeignKey>) {
        let columns = vec![self.name.clone()];
        let unique = self.unique.then(|| Unique {
            name: unique_name(table, &columns),
            columns: columns.clone(),
        });
        let fk = self.references.as_ref().map(|target| {
            let target = RefTarget {
                table: target.table.clone(),
                columns: vec![target.column.clone()],
            };
            foreign_key(
                table,
                None,
                &columns,
                &target,
                self.on_delete,
                self.on_update,
            )
        });
        (unique, fk)
    }

    /// The spec that recreates a model column (constraints are restored separately).
    pub fn from_column(column: &Column, primary_key: bool) -> Self {
        let (default, default_sql) = match &column.default {
            Some(ColumnDefault::Literal(literal)) => (Some(literal.clone()), None),
            Some(ColumnDefault::Sql(sql)) => (None, Some(sql.clone())),
            None => (None, None),
        };
        Self {
            name: column.name.clone(),
            ty: column.ty.clone(),
            nullable: (column.nullable == primary_key).then_some(column.nullable),
            default,
            default_sql,
            primary_key,
            autoincrement: column.autoincrement,
            unique: false,
            references: None,
            on_delete: None,
            on_update: None,
        }
    }
}

/// A model default from the two YAML keys.
pub fn column_default(literal: Option<Literal>, sql: Option<String>) -> Option<ColumnDefault> {
    literal
        .map(ColumnDefault::Literal)
        .or(sql.map(ColumnDefault::Sql))
}

/// `table.column`, the target of a column-level `references`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    pub table: String,
    pub column: String,
}

impl Serialize for ColumnRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}.{}", self.table, self.column))
    }
}

impl<'de> Deserialize<'de> for ColumnRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.split_once('.') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() => Ok(Self {
                table: table.into(),
                column: column.into(),
            }),
            _ => Err(de::Error::custom(format!(
                "`references` must be 'table.column', got '{text}'"
            ))),
        }
    }
}

/// A list of columns with an optional name, written either as `[a, b]` or as
/// `{name: pk_x, columns: [a, b]}`. Used for primary keys and unique constraints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamedColumns {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

impl Serialize for NamedColumns {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.name {
            None => self.columns.serialize(serializer),
            Some(name) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("name", name)?;
                map.serialize_entry("columns", &self.columns)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for NamedColumns {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamedColumnsVisitor;
        impl<'de> Visitor<'de> for NamedColumnsVisitor {
            type Value = NamedColumns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of columns, or {name, columns}")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NamedColumns, A::Error> {
                let mut columns = Vec::new();
                while let Some(column) = seq.next_element::<String>()? {
                    columns.push(column);
                }
                Ok(NamedColumns {
                    name: None,
                    columns,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedColumns, A::Error> {
                let mut out = NamedColumns::default();
                let mut seen_columns = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => out.name = Some(map.next_value()?),
                        "columns" => {
                            out.columns = map.next_value()?;
                            seen_columns = true;
                        }
                        other => {
                            return Err(de::Error::unknown_field(other, &["name", "columns"]));
                        }
                    }
                }
                if !seen_columns {
                    return Err(de::Error::missing_field("columns"));
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(NamedColumnsVisitor)
    }
}

/// The target of a table-level foreign key: `{table, columns}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefTarget {
    pub table: String,
    pub columns: Vec<String>,
}

/// A foreign key in `create_table`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKeySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub references: RefTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<FkAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<FkAction>,
}

impl ForeignKeySpec {
    /// The model foreign key of `table`.
    pub fn to_model(&self, table: &str) -> ForeignKey {
        foreign_key(
            table,
            self.name.as_deref(),
            &self.columns,
            &self.references,
            self.on_delete,
            self.on_update,
        )
    }

    /// The spec recreating a model foreign key.
    pub fn from_model(fk: &ForeignKey) -> Self {
        Self {
            name: Some(fk.name.clone()),
            columns: fk.columns.clone(),
            references: RefTarget {
                table: fk.ref_table.clone(),
                columns: fk.ref_columns.clone(),
            },
            on_delete: fk.on_delete,
            on_update: fk.on_update,
        }
    }
}

/// A model foreign key, named `fk_<table>_<columns>_<target>` unless a name is given.
pub fn foreign_key(
    table: &str,
    name: Option<&str>,
    columns: &[String],
    target: &RefTarget,
    on_delete: Option<FkAction>,
    on_update: Option<FkAction>,
) -> ForeignKey {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| fk_name(table, columns, &target.table));
    ForeignKey {
        name,
        columns: columns.to_vec(),
        ref_table: target.table.clone(),
        ref_columns: target.columns.clone(),
        on_delete,
        on_update,
    }
}

/// A check constraint: `{name, expr}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    pub expr: String,
}

impl CheckSpec {
    /// The model check.
    pub fn to_model(&self) -> Check {
        Check {
            name: self.name.clone(),
            expr: self.expr.clone(),
        }
    }
}

/// An index in `create_table`: `{name?, columns, unique?, where?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub where_clause: Option<String>,
}

impl IndexSpec {
    /// The model index on `table`, named `ix_`/`uqix_<table>_<columns>` unless a name is given.
    pub fn to_model(&self, table: &str) -> Index {
        Index {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| index_name(table, &self.columns, self.unique)),
            columns: self.columns.clone(),
            unique: self.unique,
            where_clause: self.where_clause.clone(),
        }
    }

    /// The spec recreating a model index.
    pub fn from_model(index: &Index) -> Self {
        Self {
            name: Some(index.name.clone()),
            columns: index.columns.clone(),
            unique: index.unique,
            where_clause: index.where_clause.clone(),
        }
    }
}

/// Checks a list of column names: not empty, no repeats, each a column of `table`.
pub fn check_columns(table: &Table, columns: &[String], what: &str) -> Result<(), SchemaError> {
    if columns.is_empty() {
        return Err(SchemaError::Invalid(format!(
            "{what} needs at least one column"
        )));
    }
    for (i, column) in columns.iter().enumerate() {
        table.column(column)?;
        if columns[..i].contains(column) {
            return Err(SchemaError::Invalid(format!(
                "{what} lists column '{column}' twice"
            )));
        }
    }
    Ok(())
}

/// Adds a unique constraint to a table after checking its name and columns.
pub fn add_unique(
    schema: &model::Schema,
    table: &mut Table,
    unique: Unique,
) -> Result<(), SchemaError> {
    check_columns(
        table,
        &unique.columns,
        &format!("unique constraint '{}'", unique.name),
    )?;
    schema.ensure_name_free(&unique.name)?;
    ensure_local_name_free(table, &unique.name)?;
    table.uniques.push(unique);
    Ok(())
}

/// Adds a foreign key to a table after checking its name, columns and target.
pub fn add_foreign_key(
    schema: &model::Schema,
    table: &mut Table,
    fk: ForeignKey,
) -> Result<(), SchemaError> {
    check_columns(table, &fk.columns, &format!("foreign key '{}'", fk.name))?;
    schema.ensure_name_free(&fk.name)?;
    ensure_local_name_free(table, &fk.name)?;
    schema.validate_reference(table, &fk)?;
    table.foreign_keys.push(fk);
    Ok(())
}

/// Adds a check constraint to a table after checking its name and that it has an expression.
/// The columns the expression reads are left to the database: the model keeps the expression
/// as text and does not parse it.
pub fn add_check(
    schema: &model::Schema,
    table: &mut Table,
    check: Check,
) -> Result<(), SchemaError> {
    schema.ensure_name_free(&check.name)?;
    ensure_local_name_free(table, &check.name)?;
    if check.expr.trim().is_empty() {
        return Err(SchemaError::Invalid(format!(
            "check constraint '{}' has an empty expression",
            check.name
        )));
    }
    table.checks.push(check);
    Ok(())
}

/// Adds an index to a table after checking its name and columns.
pub fn add_index(
    schema: &model::Schema,
    table: &mut Table,
    index: Index,
) -> Result<(), SchemaError> {
    check_columns(table, &index.columns, &format!("index '{}'", index.name))?;
    schema.ensure_name_free(&index.name)?;
    ensure_local_name_free(table, &index.name)?;
    table.indexes.push(index);
    Ok(())
}

/// Fails if `table` itself already has a constraint or index called `name`.
/// [`model::Schema::ensure_name_free`] only sees tables in the schema; this also covers the
/// table `create_table` is building, which is not in it yet.
fn ensure_local_name_free(table: &Table, name: &str) -> Result<(), SchemaError> {
    if table.object_names().any(|n| n == name) {
        return Err(SchemaError::NameTaken {
            name: name.into(),
            owner: format!("another constraint or index of '{}'", table.name),
        });
    }
    Ok(())
}
