//! Schema operations: one file per operation, each with its YAML shape, its validation against
//! the model, its effect on the model, its reverse (for `downgrade: auto`) and its SQL per
//! dialect. The YAML key, the file and the type share a stem: `add_column` / `add_column.rs` /
//! `AddColumn`.

mod add_check;
mod add_column;
mod add_foreign_key;
mod add_unique;
mod alter_column;
mod alter_enum;
mod create_enum;
mod create_index;
mod create_table;
mod drop_column;
mod drop_constraint;
mod drop_enum;
mod drop_foreign_key;
mod drop_index;
mod drop_table;
pub mod enum_use;
mod rename_column;
mod rename_table;
pub mod spec;
mod sql;
mod transform;

use serde::{Deserialize, Serialize};

use crate::dialect::{Action, RenderError, SqlDialect};
use crate::model::{Schema, SchemaError};

pub use add_check::AddCheck;
pub use add_column::AddColumn;
pub use add_foreign_key::AddForeignKey;
pub use add_unique::AddUnique;
pub use alter_column::AlterColumn;
pub use alter_enum::{AlterEnum, RenameValue};
pub use create_enum::CreateEnum;
pub use create_index::CreateIndex;
pub use create_table::CreateTable;
pub use drop_column::DropColumn;
pub use drop_constraint::DropConstraint;
pub use drop_enum::DropEnum;
pub use drop_foreign_key::DropForeignKey;
pub use drop_index::DropIndex;
pub use drop_table::DropTable;
pub use rename_column::RenameColumn;
pub use rename_table::RenameTable;
pub use sql::{RawSql, SqlText};
pub use transform::{DownGrants, Transform};

/// One schema step of a revision, as written in YAML (`- add_column: {...}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    CreateTable(CreateTable),
    DropTable(DropTable),
    RenameTable(RenameTable),
    AddColumn(AddColumn),
    DropColumn(DropColumn),
    RenameColumn(RenameColumn),
    AlterColumn(AlterColumn),
    CreateIndex(CreateIndex),
    DropIndex(DropIndex),
    AddForeignKey(AddForeignKey),
    DropForeignKey(DropForeignKey),
    AddUnique(AddUnique),
    AddCheck(AddCheck),
    DropConstraint(DropConstraint),
    CreateEnum(CreateEnum),
    AlterEnum(AlterEnum),
    DropEnum(DropEnum),
    Sql(RawSql),
    Transform(Transform),
}

impl Step {
    /// The operation behind this step.
    pub fn operation(&self) -> &dyn Operation {
        match self {
            Self::CreateTable(op) => op,
            Self::DropTable(op) => op,
            Self::RenameTable(op) => op,
            Self::AddColumn(op) => op,
            Self::DropColumn(op) => op,
            Self::RenameColumn(op) => op,
            Self::AlterColumn(op) => op,
            Self::CreateIndex(op) => op,
            Self::DropIndex(op) => op,
            Self::AddForeignKey(op) => op,
            Self::DropForeignKey(op) => op,
            Self::AddUnique(op) => op,
            Self::AddCheck(op) => op,
            Self::DropConstraint(op) => op,
            Self::CreateEnum(op) => op,
            Self::AlterEnum(op) => op,
            Self::DropEnum(op) => op,
            Self::Sql(op) => op,
            Self::Transform(op) => op,
        }
    }

    /// The table the step changes, where it changes one (the one whose lock it waits for).
    pub fn table(&self) -> Option<&str> {
        Some(match self {
            Self::CreateTable(op) => &op.table,
            Self::DropTable(op) => &op.table,
            Self::RenameTable(op) => &op.table,
            Self::AddColumn(op) => &op.table,
            Self::DropColumn(op) => &op.table,
            Self::RenameColumn(op) => &op.table,
            Self::AlterColumn(op) => &op.table,
            Self::CreateIndex(op) => &op.table,
            Self::DropIndex(op) => op.table.as_deref()?,
            Self::AddForeignKey(op) => &op.table,
            Self::DropForeignKey(op) => &op.table,
            Self::AddUnique(op) => &op.table,
            Self::AddCheck(op) => &op.table,
            Self::DropConstraint(op) => &op.table,
            Self::CreateEnum(_)
            | Self::AlterEnum(_)
            | Self::DropEnum(_)
            | Self::Sql(_)
            | Self::Transform(_) => return None,
        })
    }

    /// True if the step must run outside a transaction (PostgreSQL `CONCURRENTLY`).
    pub fn needs_no_transaction(&self) -> bool {
        match self {
            Self::CreateIndex(op) => op.concurrently,
            Self::DropIndex(op) => op.concurrently,
            _ => false,
        }
    }
}

/// What every schema operation can do.
pub trait Operation {
    /// Checks the operation against `schema` and applies it to the model. On error the schema
    /// may be partly changed; callers apply to a copy they can discard.
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError>;

    /// The steps that undo this one, given the schema just before it.
    fn reverse(&self, before: &Schema) -> Result<Reversal, Irreversible>;

    /// What runs on the database, given the schema before and after this operation.
    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError>;

    /// One line naming the operation and its object, for progress lines and errors.
    fn describe(&self) -> String;
}

/// The schemas around a step and the dialect to render it for.
pub struct RenderCx<'a> {
    pub dialect: &'a dyn SqlDialect,
    pub before: &'a Schema,
    pub after: &'a Schema,
    /// A later step of the same transaction uses what this step adds (an enum value), which
    /// PostgreSQL allows only if the step is done another way (see [`EnumChange`]).
    ///
    /// [`EnumChange`]: crate::dialect::EnumChange
    pub used_in_transaction: bool,
}

