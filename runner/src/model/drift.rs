//! Drift: how a live schema differs from the one runner expects, as a list a person can read
//! (`runner diff`, and `check` later). Both schemas are taken as [`super::compare::comparable`]
//! makes them, so only differences the database keeps are reported. Pure: no IO.

use serde::Serialize;

use super::outline::{describe_column, describe_default, describe_foreign_key, describe_index};
use super::{Column, ColumnDefault, EnumType, Schema, Table};

/// One difference between the expected schema and the live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// What kind of object differs: `table`, `column`, `primary_key`, `foreign_key`,
    /// `unique`, `check`, `index` or `enum`.
    pub object: &'static str,
    /// Its name, qualified by its table (`contacts.email`).
    pub name: String,
    /// `missing` (expected, not in the database), `extra` (in the database, not expected) or
    /// `changed`.
    pub change: &'static str,
    /// What differs, in words.
    pub detail: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let object = self.object.replace('_', " ");
        write!(f, "{} {object} {}: {}", self.change, self.name, self.detail)
    }
}

fn drift(object: &'static str, name: String, change: &'static str, detail: String) -> Drift {
    Drift {
        object,
        name,
        change,
        detail,
    }
}

/// Every difference between `expected` and `live`, tables first (in the expected order, then
/// the extra ones), then enums.
pub fn drift_between(expected: &Schema, live: &Schema) -> Vec<Drift> {
    let mut out = Vec::new();
    for (name, table) in &expected.tables {
        match live.tables.get(name) {
            None => out.push(drift(
                "table",
                name.clone(),
                "missing",
                "the database has no such table".into(),
            )),
            Some(found) => tables(table, found, &mut out),
        }
    }
    for name in live.tables.keys() {
        if !expected.tables.contains_key(name) {
            out.push(drift(
                "table",
                name.clone(),
                "extra",
                "no revision creates it".into(),
            ));
        }
    }
    for (name, wanted) in &expected.enums {
        match live.enums.get(name) {
            None => out.push(drift(
                "enum",
                name.clone(),
                "missing",
                format!("expected values {}", values(wanted)),
            )),
            Some(found) if found != wanted => out.push(drift(
                "enum",
                name.clone(),
                "changed",
                enum_change(wanted, found),
            )),
            Some(_) => {}
        }
    }
    for (name, found) in &live.enums {
        if !expected.enums.contains_key(name) {
            out.push(drift(
                "enum",
                name.clone(),
                "extra",
                format!("values {}; no revision creates it", values(found)),
            ));
        }
    }
    out
}

fn values(e: &EnumType) -> String {
    format!("[{}]", e.values.join(", "))
}

