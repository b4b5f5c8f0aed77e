//! Autogenerate: the steps that turn one schema (the one at head, or the live database's) into
//! another (`schema.yaml`), ordered so that each applies after the ones before it: renames the
//! user asked for first, then new enums and values, then what goes away (foreign keys before the
//! keys and tables they point at, dependants before what they depend on), then columns, then
//! new tables in foreign-key order, then new constraints, indexes and foreign keys last.
//!
//! Every step is applied to a copy of the starting schema as it is written, so a step that would
//! not apply is never written, and the result must equal the target schema exactly; a difference
//! the operations cannot express (a changed primary key) is an error that names it. Pure: no IO.

mod align;
mod rename;

use std::collections::HashSet;

pub use align::align_live;
pub use rename::Rename;

use crate::model::outline::outline_diff;
use crate::model::{
    Column, ColumnDefault, Schema, SchemaError, Table, fk_name, index_name, unique_name,
};
use crate::ops::spec::{ColumnSpec, ForeignKeySpec};
use crate::ops::{
    AddCheck, AddColumn, AddForeignKey, AddUnique, AlterColumn, AlterEnum, CreateEnum, CreateIndex,
    DropColumn, DropConstraint, DropEnum, DropForeignKey, DropIndex, DropTable, Step,
};
use crate::schema_file::compact_create;

/// The steps autogenerate proposes, with comments for the reviewer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proposal {
    pub steps: Vec<Step>,
    /// `(i, text)`: a comment written above step `i` (0-based).
    pub notes: Vec<(usize, String)>,
}

/// Why no revision can be proposed.
#[derive(Debug, thiserror::Error)]
pub enum AutogenError {
    /// A `--rename` that does not name something renamed.
    #[error("--rename {given}: {reason}")]
    Rename { given: String, reason: String },
    /// A difference runner's operations cannot express.
    #[error("{0}")]
    Unsupported(String),
    /// A step autogenerate wrote does not apply: a bug here, never written to a file.
    #[error("autogenerate made a step that does not apply ({step}): {reason}; please report this")]
    Internal { step: String, reason: String },
}

/// The steps turning `from` into `to`, after the renames the user named.
pub fn autogenerate(
    from: &Schema,
    to: &Schema,
    renames: &[Rename],
) -> Result<Proposal, AutogenError> {
    let mut w = Writer {
        work: from.clone(),
        out: Proposal::default(),
    };
    w.renames(renames, to)?;
    w.refuse_key_changes(to)?;
    w.create_enums(to)?;
    w.add_enum_values(to)?;
    w.drop_foreign_keys(to)?;
    w.drop_constraints_and_indexes(to)?;
    w.drop_tables(to)?;
    w.drop_columns(to)?;
    w.add_columns(to)?;
    w.alter_columns(to)?;
    w.remove_enum_values(to)?;
    w.drop_enums(to)?;
    w.create_tables(to)?;
    w.add_constraints_and_indexes(to)?;
    w.add_foreign_keys(to)?;
    let left = outline_diff(&w.work.normalized(), &to.normalized());
    if !left.is_empty() {
        return Err(AutogenError::Unsupported(format!(
            "autogenerate cannot write these differences; write them by hand:\n  {}",
            left.join("\n  ")
        )));
    }
    Ok(w.out)
}

/// The schema as the steps written so far leave it, and those steps.
struct Writer {
    work: Schema,
    out: Proposal,
}

impl Writer {
    fn push(&mut self, step: Step) -> Result<(), AutogenError> {
        step.operation()
            .apply(&mut self.work)
            .map_err(|e| AutogenError::Internal {
                step: step.operation().describe(),
                reason: e.to_string(),
            })?;
        self.out.steps.push(step);
        Ok(())
    }

    /// Pushes a drop, first dropping the foreign keys that need what it drops (they come back
    /// in [`Writer::add_foreign_keys`] when the target schema still has them).
    fn push_drop(&mut self, step: Step) -> Result<(), AutogenError> {
        loop {
            let mut trial = self.work.clone();
            match step.operation().apply(&mut trial) {
                Err(
                    SchemaError::NeededByForeignKey {
                        by_table,
                        constraint,
                        ..
                    }
                    | SchemaError::TableReferenced {
                        by_table,
                        constraint,
                        ..
                    },
                ) => self.push(Step::DropForeignKey(DropForeignKey {
                    table: by_table,
                    name: constraint,
                }))?,
                _ => return self.push(step),
            }
        }
    }

