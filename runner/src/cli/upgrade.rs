//! `runner upgrade [TARGET]` and `runner downgrade TARGET`.

use std::time::Duration;

use serde::Serialize;

use super::output::{self, TerminalProgress};
use super::script::ScriptFlags;
use super::{Context, Format, ModuleUse};
use crate::db::{ConnectOptions, Db};
use crate::exec::{Migrator, Ran, RunOptions};
use crate::revision::Repository;
use crate::revision::target::Target;
use crate::transforms::{BuildPolicy, Modules};
use crate::units::parse_duration;
use crate::version_table::{self, Direction};

/// Options shared by the commands that take the migration lock.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// How long to wait for another runner migrating the same database
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    pub(super) lock_timeout: Duration,
    /// How long a statement waits for a table lock another session holds before it gives up
    /// and is tried again (PostgreSQL `lock_timeout`, MySQL `lock_wait_timeout`)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ddl_lock_timeout: Option<Duration>,
    /// How many times a step that gave up waiting for a table lock is tried again
    #[arg(long, default_value_t = 3, value_name = "N")]
    lock_retries: u32,
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
    /// Go on with a revision a run left half applied (MySQL, `transactional: false`) from its
    /// first step not recorded as done, after checking the database
    #[arg(long, conflicts_with = "sql")]
    pub(super) resume: bool,
    /// Run everything for real, transforms included, on a scratch copy of the database (a
    /// rolled-back transaction on PostgreSQL), and report each step; nothing is changed
    #[arg(long, conflicts_with = "sql")]
    pub(super) dry_run: bool,
    /// Load these fixtures on the way: upgrade to the revision DIR/fixtures.json names, load
    /// them, then go on to TARGET, so their rows pass through the later data transforms (not
    /// loaded when the database is past that revision already)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["sql", "dry_run", "resume"])]
    pub(super) fixtures: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(super) flags: RunFlags,
    #[command(flatten)]
    pub(super) script: ScriptFlags,
}

/// Revert revisions down to TARGET
#[derive(Debug, clap::Args)]
pub struct DowngradeArgs {
    /// base, a revision, -N, REV-N (with --resume, may be left out: the half-done revision
    /// is finished and nothing more is reverted)
    #[arg(allow_negative_numbers = true, required_unless_present = "resume")]
    pub(super) target: Option<String>,
    /// Go on with a downgrade a run left half applied, from its first step not recorded as
    /// done, after checking the database
    #[arg(long, conflicts_with = "sql")]
    pub(super) resume: bool,
    /// Run everything for real, transforms included, on a scratch copy of the database (a
    /// rolled-back transaction on PostgreSQL), and report each step; nothing is changed
    #[arg(long, conflicts_with = "sql")]
    pub(super) dry_run: bool,
    #[command(flatten)]
    pub(super) flags: RunFlags,
    #[command(flatten)]
    pub(super) script: ScriptFlags,
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
    /// Loads the revisions and their modules, checks `target` as far as it can be without the
    /// database (see `target::check`; `Some(up)` is the command's direction, `None` stamp's),
    /// then connects (creating a missing SQLite file only if `create_sqlite_file`): nothing
    /// touches the database before the input is valid.
    pub async fn open(
        &self,
        cx: &Context,
        create_sqlite_file: bool,
        target: Option<(&Target, Option<bool>)>,
        usage: ModuleUse,
    ) -> anyhow::Result<Opened> {
        let (options, repo, modules) = self.prepare(cx, target, usage).await?;
        let db = cx
            .connect(&self.connect_options(cx, create_sqlite_file))
            .await?;
        Ok(Opened {
            options,
            repo,
            modules,
            db,
        })
    }

    /// [`Self::open`] without the connection.
    pub async fn prepare(
        &self,
        cx: &Context,
        target: Option<(&Target, Option<bool>)>,
        usage: ModuleUse,
    ) -> anyhow::Result<(RunOptions, Repository, Modules)> {
        let options = RunOptions {
            lock_timeout: self.lock_timeout,
            allow_changed: self.allow_changed,
            sandbox: cx.config.sandbox,
            resume: false,
            lock_retries: self.lock_retries,
        };
        let repo = cx.repository()?;
        if let Some((target, up)) = target {
            crate::revision::target::check(target, &repo.graph, up)?;
        }
        let policy = if self.no_build {
            BuildPolicy::Never
        } else {
            BuildPolicy::WhenStale
        };
        // --allow-changed accepts an edited module, rebuilt, under the applied revisions.
        let usage = match usage {
            ModuleUse::RunOverApplied if self.allow_changed => ModuleUse::Run,
            usage => usage,
        };
        let modules = cx.modules_for(&repo, policy, usage).await?;
        Ok((options, repo, modules))
    }

