//! `upgrade --dry-run` and `downgrade --dry-run` (see `dry_run`): the report, as text for
//! people or JSON for CI. A dry run that stopped prints what it did up to there, then fails
//! as the real run would; under `--format json` that report is the failure object's
//! `dry_run`.

use serde::Serialize;

use super::output::{self, TerminalProgress};
use super::upgrade::RunFlags;
use super::{Context, Format};
use crate::db::{Db, DbError};
use crate::dry_run::{DryRun, DryRunFailed, Isolation, Request, dry_run};
use crate::revision::target::Target;
use crate::vocab::Direction;

#[derive(Serialize)]
struct Report<'a> {
    dry_run: bool,
    #[serde(flatten)]
    report: &'a DryRun,
}

/// Runs a dry run of an upgrade (or downgrade) to `target`.
pub async fn run(
    cx: &Context,
    target: Option<&str>,
    resume: bool,
    flags: &RunFlags,
    direction: Direction,
) -> anyhow::Result<i32> {
    let target: Option<Target> = match (target, direction) {
        (Some(target), _) => Some(target.parse()?),
        (None, Direction::Up) => Some(Target::Heads),
        (None, Direction::Down) => None,
    };
    let (mut options, repo, modules) = flags
        .prepare(
            cx,
            target
                .as_ref()
                .map(|t| (t, Some(direction == Direction::Up))),
            super::ModuleUse::RunOverApplied,
        )
        .await?;
    options.resume = resume;
    // A dry run creates nothing, not even a missing SQLite file: that one starts empty.
    let connect = flags.connect_options(cx, false);
    let mut live = match cx.connect(&connect).await {
        Ok(db) => Some(db),
        Err(error) if matches!(error.downcast_ref(), Some(DbError::NoSuchFile(_))) => None,
        Err(error) => return Err(error),
    };
    let mut progress = TerminalProgress::new(cx.verbose, cx.quiet || cx.format == Format::Json);
    let request = Request {
        repo: &repo,
        modules,
        options,
        direction,
        target: target.as_ref(),
    };
    let outcome = dry_run(live.as_mut(), &connect, request, &mut progress).await;
    if let Some(db) = live {
        Db::close(db).await.ok();
    }
    match outcome {
        Ok(report) => {
            cx.report(
                &Report {
                    dry_run: true,
                    report: &report,
                },
                || print(&report, None),
            )?;
            Ok(0)
        }
        Err(failed) => {
            if cx.format != Format::Json && !cx.quiet {
                print(&failed.report, Some(&failed));
            }
            Err(failed.into())
        }
    }
}

/// The report for people.
fn print(report: &DryRun, failed: Option<&DryRunFailed>) {
    let verb = match report.direction {
        Direction::Up => "upgrade",
        Direction::Down => "downgrade",
    };
    let how = match report.isolation {
        Isolation::Copy => "on a copy of the database, deleted afterwards",
        Isolation::RolledBack => "in one transaction, rolled back afterwards",
        Isolation::ScratchDatabase => "on a scratch copy of the database, dropped afterwards",
    };
    println!("dry run of {verb} on {} ({how})", report.database);
    for revision in &report.revisions {
        let took = match revision.duration_ms {
            Some(ms) => format!("{ms} ms"),
            None => "stopped".into(),
        };
        println!(
            "revision {} ({}) {}: {took}",
            revision.revision,
            revision.direction.as_str(),
            revision.message
        );
        for step in &revision.steps {
            println!(
                "  step {} {}: {} ms",
                step.number, step.describe, step.duration_ms
            );
            for transform in &step.transforms {
                println!(
                    "    {}: read {}; wrote {}; {} statement(s)",
                    transform.module,
                    counts(&transform.rows_read),
                    counts(&transform.rows_written),
                    transform.statements
                );
            }
            for line in step.sql.iter().flat_map(|sql| sql.lines()) {
                println!("    {line}");
            }
        }
        if !revision.schema.is_empty() {
            println!("  schema:");
            for line in &revision.schema {
                println!("    {line}");
            }
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    let ran = report.ran().len();
    match failed {
        Some(_) => {
            println!("the dry run stopped after {ran} revision(s); the database was not changed")
        }
        None if ran == 0 => println!(
            "nothing to do: the database is at {}",
            output::at(&report.heads_before)
        ),
        None => println!(
            "nothing was changed; the real run would {verb} {ran} revision(s), from {} to {}",
            output::at(&report.heads_before),
            output::at(&report.heads_after)
        ),
    }
}

/// `contacts 5, deals 4`, or `nothing`.
fn counts(counts: &std::collections::BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "nothing".into();
    }
    counts
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
