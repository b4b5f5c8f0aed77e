//! `runner show REV`: a revision's header, its steps both ways (the derived downgrade too) and
//! the SQL they render to, without touching a database.

use serde::Serialize;

use super::output::{self, RevisionInfo};
use super::{Context, Format};
use crate::dialect::Action;
use crate::dialect_kind::Dialect;
use crate::plan::{self, RevisionPlan};
use crate::revision::{Downgrade, Revision};
use crate::version_table::Direction;

/// Show a revision: header, steps both ways, and their SQL
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A revision id, unique prefix or branch label
    revision: String,
    /// Render SQL for this database [default: the configured one, else sqlite]
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
}

/// The databases SQL can be rendered for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DialectArg {
    Sqlite,
    Postgres,
    Mysql,
}

impl From<DialectArg> for Dialect {
    fn from(arg: DialectArg) -> Self {
        match arg {
            DialectArg::Sqlite => Dialect::Sqlite,
            DialectArg::Postgres => Dialect::Postgres,
            DialectArg::Mysql => Dialect::Mysql,
        }
    }
}

#[derive(Serialize)]
struct StepOut {
    step: usize,
    describe: String,
    at: String,
    sql: Vec<String>,
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    info: RevisionInfo,
    children: Vec<String>,
    transactional: bool,
    dialect: Dialect,
    upgrade: Vec<StepOut>,
    downgrade_auto: bool,
    downgrade: Option<Vec<StepOut>>,
    downgrade_error: Option<String>,
}

fn steps(plan: &RevisionPlan) -> Vec<StepOut> {
    plan.steps
        .iter()
        .map(|s| StepOut {
            step: s.number,
            describe: s.describe.clone(),
            at: s.loc.to_string(),
            sql: s.actions.iter().map(Action::script).collect(),
        })
        .collect()
}

fn print_steps(title: &str, steps: &[StepOut]) {
    println!("{title}:");
    if steps.is_empty() {
        println!("  (no steps)");
    }
    for step in steps {
        println!("  {}. {}    ({})", step.step, step.describe, step.at);
        for sql in &step.sql {
            for line in sql.lines() {
                println!("       {line}");
            }
        }
    }
}

fn header(revision: &Revision, children: &[String]) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    println!("revision:      {}", revision.id);
    println!("parents:       {}", list(&revision.parents));
    println!("children:      {}", list(children));
    println!("message:       {}", revision.message);
    println!("file:          {}", revision.file.path.display());
    if let Some(created) = revision.created {
        println!("created:       {}", created.to_rfc3339());
    }
    println!("branch labels: {}", list(&revision.branch_labels));
    println!("depends on:    {}", list(&revision.depends_on));
    println!("transactional: {}", revision.transactional);
}

/// Prints the revision.
pub fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let id = repo.graph.resolve(&args.revision)?;
    let revision = repo.revision(&id)?;
    let dialect = args
        .dialect
        .map(Dialect::from)
        .or_else(|| cx.config.database_url.as_ref().map(|u| u.dialect()))
        .unwrap_or(Dialect::Sqlite);
    let with = repo.graph.ancestors(std::slice::from_ref(&id))?;
    let mut without = with.clone();
    without.remove(&id);
    let up = plan::plan_revision(&repo, revision, Direction::Up, &without, dialect)?;
    // What the built modules say of themselves (`transforms.lock`): a step running one
    // without a `down` cannot be reversed. A module not built yet is taken at its word.
    let lock = crate::transforms::Lock::read(&cx.config.transforms_lock())?;
    let (down, down_error) =
        match plan::plan_revision(&repo, revision, Direction::Down, &with, dialect) {
            Ok(plan) => match crate::exec::check_reversible(revision, &plan, |module| {
                lock.modules.get(module).map(|entry| entry.has_down)
            }) {
                Ok(()) => (Some(steps(&plan)), None),
                Err(e) => (None, Some(e.to_string())),
            },
            Err(e) => (None, Some(e.to_string())),
        };
    let shown = Shown {
        info: RevisionInfo::new(&repo, revision),
        children: repo.graph.children(&id),
        transactional: revision.transactional,
        dialect,
        upgrade: steps(&up),
        downgrade_auto: matches!(revision.downgrade, Downgrade::Auto),
        downgrade: down,
        downgrade_error: down_error,
    };
    match cx.format {
        Format::Json => output::json(&shown)?,
        _ => {
            header(revision, &shown.children);
            println!();
            print_steps(&format!("upgrade ({dialect})"), &shown.upgrade);
            println!();
            let title = format!(
                "downgrade ({dialect}, {})",
                if shown.downgrade_auto {
                    "auto"
                } else {
                    "explicit"
                }
            );
            match (&shown.downgrade, &shown.downgrade_error) {
                (Some(steps), _) => print_steps(&title, steps),
                (None, Some(error)) => println!("{title}: not possible\n  {error}"),
                (None, None) => {}
            }
        }
    }
    Ok(0)
}