    /// How these flags connect.
    pub fn connect_options(&self, cx: &Context, create_sqlite_file: bool) -> ConnectOptions {
        ConnectOptions {
            create_sqlite_file,
            lock_timeout: self.lock_timeout,
            ddl_lock_timeout: Some(self.ddl_lock_timeout.unwrap_or(cx.config.ddl_lock_timeout)),
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    database: String,
    ran: &'a [Ran],
    heads: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixtures: Option<super::fixtures::OnTheWay>,
}

async fn run(
    cx: &Context,
    target: Option<&str>,
    resume: bool,
    flags: &RunFlags,
    direction: Direction,
    fixtures: Option<&std::path::Path>,
) -> anyhow::Result<i32> {
    let fixtures = fixtures
        .map(|dir| anyhow::Ok((dir, crate::fixtures::read(dir)?)))
        .transpose()?;
    // A downgrade that only resumes reverts nothing past the half-done revision.
    let target: Option<Target> = target.map(str::parse).transpose()?;
    let Opened {
        mut options,
        repo,
        modules,
        mut db,
    } = flags
        .open(
            cx,
            true,
            target
                .as_ref()
                .map(|t| (t, Some(direction == Direction::Up))),
            ModuleUse::RunOverApplied,
        )
        .await?;
    options.resume = resume;
    let mut progress = TerminalProgress::new(cx.verbose, cx.quiet || cx.format == Format::Json);
    let mut ran = Vec::new();
    let on_the_way = match &fixtures {
        Some((dir, fixtures)) => {
            let heads = version_table::heads(&mut db).await?;
            let at = super::fixtures::fixtures_at(&repo, &heads, fixtures, target.as_ref())?;
            if matches!(at, super::fixtures::FixturesAt::UpgradeFirst) {
                let mut migrator = Migrator::new(&repo, &mut db, options.clone(), &mut progress)
                    .with_modules(modules.clone());
                for head in &fixtures.heads {
                    ran.extend(migrator.upgrade(&Target::Revision(head.clone())).await?);
                }
            }
            let done =
                super::fixtures::load_on_the_way(cx, &repo, &mut db, dir, fixtures, at, flags)
                    .await?;
            Some(done)
        }
        None => None,
    };
    let mut migrator = Migrator::new(&repo, &mut db, options, &mut progress).with_modules(modules);
    ran.extend(match (direction, &target) {
        (Direction::Up, Some(target)) => migrator.upgrade(target).await?,
        (Direction::Down, Some(target)) => migrator.downgrade(target).await?,
        (Direction::Down, None) => migrator.resume_downgrade().await?,
        (Direction::Up, None) => migrator.upgrade(&Target::Heads).await?,
    });
    let heads = version_table::heads(&mut db).await?;
    let at = output::at(&heads);
    let report = Report {
        database: db.url.to_string(),
        ran: &ran,
        heads,
        fixtures: on_the_way,
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
    if args.script.sql {
        return super::script::run(cx, &args.target, Direction::Up, &args.script).await;
    }
    if args.dry_run {
        let target = Some(args.target.as_str());
        return super::dry_run::run(cx, target, args.resume, &args.flags, Direction::Up).await;
    }
    run(
        cx,
        Some(&args.target),
        args.resume,
        &args.flags,
        Direction::Up,
        args.fixtures.as_deref(),
    )
    .await
}

/// Runs `downgrade`.
pub async fn downgrade(cx: &Context, args: &DowngradeArgs) -> anyhow::Result<i32> {
    if args.script.sql {
        let target = args.target.as_deref().unwrap_or_default();
        return super::script::run(cx, target, Direction::Down, &args.script).await;
    }
    if args.dry_run {
        let target = args.target.as_deref();
        return super::dry_run::run(cx, target, args.resume, &args.flags, Direction::Down).await;
    }
    run(
        cx,
        args.target.as_deref(),
        args.resume,
        &args.flags,
        Direction::Down,
        None,
    )
    .await
}
