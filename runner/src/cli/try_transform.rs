//! `runner try-transform NAME [--revision REV]`: one transform step on a scratch copy of the
//! database (see `dry_run::try_step`), reported as text for people or JSON for scripts: what
//! it read and wrote per table and a sample of the rows it changed. Nothing is changed.

use std::collections::BTreeSet;

use super::output::TerminalProgress;
use super::upgrade::RunFlags;
use super::{Context, Format, ModuleUse, UsageError};
use crate::db::{Db, DbError};
use crate::dry_run::Isolation;
use crate::dry_run::try_step::{
    self, LocateError, Request, RowChange, TableSample, TryFailed, TryReport,
};

/// Run one transform step on a scratch copy of the database and report what it read and
/// wrote; changes nothing
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The transform module, as a revision's `- transform: {module: NAME}` step names it
    #[arg(value_name = "NAME")]
    module: String,
    /// The revision whose step runs: an id, unique prefix or branch label [default: the last
    /// revision, in upgrade order, that runs NAME]
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    #[command(flatten)]
    flags: RunFlags,
}

/// Runs `try-transform`.
pub async fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    // The step first: a typo is told before any module is built.
    let step = try_step::locate(&cx.repository()?, &args.module, args.revision.as_deref())
        .map_err(input_error)?;
    let (options, repo, modules) = args
        .flags
        .prepare(cx, None, ModuleUse::RunOverApplied)
        .await?;
    // Like a dry run, it creates nothing, not even a missing SQLite file.
    let connect = args.flags.connect_options(cx, false);
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
        step: &step,
    };
    let outcome = try_step::try_step(live.as_mut(), &connect, request, &mut progress).await;
    drop(progress);
    if let Some(db) = live {
        Db::close(db).await.ok();
    }
    match outcome {
        Ok(report) => {
            cx.report(&report, || print(&report, None))?;
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

/// A step that cannot be found is bad input (exit 2), located where it can be.
fn input_error(error: LocateError) -> anyhow::Error {
    match error {
        LocateError::NotInRevision(located) => located.into(),
        LocateError::Graph(graph) => graph.into(),
        unknown @ LocateError::UnknownModule { .. } => UsageError(unknown.to_string()).into(),
    }
}

/// The report for people.
fn print(report: &TryReport, failed: Option<&TryFailed>) {
    let how = match report.isolation {
        Isolation::Copy => "on a copy of the database, deleted afterwards",
        Isolation::RolledBack => "in one transaction, rolled back afterwards",
        Isolation::ScratchDatabase => "on a scratch copy of the database, dropped afterwards",
    };
    println!(
        "try-transform {}: step {} of {} of revision {} ({}), {}",
        report.module, report.step, report.steps, report.revision, report.message, report.at
    );
    println!("on {} ({how})", report.database);
    if report.revision_applied {
        println!(
            "revision {} is applied: the step ran on the data as it is (nothing was reverted first)",
            report.revision
        );
    } else {
        println!(
            "revision {} is pending: the copy was brought to just before the step",
            report.revision
        );
        for revision in &report.prepared {
            let took = revision
                .duration_ms
                .map_or("stopped".into(), |ms| format!("{ms} ms"));
            if revision.revision == report.revision {
                if !revision.steps.is_empty() {
                    let steps: Vec<String> = revision
                        .steps
                        .iter()
                        .map(|s| format!("{}. {}", s.number, s.describe))
                        .collect();
                    println!("  its earlier steps: {} ({took})", steps.join("; "));
                }
            } else {
                println!(
                    "  upgraded {} {} ({took})",
                    revision.revision, revision.message
                );
            }
        }
    }
    match (&report.transform, report.duration_ms) {
        (Some(counts), Some(ms)) => {
            println!(
                "{} ran in {ms} ms, {} statement(s):",
                report.module, counts.statements
            );
            let tables: BTreeSet<&String> = counts
                .rows_read
                .keys()
                .chain(counts.rows_written.keys())
                .collect();
            if tables.is_empty() {
                println!("  it read and wrote nothing");
            }
            for table in tables {
                println!(
                    "  {table}: read {}, wrote {}",
                    counts.rows_read.get(table).copied().unwrap_or_default(),
                    counts.rows_written.get(table).copied().unwrap_or_default()
                );
            }
        }
        _ if failed.is_some() => println!("{} did not finish", report.module),
        _ => {}
    }
    for sample in &report.samples {
        print_sample(sample);
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if failed.is_none() {
        println!("nothing was changed in {}", report.database);
    }
}

fn print_sample(sample: &TableSample) {
    let Some(changed) = sample.changed else {
        println!(
            "{}: no sample of changed rows ({})",
            sample.table,
            sample.skipped.as_deref().unwrap_or("not read")
        );
        return;
    };
    let shown = if changed > sample.rows.len() {
        format!(", the first {}", sample.rows.len())
    } else {
        String::new()
    };
    println!("{}: {changed} row(s) changed{shown}", sample.table);
    for row in &sample.rows {
        let key = row
            .key
            .iter()
            .map(|(column, value)| format!("{column}={}", shown_value(value)))
            .collect::<Vec<_>>()
            .join(", ");
        let columns = row
            .columns
            .iter()
            .map(|c| match row.change {
                RowChange::Updated => format!(
                    "{} {} -> {}",
                    c.column,
                    shown_value(&c.before),
                    shown_value(&c.after)
                ),
                RowChange::Inserted => format!("{} {}", c.column, shown_value(&c.after)),
                RowChange::Deleted => format!("{} {}", c.column, shown_value(&c.before)),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let what = match row.change {
            RowChange::Updated => "",
            RowChange::Inserted => " (inserted)",
            RowChange::Deleted => " (deleted)",
        };
        println!("  {key}{what}: {columns}");
    }
}

/// A value as the sample shows it: text quoted, numbers as they are, NULL.
fn shown_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "NULL".into(),
        serde_json::Value::String(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}
