//! Running revisions against a database. Each revision runs in its own transaction where the
//! database allows DDL in transactions (PostgreSQL, SQLite): its steps, the version table and
//! its history row commit together or not at all. On MySQL/MariaDB, where DDL commits as it
//! runs, progress is recorded step by step so a failure says exactly how far it got.
//!
//! One runner at a time: PostgreSQL and MySQL hold a session lock for the whole run; SQLite an
//! exclusive `flock` on `<db>-runner.lock`, and its write lock per revision (`BEGIN
//! IMMEDIATE`), re-reading the version table inside it.
//!
//! `actions.rs` carries out a step's actions, `transaction.rs` commits them (a revision whole,
//! or step by step with its record), `resume.rs` finishes a half-done revision, `locks.rs`
//! retries a step that waited too long for a table lock, `stamp.rs` is `stamp` and `repair`,
//! and `script.rs` writes a plan as a SQL script instead of running it (`--sql`), and
//! `checksum.rs` is what a revision's recorded checksum covers.

mod actions;
mod checksum;
mod error;
mod locks;
mod resume;
mod script;
mod stamp;
mod transaction;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::SandboxLimits;
use crate::db::{Db, lock};
use crate::dialect::Action;
use crate::dialect_kind::Dialect;
use crate::plan::{self, PlanError, PlannedStep, SchemaCache};
use crate::revision::target::{self, Target};
use crate::revision::{Repository, Revision};
use crate::sandbox::TransformListener;
use crate::transforms::Modules;
use crate::version_table::{self, Direction, HistoryEntry};
use actions::ActionError;
pub use actions::check_reversible;
use checksum::short_checksum;
pub use checksum::{checksum, checksum_matches, what_changed};
pub use error::{ExecError, HalfApplied, StepFailure};
pub use script::{ModuleFacts, Script, write_script};
pub use transaction::Left;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
    /// Run even if applied revisions changed since (their checksums differ).
    pub allow_changed: bool,
    /// The limits of transform steps that set none.
    pub sandbox: SandboxLimits,
    /// Go on with a revision a run left half applied, from its first step not recorded as
    /// done, instead of refusing to run.
    pub resume: bool,
    /// How many times a step that gave up waiting for a table lock is tried again.
    pub lock_retries: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(60),
            allow_changed: false,
            sandbox: SandboxLimits::default(),
            resume: false,
            lock_retries: 3,
        }
    }
}

/// Where a run reports progress (the CLI prints it; tests stay silent).
pub trait Progress {
    /// Something the user should know before it happens.
    fn notice(&mut self, message: &str);
    /// A revision begins.
    fn revision_started(&mut self, revision: &Revision, direction: Direction, steps: usize);
    /// A step finished.
    fn step_done(&mut self, step: &PlannedStep, total: usize, elapsed: Duration);
    /// A revision finished.
    fn revision_done(&mut self, revision: &Revision, direction: Direction, elapsed: Duration);
    /// Where a transform step's messages and progress go (a progress bar, say).
    fn transform_listener(&mut self, _module: &str) -> Option<Arc<dyn TransformListener>> {
        None
    }
    /// A transform finished: what the host counted of its work (rows read and written per
    /// table). Called before the `step_done` of its step.
    fn transform_done(&mut self, _module: &str, _stats: &crate::sandbox::Stats) {}
}

/// Why `revision` runs step by step on the server `info` describes, in words for messages.
pub fn why_step_by_step(repo: &Repository, info: &crate::db::ServerInfo, revision: &str) -> String {
    let transactional = repo.get(revision).is_none_or(|r| r.transactional);
    if !transactional {
        "the revision is `transactional: false`, so each step commits on its own".into()
    } else if info.mariadb {
        "MariaDB commits schema changes as they run".into()
    } else if info.dialect == Dialect::Mysql {
        "MySQL commits schema changes as they run".into()
    } else {
        format!("the run was step by step on {}", info.dialect)
    }
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn notice(&mut self, _message: &str) {}
    fn revision_started(&mut self, _: &Revision, _: Direction, _: usize) {}
    fn step_done(&mut self, _: &PlannedStep, _: usize, _: Duration) {}
    fn revision_done(&mut self, _: &Revision, _: Direction, _: Duration) {}
}

