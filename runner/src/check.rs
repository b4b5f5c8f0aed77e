//! `runner check`'s verdicts that need more than the files: the stairway (each revision up,
//! down and up again on a scratch database, the schema after the down compared with the
//! schema before the up) and `schema.yaml` against the schema at head. The command in
//! `cli/check.rs` puts these together with the graph, transform and lint checks.

use serde::Serialize;

use crate::db::Db;
use crate::db::introspect::{IntrospectError, introspect};
use crate::exec::{Migrator, RunOptions, Silent};
use crate::fixtures::Fixtures;
use crate::lint::Place;
use crate::model::Schema;
use crate::model::compare::comparable;
use crate::model::drift::{Drift, drift_between};
use crate::revision::{Repository, SourceLoc};
use crate::transforms::Modules;
use crate::vocab::Direction;

/// One thing `check` found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The check that found it: `heads`, `transforms`, `sandbox`, `stairway`, `fixtures` or
    /// `schema`.
    pub check: &'static str,
    pub message: String,
    /// Where, when a file is at fault.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub at: Option<Place>,
}

impl Problem {
    /// A problem with no place of its own.
    pub fn new(check: &'static str, message: impl Into<String>) -> Self {
        Self {
            check,
            message: message.into(),
            at: None,
        }
    }

    /// A problem at `loc`.
    pub fn at(check: &'static str, loc: &SourceLoc, message: impl Into<String>) -> Self {
        Self {
            check,
            message: message.into(),
            at: Some(Place::from(loc)),
        }
    }

    /// `file:line:col: ` when there is a place, else nothing.
    pub fn location(&self) -> String {
        self.at
            .as_ref()
            .map(|place| format!("{place}: "))
            .unwrap_or_default()
    }
}

/// What the stairway did: how many revisions went through, the first problem, and how many
/// fixture rows it loaded on the way.
#[derive(Debug, Default)]
pub struct Stairway {
    pub done: usize,
    pub problem: Option<Problem>,
    pub loaded: Option<usize>,
}

/// Takes every revision of `repo`, in upgrade order, up, down and up again on `db` (which
/// holds nothing of the project yet), and returns what went wrong: a step that failed, or a
/// downgrade that leaves a schema other than the one its upgrade started from. Stops at the
/// first problem, since the database is then in no known state.
///
/// With `fixtures`, the revisions they belong to go first, then the fixtures are loaded, so
/// every later revision (its data transforms, and their `down`) runs over their rows;
/// fixtures that name no revision are loaded at the end.
pub async fn stairway(
    repo: &Repository,
    db: &mut Db,
    modules: &Modules,
    options: &RunOptions,
    fixtures: Option<&Fixtures>,
) -> Result<Stairway, IntrospectError> {
    let dialect = db.dialect();
    let mut out = Stairway::default();
    let (order, load_after) = match fixtures_order(repo, fixtures) {
        Ok(planned) => planned,
        Err(problem) => {
            out.problem = Some(problem);
            return Ok(out);
        }
    };
    for (i, id) in order.iter().enumerate() {
        let Some(revision) = repo.get(id) else {
            continue;
        };
        let before = introspect(db).await?;
        for (direction, what) in [
            (Direction::Up, "upgrade"),
            (Direction::Down, "downgrade"),
            (Direction::Up, "upgrade after its downgrade"),
        ] {
            let mut silent = Silent;
            let ran = Migrator::new(repo, db, options.clone(), &mut silent)
                .with_modules(modules.clone())
                .run_one(id, direction)
                .await;
            if let Err(error) = ran {
                out.problem = Some(Problem::at(
                    "stairway",
                    &revision.locs.id,
                    format!("the {what} of {id} failed: {error}"),
                ));
                return Ok(out);
            }
            if direction == Direction::Down {
                let after = introspect(db).await?;
                if let Some(problem) = undo_problem(&before, &after, dialect, revision, id) {
                    out.problem = Some(problem);
                    return Ok(out);
                }
            }
        }
        out.done += 1;
        if let (Some(fixtures), Some(at)) = (fixtures, load_after)
            && at == i
            && let Some(problem) = load_fixtures(repo, db, fixtures, &mut out).await
        {
            out.problem = Some(problem);
            return Ok(out);
        }
    }
    Ok(out)
}

