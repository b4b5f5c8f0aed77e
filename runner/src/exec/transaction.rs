//! Running one revision: in a transaction where DDL is transactional, step by step with a
//! history row that follows it elsewhere. Either way a SQLite table rebuild runs in a
//! transaction with foreign key enforcement off around it (see [`Migrator::transaction`]).

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{ActionError, ExecError, Migrator, Outcome, Ran};
use crate::db::sqlite_live;
use crate::dialect::Dialect;
use crate::plan::{PlannedStep, RevisionPlan};
use crate::revision::Revision;
use crate::version_table::{self, NewEntry, Status};

/// Why the work inside a transaction stopped.
pub(super) enum Stop<'p> {
    /// A step failed (or left rows that break a foreign key).
    Step(&'p PlannedStep, ActionError),
    /// Anything else: the transaction itself, reading or writing the version tables.
    Other(ExecError),
}

impl<E: Into<ExecError>> From<E> for Stop<'_> {
    fn from(error: E) -> Self {
        Self::Other(error.into())
    }
}

/// When a revision started, and what every history row about this run of it records.
struct Started {
    checksum: String,
    at: DateTime<Utc>,
    clock: Instant,
}

impl Started {
    fn now(checksum: String) -> Self {
        Self {
            checksum,
            at: Utc::now(),
            clock: Instant::now(),
        }
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.clock.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// A history row about this run of `revision`.
    fn entry<'a>(
        &'a self,
        revision: &'a Revision,
        plan: &'a RevisionPlan,
        status: Status,
    ) -> NewEntry<'a> {
        NewEntry {
            checksum: Some(&self.checksum),
            steps_total: plan.steps.len(),
            duration_ms: self.elapsed_ms(),
            ..NewEntry::new(&revision.id, plan.direction.as_str(), status, self.at)
        }
    }

    fn ran(&self, revision: &Revision, plan: &RevisionPlan, duration_ms: i64) -> Ran {
        Ran {
            revision: revision.id.clone(),
            message: revision.message.clone(),
            direction: plan.direction,
            steps: plan.steps.len(),
            duration_ms: u64::try_from(duration_ms).unwrap_or_default(),
        }
    }
}