fn enum_change(wanted: &EnumType, found: &EnumType) -> String {
    let added: Vec<&String> = found
        .values
        .iter()
        .filter(|v| !wanted.values.contains(v))
        .collect();
    let gone: Vec<&String> = wanted
        .values
        .iter()
        .filter(|v| !found.values.contains(v))
        .collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!(
            "extra value(s) {}",
            added
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !gone.is_empty() {
        parts.push(format!(
            "missing value(s) {}",
            gone.iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if parts.is_empty() {
        parts.push("values in another order".into());
    }
    format!(
        "{} (expected {}, found {})",
        parts.join("; "),
        values(wanted),
        values(found)
    )
}

fn tables(expected: &Table, live: &Table, out: &mut Vec<Drift>) {
    let table = &expected.name;
    let qualified = |name: &str| format!("{table}.{name}");
    for column in &expected.columns {
        match live.columns.iter().find(|c| c.name == column.name) {
            None => out.push(drift(
                "column",
                qualified(&column.name),
                "missing",
                format!("expected {}", describe_column(column)),
            )),
            Some(found) if found != column => out.push(drift(
                "column",
                qualified(&column.name),
                "changed",
                column_change(column, found),
            )),
            Some(_) => {}
        }
    }
    for column in &live.columns {
        if !expected.columns.iter().any(|c| c.name == column.name) {
            out.push(drift(
                "column",
                qualified(&column.name),
                "extra",
                describe_column(column),
            ));
        }
    }
    if expected.primary_key != live.primary_key {
        let show = |pk: &Option<super::PrimaryKey>| match pk {
            Some(pk) => format!("({})", pk.columns.join(", ")),
            None => "none".into(),
        };
        out.push(drift(
            "primary_key",
            table.clone(),
            "changed",
            format!(
                "expected {}, found {}",
                show(&expected.primary_key),
                show(&live.primary_key)
            ),
        ));
    }
    named(
        "foreign_key",
        table,
        &expected.foreign_keys,
        &live.foreign_keys,
        |fk| &fk.name,
        describe_foreign_key,
        out,
    );
    named(
        "unique",
        table,
        &expected.uniques,
        &live.uniques,
        |u| &u.name,
        |u| format!("({})", u.columns.join(", ")),
        out,
    );
    named(
        "check",
        table,
        &expected.checks,
        &live.checks,
        |c| &c.name,
        |c| c.expr.clone(),
        out,
    );
    named(
        "index",
        table,
        &expected.indexes,
        &live.indexes,
        |i| &i.name,
        describe_index,
        out,
    );
}

/// Compares objects identified by name: missing, extra, or changed.
fn named<T: PartialEq>(
    object: &'static str,
    table: &str,
    expected: &[T],
    live: &[T],
    name: impl Fn(&T) -> &String,
    describe: impl Fn(&T) -> String,
    out: &mut Vec<Drift>,
) {
    for item in expected {
        match live.iter().find(|l| name(l) == name(item)) {
            None => out.push(drift(
                object,
                format!("{table}.{}", name(item)),
                "missing",
                format!("expected {}", describe(item)),
            )),
            Some(found) if found != item => out.push(drift(
                object,
                format!("{table}.{}", name(item)),
                "changed",
                format!("expected {}, found {}", describe(item), describe(found)),
            )),
            Some(_) => {}
        }
    }
    for item in live {
        if !expected.iter().any(|e| name(e) == name(item)) {
            out.push(drift(
                object,
                format!("{table}.{}", name(item)),
                "extra",
                describe(item),
            ));
        }
    }
}

fn column_change(expected: &Column, live: &Column) -> String {
    let mut parts = Vec::new();
    if expected.ty != live.ty {
        parts.push(format!("type {} expected, found {}", expected.ty, live.ty));
    }
    if expected.nullable != live.nullable {
        parts.push(if expected.nullable {
            "expected nullable, found NOT NULL".to_string()
        } else {
            "expected NOT NULL, found nullable".to_string()
        });
    }
    if expected.default != live.default {
        let show = |d: &Option<ColumnDefault>| d.as_ref().map_or("none".into(), describe_default);
        parts.push(format!(
            "default {} expected, found {}",
            show(&expected.default),
            show(&live.default)
        ));
    }
    if expected.autoincrement != live.autoincrement {
        parts.push(format!(
            "autoincrement {} expected, found {}",
            expected.autoincrement, live.autoincrement
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ColumnType, Index};

    fn table(columns: Vec<Column>) -> Table {
        Table {
            name: "t".into(),
            columns,
            primary_key: None,
            foreign_keys: Vec::new(),
            uniques: Vec::new(),
            checks: Vec::new(),
            indexes: Vec::new(),
        }
    }

    fn column(name: &str, ty: ColumnType) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable: true,
            default: None,
            autoincrement: false,
        }
    }

    #[test]
    fn names_every_kind_of_difference_and_nothing_when_equal() {
        let mut expected = Schema::default();
        let mut t = table(vec![
            column("a", ColumnType::Integer),
            column("b", ColumnType::Text),
        ]);
        t.indexes.push(Index {
            name: "ix_t_a".into(),
            columns: vec!["a".into()],
            unique: false,
            where_clause: None,
        });
        expected.tables.insert("t".into(), t.clone());
        expected.tables.insert("gone".into(), table(vec![]));
        expected.enums.insert(
            "state".into(),
            EnumType {
                name: "state".into(),
                values: vec!["open".into(), "won".into()],
            },
        );
        assert!(drift_between(&expected, &expected).is_empty());

        let mut live = Schema::default();
        let mut changed = table(vec![
            column("a", ColumnType::BigInt),
            column("b", ColumnType::Text),
            column("c", ColumnType::Integer),
        ]);
        changed.indexes.clear();
        live.tables.insert("t".into(), changed);
        live.enums.insert(
            "state".into(),
            EnumType {
                name: "state".into(),
                values: vec!["open".into(), "won".into(), "lost".into()],
            },
        );
        let found: Vec<String> = drift_between(&expected, &live)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "changed column t.a: type integer expected, found bigint",
                "extra column t.c: integer null",
                "missing index t.ix_t_a: expected (a)",
                "missing table gone: the database has no such table",
                "changed enum state: extra value(s) lost (expected [open, won], found [open, won, lost])",
            ]
        );
    }
}
