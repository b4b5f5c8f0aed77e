//! Going on with a revision a step-by-step run left half applied (`upgrade --resume`): where
//! to start, decided from the history row and, for the one step whose commit and record are
//! not atomic, from the live schema.
//!
//! Every step but one kind commits together with its history update ([`Commit::WithRecord`]),
//! so the row says exactly whether it is in. A step whose statements commit as they run (MySQL
//! DDL, a PostgreSQL `CONCURRENTLY` index) can die after its effect and before its record; for
//! that step the live schema is compared with the model's schema before and after it, on the
//! tables and enums the step changes. A `sql` step, which the model cannot see, is refused
//! with what to check by hand.

use super::{Commit, ExecError, Migrator};
use crate::db::Value;
use crate::db::introspect::introspect;
use crate::dialect::renderer;
use crate::dialect_kind::Dialect;
use crate::model::compare::comparable;
use crate::model::{Schema, temp_name};
use crate::ops::Step;
use crate::plan::{self, PlannedStep, RevisionPlan};
use crate::revision::Revision;
use crate::version_table::{Direction, HistoryEntry};

/// True if `sql` holds only statements that change rows (no DDL), so that on MySQL it commits
/// with the transaction around it. Anything the parser does not know counts as DDL.
pub(super) fn is_dml_only(sql: &str, dialect: Dialect) -> bool {
    use sqlparser::ast::Statement;
    let parsed = match dialect {
        Dialect::Mysql => {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, sql)
        }
        Dialect::Postgres => {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
        }
        Dialect::Sqlite => {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::SQLiteDialect {}, sql)
        }
    };
    parsed.is_ok_and(|statements| {
        !statements.is_empty()
            && statements.iter().all(|s| {
                matches!(
                    s,
                    Statement::Insert(_)
                        | Statement::Update { .. }
                        | Statement::Delete(_)
                        | Statement::Query(_)
                )
            })
    })
}

