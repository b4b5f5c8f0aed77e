//! `runner check`, the CI gate: the files load (bad ones are exit 2), the graph has one head,
//! the transform modules match `transforms.lock` and fit the sandbox, every revision goes up,
//! down and up again on a scratch database leaving the schema it found, the schema at head
//! is `schema.yaml`'s, and lint finds nothing. Exit 3 on any problem, 0 when all pass.
//!
//! The scratch database is an in-memory SQLite unless `--database-url` names one on the
//! command line; `DATABASE_URL` and runner.toml are never used, since they name the
//! project's own database. A given database must be empty, and is emptied again at the end.

use serde::Serialize;

use super::lint::{DialectsArg, print_findings};
use super::{Context, Format, UsageError};
use crate::check::{Problem, schema_file_problems, stairway};
use crate::db::introspect::introspect;
use crate::db::url::DatabaseUrl;
use crate::db::{ConnectOptions, Db};
use crate::exec::{Migrator, RunOptions, Silent};
use crate::lint::{Finding, lint};
use crate::revision::Repository;
use crate::transforms::{BuildPolicy, Modules, TransformsError};
use crate::vocab::Direction;
use crate::{sandbox, schema_file, version_table};

/// Verify the project as CI should: graph, transforms, the stairway on a scratch database,
/// schema.yaml, lint
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accept a graph with several heads
    #[arg(long)]
    allow_heads: bool,
    /// Never run cargo: use only prebuilt modules that match transforms.lock
    #[arg(long)]
    no_build: bool,
    /// Load these fixtures on the way (at the revision DIR/fixtures.json names), so the later
    /// revisions' transforms, up and down, run over real rows
    #[arg(long, value_name = "DIR")]
    fixtures: Option<std::path::PathBuf>,
    #[command(flatten)]
    dialects: DialectsArg,
}

/// One check's verdict.
#[derive(Serialize)]
struct Verdict {
    check: &'static str,
    /// `ok`, `failed` or `skipped`.
    status: &'static str,
    summary: String,
}

#[derive(Serialize)]
struct Report<'a> {
    clean: bool,
    /// The scratch database (password masked).
    database: String,
    revisions: usize,
    checks: &'a [Verdict],
    problems: &'a [Problem],
    lint: &'a [Finding],
}

/// What the checks found so far.
#[derive(Default)]
struct Findings {
    verdicts: Vec<Verdict>,
    problems: Vec<Problem>,
}

impl Findings {
    /// A check that found `problems` (passed when there are none: `ok` says what passed).
    fn record(&mut self, check: &'static str, problems: Vec<Problem>, ok: String) {
        self.verdict(check, problems.len(), "problem", ok);
        self.problems.extend(problems);
    }

    /// A check's verdict from how many `what`s it found.
    fn verdict(&mut self, check: &'static str, found: usize, what: &str, ok: String) {
        let (status, summary) = match found {
            0 => ("ok", ok),
            1 => ("failed", format!("1 {what}")),
            n => ("failed", format!("{n} {what}s")),
        };
        self.verdicts.push(Verdict {
            check,
            status,
            summary,
        });
    }

    fn skip(&mut self, check: &'static str, why: impl Into<String>) {
        self.verdicts.push(Verdict {
            check,
            status: "skipped",
            summary: why.into(),
        });
    }
}