/// A revision that ran.
#[derive(Debug, Clone, Serialize)]
pub struct Ran {
    pub revision: String,
    pub message: String,
    pub direction: Direction,
    pub steps: usize,
    pub duration_ms: u64,
}

/// Runs revisions against one database.
pub struct Migrator<'a> {
    repo: &'a Repository,
    db: &'a mut Db,
    options: RunOptions,
    progress: &'a mut dyn Progress,
    modules: Modules,
    completed: Vec<String>,
    /// The schemas of the applied sets this run has planned against.
    schemas: SchemaCache,
    /// The version table's rows while a session lock (PostgreSQL, MySQL) keeps other runners
    /// out, so that they are read once per run rather than once per revision.
    heads: Option<Vec<String>>,
    /// Which try of the current revision this is, when a statement gave up waiting for a lock.
    lock_attempt: u32,
}

enum Outcome {
    Done(Ran),
    /// Another runner changed the version table before the write lock was ours, or a
    /// statement gave up waiting for a table lock and the revision was rolled back: run it
    /// again.
    Retry,
}

/// What a run covers, after finishing any half-done revision it resumes.
#[derive(Clone, Copy)]
enum Scope<'t> {
    /// Everything up (or down) to a target.
    To(&'t Target),
    /// Exactly one revision.
    Only(&'t str),
    /// Nothing more.
    Nothing,
}

/// How a step of a step-by-step run commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    /// In one transaction with its history update: both are in, or neither.
    WithRecord,
    /// As its statements run (MySQL DDL, a `CONCURRENTLY` index); its history update follows.
    AsItRuns,
}

impl<'a> Migrator<'a> {
    /// A migrator for `repo` on `db`.
    pub fn new(
        repo: &'a Repository,
        db: &'a mut Db,
        options: RunOptions,
        progress: &'a mut dyn Progress,
    ) -> Self {
        Self {
            repo,
            db,
            options,
            progress,
            modules: Modules::default(),
            completed: Vec::new(),
            schemas: SchemaCache::default(),
            heads: None,
            lock_attempt: 1,
        }
    }

    /// The transform modules the revisions use (see `transforms::load`).
    pub fn with_modules(mut self, modules: Modules) -> Self {
        self.modules = modules;
        self
    }

    /// The connection this migrator runs on, to look at the database between revisions.
    pub fn db(&mut self) -> &mut Db {
        self.db
    }

    /// The checksum recorded for a revision (see [`checksum`]), with the loaded modules.
    pub fn checksum(&self, revision: &Revision) -> String {
        checksum(revision, |module| self.module_sha(module))
    }

    /// True if `recorded` is `revision`'s checksum now (see [`checksum_matches`]).
    pub fn checksum_matches(&self, recorded: &str, revision: &Revision) -> bool {
        checksum_matches(recorded, revision, |module| self.module_sha(module))
    }

    fn module_sha(&self, module: &str) -> Option<String> {
        self.modules.get(module).map(|m| m.sha256.clone())
    }

    /// Applies revisions up to `target`.
    pub async fn upgrade(&mut self, target: &Target) -> Result<Vec<Ran>, ExecError> {
        self.locked(Direction::Up, Scope::To(target)).await
    }

    /// Reverts revisions down to `target`.
    pub async fn downgrade(&mut self, target: &Target) -> Result<Vec<Ran>, ExecError> {
        self.locked(Direction::Down, Scope::To(target)).await
    }

    /// Finishes a downgrade a run left half applied, and reverts nothing more.
    pub async fn resume_downgrade(&mut self) -> Result<Vec<Ran>, ExecError> {
        self.options.resume = true;
        self.resume_only(Direction::Down).await
    }

    /// Finishes a revision a run left half applied in `direction` where
    /// [`RunOptions::resume`] says to (refuses to go on over one otherwise), and runs nothing
    /// more.
    pub async fn resume_only(&mut self, direction: Direction) -> Result<Vec<Ran>, ExecError> {
        self.locked(direction, Scope::Nothing).await
    }

