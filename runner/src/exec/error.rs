//! How a run fails: the error type, and the full story of a failed step (which revision, which
//! step, where in the file, what the database said, and where the database is now).

use super::transaction::Left;
use crate::db::DbError;
use crate::db::introspect::IntrospectError;
use crate::dialect_kind::Dialect;
use crate::plan::PlanError;
use crate::revision::SourceLoc;
use crate::revision::graph::GraphError;
use crate::revision::target::TargetError;
use crate::transforms::TransformsError;
use crate::version_table::{Direction, HistoryEntry, Status};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A plan refused before anything ran (a downgrade past a step that cannot be reversed):
    /// nothing changed.
    #[error(transparent)]
    Refused(PlanError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Transforms(#[from] TransformsError),
    #[error(
        "revision {revision} was changed after it was applied: {what} (its checksum was {recorded}, it is {now}); \
         undo the edit, or run `runner repair` if it is deliberate (or pass --allow-changed)"
    )]
    ChecksumMismatch {
        revision: String,
        /// What changed: its file, a module it runs, or both.
        what: String,
        recorded: String,
        now: String,
    },
    #[error("{0}")]
    HalfApplied(Box<HalfApplied>),
    #[error(
        "revision {revision} ({path}) changed since the run that left it half applied (after step {steps_applied}); \
         a resumed run trusts that the steps already in are the ones in the file: if only the steps after step \
         {steps_applied} changed, run `runner upgrade --resume --allow-changed` (or `downgrade`)"
    )]
    ChangedSinceHalfRun {
        revision: String,
        path: String,
        steps_applied: i64,
    },
    #[error(
        "{0}\n--resume finishes the revision in the direction it was going: run `runner {verb} --resume`",
        verb = .0.verb()
    )]
    ResumeOtherWay(Box<HalfApplied>),
    #[error(
        "cannot resume revision {revision}: whether step {number} of {total} ({describe}) is in cannot be told: {reason}.\n\
         Check by hand; then make the database match the schema before that step and run `runner {verb} --resume` again, \
         or undo the revision's steps before it by hand and run `runner repair` to start it over",
        verb = if *.direction == Direction::Down { "downgrade" } else { "upgrade" }
    )]
    CannotResume {
        revision: String,
        direction: Direction,
        number: usize,
        total: usize,
        describe: String,
        reason: String,
    },
    #[error(
        "not repairing revision {revision}: steps 1 to {steps_in} of its half-applied run are still in the database ({evidence}), \
         and starting it over would fail on them. `runner {verb} --resume` finishes the revision; to start it over, \
         undo those steps by hand first; `runner repair --force` clears the failure anyway"
    )]
    RepairOverSteps {
        revision: String,
        steps_in: usize,
        evidence: String,
        verb: &'static str,
    },
    #[error("cannot read the live schema: {0}")]
    Introspect(#[from] IntrospectError),
    #[error("{0}")]
    StepFailed(Box<StepFailure>),
    #[error("the database changed while migrating ({0}); run the command again")]
    ConcurrentChange(String),
}

/// A step that failed, with everything a user needs to know about where the database is.
#[derive(Debug)]
pub struct StepFailure {
    pub revision: String,
    pub message: String,
    pub direction: Direction,
    pub number: usize,
    pub total: usize,
    pub describe: String,
    pub loc: SourceLoc,
    pub error: String,
    pub hint: Option<String>,
    /// What the failed step (and the revision) left behind.
    pub left: Left,
    /// Why the revision ran step by step, in words (for a revision that was not rolled back).
    pub why_committed: String,
    /// Revisions this run completed before the failure.
    pub completed: Vec<String>,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = match self.direction {
            Direction::Up => "upgrade",
            Direction::Down => "downgrade",
        };
        write!(
            f,
            "{verb} of revision {} ({}) failed at step {} of {}, {} ({}): {}",
            self.revision,
            self.message,
            self.number,
            self.total,
            self.describe,
            self.loc,
            self.error
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        let (verb, undo) = match self.direction {
            Direction::Up => ("upgrade", "undo"),
            Direction::Down => ("downgrade", "redo"),
        };
        match self.left {
            Left::RolledBack => write!(f, "\nthe revision was rolled back: nothing of it remains")?,
            Left::Nothing if self.number == 1 => write!(
                f,
                "\nnothing of the revision is in; runner_history records the failure, and the next `runner {verb}` runs it from step 1"
            )?,
            left => {
                let step = if left == Left::Nothing {
                    format!("step {} left nothing", self.number)
                } else {
                    format!("step {} may be partly in", self.number)
                };
                let done = if self.number > 1 {
                    format!("steps 1 to {} are in, ", self.number - 1)
                } else {
                    String::new()
                };
                write!(
                    f,
                    "\n{}: {done}{step}, and runner_history records it.\n\
                     Once the cause is fixed, `runner {verb} --resume` goes on from step {} (it checks the database first); \
                     to start over instead, {undo} by hand what the steps before it did and run `runner repair`",
                    self.why_committed, self.number
                )?;
            }
        }
        if !self.completed.is_empty() {
            write!(f, "\ncompleted before it: {}", self.completed.join(", "))?;
        }
        Ok(())
    }
}