    fn note(&mut self, text: String) {
        self.out.notes.push((self.out.steps.len(), text));
    }

    /// Tables in both schemas, by name, as they are now.
    fn kept(&self, to: &Schema) -> Vec<String> {
        self.work
            .tables
            .keys()
            .filter(|name| to.tables.contains_key(*name))
            .cloned()
            .collect()
    }

    fn renames(&mut self, renames: &[Rename], to: &Schema) -> Result<(), AutogenError> {
        for step in rename::steps(renames, &self.work, to)? {
            self.push(step)?;
        }
        Ok(())
    }

    fn refuse_key_changes(&self, to: &Schema) -> Result<(), AutogenError> {
        for name in self.kept(to) {
            let (old, new) = (&self.work.tables[&name], &to.tables[&name]);
            if old.primary_key != new.primary_key {
                let show = |t: &Table| match &t.primary_key {
                    Some(pk) => format!("'{}' ({})", pk.name, pk.columns.join(", ")),
                    None => "none".to_string(),
                };
                return Err(AutogenError::Unsupported(format!(
                    "the primary key of table '{name}' is {} at the start and {} in the target; \
                     autogenerate does not change primary keys: write that revision by hand \
                     (a `sql` step), or name the key as it is in schema.yaml \
                     (`primary_key: {{name: ..., columns: [...]}}`)",
                    show(old),
                    show(new)
                )));
            }
            for new_column in &new.columns {
                if let Ok(old_column) = old.column(&new_column.name)
                    && old_column.autoincrement != new_column.autoincrement
                {
                    return Err(AutogenError::Unsupported(format!(
                        "column '{name}.{}' {} in the target; autogenerate does not \
                         change that: write that revision by hand",
                        new_column.name,
                        if new_column.autoincrement {
                            "starts to autoincrement"
                        } else {
                            "stops autoincrementing"
                        }
                    )));
                }
            }
        }
        Ok(())
    }

    fn create_enums(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for (name, enum_type) in &to.enums {
            if !self.work.enums.contains_key(name) {
                self.push(Step::CreateEnum(CreateEnum {
                    name: name.clone(),
                    values: enum_type.values.clone(),
                }))?;
            }
        }
        Ok(())
    }

    /// New values of enums in both, each placed where the target has it.
    fn add_enum_values(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for (name, target) in &to.enums {
            for (i, value) in target.values.iter().enumerate() {
                let Some(have) = self.work.enums.get(name).map(|e| e.values.clone()) else {
                    continue;
                };
                if have.contains(value) {
                    continue;
                }
                let after = target.values[..i]
                    .iter()
                    .rev()
                    .find(|v| have.contains(v))
                    .cloned();
                let before = match after {
                    Some(_) => None,
                    None => target.values[i + 1..]
                        .iter()
                        .find(|v| have.contains(v))
                        .cloned(),
                };
                let mut op = AlterEnum::named(name);
                op.add = Some(value.clone());
                op.after = after;
                op.before = before;
                self.push(Step::AlterEnum(op))?;
            }
        }
        Ok(())
    }

    fn drop_foreign_keys(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for name in self.kept(to) {
            let wanted = &to.tables[&name].foreign_keys;
            let gone: Vec<String> = self.work.tables[&name]
                .foreign_keys
                .iter()
                .filter(|fk| !wanted.contains(fk))
                .map(|fk| fk.name.clone())
                .collect();
            for fk in gone {
                self.push(Step::DropForeignKey(DropForeignKey {
                    table: name.clone(),
                    name: fk,
                }))?;
            }
        }
        Ok(())
    }

