//! A schema as lines of text, one object a line (`column contacts.email string(255) null`), and
//! the difference between two schemas as the lines one removed and the other added: how a dry
//! run shows what a revision did to the schema. Also the words `drift` describes objects in.
//! Pure: no IO.

use similar::{ChangeTag, TextDiff};

use super::{Column, ColumnDefault, EnumType, ForeignKey, Index, Schema, Table};

/// Every table (with its columns, keys, constraints and indexes) and enum of `schema`, a line
/// each, in the schema's order.
pub fn outline(schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = schema.tables.values().flat_map(table_lines).collect();
    out.extend(schema.enums.iter().map(|(name, e)| enum_line(name, e)));
    out
}

/// What differs from `before` to `after`, table by table and then enum by enum, each in name
/// order: `- ` for a line of [`outline`] only `before` has, `+ ` for one only `after` has,
/// the lines of one table in their order (so a changed column is its old line, then its new
/// one). Where a table sits in the database's catalog (a SQLite rebuild moves it last) and
/// the order of its constraints and indexes do not count. Empty when the two are the same.
pub fn outline_diff(before: &Schema, after: &Schema) -> Vec<String> {
    let mut names: Vec<&String> = before.tables.keys().chain(after.tables.keys()).collect();
    names.sort();
    names.dedup();
    let lines = |schema: &Schema, name: &str| {
        schema
            .tables
            .get(name)
            .map(|table| table_lines(&sorted(table)))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for name in names {
        diff_lines(&lines(before, name), &lines(after, name), &mut out);
    }
    let mut enums: Vec<&String> = before.enums.keys().chain(after.enums.keys()).collect();
    enums.sort();
    enums.dedup();
    for name in enums {
        let line = |schema: &Schema| {
            schema
                .enums
                .get(name)
                .map(|e| vec![enum_line(name, e)])
                .unwrap_or_default()
        };
        diff_lines(&line(before), &line(after), &mut out);
    }
    out
}

fn diff_lines(old: &[String], new: &[String], out: &mut Vec<String>) {
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let new: Vec<&str> = new.iter().map(String::as_str).collect();
    for change in TextDiff::from_slices(&old, &new).iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => out.push(format!("- {}", change.value())),
            ChangeTag::Insert => out.push(format!("+ {}", change.value())),
            ChangeTag::Equal => {}
        }
    }
}

/// `table`, its constraints and indexes in name order (its columns as they are).
fn sorted(table: &Table) -> Table {
    let mut table = table.clone();
    table.foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
    table.uniques.sort_by(|a, b| a.name.cmp(&b.name));
    table.checks.sort_by(|a, b| a.name.cmp(&b.name));
    table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    table
}

fn enum_line(name: &str, e: &EnumType) -> String {
    format!("enum {name} [{}]", e.values.join(", "))
}

fn table_lines(table: &Table) -> Vec<String> {
    let name = &table.name;
    let mut out = vec![format!("table {name}")];
    for column in &table.columns {
        out.push(format!(
            "column {name}.{} {}",
            column.name,
            describe_column(column)
        ));
    }
    if let Some(pk) = &table.primary_key {
        out.push(format!("primary key {name} ({})", pk.columns.join(", ")));
    }
    for fk in &table.foreign_keys {
        out.push(format!(
            "foreign key {name}.{} {}",
            fk.name,
            describe_foreign_key(fk)
        ));
    }
    for unique in &table.uniques {
        out.push(format!(
            "unique {name}.{} ({})",
            unique.name,
            unique.columns.join(", ")
        ));
    }
    for check in &table.checks {
        out.push(format!("check {name}.{} {}", check.name, check.expr));
    }
    for index in &table.indexes {
        out.push(format!(
            "index {name}.{} {}",
            index.name,
            describe_index(index)
        ));
    }
    out
}

/// A column's type, nullability, default and autoincrement, as `bigint not null default 0`.
pub(super) fn describe_column(column: &Column) -> String {
    let mut text = column.ty.to_string();
    text.push_str(if column.nullable {
        " null"
    } else {
        " not null"
    });
    if let Some(default) = &column.default {
        text.push_str(&format!(" default {}", describe_default(default)));
    }
    if column.autoincrement {
        text.push_str(" autoincrement");
    }
    text
}

/// A default as SQL or a literal.
pub(super) fn describe_default(default: &ColumnDefault) -> String {
    match default {
        ColumnDefault::Literal(literal) => literal.to_string(),
        ColumnDefault::Sql(sql) => sql.clone(),
    }
}

/// `(contact_id) references contacts(id) on delete cascade`.
pub(super) fn describe_foreign_key(fk: &ForeignKey) -> String {
    let mut text = format!(
        "({}) references {}({})",
        fk.columns.join(", "),
        fk.ref_table,
        fk.ref_columns.join(", ")
    );
    if let Some(action) = fk.on_delete {
        text.push_str(&format!(" on delete {}", action.sql()));
    }
    if let Some(action) = fk.on_update {
        text.push_str(&format!(" on update {}", action.sql()));
    }
    text
}

/// `unique(email) where deleted_at IS NULL`.
pub(super) fn describe_index(index: &Index) -> String {
    format!(
        "{}({}){}",
        if index.unique { "unique " } else { "" },
        index.columns.join(", "),
        index
            .where_clause
            .as_ref()
            .map(|w| format!(" where {w}"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnType;

    fn column(name: &str, ty: ColumnType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable,
            default: None,
            autoincrement: false,
        }
    }

    fn schema(columns: Vec<Column>) -> Schema {
        let mut schema = Schema::default();
        schema.tables.insert(
            "contacts".into(),
            Table {
                name: "contacts".into(),
                columns,
                primary_key: None,
                foreign_keys: vec![],
                uniques: vec![],
                checks: vec![],
                indexes: vec![],
            },
        );
        schema
    }

    #[test]
    fn a_changed_column_is_its_old_line_then_its_new_one() {
        let before = schema(vec![
            column("id", ColumnType::BigInt, false),
            column("full_name", ColumnType::Text, false),
        ]);
        let after = schema(vec![
            column("id", ColumnType::BigInt, false),
            column("full_name", ColumnType::Text, true),
            column("first_name", ColumnType::String { length: Some(255) }, true),
        ]);
        assert_eq!(
            outline_diff(&before, &after),
            vec![
                "- column contacts.full_name text not null",
                "+ column contacts.full_name text null",
                "+ column contacts.first_name string(255) null",
            ]
        );
        assert!(outline_diff(&after, &after).is_empty());
    }
}