/// The stairway's order with `fixtures`: the revisions they belong to first (a valid upgrade
/// order, since that set holds its ancestors), and the index after which they are loaded
/// (`None`: no fixtures, or no revisions to load them after).
fn fixtures_order(
    repo: &Repository,
    fixtures: Option<&Fixtures>,
) -> Result<(Vec<String>, Option<usize>), Problem> {
    let ordered = repo.graph.ordered();
    let Some(fixtures) = fixtures else {
        return Ok((ordered, None));
    };
    if fixtures.heads.is_empty() {
        let last = ordered.len().checked_sub(1);
        return Ok((ordered, last));
    }
    let first = repo.graph.ancestors(&fixtures.heads).map_err(|e| {
        Problem::new(
            "fixtures",
            format!("the fixtures belong to revisions this project does not have: {e}"),
        )
    })?;
    let (mut order, rest): (Vec<String>, Vec<String>) =
        ordered.into_iter().partition(|id| first.contains(id));
    let load_after = order.len().checked_sub(1);
    order.extend(rest);
    Ok((order, load_after))
}

async fn load_fixtures(
    repo: &Repository,
    db: &mut Db,
    fixtures: &Fixtures,
    out: &mut Stairway,
) -> Option<Problem> {
    match crate::fixtures::load_into(db, Some(repo), fixtures).await {
        Ok(loaded) => {
            out.loaded = Some(loaded.rows());
            None
        }
        Err(error) => Some(Problem::new(
            "fixtures",
            format!(
                "loading the fixtures at {}: {error}",
                if fixtures.heads.is_empty() {
                    "head".to_string()
                } else {
                    fixtures.heads.join(", ")
                }
            ),
        )),
    }
}

/// The problem when the schema after a revision's downgrade (`after`) is not the one before
/// its upgrade (`before`).
fn undo_problem(
    before: &Schema,
    after: &Schema,
    dialect: crate::dialect_kind::Dialect,
    revision: &crate::revision::Revision,
    id: &str,
) -> Option<Problem> {
    let drift = drift_between(&comparable(before, dialect), &comparable(after, dialect));
    if drift.is_empty() {
        return None;
    }
    let listed: Vec<String> = drift
        .iter()
        .map(|d| describe(d, "gone (the downgrade removed more)", "left behind"))
        .collect();
    Some(Problem::at(
        "stairway",
        &revision.locs.id,
        format!(
            "the downgrade of {id} does not undo its upgrade: after up and down, the schema differs from the one before: {}",
            listed.join("; ")
        ),
    ))
}

/// One difference in words: `column t.c: left behind`, with the details when it changed.
fn describe(drift: &Drift, missing: &str, extra: &str) -> String {
    let object = drift.object.replace('_', " ");
    match drift.change {
        "missing" => format!("{object} {}: {missing}", drift.name),
        "extra" => format!("{object} {}: {extra}", drift.name),
        _ => format!("{object} {}: differs: {}", drift.name, drift.detail),
    }
}

/// How the schema the revisions build at head differs from `schema.yaml`'s: empty when they
/// agree. Both are models, compared as written (no database in between).
pub fn schema_file_problems(
    head: &Schema,
    desired: &Schema,
    file: &std::path::Path,
) -> Vec<Problem> {
    drift_between(&desired.normalized(), &head.normalized())
        .into_iter()
        .map(|drift| {
            Problem::at(
                "schema",
                &SourceLoc::file(&std::sync::Arc::new(file.to_path_buf())),
                describe(
                    &drift,
                    "declared in schema.yaml, not made by the revisions",
                    "made by the revisions, not declared in schema.yaml",
                ),
            )
        })
        .collect()
}
