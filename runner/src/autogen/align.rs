//! A live schema aligned with the target before they are compared (`--from-database`): a
//! database keeps less than the model (MySQL has no `timestamptz`, SQLite no enum names,
//! MySQL no primary key names), so an element that the database cannot tell from the target's
//! is taken as the target's, and only real differences are left for autogenerate.

use crate::dialect_kind::Dialect;
use crate::model::Schema;
use crate::model::compare::{comparable, inline_enum_name, revision_ready};

/// `live` (as introspected from a `dialect` database) with each table's columns, keys,
/// constraints and indexes replaced by `target`'s where the database would store them alike,
/// and enums named as `target` names them.
pub fn align_live(live: &Schema, target: &Schema, dialect: Dialect) -> Schema {
    let mut out = revision_ready(live, Some(target));
    // Where enums live in their columns, one no column uses is nowhere in the database: take
    // the target's word for those.
    if !dialect.caps().named_enums {
        for (name, enum_type) in &target.enums {
            if !out.enums.contains_key(name) {
                out.enums.insert(name.clone(), enum_type.clone());
            }
        }
    }
    let (seen, wanted) = (comparable(&out, dialect), comparable(target, dialect));
    for (name, table) in out.tables.iter_mut() {
        let (Some(want), Some(have), Some(model)) = (
            wanted.tables.get(name),
            seen.tables.get(name),
            target.tables.get(name),
        ) else {
            continue;
        };
        let enum_values = |schema: &Schema, column: &str| {
            schema
                .enums
                .get(&inline_enum_name(name, column))
                .map(|e| e.values.clone())
        };
        for column in table.columns.iter_mut() {
            let alike = have.columns.iter().find(|c| c.name == column.name)
                == want.columns.iter().find(|c| c.name == column.name)
                && enum_values(&seen, &column.name) == enum_values(&wanted, &column.name);
            if alike && let Ok(model_column) = model.column(&column.name) {
                *column = model_column.clone();
            }
        }
        if have.primary_key.as_ref().map(|pk| &pk.columns)
            == want.primary_key.as_ref().map(|pk| &pk.columns)
        {
            table.primary_key = model.primary_key.clone();
        }
        take_alike(
            &mut table.foreign_keys,
            &have.foreign_keys,
            &want.foreign_keys,
            &model.foreign_keys,
            |f| &f.name,
        );
        take_alike(
            &mut table.checks,
            &have.checks,
            &want.checks,
            &model.checks,
            |c| &c.name,
        );
        take_alike(
            &mut table.indexes,
            &have.indexes,
            &want.indexes,
            &model.indexes,
            |i| &i.name,
        );
    }
    out
}

/// Replaces each of `items` by the `model` item of its name where the database's comparable
/// form (`have`) equals the target's (`want`).
fn take_alike<T: Clone + PartialEq>(
    items: &mut [T],
    have: &[T],
    want: &[T],
    model: &[T],
    name: impl Fn(&T) -> &String,
) {
    let find = |list: &[T], n: &String| list.iter().find(|x| name(x) == n).cloned();
    for item in items.iter_mut() {
        let n = name(item).clone();
        if let (Some(seen), Some(model_item)) = (find(have, &n), find(model, &n))
            && find(want, &n).as_ref() == Some(&seen)
        {
            *item = model_item;
        }
    }
}
