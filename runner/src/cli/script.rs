//! `upgrade --sql` and `downgrade --sql`: the revisions' SQL as one script on stdout instead of
//! running it (see `exec::script`). With a range `FROM:TO` nothing connects; with a single
//! TARGET the script starts where the live database is, which is only read.

use std::collections::HashSet;

use serde::Serialize;

use super::show::DialectArg;
use super::{Context, Format, UsageError};
use crate::db::{ConnectOptions, DbError};
use crate::dialect_kind::Dialect;
use crate::exec::{ModuleFacts, write_script};
use crate::revision::Repository;
use crate::revision::target::{self, Target};
use crate::transforms::Lock;
use crate::version_table::{self, Direction};

/// How `--sql` writes its script.
#[derive(Debug, clap::Args)]
pub struct ScriptFlags {
    /// Print the SQL as one script instead of running it; TARGET may be a range FROM:TO
    /// (`base:heads`), which needs no database
    #[arg(long)]
    pub(super) sql: bool,
    /// The database the script is for [default: the URL's]
    #[arg(long, value_enum, requires = "sql")]
    dialect: Option<DialectArg>,
    /// Exit 0 although transform steps are left out of the script (they are comments in it)
    #[arg(long, requires = "sql")]
    skip_transforms: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    dialect: Dialect,
    direction: Direction,
    revisions: &'a [String],
    /// The transform steps the script leaves out, as `revision step N: module (up)`.
    transforms_left_out: &'a [String],
    script: &'a str,
}

/// Prints the script for `target` (a TARGET or a FROM:TO range) in `direction`.
pub async fn run(
    cx: &Context,
    target: &str,
    direction: Direction,
    flags: &ScriptFlags,
) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let graph = &repo.graph;
    let (from, to) = match target.split_once(':') {
        Some((from, to)) => (Some(from), to),
        None => (None, target),
    };
    let to: Target = if to.is_empty() && direction == Direction::Up {
        Target::Heads
    } else {
        to.parse()?
    };
    target::check(&to, graph, Some(direction == Direction::Up))?;
    let dialect = match flags.dialect {
        Some(dialect) => Dialect::from(dialect),
        None => cx
            .config
            .database_url()
            .map_err(|_| {
                UsageError("--sql needs --dialect, or a database URL to take it from".into())
            })?
            .dialect(),
    };
    let applied = match from {
        Some(from) => applied_at(&repo, from)?,
        None => live_applied(cx, &repo).await?,
    };
    let path = match direction {
        Direction::Up => {
            graph.upgrade_path(&applied, &target::resolve_up(&to, graph, &applied)?)?
        }
        Direction::Down => {
            graph.downgrade_path(&applied, &target::resolve_down(&to, graph, &applied)?)?
        }
    };
    let lock = Lock::read_if_exists(&cx.config.transforms_lock())?.unwrap_or_default();
    for module in repo.transform_modules() {
        if !lock.modules.contains_key(&module) && !cx.quiet {
            eprintln!(
                "warning: {} has no entry for transform module '{module}', so the checksums the script records for the revisions running it will not match; run `runner build` first",
                cx.config.transforms_lock().display()
            );
        }
    }
    let sha256 = |module: &str| lock.modules.get(module).map(|m| m.sha256.clone());
    let has_down = |module: &str| lock.modules.get(module).map(|m| m.has_down);
    let modules = ModuleFacts {
        sha256: &sha256,
        has_down: &has_down,
    };
    let script = write_script(
        &repo,
        dialect,
        direction,
        &applied,
        &path,
        &modules,
        chrono::Utc::now(),
    )?;
    match cx.format {
        Format::Json => super::output::json(&Report {
            dialect,
            direction,
            revisions: &path,
            transforms_left_out: &script.transforms,
            script: &script.text,
        })?,
        _ => print!("{}", script.text),
    }
    if script.transforms.is_empty() || flags.skip_transforms {
        return Ok(0);
    }
    if !cx.quiet {
        eprintln!(
            "error: the script leaves out {} transform step(s), which only a run can do: {}; run them with `runner {}`, or pass --skip-transforms if the data they move is not needed",
            script.transforms.len(),
            script.transforms.join(", "),
            match direction {
                Direction::Up => "upgrade",
                Direction::Down => "downgrade",
            }
        );
    }
    Ok(1)
}

/// The revisions applied at FROM: nothing at `base` (or an empty FROM), else FROM's ancestors.
fn applied_at(repo: &Repository, from: &str) -> anyhow::Result<HashSet<String>> {
    if from.is_empty() || from == "base" {
        return Ok(HashSet::new());
    }
    let from: Target = from.parse()?;
    let ids = target::resolve_up(&from, &repo.graph, &HashSet::new())?;
    Ok(repo.graph.ancestors(&ids)?)
}

/// The revisions the live database has applied, read without creating anything.
async fn live_applied(cx: &Context, repo: &Repository) -> anyhow::Result<HashSet<String>> {
    let options = ConnectOptions {
        create_sqlite_file: false,
        ..ConnectOptions::default()
    };
    let heads = match cx.connect(&options).await {
        Ok(mut db) => {
            let heads = version_table::heads(&mut db).await;
            db.close().await?;
            heads?
        }
        Err(e) if matches!(e.downcast_ref::<DbError>(), Some(DbError::NoSuchFile(_))) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(repo.graph.applied_from_rows(&heads)?)
}
