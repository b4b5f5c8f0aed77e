//! `--rename OLD:NEW`: what the user says is a rename, not a drop and an add. `old:new` renames a
//! table, `table.old:new` a column (the table by its old or new name), `enum.old:new` an enum's
//! value. Each must name something the starting schema has and the target has under the new
//! name, so a typo is an error rather than a silent drop.

use std::str::FromStr;

use super::AutogenError;
use crate::model::Schema;
use crate::ops::{AlterEnum, RenameColumn, RenameTable, Step};

/// One `--rename` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// `table`, `table.column` or `enum.value`.
    pub from: String,
    pub to: String,
}

impl FromStr for Rename {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() && !to.contains('.') => {
                Ok(Self {
                    from: from.into(),
                    to: to.into(),
                })
            }
            _ => Err(format!(
                "expected OLD:NEW (`contacts:people` for a table, `contacts.phone:phone_number` \
                 for a column, `deal_state.pending:signed` for an enum value), got '{text}'"
            )),
        }
    }
}

/// The rename steps, tables first, checked against both schemas.
pub fn steps(renames: &[Rename], from: &Schema, to: &Schema) -> Result<Vec<Step>, AutogenError> {
    let fail = |rename: &Rename, reason: String| AutogenError::Rename {
        given: format!("{}:{}", rename.from, rename.to),
        reason,
    };
    let mut steps = Vec::new();
    let mut tables: Vec<(String, String)> = Vec::new();
    for rename in renames.iter().filter(|r| !r.from.contains('.')) {
        if !from.tables.contains_key(&rename.from) {
            return Err(fail(
                rename,
                format!("there is no table '{}' to rename", rename.from),
            ));
        }
        if !to.tables.contains_key(&rename.to) || from.tables.contains_key(&rename.to) {
            return Err(fail(
                rename,
                format!("the target schema has no new table '{}'", rename.to),
            ));
        }
        tables.push((rename.from.clone(), rename.to.clone()));
        steps.push(Step::RenameTable(RenameTable {
            table: rename.from.clone(),
            to: rename.to.clone(),
        }));
    }
    for rename in renames.iter().filter(|r| r.from.contains('.')) {
        let Some((owner, old)) = rename.from.split_once('.') else {
            continue;
        };
        let table = tables
            .iter()
            .find(|(old_name, _)| old_name == owner)
            .map(|(old_name, new_name)| (old_name.as_str(), new_name.as_str()))
            .or_else(|| {
                tables
                    .iter()
                    .find(|(_, new_name)| new_name == owner)
                    .map(|(o, n)| (o.as_str(), n.as_str()))
            })
            .unwrap_or((owner, owner));
        if let Some(before) = from.tables.get(table.0) {
            if !before.has_column(old) {
                return Err(fail(
                    rename,
                    format!("table '{}' has no column '{old}' to rename", table.0),
                ));
            }
            let target = to.tables.get(table.1);
            if !target.is_some_and(|t| t.has_column(&rename.to)) || before.has_column(&rename.to) {
                return Err(fail(
                    rename,
                    format!(
                        "the target table '{}' has no new column '{}'",
                        table.1, rename.to
                    ),
                ));
            }
            steps.push(Step::RenameColumn(RenameColumn {
                table: table.1.to_string(),
                column: old.to_string(),
                to: rename.to.clone(),
            }));
        } else if let Some(values) = from.enums.get(owner).map(|e| &e.values) {
            if !values.iter().any(|v| v == old) {
                return Err(fail(
                    rename,
                    format!("enum '{owner}' has no value '{old}' to rename"),
                ));
            }
            let target = to.enums.get(owner).map(|e| &e.values);
            if !target.is_some_and(|t| t.contains(&rename.to)) || values.contains(&rename.to) {
                return Err(fail(
                    rename,
                    format!("the target enum '{owner}' has no new value '{}'", rename.to),
                ));
            }
            let mut op = AlterEnum::named(owner);
            op.rename = Some(crate::ops::RenameValue {
                from: old.to_string(),
                to: rename.to.clone(),
            });
            steps.push(Step::AlterEnum(op));
        } else {
            return Err(fail(rename, format!("there is no table or enum '{owner}'")));
        }
    }
    Ok(steps)
}