    fn drop_constraints_and_indexes(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for name in self.kept(to) {
            let (old, new) = (self.work.tables[&name].clone(), &to.tables[&name]);
            for index in old.indexes.iter().filter(|i| !new.indexes.contains(i)) {
                self.push_drop(Step::DropIndex(DropIndex {
                    name: index.name.clone(),
                    table: Some(name.clone()),
                    concurrently: false,
                }))?;
            }
            let uniques = old.uniques.iter().filter(|u| !new.uniques.contains(u));
            let checks = old.checks.iter().filter(|c| !new.checks.contains(c));
            let names: Vec<String> = uniques
                .map(|u| u.name.clone())
                .chain(checks.map(|c| c.name.clone()))
                .collect();
            for constraint in names {
                self.push_drop(Step::DropConstraint(DropConstraint {
                    table: name.clone(),
                    name: constraint,
                }))?;
            }
        }
        Ok(())
    }

    /// Tables the target does not have, those that reference others first.
    fn drop_tables(&mut self, to: &Schema) -> Result<(), AutogenError> {
        let mut pending: Vec<String> = self
            .work
            .tables
            .keys()
            .filter(|name| !to.tables.contains_key(*name))
            .cloned()
            .collect();
        while !pending.is_empty() {
            let free = pending.iter().position(|name| {
                !self
                    .work
                    .references_to(name)
                    .any(|(by, _)| by.name != *name && pending.contains(&by.name))
            });
            let name = pending.remove(free.unwrap_or(0));
            let table = self.work.tables[&name].clone();
            if let Some(twin) = to
                .tables
                .values()
                .find(|t| !self.work.tables.contains_key(&t.name) && same_columns(&table, t))
            {
                self.note(format!(
                    "table '{name}' is dropped and '{}' created with the same columns: if it is a \
                     rename, run again with `--rename {name}:{}`, which keeps its rows",
                    twin.name, twin.name
                ));
            }
            self.push_drop(Step::DropTable(DropTable { table: name }))?;
        }
        Ok(())
    }

    fn drop_columns(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for name in self.kept(to) {
            let (old, new) = (self.work.tables[&name].clone(), &to.tables[&name]);
            for column in old.columns.iter().filter(|c| !new.has_column(&c.name)) {
                if let Some(twin) = new
                    .columns
                    .iter()
                    .find(|c| !old.has_column(&c.name) && same_definition(c, column))
                {
                    self.note(format!(
                        "column '{name}.{}' is dropped and '{}' added with the same definition: if \
                         it is a rename, run again with `--rename {name}.{}:{}` (rename_column keeps \
                         its values)",
                        column.name, twin.name, column.name, twin.name
                    ));
                }
                self.push_drop(Step::DropColumn(DropColumn {
                    table: name.clone(),
                    column: column.name.clone(),
                }))?;
            }
        }
        Ok(())
    }

    fn add_columns(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for name in self.kept(to) {
            let new = &to.tables[&name];
            for column in &new.columns {
                if !self.work.tables[&name].has_column(&column.name) {
                    self.push(Step::AddColumn(AddColumn {
                        table: name.clone(),
                        column: ColumnSpec::from_column(column, false),
                    }))?;
                }
            }
        }
        Ok(())
    }

    fn alter_columns(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for name in self.kept(to) {
            for new in &to.tables[&name].columns {
                let Ok(old) = self.work.tables[&name].column(&new.name) else {
                    continue;
                };
                if old == new {
                    continue;
                }
                let mut op = AlterColumn::nullable(&name, &new.name, new.nullable);
                if old.nullable == new.nullable {
                    op.nullable = None;
                }
                if old.ty != new.ty {
                    op.ty = Some(new.ty.clone());
                }
                if old.default != new.default {
                    match (&old.default, &new.default) {
                        (_, Some(ColumnDefault::Literal(literal))) => {
                            op.default = Some(Some(literal.clone()));
                        }
                        (_, Some(ColumnDefault::Sql(sql))) => {
                            op.default_sql = Some(Some(sql.clone()))
                        }
                        (Some(ColumnDefault::Sql(_)), None) => op.default_sql = Some(None),
                        (_, None) => op.default = Some(None),
                    }
                }
                self.push(Step::AlterColumn(op))?;
            }
        }
        Ok(())
    }

