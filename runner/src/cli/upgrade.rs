//! `runner upgrade [TARGET]` and `runner downgrade TARGET`.

use std::time::Duration;

use serde::Serialize;

use super::output::{self, TerminalProgress};
use super::{Context, Format};
use crate::config::parse_duration;
use crate::db::{ConnectOptions, Db};
use crate::exec::{Migrator, Ran, RunOptions};
use crate::revision::Repository;
use crate::revision::target::Target;
use crate::transforms::{BuildPolicy, Modules};
use crate::version_table::{self, Direction};

/// Options shared by the commands that take the migration lock.
#[derive(Debug, clap::Args)]
pub struct RunFlags {
    /// How long to wait for another runner migrating the same database
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    lock_timeout: Duration,
    /// Run even though applied revisions were edited since (see `runner repair`)
    #[arg(long)]
    allow_changed: bool,
    /// Never run cargo: use only prebuilt modules that match transforms.lock (build with
    /// `runner build` where the sources are trusted, run where the credentials are)
    #[arg(long)]
    pub(super) no_build: bool,
}

/// Apply revisions up to TARGET
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// heads, head, a revision, LABEL@head, +N, REV+N
    #[arg(default_value = "heads", allow_negative_numbers = true)]
    pub(super) target: String,
    #[command(flatten)]
    pub(super) flags: RunFlags,
}

/// Revert revisions down to TARGET
#[derive(Debug, clap::Args)]
pub struct DowngradeArgs {
    /// base, a revision, -N, REV-N
    #[arg(allow_negative_numbers = true)]
    pub(super) target: String,
    #[command(flatten)]
    pub(super) flags: RunFlags,
}

/// What a command that migrates needs: its options, the revisions, the transform modules they
/// run, and a connection.
pub struct Opened {
    pub options: RunOptions,
    pub repo: Repository,
    pub modules: Modules,
    pub db: Db,
}

impl RunFlags {
    /// Loads the revisions and their modules, then connects (creating a missing SQLite file
    /// only if `create_sqlite_file`): nothing touches the database before the input is valid.
    pub async fn open(&self, cx: &Context, create_sqlite_file: bool) -> anyhow::Result<Opened> {
        let options = RunOptions {
            lock_timeout: self.lock_timeout,
            allow_changed: self.allow_changed,
            sandbox: cx.config.sandbox,
        };
        let repo = cx.repository()?;
        let policy = if self.no_build {
            BuildPolicy::Never
        } else {
            BuildPolicy::WhenStale
        };
        let modules = cx.modules(&repo, policy).await?;
        let db = cx
            .connect(&ConnectOptions {
                create_sqlite_file,
                lock_timeout: options.lock_timeout,
            })
            .await?;
        Ok(Opened {
            options,
            repo,
            modules,
            db,
        })
    }
}

#[derive(Serialize)]
struct Report<'a> {
    database: String,
    ran: &'a [Ran],
    heads: Vec<String>,
}

async fn run(
    cx: &Context,
    target: &str,
    flags: &RunFlags,
    direction: Direction,
) -> anyhow::Result<i32> {
    let target: Target = target.parse()?;
    let Opened {
        options,
        repo,
        modules,
        mut db,
    } = flags.open(cx, true).await?;
    let mut progress = TerminalProgress::new(cx.verbose, cx.quiet || cx.format == Format::Json);
    let mut migrator = Migrator::new(&repo, &mut db, options, &mut progress).with_modules(modules);
    let ran = match direction {
        Direction::Up => migrator.upgrade(&target).await?,
        Direction::Down => migrator.downgrade(&target).await?,
    };
    let heads = version_table::heads(&mut db).await?;
    let at = output::at(&heads);
    let report = Report {
        database: db.url.to_string(),
        ran: &ran,
        heads,
    };
    cx.report(&report, || {
        let verb = match direction {
            Direction::Up => "upgraded",
            Direction::Down => "downgraded",
        };
        if ran.is_empty() {
            println!("nothing to do: {} is at {at}", db.url);
        } else {
            println!("{verb} {} revision(s); {} is at {at}", ran.len(), db.url);
        }
    })?;
    db.close().await?;
    Ok(0)
}

/// Runs `upgrade`.
pub async fn upgrade(cx: &Context, args: &UpgradeArgs) -> anyhow::Result<i32> {
    run(cx, &args.target, &args.flags, Direction::Up).await
}

/// Runs `downgrade`.
pub async fn downgrade(cx: &Context, args: &DowngradeArgs) -> anyhow::Result<i32> {
    run(cx, &args.target, &args.flags, Direction::Down).await
}