/// Runs `check`.
pub async fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let fixtures = args
        .fixtures
        .as_deref()
        .map(crate::fixtures::read)
        .transpose()?;
    let scratch: DatabaseUrl = match &cx.explicit_database_url {
        Some(url) => url.parse()?,
        None => "sqlite::memory:".parse()?,
    };
    let mut found = Findings::default();
    let count = repo.ordered().len();
    found.record(
        "parse",
        Vec::new(),
        format!("{count} revision file(s) load"),
    );
    found.record(
        "heads",
        heads_problems(&repo, args.allow_heads),
        heads_ok(&repo),
    );

    let modules = transform_checks(cx, &repo, args.no_build, &mut found).await?;
    match modules {
        Some(modules) => {
            let (ok, problems) =
                stairway_check(cx, &repo, &modules, &scratch, fixtures.as_ref()).await?;
            found.record("stairway", problems, ok);
        }
        None => found.skip("stairway", "the transform modules did not load"),
    }

    match schema_file::load(&cx.config.schema_file)? {
        None => found.skip(
            "schema",
            format!("{} declares no tables", cx.config.schema_file.display()),
        ),
        Some(desired) => {
            let all: std::collections::HashSet<String> = repo.graph.ordered().into_iter().collect();
            let head = repo.schema_of(&all)?;
            found.record(
                "schema",
                schema_file_problems(&head, &desired, &cx.config.schema_file),
                format!(
                    "the schema at head is the one {} declares",
                    cx.config.schema_file.display()
                ),
            );
        }
    }

    let findings = lint(&repo, None, args.dialects.options())?;
    found.verdict("lint", findings.len(), "finding", "no findings".into());

    let clean = found.problems.is_empty() && findings.is_empty();
    match cx.format {
        Format::Json => super::output::json(&Report {
            clean,
            database: scratch.to_string(),
            revisions: count,
            checks: &found.verdicts,
            problems: &found.problems,
            lint: &findings,
        })?,
        _ => print_report(&found, &findings, &scratch, clean, cx.quiet),
    }
    Ok(if clean { 0 } else { 3 })
}

fn heads_ok(repo: &Repository) -> String {
    match repo.graph.heads().as_slice() {
        [] => "no revisions".into(),
        [one] => format!("one head, {one}"),
        many => format!("{} heads, allowed", many.len()),
    }
}

/// Several heads, unless allowed: a merge is missing.
fn heads_problems(repo: &Repository, allow: bool) -> Vec<Problem> {
    let heads = repo.graph.heads();
    if allow || heads.len() < 2 {
        return Vec::new();
    }
    let files: Vec<String> = heads
        .iter()
        .map(|id| match repo.get(id) {
            Some(r) => format!("{id} ({})", r.file.path.display()),
            None => id.clone(),
        })
        .collect();
    vec![Problem::new(
        "heads",
        format!(
            "the graph has {} heads: {}; join them with `runner merge {} -m MESSAGE`, or pass --allow-heads if the branches are meant to stay apart",
            heads.len(),
            files.join(", "),
            heads.join(" ")
        ),
    )]
}