    /// Values the target's enums no longer have, then the target's order where it differs.
    fn remove_enum_values(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for (name, target) in &to.enums {
            let Some(have) = self.work.enums.get(name).map(|e| e.values.clone()) else {
                continue;
            };
            for value in have.iter().filter(|v| !target.values.contains(v)) {
                let mut op = AlterEnum::named(name);
                op.remove = Some(value.clone());
                self.push(Step::AlterEnum(op))?;
            }
            if self.work.enums[name].values != target.values {
                let mut op = AlterEnum::named(name);
                op.reorder = Some(target.values.clone());
                self.push(Step::AlterEnum(op))?;
            }
        }
        Ok(())
    }

    fn drop_enums(&mut self, to: &Schema) -> Result<(), AutogenError> {
        let gone: Vec<String> = self
            .work
            .enums
            .keys()
            .filter(|name| !to.enums.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            self.push(Step::DropEnum(DropEnum { name }))?;
        }
        Ok(())
    }

    /// New tables, each after the new tables it references; in a cycle, one table is created
    /// without its foreign keys to tables not there yet, which come back at the end.
    fn create_tables(&mut self, to: &Schema) -> Result<(), AutogenError> {
        let mut pending: Vec<&Table> = to
            .tables
            .values()
            .filter(|t| !self.work.tables.contains_key(&t.name))
            .collect();
        while !pending.is_empty() {
            let names: HashSet<&str> = pending.iter().map(|t| t.name.as_str()).collect();
            let ready = pending.iter().position(|t| {
                t.foreign_keys
                    .iter()
                    .all(|fk| fk.ref_table == t.name || !names.contains(fk.ref_table.as_str()))
            });
            let mut table = pending.remove(ready.unwrap_or(0)).clone();
            table
                .foreign_keys
                .retain(|fk| fk.ref_table == table.name || !names.contains(fk.ref_table.as_str()));
            self.push(Step::CreateTable(compact_create(&table)))?;
        }
        Ok(())
    }

    fn add_constraints_and_indexes(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for new in to.tables.values() {
            let old = self.work.tables[&new.name].clone();
            for unique in new.uniques.iter().filter(|u| !old.uniques.contains(u)) {
                let derived = unique.name == unique_name(&new.name, &unique.columns);
                self.push(Step::AddUnique(AddUnique {
                    table: new.name.clone(),
                    name: (!derived).then(|| unique.name.clone()),
                    columns: unique.columns.clone(),
                }))?;
            }
            for check in new.checks.iter().filter(|c| !old.checks.contains(c)) {
                self.push(Step::AddCheck(AddCheck {
                    table: new.name.clone(),
                    name: check.name.clone(),
                    expr: check.expr.clone(),
                }))?;
            }
            for index in new.indexes.iter().filter(|i| !old.indexes.contains(i)) {
                let derived = index.name == index_name(&new.name, &index.columns, index.unique);
                self.push(Step::CreateIndex(CreateIndex {
                    table: new.name.clone(),
                    name: (!derived).then(|| index.name.clone()),
                    columns: index.columns.clone(),
                    unique: index.unique,
                    where_clause: index.where_clause.clone(),
                    concurrently: false,
                }))?;
            }
        }
        Ok(())
    }

    fn add_foreign_keys(&mut self, to: &Schema) -> Result<(), AutogenError> {
        for new in to.tables.values() {
            let have = self.work.tables[&new.name].foreign_keys.clone();
            for fk in new.foreign_keys.iter().filter(|fk| !have.contains(fk)) {
                let derived = fk.name == fk_name(&new.name, &fk.columns, &fk.ref_table);
                let spec = ForeignKeySpec::from_model(fk);
                self.push(Step::AddForeignKey(AddForeignKey {
                    table: new.name.clone(),
                    name: spec.name.filter(|_| !derived),
                    columns: spec.columns,
                    references: spec.references,
                    on_delete: spec.on_delete,
                    on_update: spec.on_update,
                }))?;
            }
        }
        Ok(())
    }
}

/// Two columns alike but for their name.
fn same_definition(a: &Column, b: &Column) -> bool {
    a.ty == b.ty
        && a.nullable == b.nullable
        && a.default == b.default
        && a.autoincrement == b.autoincrement
}

/// Two tables with the same columns, names included.
fn same_columns(a: &Table, b: &Table) -> bool {
    a.columns.len() == b.columns.len()
        && a.columns
            .iter()
            .all(|c| b.column(&c.name).is_ok_and(|d| same_definition(c, d)))
}

#[cfg(test)]
mod tests;