    /// The revisions, in order, that an upgrade (or downgrade) to `target` runs from where
    /// the database is now: a dry run takes them one at a time to look at the schema between
    /// them. Creates runner's tables where they are missing.
    pub async fn path(
        &mut self,
        direction: Direction,
        target: &Target,
    ) -> Result<Vec<String>, ExecError> {
        self.prepare_tables().await?;
        let (_, applied) = self.applied().await?;
        let graph = &self.repo.graph;
        Ok(match direction {
            Direction::Up => {
                graph.upgrade_path(&applied, &target::resolve_up(target, graph, &applied)?)?
            }
            Direction::Down => {
                graph.downgrade_path(&applied, &target::resolve_down(target, graph, &applied)?)?
            }
        })
    }

    /// Applies (or reverts) exactly the revision `id`, whose parents are applied (or whose
    /// descendants are not): `runner check`'s stairway takes the history one revision at a
    /// time this way. `None` when it was already so.
    pub async fn run_one(
        &mut self,
        id: &str,
        direction: Direction,
    ) -> Result<Option<Ran>, ExecError> {
        Ok(self.locked(direction, Scope::Only(id)).await?.pop())
    }

    async fn locked(
        &mut self,
        direction: Direction,
        scope: Scope<'_>,
    ) -> Result<Vec<Ran>, ExecError> {
        lock::acquire(self.db, self.options.lock_timeout).await?;
        let result = self.run(direction, scope).await;
        self.heads = None;
        let released = lock::release(self.db).await;
        let ran = result?;
        released?;
        Ok(ran)
    }

    /// Creates the version tables; on SQLite inside a write transaction, so that two runners
    /// starting together do not race.
    async fn prepare_tables(&mut self) -> Result<(), ExecError> {
        if version_table::exists(self.db).await? {
            return Ok(());
        }
        if self.db.dialect() == Dialect::Sqlite {
            self.db.begin().await?;
            let created = version_table::ensure(self.db).await;
            match created {
                Ok(()) => self.db.commit().await?,
                Err(e) => {
                    if let Err(rollback) = self.db.rollback().await {
                        tracing::warn!("rollback failed after an error: {rollback}");
                    }
                    return Err(e.into());
                }
            }
        } else {
            version_table::ensure(self.db).await?;
        }
        Ok(())
    }

    /// The revisions the database has applied (the version tables exist).
    async fn applied(&mut self) -> Result<(Vec<String>, HashSet<String>), ExecError> {
        let heads = match &self.heads {
            Some(heads) => heads.clone(),
            None => version_table::read_heads(self.db).await?,
        };
        let applied = self.repo.graph.applied_from_rows(&heads)?;
        Ok((heads, applied))
    }

    /// Refuses to run over applied revisions that were edited, or over a revision a previous
    /// run left half done, unless the run resumes it: then that run's history row is returned.
    pub async fn verify(
        &mut self,
        applied: &HashSet<String>,
        direction: Direction,
    ) -> Result<Option<HistoryEntry>, ExecError> {
        let history = version_table::history(self.db, None).await?;
        let recorded = version_table::recorded_checksums(&history);
        for revision in self.repo.ordered() {
            if !applied.contains(&revision.id) || self.options.allow_changed {
                continue;
            }
            if let Some(checksum) = recorded.get(&revision.id)
                && !self.checksum_matches(checksum, revision)
            {
                return Err(ExecError::ChecksumMismatch {
                    revision: revision.id.clone(),
                    what: what_changed(checksum, revision, |module| self.module_sha(module)),
                    recorded: short_checksum(checksum),
                    now: short_checksum(&self.checksum(revision)),
                });
            }
        }
        let Some(entry) = version_table::half_done(&history).into_iter().next() else {
            return Ok(None);
        };
        let stopped = error::HalfApplied::new(entry, self.why_step_by_step(&entry.revision));
        if !self.options.resume {
            return Err(ExecError::HalfApplied(Box::new(stopped)));
        }
        if entry.direction != direction.as_str() {
            return Err(ExecError::ResumeOtherWay(Box::new(stopped)));
        }
        let revision = self.repo.revision(&entry.revision)?;
        if entry
            .checksum
            .as_deref()
            .is_some_and(|c| !self.checksum_matches(c, revision))
            && !self.options.allow_changed
        {
            return Err(ExecError::ChangedSinceHalfRun {
                revision: revision.id.clone(),
                path: revision.file.path.display().to_string(),
                steps_applied: entry.steps_applied,
            });
        }
        Ok(Some(entry.clone()))
    }

