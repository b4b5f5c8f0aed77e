//! SQLite: what `ALTER TABLE` cannot do is done by rebuilding the table. Types are declared so
//! that SQLite's type affinity never rewrites a value: decimals, JSON and UUIDs get TEXT
//! affinity (a 30-digit decimal would otherwise become a 15-digit REAL).
//! See <https://www.sqlite.org/datatype3.html#determination_of_column_affinity>.

use super::{
    Action, ColumnChange, EnumChange, EnumEdit, Rebuild, RenderError, SqlDialect, rebuild,
};
use crate::dialect_kind::Dialect;
use crate::model::{Column, ColumnType, Schema};

/// The SQLite renderer.
pub struct Sqlite;

/// A view or trigger (or index the model does not know) read from `sqlite_master` before a
/// rebuild, to be recreated after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    /// `view`, `trigger` or `index`.
    pub kind: String,
    pub name: String,
    /// The table an index or trigger belongs to.
    pub table: String,
    pub sql: String,
}

impl SqlDialect for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn column_type(&self, ty: &ColumnType, _schema: &Schema) -> Result<String, RenderError> {
        Ok(match ty {
            ColumnType::Integer => "INTEGER".into(),
            ColumnType::BigInt => "BIGINT".into(),
            ColumnType::SmallInt => "SMALLINT".into(),
            ColumnType::Boolean => "BOOLEAN".into(),
            ColumnType::Real => "REAL".into(),
            ColumnType::Double => "DOUBLE".into(),
            ColumnType::Decimal { precision, scale } => {
                format!("DECIMAL_TEXT({precision},{scale})")
            }
            ColumnType::String {
                length: Some(length),
            } => format!("VARCHAR({length})"),
            ColumnType::String { length: None } => "VARCHAR".into(),
            ColumnType::Text => "TEXT".into(),
            ColumnType::Binary => "BLOB".into(),
            ColumnType::Date => "DATE".into(),
            ColumnType::Time => "TIME".into(),
            ColumnType::Timestamp => "TIMESTAMP".into(),
            ColumnType::TimestampTz => "TIMESTAMPTZ".into(),
            ColumnType::Json => "JSON_TEXT".into(),
            ColumnType::Uuid => "UUID_TEXT".into(),
            ColumnType::Enum(_) => "TEXT".into(),
        })
    }

    fn autoincrement_column(
        &self,
        column: &Column,
        _schema: &Schema,
    ) -> Result<String, RenderError> {
        // Only `INTEGER PRIMARY KEY` aliases the rowid; AUTOINCREMENT keeps ids from being reused.
        Ok(format!(
            "{} INTEGER PRIMARY KEY AUTOINCREMENT",
            self.quote(&column.name)
        ))
    }

    fn inline_autoincrement_key(&self) -> bool {
        true
    }

    fn column_suffix(&self, column: &Column, schema: &Schema) -> Result<String, RenderError> {
        let Some(name) = column.ty.enum_name() else {
            return Ok(String::new());
        };
        let values = schema
            .enum_type(name)?
            .values
            .iter()
            .map(|v| self.string_literal(v))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(format!(
            " CHECK ({} IN ({values}))",
            self.quote(&column.name)
        ))
    }

    fn drop_index(&self, _table: &str, index: &str, _concurrently: bool) -> String {
        format!("DROP INDEX {}", self.quote(index))
    }

    fn alter_column(&self, change: &ColumnChange<'_>) -> Result<Vec<Action>, RenderError> {
        let old_table = change.before.table(&change.table.name)?;
        let overrides: Vec<(&str, String)> = change
            .using
            .map(|using| vec![(change.new.name.as_str(), using.to_string())])
            .unwrap_or_default();
        Ok(vec![rebuild(
            self,
            change.after,
            old_table,
            change.table,
            &overrides,
        )?])
    }

    fn alter_enum(&self, change: &EnumChange<'_>) -> Result<Vec<Action>, RenderError> {
        // The values live in each column's CHECK, so every table using the enum is rebuilt;
        // a renamed value is rewritten in the rows as they are copied.
        let mut actions = Vec::new();
        let mut tables: Vec<&str> = change
            .after
            .enum_users(change.name)
            .map(|(t, _)| t.name.as_str())
            .collect();
        tables.dedup();
        for table in tables {
            let old = change.before.table(table)?;
            let new = change.after.table(table)?;
            let overrides: Vec<(&str, String)> = match &change.edit {
                EnumEdit::Rename { from, to } => new
                    .columns
                    .iter()
                    .filter(|c| c.ty.enum_name() == Some(change.name))
                    .map(|c| {
                        let col = self.quote(&c.name);
                        (
                            c.name.as_str(),
                            format!(
                                "CASE {col} WHEN {} THEN {} ELSE {col} END",
                                self.string_literal(from),
                                self.string_literal(to)
                            ),
                        )
                    })
                    .collect(),
                EnumEdit::Add { .. } | EnumEdit::Remove { .. } | EnumEdit::Reorder => Vec::new(),
            };
            actions.push(rebuild(self, change.after, old, new, &overrides)?);
        }
        Ok(actions)
    }
}

/// What a rebuild needs from the live database, read just before it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    /// Every view and trigger, and the table's indexes, in `sqlite_master` order.
    pub objects: Vec<LiveObject>,
    /// The table's AUTOINCREMENT counter, kept so that ids of deleted rows are never reused.
    pub sequence: Option<i64>,
}

/// The statements of a rebuild, given the live views, triggers and indexes read just before
/// it. Views and triggers are all dropped first and recreated last, in their original order:
/// SQLite checks every view and trigger when a table is renamed, and one that reads the
/// rebuilt table (even through another view) would fail that check while the table is away.
pub fn rebuild_statements(rebuild: &Rebuild, live: &LiveState) -> Vec<String> {
    let quote = |name: &str| Sqlite.quote(name);
    let objects = &live.objects;
    let mut statements = Vec::new();
    for object in objects.iter().rev() {
        match object.kind.as_str() {
            "trigger" => statements.push(format!("DROP TRIGGER {}", quote(&object.name))),
            "view" => statements.push(format!("DROP VIEW {}", quote(&object.name))),
            _ => {}
        }
    }
    statements.push(rebuild.create.clone());
    if !rebuild.insert_columns.is_empty() {
        statements.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            quote(&rebuild.temp),
            rebuild.insert_columns.join(", "),
            rebuild.select_exprs.join(", "),
            quote(&rebuild.table)
        ));
    }
    statements.push(format!("DROP TABLE {}", quote(&rebuild.table)));
    statements.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&rebuild.temp),
        quote(&rebuild.table)
    ));
    if let Some(seq) = live.sequence {
        // The copy moved the counter to the largest id present; put back the old one.
        let name = Sqlite.string_literal(&rebuild.table);
        statements.push(format!("DELETE FROM sqlite_sequence WHERE name = {name}"));
        statements.push(format!(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ({name}, {seq})"
        ));
    }
    statements.extend(rebuild.indexes.iter().cloned());
    for object in objects {
        let unknown_index = object.kind == "index"
            && object.table == rebuild.table
            && !rebuild.known_indexes.contains(&object.name);
        if unknown_index {
            statements.push(object.sql.clone());
        }
    }
    for kind in ["view", "trigger"] {
        statements.extend(
            objects
                .iter()
                .filter(|o| o.kind == kind)
                .map(|o| o.sql.clone()),
        );
    }
    statements
}