impl Migrator<'_> {
    /// Runs a step's actions and reports it done.
    async fn run_step(
        &mut self,
        plan: &RevisionPlan,
        step: &PlannedStep,
        in_transaction: bool,
    ) -> Result<(), ActionError> {
        let clock = Instant::now();
        for action in &step.actions {
            self.run_action(action, in_transaction).await?;
        }
        self.progress
            .step_done(step, plan.steps.len(), clock.elapsed());
        Ok(())
    }

    /// Runs `work` in a transaction: committed if it returns `Some`, rolled back if it returns
    /// `None` or fails.
    ///
    /// `rebuild` is the step to blame for broken foreign keys when the work rebuilds SQLite
    /// tables. Foreign key enforcement is then off around the transaction, as SQLite's own
    /// procedure for changing a table asks (<https://www.sqlite.org/lang_altertable.html#otheralter>):
    /// the pragma is ignored inside a transaction, and with it on, the DROP TABLE of a rebuild
    /// would run ON DELETE CASCADE on the rows pointing at the table. `PRAGMA
    /// foreign_key_check` stands in for enforcement before the commit. Enforcement is back on
    /// afterwards whatever happened; a rollback or a pragma that fails after the outcome is
    /// known is logged, and the outcome stands.
    pub(super) async fn transaction<'p, T>(
        &mut self,
        rebuild: Option<&'p PlannedStep>,
        work: impl AsyncFnOnce(&mut Self) -> Result<Option<T>, Stop<'p>>,
    ) -> Result<Option<T>, Stop<'p>> {
        let rebuild = rebuild.filter(|_| self.db.dialect() == Dialect::Sqlite);
        if rebuild.is_some() {
            self.db.execute_simple("PRAGMA foreign_keys = OFF").await?;
        }
        let outcome = self.transaction_body(rebuild, work).await;
        if rebuild.is_some()
            && let Err(e) = self.db.execute_simple("PRAGMA foreign_keys = ON").await
        {
            tracing::warn!("could not turn SQLite's foreign key enforcement back on: {e}");
        }
        outcome
    }

    async fn transaction_body<'p, T>(
        &mut self,
        rebuild: Option<&'p PlannedStep>,
        work: impl AsyncFnOnce(&mut Self) -> Result<Option<T>, Stop<'p>>,
    ) -> Result<Option<T>, Stop<'p>> {
        self.db.begin().await?;
        let mut outcome = work(self).await;
        if let (Ok(Some(_)), Some(step)) = (&outcome, rebuild) {
            match sqlite_live::foreign_key_violations(self.db).await {
                Ok(violations) if violations.is_empty() => {}
                Ok(violations) => {
                    outcome = Err(Stop::Step(
                        step,
                        ActionError::Message(format!(
                            "{} row(s) break a foreign key once the tables are rebuilt: {}",
                            violations.len(),
                            violations
                                .iter()
                                .take(5)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join("; ")
                        )),
                    ))
                }
                Err(e) => outcome = Err(e.into()),
            }
        }
        if matches!(outcome, Ok(Some(_))) {
            match self.db.commit().await {
                Ok(()) => return outcome,
                // SQLite keeps the transaction open when COMMIT fails: it must be rolled back.
                Err(e) => outcome = Err(e.into()),
            }
        }
        if let Err(e) = self.db.rollback().await {
            if outcome.is_err() {
                tracing::warn!("rollback failed after an error: {e}");
            } else {
                return Err(e.into());
            }
        }
        outcome
    }

    /// Opens the connection again if a transform's statement that would not stop made the
    /// sandbox close it, so that the failure can still be recorded.
    async fn reconnect_if_abandoned(&mut self) {
        if self.db.is_abandoned()
            && let Err(e) = self.db.reconnect().await
        {
            tracing::warn!("could not reconnect to record the failure: {e}");
        }
    }

    /// A revision in one transaction with its version rows and history row.
    pub(super) async fn run_in_transaction(
        &mut self,
        revision: &Revision,
        plan: &RevisionPlan,
        heads: &[String],
        new_heads: &[String],
    ) -> Result<Outcome, ExecError> {
        let started = Started::now(self.checksum(revision));
        let rebuild = plan.rebuilds_tables().then(|| plan.steps.last()).flatten();
        let started_ref = &started;
        let outcome = self
            .transaction(rebuild, async |this: &mut Self| {
                // Another runner may have moved the version table before the write lock was
                // ours (SQLite takes it per revision, with the transaction).
                if this.db.dialect() == Dialect::Sqlite
                    && version_table::read_heads(this.db).await? != heads
                {
                    return Ok(None);
                }
                this.progress
                    .revision_started(revision, plan.direction, plan.steps.len());
                for step in &plan.steps {
                    this.run_step(plan, step, true)
                        .await
                        .map_err(|e| Stop::Step(step, e))?;
                }
                let done = started_ref.entry(revision, plan, Status::done(plan.direction));
                let entry = NewEntry {
                    steps_applied: plan.steps.len(),
                    ..done
                };
                version_table::set_heads(this.db, heads, new_heads).await?;
                version_table::insert(this.db, &entry).await?;
                Ok(Some(entry.duration_ms))
            })
            .await;
        let (step, error) = match outcome {
            Ok(Some(duration_ms)) => {
                self.progress
                    .revision_done(revision, plan.direction, started.clock.elapsed());
                return Ok(Outcome::Done(started.ran(revision, plan, duration_ms)));
            }
            Ok(None) => return Ok(Outcome::Retry),
            Err(Stop::Other(error)) => return Err(error),
            Err(Stop::Step(step, error)) => (step, error),
        };
        let failure = self.failure(
            revision,
            plan.direction,
            step,
            plan.steps.len(),
            &error,
            true,
        );
        // Outside the rolled-back transaction, so the failure stays on record.
        self.reconnect_if_abandoned().await;
        let message = format!("step {} rolled back: {failure}", step.number);
        let entry = NewEntry {
            error: Some(&message),
            ..started.entry(revision, plan, Status::Failed)
        };
        if let Err(e) = version_table::insert(self.db, &entry).await {
            tracing::warn!(
                "could not record the failure of revision {} in runner_history: {e}",
                revision.id
            );
        }
        Err(failure)
    }

    /// A revision on a database without transactional DDL (or marked `transactional: false`):
    /// each step commits as it runs and the history row follows it.
    pub(super) async fn run_step_by_step(
        &mut self,
        revision: &Revision,
        plan: &RevisionPlan,
        heads: &[String],
        new_heads: &[String],
    ) -> Result<Ran, ExecError> {
        let started = Started::now(self.checksum(revision));
        let total = plan.steps.len();
        let history_id = version_table::insert(
            self.db,
            &NewEntry {
                duration_ms: 0,
                ..started.entry(revision, plan, Status::Running)
            },
        )
        .await?;
        self.progress
            .revision_started(revision, plan.direction, total);
        for (index, step) in plan.steps.iter().enumerate() {
            let result = if step.rebuilds_table() && self.db.dialect() == Dialect::Sqlite {
                // A rebuild is several statements that must not be left half done.
                self.transaction(Some(step), async |this: &mut Self| {
                    this.run_step(plan, step, true)
                        .await
                        .map_err(|e| Stop::Step(step, e))?;
                    Ok(Some(()))
                })
                .await
                .map(drop)
            } else {
                self.run_step(plan, step, false)
                    .await
                    .map_err(|e| Stop::Step(step, e))
            };
            let error = match result {
                Ok(()) => {
                    version_table::update(
                        self.db,
                        history_id,
                        Status::Running,
                        index + 1,
                        started.elapsed_ms(),
                        None,
                    )
                    .await?;
                    continue;
                }
                Err(Stop::Step(_, error)) => error,
                Err(Stop::Other(ExecError::Db(error))) => ActionError::Db(error),
                Err(Stop::Other(error)) => ActionError::Message(error.to_string()),
            };
            let failure = self.failure(revision, plan.direction, step, total, &error, false);
            self.reconnect_if_abandoned().await;
            let recorded = version_table::update(
                self.db,
                history_id,
                Status::Failed,
                index,
                started.elapsed_ms(),
                Some(&format!(
                    "step {} of {total} ({}) failed: {error}",
                    step.number, step.describe
                )),
            )
            .await;
            if let Err(e) = recorded {
                tracing::warn!(
                    "could not record the failure of revision {} in runner_history: {e}",
                    revision.id
                );
            }
            return Err(failure);
        }
        let duration_ms = started.elapsed_ms();
        // The version rows and the history row change together.
        let finished = self
            .transaction(None, async |this: &mut Self| {
                version_table::set_heads(this.db, heads, new_heads).await?;
                version_table::update(
                    this.db,
                    history_id,
                    Status::done(plan.direction),
                    total,
                    duration_ms,
                    None,
                )
                .await?;
                Ok(Some(()))
            })
            .await;
        match finished {
            Ok(_) => {}
            Err(Stop::Other(error)) => return Err(error),
            Err(Stop::Step(step, error)) => {
                return Err(self.failure(revision, plan.direction, step, total, &error, false));
            }
        }
        self.progress
            .revision_done(revision, plan.direction, started.clock.elapsed());
        Ok(started.ran(revision, plan, duration_ms))
    }
}
