//! What a dry run reports, and the [`Progress`] that gathers it as the run goes: each
//! revision's steps with their SQL, their duration and what their transforms read and wrote,
//! while the user's own progress (the terminal's) still hears everything.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::dialect::Action;
use crate::exec::Progress;
use crate::plan::PlannedStep;
use crate::revision::Revision;
use crate::sandbox::{Stats, TransformListener};
use crate::vocab::Direction;

/// One revision of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionReport {
    pub revision: String,
    pub message: String,
    pub direction: Direction,
    /// How long the revision took; `None` if it did not finish.
    pub duration_ms: Option<u64>,
    pub steps: Vec<StepReport>,
    /// What the revision changed in the schema, read from the database before and after it:
    /// `- ` lines it took away, `+ ` lines it added (see `model::outline`).
    pub schema: Vec<String>,
}

/// One step of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub number: usize,
    pub describe: String,
    pub duration_ms: u64,
    /// The statements the step ran (a transform's, as a comment naming it).
    pub sql: Vec<String>,
    /// What each transform of the step did, as the host counted it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<TransformCounts>,
}

/// What one transform read and wrote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransformCounts {
    pub module: String,
    /// Rows its queries returned, per table.
    pub rows_read: BTreeMap<String, u64>,
    /// Rows its statements changed, per table.
    pub rows_written: BTreeMap<String, u64>,
    /// How many statements it ran.
    pub statements: u64,
}

/// Gathers a dry run's report while passing every event on to `inner`.
pub struct Recorder<'p> {
    inner: &'p mut dyn Progress,
    pub revisions: Vec<RevisionReport>,
    pub notices: Vec<String>,
    /// The transforms of the step under way.
    pending: Vec<TransformCounts>,
}

impl<'p> Recorder<'p> {
    /// A recorder that also tells `inner`.
    pub fn new(inner: &'p mut dyn Progress) -> Self {
        Self {
            inner,
            revisions: Vec::new(),
            notices: Vec::new(),
            pending: Vec::new(),
        }
    }
}

impl Progress for Recorder<'_> {
    fn notice(&mut self, message: &str) {
        // Each revision of a dry run is a run of its own, which may say the same again.
        if self.notices.iter().any(|n| n == message) {
            return;
        }
        self.notices.push(message.to_string());
        self.inner.notice(message);
    }

    fn revision_started(&mut self, revision: &Revision, direction: Direction, steps: usize) {
        // A revision tried again (a statement gave up waiting for a lock) starts over.
        if self
            .revisions
            .last()
            .is_some_and(|last| last.revision == revision.id && last.duration_ms.is_none())
        {
            self.revisions.pop();
        }
        self.pending.clear();
        self.revisions.push(RevisionReport {
            revision: revision.id.clone(),
            message: revision.message.clone(),
            direction,
            duration_ms: None,
            steps: Vec::new(),
            schema: Vec::new(),
        });
        self.inner.revision_started(revision, direction, steps);
    }

    fn step_done(&mut self, step: &PlannedStep, total: usize, elapsed: Duration) {
        let sql = step
            .actions
            .iter()
            .filter(|action| !matches!(action, Action::Transform(_)))
            .map(Action::script)
            .collect();
        let transforms = std::mem::take(&mut self.pending);
        if let Some(revision) = self.revisions.last_mut() {
            revision.steps.push(StepReport {
                number: step.number,
                describe: step.describe.clone(),
                duration_ms: millis(elapsed),
                sql,
                transforms,
            });
        }
        self.inner.step_done(step, total, elapsed);
    }

    fn revision_done(&mut self, revision: &Revision, direction: Direction, elapsed: Duration) {
        if let Some(last) = self.revisions.last_mut() {
            last.duration_ms = Some(millis(elapsed));
        }
        self.inner.revision_done(revision, direction, elapsed);
    }

    fn transform_listener(&mut self, module: &str) -> Option<Arc<dyn TransformListener>> {
        self.inner.transform_listener(module)
    }

    fn transform_done(&mut self, module: &str, stats: &Stats) {
        self.pending.push(TransformCounts {
            module: module.to_string(),
            rows_read: stats.rows_read.clone(),
            rows_written: stats.rows_written.clone(),
            statements: stats.statements,
        });
        self.inner.transform_done(module, stats);
    }
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}