impl Migrator<'_> {
    /// The 0-based index of the step a resumed run of `revision` starts at, given the history
    /// row `entry` of the run that stopped; cleans up what that step left half made.
    pub(super) async fn resume_at(
        &mut self,
        revision: &Revision,
        plan: &RevisionPlan,
        entry: &HistoryEntry,
    ) -> Result<usize, ExecError> {
        let done = usize::try_from(entry.steps_applied)
            .unwrap_or(0)
            .min(plan.steps.len());
        let Some(step) = plan.steps.get(done) else {
            return Ok(done);
        };
        if self.commit_mode(step) == Commit::WithRecord || self.reruns_safely(step) {
            return Ok(done);
        }
        if let Some(is_in) = self.concurrent_index_is_in(step).await? {
            return Ok(done + usize::from(is_in));
        }
        let refuse = |reason: String| ExecError::CannotResume {
            revision: revision.id.clone(),
            direction: plan.direction,
            number: step.number,
            total: plan.steps.len(),
            describe: step.describe.clone(),
            reason,
        };
        if step.is_opaque() {
            return Err(refuse(
                "it is a `sql` step, and runner cannot see from the schema whether it ran".into(),
            ));
        }
        let (before, after) = self.schemas_around(revision, plan.direction, done).await?;
        let staging = self.staging_columns(step);
        let mut live = introspect(self.db).await?;
        let mut left_over = Vec::new();
        for (table, column) in &staging {
            if let Some(t) = live.tables.get_mut(table)
                && t.columns.iter().any(|c| c.name == *column)
            {
                t.columns.retain(|c| c.name != *column);
                left_over.push((table.clone(), column.clone()));
            }
        }
        let dialect = self.db.dialect();
        let (before, after, live) = (
            comparable(&before, dialect),
            comparable(&after, dialect),
            comparable(&live, dialect),
        );
        let (b, a, l) = changed_part(&before, &after, &live);
        if b == a {
            return Err(refuse(
                "the schema is the same before and after it, so the schema cannot tell whether it ran"
                    .into(),
            ));
        }
        if l == a && left_over.is_empty() {
            return Ok(done + 1);
        }
        if l == b {
            for (table, column) in left_over {
                let sql = format!(
                    "ALTER TABLE {} DROP COLUMN {}",
                    renderer(dialect).quote(&table),
                    renderer(dialect).quote(&column)
                );
                self.db.execute_script(&sql).await?;
            }
            return Ok(done);
        }
        Err(refuse(format!(
            "the database matches neither the schema before it nor the one after it: {}",
            mismatch(&b, &a, &l)
        )))
    }

    /// For `repair` of a half-applied run that recorded `steps_in` steps: what shows, in the
    /// live schema, that those steps are still in (on the tables and enums they change), or
    /// `None` if the schema is back where the revision started (or the steps change no schema
    /// runner can see, so it cannot tell).
    pub(super) async fn steps_still_in(
        &mut self,
        revision: &Revision,
        direction: Direction,
        steps_in: usize,
    ) -> Result<Option<String>, ExecError> {
        if steps_in == 0 {
            return Ok(None);
        }
        let (start, _) = self.schemas_around(revision, direction, 0).await?;
        let (now, _) = self.schemas_around(revision, direction, steps_in).await?;
        let live = introspect(self.db).await?;
        let dialect = self.db.dialect();
        let (start, now, live) = (
            comparable(&start, dialect),
            comparable(&now, dialect),
            comparable(&live, dialect),
        );
        let (s, n, l) = changed_part(&start, &now, &live);
        if s == n || l == s {
            return Ok(None);
        }
        Ok(Some(if l == n {
            format!("the schema is as step {steps_in} left it")
        } else {
            mismatch(&s, &s, &l)
        }))
    }

    /// The schemas just before and after step `index` of `revision`, from the revisions the
    /// version table says are applied.
    async fn schemas_around(
        &mut self,
        revision: &Revision,
        direction: Direction,
        index: usize,
    ) -> Result<(Schema, Schema), ExecError> {
        let (_, applied) = self.applied().await?;
        let repo = self.repo;
        let current = repo.schema_of(&applied).map_err(plan::PlanError::Invalid)?;
        let without = match direction {
            Direction::Up => current.clone(),
            Direction::Down => {
                let mut set = applied.clone();
                set.remove(&revision.id);
                repo.schema_of(&set).map_err(plan::PlanError::Invalid)?
            }
        };
        Ok(plan::schemas_around_step(
            revision, direction, &current, &without, index,
        )?)
    }

    /// True for a step every statement of which can run again over its own partial effect
    /// and ends where one run ends: MySQL's `MODIFY COLUMN` restates a column whole, and an
    /// enum change is made of those and an `UPDATE` that moves renamed values.
    fn reruns_safely(&self, step: &PlannedStep) -> bool {
        self.db.dialect() == Dialect::Mysql
            && match &step.step {
                Step::AlterEnum(_) => true,
                Step::AlterColumn(op) => op.using.is_none(),
                _ => false,
            }
    }

    /// The staging columns a step makes for a moment (MySQL `alter_column ... using`).
    fn staging_columns(&self, step: &PlannedStep) -> Vec<(String, String)> {
        match &step.step {
            Step::AlterColumn(op) if op.using.is_some() && self.db.dialect() == Dialect::Mysql => {
                vec![(op.table.clone(), temp_name("new", &op.column))]
            }
            _ => Vec::new(),
        }
    }

    /// For a PostgreSQL `CONCURRENTLY` index step: whether it is in. An INVALID index a dead
    /// build left behind is dropped, and the step runs again.
    async fn concurrent_index_is_in(
        &mut self,
        step: &PlannedStep,
    ) -> Result<Option<bool>, ExecError> {
        if self.db.dialect() != Dialect::Postgres {
            return Ok(None);
        }
        match &step.step {
            Step::CreateIndex(op) if op.concurrently => {
                let name = op.index_name();
                match self.index_validity(&name).await? {
                    None => Ok(Some(false)),
                    Some(true) => Ok(Some(true)),
                    Some(false) => {
                        self.drop_index_concurrently(&name).await?;
                        Ok(Some(false))
                    }
                }
            }
            // A dead `DROP INDEX CONCURRENTLY` can leave the index INVALID: dropping it again
            // finishes the job.
            Step::DropIndex(op) if op.concurrently => {
                Ok(Some(self.index_validity(&op.name).await?.is_none()))
            }
            _ => Ok(None),
        }
    }

    /// Whether index `name` in the current schema is valid; `None` if there is none.
    async fn index_validity(&mut self, name: &str) -> Result<Option<bool>, ExecError> {
        let rows = self
            .db
            .query(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
                &[Value::Text(name.into())],
            )
            .await?;
        Ok(rows.scalar().and_then(Value::as_bool))
    }

    async fn drop_index_concurrently(&mut self, name: &str) -> Result<(), ExecError> {
        let sql = format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {}",
            renderer(Dialect::Postgres).quote(name)
        );
        self.db.execute_simple(&sql).await?;
        Ok(())
    }

    /// After a step that commits as it runs failed having run `ran` of its actions: undoes
    /// what it left half made where that is known (an INVALID index a failed `CONCURRENTLY`
    /// build leaves, a MySQL staging column), so that running it again just works. True if
    /// the database is back where the step found it.
    pub(super) async fn clean_after_failure(&mut self, step: &PlannedStep, ran: usize) -> bool {
        let cleaned = async {
            match &step.step {
                Step::CreateIndex(op)
                    if op.concurrently && self.db.dialect() == Dialect::Postgres =>
                {
                    let name = op.index_name();
                    if self.index_validity(&name).await? == Some(false) {
                        self.drop_index_concurrently(&name).await?;
                    }
                    Ok::<bool, ExecError>(true)
                }
                // The last action replaces the column; before it, the original is untouched.
                Step::AlterColumn(_) if ran < step.actions.len() => {
                    for (table, column) in self.staging_columns(step) {
                        let live = introspect(self.db).await?;
                        if live
                            .tables
                            .get(&table)
                            .is_some_and(|t| t.columns.iter().any(|c| c.name == column))
                        {
                            let dialect = renderer(self.db.dialect());
                            let sql = format!(
                                "ALTER TABLE {} DROP COLUMN {}",
                                dialect.quote(&table),
                                dialect.quote(&column)
                            );
                            self.db.execute_script(&sql).await?;
                        }
                    }
                    Ok(ran < step.actions.len())
                }
                _ => Ok(false),
            }
        }
        .await;
        cleaned.unwrap_or_else(|e| {
            tracing::warn!("could not clean up after step {}: {e}", step.number);
            false
        })
    }
}