/// The modules against `transforms.lock`, then each one's imports against the sandbox; the
/// modules when they load.
async fn transform_checks(
    cx: &Context,
    repo: &Repository,
    no_build: bool,
    found: &mut Findings,
) -> anyhow::Result<Option<Modules>> {
    let names = repo.transform_modules();
    if names.is_empty() {
        found.skip("transforms", "no revision runs a transform");
        found.skip("sandbox", "no revision runs a transform");
        return Ok(Some(Modules::default()));
    }
    let policy = if no_build {
        BuildPolicy::Never
    } else {
        BuildPolicy::WhenStale
    };
    let modules = match cx.modules(repo, policy).await {
        Ok(modules) => modules,
        Err(error) if error.downcast_ref::<TransformsError>().is_some() => {
            found.record(
                "transforms",
                vec![Problem::new("transforms", format!("{error:#}"))],
                String::new(),
            );
            found.skip("sandbox", "the transform modules did not load");
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    found.record(
        "transforms",
        Vec::new(),
        format!(
            "{} module(s) match {}",
            names.len(),
            cx.config.transforms_lock().display()
        ),
    );
    let mut problems = Vec::new();
    for name in &names {
        let Some(module) = modules.get(name) else {
            continue;
        };
        if let Err(error) = sandbox::module_info(&module.wasm).await {
            problems.push(Problem::new(
                "sandbox",
                format!("module '{name}' does not fit runner's sandbox: {error}"),
            ));
        }
    }
    let ok = format!("{} module(s) load in the sandbox", names.len());
    let failed = !problems.is_empty();
    found.record("sandbox", problems, ok);
    Ok((!failed).then_some(modules))
}

/// The stairway on the scratch database: its summary when it passes, or its problem.
async fn stairway_check(
    cx: &Context,
    repo: &Repository,
    modules: &Modules,
    scratch: &DatabaseUrl,
    fixtures: Option<&crate::fixtures::Fixtures>,
) -> anyhow::Result<(String, Vec<Problem>)> {
    let mut db = Db::connect(scratch, &ConnectOptions::default()).await?;
    let result = async {
        refuse_unless_empty(&mut db, scratch).await?;
        let options = RunOptions {
            sandbox: cx.config.sandbox,
            ..RunOptions::default()
        };
        let walked = stairway(repo, &mut db, modules, &options, fixtures).await?;
        let done = walked.done;
        let mut problems: Vec<Problem> = walked.problem.into_iter().collect();
        if cx.explicit_database_url.is_some() && problems.is_empty() {
            // Leave the throwaway database as it was given: empty (runner's tables aside).
            if walked.loaded.is_some() {
                let tables: Vec<String> = introspect(&mut db).await?.tables.into_keys().collect();
                crate::fixtures::remove_all_rows(&mut db, &tables).await?;
            }
            problems.extend(revert_all(repo, &mut db, modules, &options).await);
        }
        let mut summary = format!("{done} revision(s) up, down and up again on {scratch}");
        if let Some(rows) = walked.loaded {
            summary.push_str(&format!(", over {rows} fixture row(s)"));
        }
        anyhow::Ok((summary, problems))
    }
    .await;
    db.close().await?;
    result
}

/// A scratch database must hold nothing: the stairway runs downgrades.
async fn refuse_unless_empty(db: &mut Db, url: &DatabaseUrl) -> anyhow::Result<()> {
    let live = introspect(db).await?;
    let mut held: Vec<String> = live.tables.keys().cloned().collect();
    held.extend(live.enums.keys().map(|e| format!("enum {e}")));
    if version_table::exists(db).await? && !version_table::heads(db).await?.is_empty() {
        held.push("applied revisions in runner_version".into());
    }
    if held.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "check runs every revision up and down on a scratch database, and {url} is not empty (it holds {}); give it an empty one, or leave out --database-url for an in-memory SQLite",
        held.join(", ")
    ))
    .into())
}

/// Every revision reverted, newest first, so a given scratch database is left empty.
async fn revert_all(
    repo: &Repository,
    db: &mut Db,
    modules: &Modules,
    options: &RunOptions,
) -> Option<Problem> {
    let mut ids = repo.graph.ordered();
    ids.reverse();
    for id in ids {
        let mut silent = Silent;
        let ran = Migrator::new(repo, db, options.clone(), &mut silent)
            .with_modules(modules.clone())
            .run_one(&id, Direction::Down)
            .await;
        if let Err(error) = ran {
            let loc = repo.get(&id).map(|r| r.locs.id.clone());
            let message = format!(
                "reverting to base after the stairway, the downgrade of {id} failed: {error}"
            );
            return Some(match loc {
                Some(loc) => Problem::at("stairway", &loc, message),
                None => Problem::new("stairway", message),
            });
        }
    }
    None
}

fn print_report(
    found: &Findings,
    findings: &[Finding],
    scratch: &DatabaseUrl,
    clean: bool,
    quiet: bool,
) {
    if !quiet || !clean {
        println!("check (scratch database: {scratch})");
        for verdict in &found.verdicts {
            println!(
                "  {:<7} {:<10} {}",
                verdict.status, verdict.check, verdict.summary
            );
        }
    }
    for problem in &found.problems {
        println!(
            "{}{}: {}",
            problem.location(),
            problem.check,
            problem.message
        );
    }
    if !findings.is_empty() {
        print_findings(findings, quiet);
    }
    if clean {
        if !quiet {
            println!("check: passed");
        }
    } else {
        println!(
            "check: failed ({} problem(s), {} lint finding(s))",
            found.problems.len(),
            findings.len()
        );
    }
}
