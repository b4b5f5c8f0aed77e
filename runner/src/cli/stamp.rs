//! `runner stamp TARGET` and `runner repair`: change what the version tables record without
//! running any step.

use serde_json::json;

use super::output;
use super::upgrade::{Opened, RunFlags};
use super::{Context, ModuleUse};
use crate::exec::{Migrator, Silent};
use crate::revision::target::Target;

/// Set the version table to TARGET without running anything
#[derive(Debug, clap::Args)]
pub struct StampArgs {
    /// heads, head, base, a revision, LABEL@head, +N, -N, REV+N, REV-N
    #[arg(allow_negative_numbers = true)]
    pub(super) target: String,
    #[command(flatten)]
    pub(super) flags: RunFlags,
}

/// Re-record the checksums of applied revisions after a deliberate edit, and clear failed
/// half-applied runs (as Flyway's repair)
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// Clear a half-applied run even though the live schema shows its steps are still in
    #[arg(long)]
    pub(super) force: bool,
    #[command(flatten)]
    pub(super) flags: RunFlags,
}

/// Runs `stamp`.
pub async fn stamp(cx: &Context, args: &StampArgs) -> anyhow::Result<i32> {
    let target: Target = args.target.parse()?;
    let Opened {
        options,
        repo,
        modules,
        mut db,
    } = args
        .flags
        .open(cx, true, Some((&target, None)), ModuleUse::Record)
        .await?;
    let heads = Migrator::new(&repo, &mut db, options, &mut Silent)
        .with_modules(modules)
        .stamp(&target)
        .await?;
    cx.report(
        &json!({ "database": db.url.to_string(), "heads": heads }),
        || println!("stamped {} at {}", db.url, output::at(&heads)),
    )?;
    db.close().await?;
    Ok(0)
}

/// Runs `repair`.
pub async fn repair(cx: &Context, args: &RepairArgs) -> anyhow::Result<i32> {
    let Opened {
        options,
        repo,
        modules,
        mut db,
    } = args.flags.open(cx, false, None, ModuleUse::Record).await?;
    let done = Migrator::new(&repo, &mut db, options, &mut Silent)
        .with_modules(modules)
        .repair(args.force)
        .await?;
    cx.report(
        &json!({ "database": db.url.to_string(), "repaired": done }),
        || {
            if done.is_empty() {
                println!("nothing to repair in {}", db.url);
            }
            for line in &done {
                println!("{line}");
            }
        },
    )?;
    db.close().await?;
    Ok(0)
}