/// The tables and enums that differ between `before` and `after`, taken from all three.
type Part = (
    Vec<(String, Option<crate::model::Table>)>,
    Vec<(String, Option<crate::model::EnumType>)>,
);

fn changed_part(before: &Schema, after: &Schema, live: &Schema) -> (Part, Part, Part) {
    let mut tables: Vec<&String> = before.tables.keys().chain(after.tables.keys()).collect();
    tables.sort();
    tables.dedup();
    tables.retain(|t| before.tables.get(*t) != after.tables.get(*t));
    let mut enums: Vec<&String> = before.enums.keys().chain(after.enums.keys()).collect();
    enums.sort();
    enums.dedup();
    enums.retain(|e| before.enums.get(*e) != after.enums.get(*e));
    let part = |schema: &Schema| -> Part {
        (
            tables
                .iter()
                .map(|t| ((*t).clone(), schema.tables.get(*t).cloned()))
                .collect(),
            enums
                .iter()
                .map(|e| ((*e).clone(), schema.enums.get(*e).cloned()))
                .collect(),
        )
    };
    (part(before), part(after), part(live))
}

/// Which of the step's tables and enums the database has in neither form, in words.
fn mismatch(before: &Part, after: &Part, live: &Part) -> String {
    let mut names = Vec::new();
    for (i, (name, table)) in live.0.iter().enumerate() {
        if *table != before.0[i].1 && *table != after.0[i].1 {
            names.push(match table {
                Some(_) => format!("table `{name}` differs from both"),
                None => format!("table `{name}` is missing"),
            });
        }
    }
    for (i, (name, e)) in live.1.iter().enumerate() {
        if *e != before.1[i].1 && *e != after.1[i].1 {
            names.push(format!("enum `{name}` differs from both"));
        }
    }
    if names.is_empty() {
        "its tables match one state and its enums the other".into()
    } else {
        names.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statements_that_change_rows_commit_with_a_transaction_on_mysql() {
        for sql in [
            "INSERT INTO t (a) VALUES (1)",
            "UPDATE t SET a = 2 WHERE a = 1; DELETE FROM t WHERE a > 9",
            "SELECT 1",
        ] {
            assert!(is_dml_only(sql, Dialect::Mysql), "{sql}");
        }
        for sql in [
            "ALTER TABLE t ADD COLUMN b INT",
            "INSERT INTO t (a) VALUES (1); CREATE INDEX ix ON t (a)",
            "TRUNCATE t",
            "not sql at all",
            "",
        ] {
            assert!(!is_dml_only(sql, Dialect::Mysql), "{sql}");
        }
    }
}
