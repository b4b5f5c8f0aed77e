//! Printing: JSON for scripts, short text for people, progress on stderr so stdout stays
//! clean for what was asked.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use serde::Serialize;

use super::Format;
use crate::exec::Progress;
use crate::plan::PlannedStep;
use crate::revision::{Repository, Revision};
use crate::sandbox::{LogLevel, TransformListener};
use crate::version_table::Direction;

/// Prints a value as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Prints a command's result: `value` as JSON with `--format json`; otherwise the text `print`
/// writes, unless `quiet` (`-q` keeps a report of what was done off the terminal, not errors).
pub fn emit<T: Serialize>(
    format: Format,
    quiet: bool,
    value: &T,
    print: impl FnOnce(),
) -> anyhow::Result<()> {
    match format {
        Format::Json => json(value),
        _ if quiet => Ok(()),
        _ => {
            print();
            Ok(())
        }
    }
}

/// Where a database is, for people: its heads, or `base`.
pub fn at(heads: &[String]) -> String {
    if heads.is_empty() {
        "base".into()
    } else {
        heads.join(", ")
    }
}

/// What scripts get to know about a revision.
#[derive(Debug, Serialize)]
pub struct RevisionInfo {
    pub revision: String,
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    pub message: String,
    pub created: Option<String>,
    pub path: String,
    pub is_head: bool,
    pub is_base: bool,
    pub is_branch_point: bool,
}

impl RevisionInfo {
    /// The facts about `revision` in `repo`.
    pub fn new(repo: &Repository, revision: &Revision) -> Self {
        let children = repo.graph.children(&revision.id);
        Self {
            revision: revision.id.clone(),
            parents: revision.parents.clone(),
            depends_on: revision.depends_on.clone(),
            branch_labels: revision.branch_labels.clone(),
            message: revision.message.clone(),
            created: revision.created.map(|c| c.to_rfc3339()),
            path: revision.file.path.display().to_string(),
            is_head: children.is_empty(),
            is_base: revision.parents.is_empty(),
            is_branch_point: children.len() > 1,
        }
    }
}

/// `id (head, label) message`, the one-line form of a revision.
pub fn revision_line(repo: &Repository, revision: &Revision) -> String {
    let info = RevisionInfo::new(repo, revision);
    let mut tags = Vec::new();
    if info.is_head {
        tags.push("head".to_string());
    }
    if info.is_branch_point {
        tags.push("branchpoint".to_string());
    }
    if revision.parents.len() > 1 {
        tags.push("merge".to_string());
    }
    tags.extend(revision.branch_labels.iter().cloned());
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" ({})", tags.join(", "))
    };
    format!("{}{tags} {}", revision.id, revision.message)
}

/// Progress lines on stderr, like `upgrade a1b2c3d4e5f6 create users ... done (12 ms)`, and a
/// progress bar for transforms when stderr is a terminal.
pub struct TerminalProgress {
    pub verbose: u8,
    pub quiet: bool,
    bar: Option<Arc<TerminalListener>>,
}

impl TerminalProgress {
    /// Progress for a run; `quiet` shows only failures (and no bar).
    pub fn new(verbose: u8, quiet: bool) -> Self {
        Self {
            verbose,
            quiet,
            bar: None,
        }
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        // A failed step leaves its bar behind: clear it before the error is printed.
        if let Some(listener) = self.bar.take() {
            listener.bar.finish_and_clear();
        }
    }
}

/// A transform's messages (above the bar) and its progress bar.
pub struct TerminalListener {
    bar: ProgressBar,
    verbose: u8,
    quiet: bool,
}

impl TransformListener for TerminalListener {
    fn log(&self, level: LogLevel, message: &str) {
        let shown = match level {
            LogLevel::Debug => self.verbose > 0,
            LogLevel::Info => !self.quiet,
            LogLevel::Warn | LogLevel::Error => true,
        };
        if shown {
            let label = match level {
                LogLevel::Debug => "debug",
                LogLevel::Info => "info",
                LogLevel::Warn => "warn",
                LogLevel::Error => "error",
            };
            self.bar.suspend(|| eprintln!("    {label}: {message}"));
        }
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
    }
}

impl Progress for TerminalProgress {
    fn notice(&mut self, message: &str) {
        if !self.quiet {
            eprintln!("note: {message}");
        }
    }

    fn revision_started(&mut self, revision: &Revision, direction: Direction, steps: usize) {
        if self.quiet {
            return;
        }
        let verb = match direction {
            Direction::Up => "upgrade  ",
            Direction::Down => "downgrade",
        };
        let plural = if steps == 1 { "" } else { "s" };
        eprintln!(
            "{verb} {} {} ({steps} step{plural})",
            revision.id, revision.message
        );
    }

    fn step_done(&mut self, step: &PlannedStep, total: usize, elapsed: Duration) {
        if let Some(listener) = self.bar.take() {
            listener.bar.finish_and_clear();
        }
        if self.quiet || self.verbose == 0 {
            return;
        }
        eprintln!(
            "  [{}/{total}] {} ({} ms)",
            step.number,
            step.describe,
            elapsed.as_millis()
        );
        if self.verbose > 1 {
            for action in &step.actions {
                for line in action.script().lines() {
                    eprintln!("        {line}");
                }
            }
        }
    }

    fn revision_done(&mut self, _revision: &Revision, _direction: Direction, elapsed: Duration) {
        if !self.quiet {
            eprintln!("  done in {} ms", elapsed.as_millis());
        }
    }

    fn transform_listener(&mut self, module: &str) -> Option<Arc<dyn TransformListener>> {
        let visible = !self.quiet && std::io::stderr().is_terminal();
        let bar = if visible {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "    {prefix} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(module.to_string());
        let listener = Arc::new(TerminalListener {
            bar,
            verbose: self.verbose,
            quiet: self.quiet,
        });
        self.bar = Some(listener.clone());
        Some(listener)
    }
}
