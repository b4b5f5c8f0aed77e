//! A failed command under `--format json`: one JSON object on stdout, as SPEC has it
//! (`{"ok": false, "error": {"kind", "message", "file", "line", "column"}, "exit": N}`), so that
//! CI reads a failure the way it reads a success. The text still goes to stderr.

use serde::Serialize;

use crate::config::ConfigError;
use crate::db::DbError;
use crate::exec::ExecError;
use crate::plan::PlanError;
use crate::revision::SourceError;
use crate::revision::graph::GraphError;
use crate::revision::target::TargetError;

#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    error: ErrorInfo<'a>,
    exit: i32,
    /// What a dry run did before it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    dry_run: Option<&'a crate::dry_run::DryRun>,
}

#[derive(Serialize)]
struct ErrorInfo<'a> {
    kind: &'static str,
    message: &'a str,
    file: Option<String>,
    line: Option<u64>,
    column: Option<u64>,
}

/// What kind of failure `error` is, in one stable word.
pub fn kind(error: &anyhow::Error) -> &'static str {
    for cause in error.chain() {
        if cause.is::<super::UsageError>() || cause.is::<clap::Error>() {
            return "usage";
        }
        if cause.is::<ConfigError>() {
            return "config";
        }
        if cause.is::<GraphError>() {
            return "graph";
        }
        if cause.is::<TargetError>() {
            return "target";
        }
        if cause.is::<crate::transforms::TransformsError>() {
            return "transforms";
        }
        if let Some(plan) = cause.downcast_ref::<PlanError>() {
            return plan_kind(plan);
        }
        if let Some(exec) = cause.downcast_ref::<ExecError>() {
            return match exec {
                ExecError::Plan(plan) | ExecError::Refused(plan) => plan_kind(plan),
                ExecError::Target(_) => "target",
                ExecError::Graph(_) => "graph",
                ExecError::Transforms(_) => "transforms",
                ExecError::ChecksumMismatch { .. } | ExecError::ChangedSinceHalfRun { .. } => {
                    "checksum"
                }
                ExecError::HalfApplied(_)
                | ExecError::ResumeOtherWay(_)
                | ExecError::CannotResume { .. }
                | ExecError::RepairOverSteps { .. } => "half_applied",
                ExecError::StepFailed(_) => "step_failed",
                ExecError::ConcurrentChange(_) => "concurrent_change",
                ExecError::Introspect(_) => "database",
                ExecError::Db(db) => db_kind(db),
            };
        }
        if let Some(db) = cause.downcast_ref::<DbError>() {
            return db_kind(db);
        }
        if cause.is::<SourceError>() {
            return "input";
        }
    }
    "failed"
}

fn plan_kind(plan: &PlanError) -> &'static str {
    match plan {
        PlanError::Invalid(_) => "input",
        PlanError::Irreversible(_) => "irreversible",
    }
}

fn db_kind(error: &DbError) -> &'static str {
    match error {
        DbError::LockTimeout { .. } => "lock_timeout",
        DbError::Connect { .. } | DbError::NoSuchFile(_) => "connect",
        _ => "database",
    }
}

/// Where in a file the error is, if it says.
fn place(error: &anyhow::Error) -> Option<(String, u64, u64)> {
    for cause in error.chain() {
        let loc = if let Some(source) = cause.downcast_ref::<SourceError>() {
            Some(&source.loc)
        } else if let Some(ExecError::StepFailed(step)) = cause.downcast_ref::<ExecError>() {
            Some(&step.loc)
        } else {
            None
        };
        if let Some(loc) = loc {
            return Some((loc.path.display().to_string(), loc.line, loc.column));
        }
    }
    None
}

/// Prints the failure object for `error` (its message already scrubbed of secrets).
pub fn print(error: &anyhow::Error, message: &str, exit: i32) {
    let place = place(error);
    let failure = Failure {
        ok: false,
        error: ErrorInfo {
            kind: kind(error),
            message,
            file: place.as_ref().map(|p| p.0.clone()),
            line: place.as_ref().map(|p| p.1),
            column: place.as_ref().map(|p| p.2),
        },
        exit,
        dry_run: error
            .chain()
            .find_map(|cause| cause.downcast_ref::<crate::dry_run::DryRunFailed>())
            .map(|failed| failed.report.as_ref()),
    };
    match serde_json::to_string(&failure) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot write the failure as JSON: {e}"),
    }
}
