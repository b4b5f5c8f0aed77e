//! How a run fails: the error type, and the full story of a failed step (which revision, which
//! step, where in the file, what the database said, and where the database is now).

use crate::db::DbError;
use crate::dialect::Dialect;
use crate::plan::PlanError;
use crate::revision::SourceLoc;
use crate::revision::graph::GraphError;
use crate::revision::target::TargetError;
use crate::transforms::TransformsError;
use crate::version_table::Direction;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Transforms(#[from] TransformsError),
    #[error(
        "revision {revision} ({path}) was changed after it was applied: its checksum was {recorded}, it is {now}; \
         undo the edit, or run `runner repair` if it is deliberate (or pass --allow-changed)"
    )]
    ChecksumMismatch {
        revision: String,
        path: String,
        recorded: String,
        now: String,
    },
    #[error(
        "revision {revision} stopped after step {steps_applied} of {steps_total} on {started_at}: {error}\n\
         {dialect} committed those steps as they ran. Undo them by hand and run `runner repair`, \
         or finish the revision by hand and run `runner stamp {revision}`"
    )]
    HalfApplied {
        revision: String,
        steps_applied: i64,
        steps_total: i64,
        started_at: String,
        error: String,
        dialect: Dialect,
    },
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
    /// True if the revision's changes were rolled back.
    pub rolled_back: bool,
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
        if self.rolled_back {
            write!(f, "\nthe revision was rolled back: nothing of it remains")?;
        } else if self.number > 1 {
            write!(
                f,
                "\nsteps 1 to {} were committed (this database cannot roll back DDL) and runner_history records the failure",
                self.number - 1
            )?;
        }
        if !self.completed.is_empty() {
            write!(f, "\ncompleted before it: {}", self.completed.join(", "))?;
        }
        Ok(())
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