impl RenderCx<'_> {
    /// A quoted identifier.
    pub fn q(&self, ident: &str) -> String {
        self.dialect.quote(ident)
    }

    /// Rebuilds `table` from its shape before the step into its shape after it, copying the
    /// columns both share (SQLite's way to change what `ALTER TABLE` cannot).
    pub fn rebuild(&self, table: &str) -> Result<Action, RenderError> {
        crate::dialect::rebuild(
            self.dialect,
            self.after,
            self.before.table(table)?,
            self.after.table(table)?,
            &[],
        )
    }

    /// `ALTER TABLE table <clause>` where the database alters constraints in place, else a
    /// rebuild of the table.
    pub fn alter_constraint(
        &self,
        table: &str,
        clause: String,
    ) -> Result<Vec<Action>, RenderError> {
        if self.dialect.caps().alter_constraints {
            Ok(vec![Action::Sql(format!(
                "ALTER TABLE {} {clause}",
                self.q(table)
            ))])
        } else {
            Ok(vec![self.rebuild(table)?])
        }
    }
}

/// The steps undoing an operation. `finally` steps run after the whole revision's reversed
/// steps: a NOT NULL column that comes back is re-added as nullable, refilled by the reversed
/// transforms, and only then made NOT NULL again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reversal {
    pub steps: Vec<Step>,
    pub finally: Vec<Step>,
}

impl Reversal {
    /// A reversal of plain steps.
    pub fn steps(steps: Vec<Step>) -> Self {
        Self {
            steps,
            finally: Vec::new(),
        }
    }
}

/// Why an operation has no automatic reverse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Irreversible(pub String);

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the golden SQL tests of each operation.
    use super::*;
    use crate::dialect::renderer;
    use crate::dialect_kind::Dialect;

    /// Steps parsed from a YAML list.
    pub fn steps(yaml: &str) -> Vec<Step> {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad test YAML: {e}"))
    }

    /// One step parsed from YAML.
    pub fn step(yaml: &str) -> Step {
        let mut all = steps(&format!("- {yaml}"));
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    /// The schema the steps in `yaml` build from nothing.
    pub fn schema(yaml: &str) -> Schema {
        let mut schema = Schema::default();
        for step in steps(yaml) {
            step.operation()
                .apply(&mut schema)
                .unwrap_or_else(|e| panic!("{}: {e}", step.operation().describe()));
        }
        schema
    }

    /// `before` with the steps in `yaml` applied.
    pub fn applied(before: &Schema, yaml: &str) -> Schema {
        let mut schema = before.clone();
        for step in steps(yaml) {
            step.operation()
                .apply(&mut schema)
                .unwrap_or_else(|e| panic!("{}: {e}", step.operation().describe()));
        }
        schema
    }

    /// The CRM fixture with `contacts.manager_id` referencing `contacts.id`, for the
    /// self-reference cases.
    pub fn crm_with_managers() -> Schema {
        applied(
            &crm(),
            "- add_column: {table: contacts, column: {name: manager_id, type: integer, references: contacts.id}}",
        )
    }

    /// The CRM fixture most golden tests start from.
    pub fn crm() -> Schema {
        schema(
            r#"
- create_enum: {name: deal_state, values: [open, won, lost]}
- create_table:
    table: companies
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: name, type: string(200), nullable: false, unique: true}
- create_table:
    table: contacts
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: full_name, type: string(255), nullable: false}
      - {name: email, type: string(255)}
      - {name: company_id, type: integer, references: companies.id, on_delete: cascade}
      - {name: score, type: integer, nullable: false, default: 0}
    checks:
      - {name: ck_contacts_score, expr: "score >= 0"}
    indexes:
      - {columns: [email]}
- create_table:
    table: deals
    columns:
      - {name: id, type: bigint, primary_key: true, autoincrement: true}
      - {name: contact_id, type: integer, nullable: false, references: contacts.id}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
      - {name: amount, type: double}
"#,
        )
    }

    /// The step applied to `before`, rendered for every dialect, one block per dialect.
    pub fn golden(before: &Schema, step: &Step) -> String {
        let mut after = before.clone();
        step.operation()
            .apply(&mut after)
            .unwrap_or_else(|e| panic!("{}: {e}", step.operation().describe()));
        let mut out = String::new();
        for dialect in Dialect::ALL {
            out.push_str(&format!("-- {dialect}\n"));
            let cx = RenderCx {
                dialect: renderer(dialect),
                before,
                after: &after,
                used_in_transaction: false,
            };
            match step.operation().render(&cx) {
                Ok(actions) => {
                    for action in actions {
                        out.push_str(&action.script());
                        out.push('\n');
                    }
                }
                Err(e) => out.push_str(&format!("error: {e}\n")),
            }
        }
        out
    }

    /// The error applying `step` to `before` gives.
    pub fn apply_error(before: &Schema, step: &Step) -> String {
        let mut after = before.clone();
        match step.operation().apply(&mut after) {
            Ok(()) => panic!("{} applied but should not", step.operation().describe()),
            Err(e) => e.to_string(),
        }
    }

    /// Applies `step` then its reverse and checks the schema is back where it was.
    pub fn assert_round_trip(before: &Schema, step: &Step) {
        let mut schema = before.clone();
        step.operation().apply(&mut schema).expect("step applies");
        let reversal = step.operation().reverse(before).expect("step reverses");
        for undo in reversal.steps.iter().chain(&reversal.finally) {
            undo.operation()
                .apply(&mut schema)
                .unwrap_or_else(|e| panic!("{}: {e}", undo.operation().describe()));
        }
        assert_eq!(
            schema.normalized(),
            before.normalized(),
            "reverse of {}",
            step.operation().describe()
        );
    }
}