    /// Why `revision` runs step by step here, in words for messages.
    fn why_step_by_step(&self, revision: &str) -> String {
        why_step_by_step(self.repo, &self.db.info, revision)
    }

    /// Finishes the revision a run left half applied (see [`RunOptions::resume`]).
    async fn finish_half_done(&mut self, entry: &HistoryEntry) -> Result<Ran, ExecError> {
        let repo = self.repo;
        let revision = repo.revision(&entry.revision)?;
        let direction = if entry.direction == Direction::Down.as_str() {
            Direction::Down
        } else {
            Direction::Up
        };
        let (heads, applied) = self.applied().await?;
        let mut after = applied.clone();
        match direction {
            Direction::Up => after.insert(revision.id.clone()),
            Direction::Down => after.remove(&revision.id),
        };
        let (plan, new_heads) = self.plan(revision, direction, &applied, &after)?;
        let ran = self
            .run_step_by_step(revision, &plan, &heads, &new_heads, Some(entry))
            .await?;
        if let Some(heads) = &mut self.heads {
            *heads = new_heads;
        }
        self.completed.push(revision.id.clone());
        Ok(ran)
    }

    /// How a step of a step-by-step run commits here.
    pub(super) fn commit_mode(&self, step: &PlannedStep) -> Commit {
        let dialect = self.db.dialect();
        if dialect.caps().transactional_ddl {
            if dialect == Dialect::Postgres && step.step.needs_no_transaction() {
                Commit::AsItRuns
            } else {
                Commit::WithRecord
            }
        } else {
            // MySQL: DDL commits at once, rows commit with the transaction.
            let dml_only = step.actions.iter().all(|action| match action {
                Action::Transform(_) | Action::Guard(_) => true,
                Action::Sql(sql) => resume::is_dml_only(sql, dialect),
                Action::Rebuild(_) => false,
            });
            if dml_only {
                Commit::WithRecord
            } else {
                Commit::AsItRuns
            }
        }
    }

    async fn run(&mut self, direction: Direction, scope: Scope<'_>) -> Result<Vec<Ran>, ExecError> {
        self.prepare_tables().await?;
        let (heads, applied) = self.applied().await?;
        if self.db.dialect() != Dialect::Sqlite {
            // The session lock is held: only this run changes the version table now.
            self.heads = Some(heads);
        }
        let resume = self.verify(&applied, direction).await?;
        let mut ran = Vec::new();
        if let Some(entry) = &resume {
            self.progress.notice(&format!(
                "resuming revision {} ({}), which stopped after step {} of {}",
                entry.revision, entry.direction, entry.steps_applied, entry.steps_total
            ));
            ran.push(self.finish_half_done(entry).await?);
        } else if self.options.resume {
            self.progress
                .notice("nothing to resume: no revision was left half applied");
        }
        if let Scope::Nothing = scope {
            return Ok(ran);
        }
        let (_, applied) = self.applied().await?;
        let graph = &self.repo.graph;
        let path = match (scope, direction) {
            (Scope::Nothing, _) => return Ok(ran),
            (Scope::Only(id), _) => vec![id.to_string()],
            (Scope::To(target), Direction::Up) => {
                graph.upgrade_path(&applied, &target::resolve_up(target, graph, &applied)?)?
            }
            (Scope::To(target), Direction::Down) => {
                graph.downgrade_path(&applied, &target::resolve_down(target, graph, &applied)?)?
            }
        };
        if direction == Direction::Down {
            self.schemas.prepare_downgrade(self.repo, &applied, &path)?;
            self.refuse_irreversible(&applied, &path)?;
        }
        let needs_notice = path.iter().any(|id| {
            self.repo
                .get(id)
                .is_some_and(|r| !r.transactional || !self.db.dialect().caps().transactional_ddl)
        });
        if needs_notice {
            self.progress.notice(&format!(
                "{} commits schema changes step by step, so a failed revision cannot be rolled back whole; \
                 runner records each step in runner_history, and a run that stops half way is resumed with `--resume`",
                if self.db.info.mariadb { "MariaDB" } else if self.db.dialect() == Dialect::Mysql { "MySQL" } else { "a revision with `transactional: false`" }
            ));
        }
        for id in path {
            if let Some(done) = self.run_revision(&id, direction).await? {
                self.completed.push(id);
                ran.push(done);
            }
        }
        Ok(ran)
    }

