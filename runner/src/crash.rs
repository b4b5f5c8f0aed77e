//! Named points in a run where the process may die, for the crash tests.
//!
//! The executor calls [`point`] at every place a crash matters: before and after each step,
//! between a step's effect and its history update, after each statement of a transform, a
//! SQLite rebuild or a multi-statement MySQL operation. Nothing happens unless a hook is
//! installed, and only the test build of the CLI (`tests/support/runner_cli.rs`) installs one:
//! the `runner` binary never does, so no environment variable can make it stop half way.

use std::sync::OnceLock;

/// The names of the points, so that tests and code agree on them.
pub mod points {
    /// A step is about to run (its history row says the steps before it are done).
    pub const STEP_START: &str = "step-start";
    /// A step's effect is in (uncommitted where its history update commits with it), and its
    /// history update is not.
    pub const STEP_END: &str = "step-end";
    /// A step and its history update are committed.
    pub const STEP_RECORDED: &str = "step-recorded";
    /// One action (statement) of a multi-statement step has run.
    pub const ACTION: &str = "action";
    /// One statement of a SQLite table rebuild has run.
    pub const REBUILD_STATEMENT: &str = "rebuild-statement";
    /// A transform's statement has run.
    pub const TRANSFORM_STATEMENT: &str = "transform-statement";
    /// A revision's work is done and its commit (with the version rows) is next.
    pub const REVISION_COMMIT: &str = "revision-commit";
    /// A revision is committed and recorded.
    pub const REVISION_DONE: &str = "revision-done";
    /// A run resumes a half-applied revision and has decided where to start.
    pub const RESUME: &str = "resume";
}

type Hook = Box<dyn Fn(&str) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the function called at every point (once per process; later calls are ignored).
pub fn install(hook: impl Fn(&str) + Send + Sync + 'static) {
    let _ = HOOK.set(Box::new(hook));
}

/// A point where the process may die.
pub fn point(name: &str) {
    if let Some(hook) = HOOK.get() {
        hook(name);
    }
}