/// A revision a step-by-step run left half applied, as its history row tells it.
#[derive(Debug)]
pub struct HalfApplied {
    pub revision: String,
    pub direction: Direction,
    pub status: Status,
    pub steps_applied: i64,
    pub steps_total: i64,
    pub started_at: String,
    pub error: Option<String>,
    /// Why it ran step by step, in words.
    pub why: String,
}

impl HalfApplied {
    /// From the history row of the run that stopped.
    pub fn new(entry: &HistoryEntry, why: String) -> Self {
        Self {
            revision: entry.revision.clone(),
            direction: if entry.direction == Direction::Down.as_str() {
                Direction::Down
            } else {
                Direction::Up
            },
            status: entry.status,
            steps_applied: entry.steps_applied,
            steps_total: entry.steps_total,
            started_at: entry.started_at.clone(),
            error: entry.error.clone(),
            why,
        }
    }

    /// The command that runs in the revision's direction.
    pub fn verb(&self) -> &'static str {
        match self.direction {
            Direction::Up => "upgrade",
            Direction::Down => "downgrade",
        }
    }

    /// True if the step after the recorded ones may be partly in.
    pub fn step_in_doubt(&self) -> bool {
        matches!(self.status, Status::Running | Status::Incomplete)
    }
}

impl std::fmt::Display for HalfApplied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match (self.status, &self.error) {
            (Status::Running, _) => {
                "the run did not finish (the process or its connection died)".to_string()
            }
            (_, Some(error)) => error.clone(),
            (_, None) => "it did not finish".into(),
        };
        write!(
            f,
            "revision {} is half applied: its {} (started {}) stopped after step {} of {}: {how}\n{}: ",
            self.revision,
            self.verb(),
            self.started_at,
            self.steps_applied,
            self.steps_total,
            self.why
        )?;
        if self.steps_applied > 0 {
            write!(f, "steps 1 to {} are in", self.steps_applied)?;
        } else {
            write!(f, "no step is recorded as in")?;
        }
        if self.step_in_doubt() && self.steps_applied < self.steps_total {
            write!(f, ", step {} may be partly in", self.steps_applied + 1)?;
        }
        let undo = match self.direction {
            Direction::Up => "undo",
            Direction::Down => "redo",
        };
        write!(
            f,
            ".\nTo finish it: `runner {} --resume` (it checks the database first and goes on from the first step not in). \
             To start it over instead: {undo} by hand what its recorded steps did, then `runner repair`",
            self.verb()
        )
    }
}

/// Advice for errors with a known cause.
pub(super) fn hint_for(dialect: Dialect, error: &DbError) -> Option<String> {
    let DbError::Sql {
        source: sqlx::Error::Database(db),
    } = error
    else {
        return None;
    };
    match (dialect, db.code().as_deref()) {
        (Dialect::Postgres, Some("55P04")) => Some(
            "PostgreSQL cannot use an enum value added in the same transaction: put the `alter_enum` in a revision of its own"
                .into(),
        ),
        (Dialect::Postgres, Some("42804")) => Some(
            "PostgreSQL has no automatic cast here: give the `alter_column` a `using` expression".into(),
        ),
        _ => None,
    }
}
