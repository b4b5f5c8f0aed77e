//! Carrying out a planned step's actions: SQL, a SQLite table rebuild, a transform in the
//! sandbox (in a transaction of its own where the revision's is not open), and the check that
//! every transform a plan runs is loaded before anything starts.

use super::{ExecError, Migrator};
use crate::crash::{self, points};
use crate::db::{DbError, Value, sqlite_live};
use crate::dialect::{Action, TransformAction, sqlite};
use crate::plan::{self, PlanError};
use crate::revision::Revision;
use crate::sandbox::{self, TransformCall};
use crate::vocab::Direction;

/// Why one action of a step failed.
pub(super) enum ActionError {
    Db(DbError),
    Message(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Db(error) => error.fmt(f),
            Self::Message(reason) => f.write_str(reason),
        }
    }
}

impl From<DbError> for ActionError {
    fn from(error: DbError) -> Self {
        Self::Db(error)
    }
}

/// Refuses a plan that runs a transform backwards whose module has no `down` (`has_down`
/// says, per module; `None` for a module it does not know, which the caller judges): found
/// before anything runs, so a downgrade never stops half way for it. A live run, a `--sql`
/// script and `show` ask.
pub fn check_reversible(
    revision: &Revision,
    plan: &plan::RevisionPlan,
    has_down: impl Fn(&str) -> Option<bool>,
) -> Result<(), ExecError> {
    for step in &plan.steps {
        for action in &step.actions {
            let Action::Transform(transform) = action else {
                continue;
            };
            if transform.direction == Direction::Down && has_down(&transform.module) == Some(false)
            {
                return Err(ExecError::Plan(PlanError::Irreversible(revision.error_at(
                    &step.loc,
                    format!(
                        "revision {} cannot be downgraded: transform {} has no `down`, so this step cannot be reversed; give it one, or write the revision's `downgrade` steps",
                        revision.id, transform.module
                    ),
                ))));
            }
        }
    }
    Ok(())
}

impl Migrator<'_> {
    /// Every transform a plan runs must be loaded, and have a `down` where it runs backwards.
    pub(super) fn check_transforms(
        &self,
        revision: &Revision,
        plan: &plan::RevisionPlan,
    ) -> Result<(), ExecError> {
        for step in &plan.steps {
            for action in &step.actions {
                if let Action::Transform(transform) = action
                    && self.modules.get(&transform.module).is_none()
                {
                    return Err(ExecError::Plan(PlanError::Invalid(revision.error_at(
                        &step.loc,
                        format!(
                            "transform module '{}' is not loaded; run `runner build`",
                            transform.module
                        ),
                    ))));
                }
            }
        }
        check_reversible(revision, plan, |module| {
            self.modules.get(module).map(|m| m.has_down)
        })
    }

    /// Runs one action; `in_transaction` says whether the revision's (or the step's)
    /// transaction is open around it.
    pub(super) async fn run_action(
        &mut self,
        action: &Action,
        in_transaction: bool,
    ) -> Result<(), ActionError> {
        match action {
            Action::Sql(sql) => Ok(self.db.execute_script(sql).await.map(drop)?),
            Action::Rebuild(rebuild) => {
                let live = sqlite_live::live_state(self.db, &rebuild.table).await?;
                for statement in sqlite::rebuild_statements(rebuild, &live) {
                    self.db.execute_script(&statement).await?;
                    crash::point(points::REBUILD_STATEMENT);
                }
                for view in live.objects.iter().filter(|o| o.kind == "view") {
                    if let Err(e) = sqlite_live::check_view(self.db, &view.name).await {
                        return Err(ActionError::Message(format!(
                            "view '{}' no longer works once '{}' is rebuilt ({e}); drop or redefine it in an earlier `sql` step",
                            view.name, rebuild.table
                        )));
                    }
                }
                Ok(())
            }
            Action::Transform(transform) => self.run_transform(transform, in_transaction).await,
            Action::Guard(guard) => {
                let rows = self.db.query(&guard.count_sql, &[]).await?;
                let count = rows
                    .rows
                    .first()
                    .and_then(|row| row.first())
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        ActionError::Message(format!(
                            "`{}` did not answer with a count",
                            guard.count_sql
                        ))
                    })?;
                if count > 0 {
                    return Err(ActionError::Message(guard.message(count)));
                }
                Ok(())
            }
        }
    }

    async fn run_transform(
        &mut self,
        transform: &TransformAction,
        in_transaction: bool,
    ) -> Result<(), ActionError> {
        let Some(module) = self.modules.get(&transform.module) else {
            return Err(ActionError::Message(format!(
                "module '{}' is not loaded",
                transform.module
            )));
        };
        let call = TransformCall {
            module: &transform.module,
            wasm: &module.wasm,
            sha256: &module.sha256,
            direction: transform.direction,
            reads: &transform.reads,
            writes: &transform.writes,
            args: &transform.args,
            timeout: transform.timeout.unwrap_or(self.options.sandbox.timeout),
            memory_bytes: transform
                .memory_bytes
                .unwrap_or(self.options.sandbox.memory_bytes),
        };
        let listener = self.progress.transform_listener(&transform.module);
        // Outside the revision's transaction (MySQL, `transactional: false`), a transform still
        // gets one of its own: its writes commit together or not at all, and PostgreSQL
        // cursors only exist inside a transaction.
        let own_transaction = !in_transaction;
        if own_transaction {
            self.db.begin().await?;
        }
        match sandbox::run(self.db, &call, listener).await {
            Ok(report) => {
                tracing::debug!(
                    "transform {}: {:?} ({:?})",
                    transform.module,
                    report.stats,
                    report.origin
                );
                self.progress
                    .transform_done(&transform.module, &report.stats);
                if own_transaction && let Err(e) = self.db.commit().await {
                    // SQLite keeps the transaction open when COMMIT fails.
                    if let Err(rollback) = self.db.rollback().await {
                        tracing::warn!("rollback failed after an error: {rollback}");
                    }
                    return Err(e.into());
                }
                Ok(())
            }
            Err(error) => {
                if own_transaction && let Err(e) = self.db.rollback().await {
                    tracing::warn!("rollback failed after an error: {e}");
                }
                Err(ActionError::Message(format!(
                    "transform {}: {error}",
                    transform.module
                )))
            }
        }
    }
}