    /// Runs one revision unless another runner already did.
    async fn run_revision(
        &mut self,
        id: &str,
        direction: Direction,
    ) -> Result<Option<Ran>, ExecError> {
        let repo = self.repo;
        let revision = repo.revision(id)?;
        self.lock_attempt = 1;
        loop {
            let (heads, applied) = self.applied().await?;
            let done = match direction {
                Direction::Up => applied.contains(id),
                Direction::Down => !applied.contains(id),
            };
            if done {
                return Ok(None);
            }
            let mut after = applied.clone();
            match direction {
                Direction::Up => {
                    let mut needs = repo.graph.ancestors(&[id.to_string()])?;
                    needs.remove(id);
                    if let Some(missing) = needs.iter().find(|n| !applied.contains(*n)) {
                        return Err(ExecError::ConcurrentChange(format!(
                            "{id} needs {missing}, which is no longer applied"
                        )));
                    }
                    after.insert(id.to_string());
                }
                Direction::Down => {
                    let users: Vec<String> = repo
                        .graph
                        .descendants(id)?
                        .into_iter()
                        .filter(|d| d != id && applied.contains(d))
                        .collect();
                    if !users.is_empty() {
                        return Err(ExecError::ConcurrentChange(format!(
                            "{id} is needed by {}, which is applied",
                            users.join(", ")
                        )));
                    }
                    after.remove(id);
                }
            }
            let (plan, new_heads) = self.plan(revision, direction, &applied, &after)?;
            let transactional =
                revision.transactional && self.db.dialect().caps().transactional_ddl;
            let outcome = if transactional {
                self.run_in_transaction(revision, &plan, &heads, &new_heads)
                    .await?
            } else {
                Outcome::Done(
                    self.run_step_by_step(revision, &plan, &heads, &new_heads, None)
                        .await?,
                )
            };
            match outcome {
                Outcome::Done(ran) => {
                    if let Some(heads) = &mut self.heads {
                        *heads = new_heads;
                    }
                    return Ok(Some(ran));
                }
                Outcome::Retry => continue,
            }
        }
    }

    /// Plans every revision a downgrade reverts, in order, before the first one runs: a step
    /// that cannot be reversed is refused while nothing has changed, not half way down.
    fn refuse_irreversible(
        &mut self,
        applied: &HashSet<String>,
        path: &[String],
    ) -> Result<(), ExecError> {
        let repo = self.repo;
        let mut before = applied.clone();
        for id in path {
            let revision = repo.revision(id)?;
            let mut after = before.clone();
            after.remove(id);
            match self.plan(revision, Direction::Down, &before, &after) {
                Ok(_) => {}
                Err(ExecError::Plan(refused @ PlanError::Irreversible(_))) => {
                    return Err(ExecError::Refused(refused));
                }
                Err(other) => return Err(other),
            }
            before = after;
        }
        Ok(())
    }

    /// The plan of `revision` in `direction` over `applied`, its transforms checked, and the
    /// heads the version table holds once it ran (`after` is the applied set then).
    fn plan(
        &mut self,
        revision: &Revision,
        direction: Direction,
        applied: &HashSet<String>,
        after: &HashSet<String>,
    ) -> Result<(plan::RevisionPlan, Vec<String>), ExecError> {
        let plan = plan::plan_revision_cached(
            self.repo,
            revision,
            direction,
            applied,
            self.db.dialect(),
            &mut self.schemas,
        )?;
        self.check_transforms(revision, &plan)?;
        let new_heads = self.repo.graph.heads_of(after)?;
        Ok((plan, new_heads))
    }

    fn failure(
        &self,
        revision: &Revision,
        direction: Direction,
        step: &PlannedStep,
        total: usize,
        error: &ActionError,
        left: Left,
    ) -> ExecError {
        ExecError::StepFailed(Box::new(StepFailure {
            revision: revision.id.clone(),
            message: revision.message.clone(),
            direction,
            number: step.number,
            total,
            describe: step.describe.clone(),
            loc: step.loc.clone(),
            error: error.to_string(),
            hint: match error {
                ActionError::Db(error) => error::hint_for(self.db.dialect(), error),
                ActionError::Message(_) => None,
            },
            left,
            why_committed: self.why_step_by_step(&revision.id),
            completed: self.completed.clone(),
        }))
    }
}
