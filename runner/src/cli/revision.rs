//! `runner revision -m MSG`: a new revision whose parent is the current head, empty for the
//! author to fill in, or with `--autogenerate` (and `runner migrate`, the Flask-Migrate name)
//! holding the steps that turn the schema at that head (or the live database's) into
//! `schema.yaml`.

use anyhow::Context as _;

use super::{Context, Format, UsageError, output};
use crate::autogen::{AutogenError, Proposal, Rename, align_live, autogenerate};
use crate::revision::write::{self, NewRevision};
use crate::revision::{Repository, load, target};
use crate::schema_file;

/// Write a new revision file whose parent is the current head (or --head)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the revision does
    #[arg(short, long)]
    message: String,
    /// The parent: a revision (a head unless --splice), or `base` for a new branch from base
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// A branch label for the new revision (repeatable)
    #[arg(long = "branch-label", value_name = "LABEL")]
    branch_labels: Vec<String>,
    /// A revision that must be applied first without being a parent (repeatable)
    #[arg(long = "depends-on", value_name = "REV")]
    depends_on: Vec<String>,
    /// Allow --head to name a revision that is not a head, starting a branch from it
    #[arg(long)]
    splice: bool,
    /// Write the steps that turn the schema at the parent into schema.yaml
    #[arg(long)]
    autogenerate: bool,
    #[command(flatten)]
    auto: AutogenArgs,
}

/// `runner migrate -m MSG`: `revision --autogenerate`, as Flask-Migrate calls it
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// What the revision does
    #[arg(short, long)]
    message: String,
    #[command(flatten)]
    auto: AutogenArgs,
}

/// What autogenerate compares, and what it is told.
#[derive(Debug, clap::Args)]
pub struct AutogenArgs {
    /// OLD:NEW is a rename, not a drop and an add (repeatable): `contacts:people` for a table,
    /// `contacts.phone:phone_number` for a column, `deal_state.pending:signed` for an enum value
    #[arg(long = "rename", value_name = "OLD:NEW")]
    renames: Vec<Rename>,
    /// Compare schema.yaml with the live database (introspected) instead of the schema at head
    #[arg(long)]
    from_database: bool,
}

/// Runs `migrate`.
pub async fn migrate(cx: &Context, args: &MigrateArgs) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let parents = target::only_head(&repo.graph)?;
    autogenerate_new(
        cx,
        &repo,
        parents,
        Vec::new(),
        &args.message,
        &[],
        &args.auto,
    )
    .await
}

/// Writes the file.
pub async fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let graph = &repo.graph;
    let parents = match args.head.as_deref() {
        Some("base") => Vec::new(),
        Some(head) => {
            let id = graph.resolve(head)?;
            if !graph.children(&id).is_empty() && !args.splice {
                return Err(UsageError(format!(
                    "{id} is not a head; pass --splice to start a branch from it"
                ))
                .into());
            }
            vec![id]
        }
        None => target::only_head(graph)?,
    };
    let depends_on = args
        .depends_on
        .iter()
        .map(|dependency| graph.resolve(dependency))
        .collect::<Result<Vec<_>, _>>()?;
    if args.autogenerate {
        return autogenerate_new(
            cx,
            &repo,
            parents,
            depends_on,
            &args.message,
            &args.branch_labels,
            &args.auto,
        )
        .await;
    }
    if args.auto.from_database || !args.auto.renames.is_empty() {
        return Err(
            UsageError("--rename and --from-database go with --autogenerate".into()).into(),
        );
    }
    write_new(
        cx,
        &repo,
        parents,
        depends_on,
        &args.message,
        &args.branch_labels,
        Proposal::default(),
    )
    .map(|_| 0)
}

/// Compares, and writes the revision unless there is nothing to do.
async fn autogenerate_new(
    cx: &Context,
    repo: &Repository,
    parents: Vec<String>,
    depends_on: Vec<String>,
    message: &str,
    branch_labels: &[String],
    args: &AutogenArgs,
) -> anyhow::Result<i32> {
    let path = &cx.config.schema_file;
    let Some(desired) = schema_file::load(path)? else {
        return Err(UsageError(format!(
            "{} declares no tables: autogenerate writes the steps that turn the schema at head \
             into it (`runner schema > {}` starts one from the schema at head)",
            path.display(),
            path.display()
        ))
        .into());
    };
    let (from, compared) = if args.from_database {
        let (live, dialect) = super::schema::introspected(cx).await?;
        let url = cx.config.database_url()?.to_string();
        (align_live(&live, &desired, dialect), url)
    } else {
        let applied = repo.graph.ancestors(&parents)?;
        let at = if parents.is_empty() {
            "base".to_string()
        } else {
            parents.join(", ")
        };
        (repo.schema_of(&applied)?, format!("the schema at {at}"))
    };
    let proposal = autogenerate(&from, &desired, &args.renames).map_err(|e| match e {
        AutogenError::Internal { .. } => anyhow::Error::new(e),
        other => UsageError(other.to_string()).into(),
    })?;
    if proposal.steps.is_empty() {
        match cx.format {
            Format::Json => output::json(&serde_json::json!({
                "revision": null, "parents": parents, "steps": 0,
            }))?,
            _ => println!(
                "no changes: {compared} already matches {}; no revision written",
                path.display()
            ),
        }
        return Ok(0);
    }
    write_new(
        cx,
        repo,
        parents,
        depends_on,
        message,
        branch_labels,
        proposal,
    )
    .map(|_| 0)
}

/// Writes a new revision file and reports it; shared with `merge`. The file's text is loaded
/// together with the project's revisions first, with the same checks as every other file
/// (branch labels included), so that nothing is written that would stop the next command.
pub(super) fn write_new(
    cx: &Context,
    repo: &Repository,
    parents: Vec<String>,
    depends_on: Vec<String>,
    message: &str,
    branch_labels: &[String],
    proposal: Proposal,
) -> anyhow::Result<String> {
    let steps = proposal.steps.len();
    let revision = NewRevision {
        id: write::new_id(),
        parents,
        message: message.to_string(),
        created: chrono::Utc::now(),
        branch_labels: branch_labels.to_vec(),
        depends_on,
        upgrade: proposal.steps,
        notes: proposal.notes,
    };
    let text = write::render(&revision)?;
    let path = write::file_path(&cx.config.versions_dir(), &revision);
    load::parse(&path, &text)
        .and_then(|parsed| repo.with_revision(parsed))
        .context("the new revision would not load, so it was not written")?;
    write::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    match cx.format {
        Format::Json => output::json(&serde_json::json!({
            "revision": revision.id, "parents": revision.parents, "path": path.display().to_string(),
            "steps": steps,
        }))?,
        _ if steps > 0 => println!(
            "{} ({steps} step(s); review it, add a transform where data must move, then `runner check`)",
            path.display()
        ),
        _ => println!("{}", path.display()),
    }
    Ok(revision.id)
}
