//! Running one revision: in a transaction where DDL is transactional, step by step with a
//! history row that follows it elsewhere. Either way a SQLite table rebuild runs in a
//! transaction with foreign key enforcement off around it (see [`Migrator::transaction`]).

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{ActionError, Commit, ExecError, Migrator, Outcome, Ran};
use crate::crash::{self, points};
use crate::db::sqlite_live;
use crate::dialect_kind::Dialect;
use crate::plan::{PlannedStep, RevisionPlan};
use crate::revision::Revision;
use crate::version_table::{self, HistoryEntry, NewEntry, Status};

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
    /// Runs a step's actions and reports it done. `ran` counts the actions that finished, so
    /// that a failure knows whether a step that commits as it runs left part of itself behind.
    async fn run_step(
        &mut self,
        plan: &RevisionPlan,
        step: &PlannedStep,
        in_transaction: bool,
        ran: &mut usize,
    ) -> Result<(), ActionError> {
        let clock = Instant::now();
        for action in &step.actions {
            self.run_action(action, in_transaction).await?;
            *ran += 1;
            if step.actions.len() > 1 {
                crash::point(points::ACTION);
            }
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

    /// True if the connection is gone (a transform's statement that would not stop made the
    /// sandbox close it, the server restarted, the session was killed): from the error, or,
    /// since a transform reports the database's errors in its own words, from a ping.
    pub(super) async fn connection_lost(&mut self, error: &ActionError) -> bool {
        self.db.is_abandoned()
            || matches!(error, ActionError::Db(e) if e.is_connection_lost())
            || !self
                .db
                .answers_within(std::time::Duration::from_secs(2))
                .await
    }

    /// Opens the connection again after [`Self::connection_lost`], so that the failure can be
    /// recorded, and takes the migration lock again, which the old session held: false if
    /// either fails (another runner may have the lock by now), and then nothing is written.
    pub(super) async fn reconnect_and_lock(&mut self) -> bool {
        if let Err(e) = self.db.reconnect().await {
            tracing::warn!("could not reconnect to record the failure: {e}");
            return false;
        }
        match crate::db::lock::acquire(self.db, std::time::Duration::from_secs(2)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "could not take the migration lock again to record the failure: {e}"
                );
                false
            }
        }
    }

    /// Checks the connection after `error`; if it is gone, says so in the error and opens a
    /// new one. Returns the error to report and whether the connection can record it.
    pub(super) async fn after_failure(&mut self, error: ActionError) -> (ActionError, bool) {
        if !self.connection_lost(&error).await {
            return (error, true);
        }
        let error = ActionError::Message(format!(
            "the connection to the database was lost (the server ended the session or restarted, or the network dropped): {error}"
        ));
        let connected = self.reconnect_and_lock().await;
        (error, connected)
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
                    crash::point(points::STEP_START);
                    this.run_step(plan, step, true, &mut 0)
                        .await
                        .map_err(|e| Stop::Step(step, e))?;
                    crash::point(points::STEP_END);
                }
                let done = started_ref.entry(revision, plan, Status::done(plan.direction));
                let entry = NewEntry {
                    steps_applied: plan.steps.len(),
                    ..done
                };
                version_table::set_heads(this.db, heads, new_heads).await?;
                version_table::insert(this.db, &entry).await?;
                crash::point(points::REVISION_COMMIT);
                Ok(Some(entry.duration_ms))
            })
            .await;
        let (step, error) = match outcome {
            Ok(Some(duration_ms)) => {
                crash::point(points::REVISION_DONE);
                self.progress
                    .revision_done(revision, plan.direction, started.clock.elapsed());
                return Ok(Outcome::Done(started.ran(revision, plan, duration_ms)));
            }
            Ok(None) => return Ok(Outcome::Retry),
            Err(Stop::Other(error)) => return Err(error),
            Err(Stop::Step(step, error)) => (step, error),
        };
        if self
            .retry_after_lock_wait(step, &error, self.lock_attempt)
            .await
        {
            self.lock_attempt += 1;
            return Ok(Outcome::Retry);
        }
        let error = self.explain_lock_wait(step, error).await;
        let (error, connected) = self.after_failure(error).await;
        let failure = self.failure(
            revision,
            plan.direction,
            step,
            plan.steps.len(),
            &error,
            Left::RolledBack,
        );
        // Outside the rolled-back transaction, so the failure stays on record.
        if !connected {
            return Err(failure);
        }
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
    /// each step commits on its own, and its history update commits with it wherever the
    /// database allows ([`Commit::WithRecord`]); a step whose statements commit as they run
    /// (MySQL DDL, a `CONCURRENTLY` index) is recorded right after. `resume` is the history row
    /// of a run of this revision that stopped half way: the run goes on from where it got to.
    pub(super) async fn run_step_by_step(
        &mut self,
        revision: &Revision,
        plan: &RevisionPlan,
        heads: &[String],
        new_heads: &[String],
        resume: Option<&HistoryEntry>,
    ) -> Result<Ran, ExecError> {
        let started = Started::now(self.checksum(revision));
        let total = plan.steps.len();
        let first = match resume {
            Some(entry) => self.resume_at(revision, plan, entry).await?,
            None => 0,
        };
        let note = resume.map(|entry| {
            format!(
                "resumed the run of {} (history row {}) at step {} of {total}",
                entry.started_at,
                entry.id,
                first + 1
            )
        });
        let history_id = version_table::insert(
            self.db,
            &NewEntry {
                duration_ms: 0,
                steps_applied: first,
                error: note.as_deref(),
                ..started.entry(revision, plan, Status::Running)
            },
        )
        .await?;
        if resume.is_some() {
            crash::point(points::RESUME);
        }
        self.progress
            .revision_started(revision, plan.direction, total);
        for step in plan.steps.iter().skip(first) {
            crash::point(points::STEP_START);
            let (commit, ran, result) = self.commit_step(plan, step, history_id, &started).await;
            let error = match result {
                Ok(()) => {
                    crash::point(points::STEP_RECORDED);
                    continue;
                }
                Err(error) => error,
            };
            let (error, connected) = self.after_failure(error).await;
            let restored = connected
                && commit == Commit::AsItRuns
                && self.clean_after_failure(step, ran).await;
            let left =
                if commit == Commit::WithRecord || restored || (ran == 0 && !step.is_opaque()) {
                    Left::Nothing
                } else {
                    Left::Unknown
                };
            let failure = self.failure(revision, plan.direction, step, total, &error, left);
            if connected {
                let status = if left == Left::Nothing {
                    Status::Failed
                } else {
                    Status::Incomplete
                };
                let recorded = version_table::mark_stopped(
                    self.db,
                    history_id,
                    status,
                    started.elapsed_ms(),
                    &format!(
                        "step {} of {total} ({}) failed: {error}",
                        step.number, step.describe
                    ),
                )
                .await;
                if let Err(e) = recorded {
                    tracing::warn!(
                        "could not record the failure of revision {} in runner_history: {e}",
                        revision.id
                    );
                }
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
                crash::point(points::REVISION_COMMIT);
                Ok(Some(()))
            })
            .await;
        match finished {
            Ok(_) => {}
            Err(Stop::Other(error)) => return Err(error),
            Err(Stop::Step(step, error)) => {
                return Err(self.failure(
                    revision,
                    plan.direction,
                    step,
                    total,
                    &error,
                    Left::Nothing,
                ));
            }
        }
        crash::point(points::REVISION_DONE);
        self.progress
            .revision_done(revision, plan.direction, started.clock.elapsed());
        Ok(started.ran(revision, plan, duration_ms))
    }

    /// Runs one step of a step-by-step run and records it done in history row `history_id`,
    /// tried again while it gives up waiting for a table lock and nothing of it is in. Returns
    /// how it committed and how many of its actions finished.
    async fn commit_step(
        &mut self,
        plan: &RevisionPlan,
        step: &PlannedStep,
        history_id: i64,
        started: &Started,
    ) -> (Commit, usize, Result<(), ActionError>) {
        let mut attempt = 1;
        loop {
            let (commit, ran, result) =
                self.commit_step_once(plan, step, history_id, started).await;
            let Err(error) = result else {
                return (commit, ran, Ok(()));
            };
            let untouched = commit == Commit::WithRecord || ran == 0;
            if untouched && self.retry_after_lock_wait(step, &error, attempt).await {
                attempt += 1;
                continue;
            }
            return (commit, ran, Err(self.explain_lock_wait(step, error).await));
        }
    }

    /// Records in history row `history_id` that `step` and the ones before it are in.
    async fn record_step(
        &mut self,
        history_id: i64,
        step: &PlannedStep,
        started: &Started,
    ) -> Result<(), crate::db::DbError> {
        version_table::update(
            self.db,
            history_id,
            Status::Running,
            step.number,
            started.elapsed_ms(),
            None,
        )
        .await
    }

    /// [`Self::commit_step`], once: in one transaction with the record where the step allows it.
    async fn commit_step_once(
        &mut self,
        plan: &RevisionPlan,
        step: &PlannedStep,
        history_id: i64,
        started: &Started,
    ) -> (Commit, usize, Result<(), ActionError>) {
        let mut commit = self.commit_mode(step);
        let mut ran = 0;
        if commit == Commit::WithRecord {
            let rebuild = step.rebuilds_table().then_some(step);
            let outcome = self
                .transaction(rebuild, async |this: &mut Self| {
                    this.run_step(plan, step, true, &mut 0)
                        .await
                        .map_err(|e| Stop::Step(step, e))?;
                    crash::point(points::STEP_END);
                    this.record_step(history_id, step, started).await?;
                    Ok(Some(()))
                })
                .await;
            let error = match outcome {
                Ok(_) => return (commit, step.actions.len(), Ok(())),
                Err(Stop::Step(_, error)) => error,
                Err(Stop::Other(ExecError::Db(error))) => ActionError::Db(error),
                Err(Stop::Other(error)) => ActionError::Message(error.to_string()),
            };
            // A statement PostgreSQL will not run in a transaction block (25001, a
            // `CONCURRENTLY` in a `sql` step): the transaction is rolled back; run it outside.
            let outside =
                matches!(&error, ActionError::Db(e) if e.code().as_deref() == Some("25001"));
            if !outside {
                return (commit, 0, Err(error));
            }
            commit = Commit::AsItRuns;
        }
        let result = async {
            self.run_step(plan, step, false, &mut ran).await?;
            crash::point(points::STEP_END);
            self.record_step(history_id, step, started).await?;
            Ok(())
        }
        .await;
        (commit, ran, result)
    }
}

/// What a failed step left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// The revision's transaction was rolled back.
    RolledBack,
    /// The step's own transaction was rolled back, or its one statement failed whole.
    Nothing,
    /// Some of the step's statements may have committed.
    Unknown,
}
