//! Revisions: the files in `migrations/versions/`, the graph they form, and the schema model
//! replayed through them. Loading validates everything a revision can get wrong before any
//! database is touched: YAML, graph, and every step against the schema it will meet.

pub mod graph;
pub mod index;
pub mod load;
pub mod source;
mod step_entry;
pub mod target;
pub mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::model::Schema;
use crate::ops::Step;
use graph::{Graph, GraphError, NodeSpec};
pub use source::{SourceError, SourceLoc};

/// A value with the place in a file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub loc: SourceLoc,
}

/// How a revision is undone.
#[derive(Debug, Clone, PartialEq)]
pub enum Downgrade {
    /// Derived from the upgrade steps and the schema model.
    Auto,
    /// Written out in the file.
    Steps(Vec<Located<Step>>),
}

/// The file a revision was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionFile {
    pub path: Arc<PathBuf>,
    pub text: Arc<str>,
    /// sha256 of the file (CRLF read as LF), recorded when the revision is applied.
    pub checksum: String,
}

/// Where a revision's header fields are, for graph errors.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionLocs {
    pub id: SourceLoc,
    pub parents: Vec<SourceLoc>,
    pub depends_on: Vec<SourceLoc>,
    pub branch_labels: Vec<SourceLoc>,
}

/// One revision file.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub id: String,
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    pub message: String,
    pub created: Option<DateTime<Utc>>,
    /// False only where a step cannot run in a transaction (PostgreSQL `CONCURRENTLY`).
    pub transactional: bool,
    pub upgrade: Vec<Located<Step>>,
    pub downgrade: Downgrade,
    pub file: RevisionFile,
    pub locs: RevisionLocs,
    /// The lint codes steps silence on purpose (`lint: {ignore: [...]}` beside a step).
    pub lint_ignores: Vec<LintIgnore>,
}

/// The lint codes one step silences, each where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct LintIgnore {
    /// Where the step is.
    pub step: SourceLoc,
    pub codes: Vec<Located<String>>,
}

impl Revision {
    /// The steps written in the file, both ways (none for `downgrade: auto`).
    pub fn written_steps(&self) -> impl Iterator<Item = &Located<Step>> {
        let downgrade = match &self.downgrade {
            Downgrade::Steps(steps) => steps.as_slice(),
            Downgrade::Auto => &[],
        };
        self.upgrade.iter().chain(downgrade)
    }

    /// The transform modules this revision runs, both ways, sorted and without repeats.
    pub fn transform_modules(&self) -> Vec<String> {
        let mut modules: Vec<String> = self
            .written_steps()
            .filter_map(|step| match &step.value {
                Step::Transform(transform) => Some(transform.module.clone()),
                _ => None,
            })
            .collect();
        modules.sort();
        modules.dedup();
        modules
    }

    /// A located error in this revision's file.
    pub fn error_at(&self, loc: &SourceLoc, message: impl Into<String>) -> SourceError {
        SourceError::at(loc.clone(), message, Some(&self.file.text))
    }
}

/// Every revision of a project, their graph, and the schema after each revision.
#[derive(Debug, Clone, Default)]
pub struct Repository {
    /// The `versions/` folder.
    pub dir: PathBuf,
    revisions: IndexMap<String, Revision>,
    pub graph: Graph,
}

impl Repository {
    /// Loads and validates every revision in `versions_dir`.
    pub fn load(versions_dir: &Path) -> Result<Self, SourceError> {
        Self::from_revisions(versions_dir, load::load_dir(versions_dir)?)
    }

    /// The revisions in `versions_dir` for a command that needs only the graph and the
    /// revisions' headers (id, parents, message, ...), not their steps: from the headers'
    /// cache when every file is as it was (`index.rs`), else loaded and validated in full.
    /// Its revisions may have no steps: never plan or run from it.
    pub fn load_headers(versions_dir: &Path) -> Result<Self, SourceError> {
        index::load(versions_dir, crate::files::cache_dir().as_deref())
    }

    /// A repository of revisions known to form a valid history (their headers, cached after a
    /// full load): the graph is built, the steps are not replayed.
    fn from_headers(dir: &Path, revisions: Vec<Revision>) -> Result<Self, SourceError> {
        Self::unvalidated(dir, revisions)
    }

    /// Builds a repository from parsed revisions, checking the graph and replaying every step.
    pub fn from_revisions(dir: &Path, revisions: Vec<Revision>) -> Result<Self, SourceError> {
        let repo = Self::unvalidated(dir, revisions)?;
        repo.validate()?;
        Ok(repo)
    }

    /// The repository of `revisions`, its graph built and checked.
    fn unvalidated(dir: &Path, revisions: Vec<Revision>) -> Result<Self, SourceError> {
        let specs = revisions
            .iter()
            .map(|r| NodeSpec {
                id: r.id.clone(),
                parents: r.parents.clone(),
                depends_on: r.depends_on.clone(),
                branch_labels: r.branch_labels.clone(),
                created: r.created,
            })
            .collect();
        let graph = Graph::build(specs).map_err(|e| locate_graph_error(&revisions, e))?;
        let mut by_id = IndexMap::new();
        for revision in revisions {
            by_id.insert(revision.id.clone(), revision);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            revisions: by_id,
            graph,
        })
    }

    /// This repository with `revision` added, checked as if it had been loaded with the others:
    /// how a new revision is tried before its file is written.
    pub fn with_revision(&self, revision: Revision) -> Result<Self, SourceError> {
        let mut revisions: Vec<Revision> = self.revisions.values().cloned().collect();
        revisions.push(revision);
        Self::from_revisions(&self.dir, revisions)
    }

    /// A copy whose index steps build and drop their indexes plainly where they said
    /// `concurrently`: a dry run on PostgreSQL holds the whole run in one transaction, which
    /// `CONCURRENTLY` cannot run in. The checksums stay the files' own.
    pub fn without_concurrently(&self) -> Repository {
        let mut copy = self.clone();
        for revision in copy.revisions.values_mut() {
            let downgrade = match &mut revision.downgrade {
                Downgrade::Auto => None,
                Downgrade::Steps(steps) => Some(steps),
            };
            let steps = revision
                .upgrade
                .iter_mut()
                .chain(downgrade.into_iter().flatten());
            for step in steps {
                match &mut step.value {
                    Step::CreateIndex(op) => op.concurrently = false,
                    Step::DropIndex(op) => op.concurrently = false,
                    _ => {}
                }
            }
        }
        copy
    }

    /// The revision `id`, if it exists.
    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.revisions.get(id)
    }

    /// The revision `id`, which the graph says exists.
    pub fn revision(&self, id: &str) -> Result<&Revision, GraphError> {
        self.revisions
            .get(id)
            .ok_or_else(|| GraphError::UnknownRevision { target: id.into() })
    }

    /// Every transform module any revision runs.
    pub fn transform_modules(&self) -> Vec<String> {
        let mut modules: Vec<String> = self
            .revisions
            .values()
            .flat_map(Revision::transform_modules)
            .collect();
        modules.sort();
        modules.dedup();
        modules
    }

    /// Every revision in the order upgrades apply them.
    pub fn ordered(&self) -> Vec<&Revision> {
        self.graph
            .ordered()
            .iter()
            .filter_map(|id| self.revisions.get(id))
            .collect()
    }

    /// The schema a database has after applying exactly `applied`, replayed from base.
    pub fn schema_of(&self, applied: &HashSet<String>) -> Result<Schema, SourceError> {
        let mut schema = Schema::default();
        for id in self
            .graph
            .sorted(applied)
            .map_err(|e| SourceError::file(&self.dir, e.to_string()))?
        {
            let revision = self
                .revision(&id)
                .map_err(|e| SourceError::file(&self.dir, e.to_string()))?;
            apply_steps(revision, &revision.upgrade, &mut schema)?;
        }
        Ok(schema)
    }

    /// Calls `visit` with every revision, in upgrade order, and the schema it meets (its
    /// ancestors'). The schema after a revision is kept only until its last child has taken
    /// it (moved to an only child, not copied), so a history without merges replays each
    /// step once and holds one schema at a time: time and memory grow with the history, not
    /// with its square.
    pub fn replay(
        &self,
        mut visit: impl FnMut(&Revision, &Schema) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        use std::collections::HashMap;
        // How many revisions will still start from each revision's schema.
        let mut waiting: HashMap<&str, usize> = HashMap::new();
        for revision in self.revisions.values() {
            if revision.parents.len() == 1 && revision.depends_on.is_empty() {
                *waiting.entry(revision.parents[0].as_str()).or_default() += 1;
            }
        }
        let mut after: HashMap<&str, Schema> = HashMap::new();
        for revision in self.ordered() {
            let single_parent = revision.parents.len() == 1 && revision.depends_on.is_empty();
            let inherited = if single_parent {
                let parent = revision.parents[0].as_str();
                let left = waiting.get_mut(parent).map(|n| {
                    *n -= 1;
                    *n
                });
                match left {
                    Some(0) => after.remove(parent),
                    _ => after.get(parent).cloned(),
                }
            } else {
                None
            };
            let mut schema = match inherited {
                Some(schema) => schema,
                None => {
                    let mut before = self
                        .graph
                        .ancestors(std::slice::from_ref(&revision.id))
                        .map_err(|e| revision.error_at(&revision.locs.id, e.to_string()))?;
                    before.remove(&revision.id);
                    self.schema_of(&before)?
                }
            };
            visit(revision, &schema)?;
            apply_steps(revision, &revision.upgrade, &mut schema)?;
            if waiting.get(revision.id.as_str()).is_some_and(|n| *n > 0) {
                after.insert(revision.id.as_str(), schema);
            }
        }
        Ok(())
    }

    /// Replays every revision onto the schema it will meet, and checks explicit downgrade
    /// steps against the schema after it.
    fn validate(&self) -> Result<(), SourceError> {
        self.replay(|revision, before| {
            if revision.transactional
                && let Some(step) = revision
                    .written_steps()
                    .find(|step| step.value.needs_no_transaction())
            {
                return Err(revision.error_at(
                    &step.loc,
                    "`concurrently` cannot run inside a transaction: set `transactional: false` on this revision",
                ));
            }
            if let Downgrade::Steps(steps) = &revision.downgrade {
                let mut down = before.clone();
                apply_steps(revision, &revision.upgrade, &mut down)?;
                apply_steps(revision, steps, &mut down)?;
            }
            Ok(())
        })
    }
}

/// Applies steps to the model, turning a schema error into one at the step's place.
pub fn apply_steps(
    revision: &Revision,
    steps: &[Located<Step>],
    schema: &mut Schema,
) -> Result<(), SourceError> {
    for step in steps {
        step.value
            .operation()
            .apply(schema)
            .map_err(|e| revision.error_at(&step.loc, e.to_string()))?;
    }
    Ok(())
}

/// Where `value` is written in one of a revision's header lists: `values` and their `locs`.
fn entry_loc<'a>(values: &[String], locs: &'a [SourceLoc], value: &str) -> Option<&'a SourceLoc> {
    values
        .iter()
        .position(|v| v == value)
        .and_then(|i| locs.get(i))
}

/// Points a graph error at the file and line that cause it.
fn locate_graph_error(revisions: &[Revision], error: GraphError) -> SourceError {
    let find = |id: &str| revisions.iter().rev().find(|r| r.id == id);
    let message = error.to_string();
    let located = match &error {
        GraphError::Duplicate { id } => {
            let files: Vec<String> = revisions
                .iter()
                .filter(|r| &r.id == id)
                .map(|r| r.file.path.display().to_string())
                .collect();
            if let Some(r) = find(id) {
                return r.error_at(
                    &r.locs.id,
                    format!("{message} (in {})", files.join(" and ")),
                );
            }
            None
        }
        GraphError::MissingParent { revision, parent } => find(revision).map(|r| {
            let loc = entry_loc(&r.parents, &r.locs.parents, parent);
            (r, loc)
        }),
        GraphError::MissingDependency {
            revision,
            dependency,
        } => find(revision).map(|r| {
            let loc = entry_loc(&r.depends_on, &r.locs.depends_on, dependency);
            (r, loc)
        }),
        GraphError::Cycle { cycle } => cycle.first().and_then(|first| {
            let next = cycle.get(1).map(String::as_str).unwrap_or_default();
            find(first).map(|r| {
                let loc = entry_loc(&r.parents, &r.locs.parents, next)
                    .or_else(|| entry_loc(&r.depends_on, &r.locs.depends_on, next));
                (r, loc)
            })
        }),
        GraphError::DuplicateLabel { label, second, .. }
        | GraphError::LabelIsRevision {
            label,
            revision: second,
        } => find(second).map(|r| {
            let loc = entry_loc(&r.branch_labels, &r.locs.branch_labels, label);
            (r, loc)
        }),
        _ => None,
    };
    match located {
        Some((r, loc)) => r.error_at(loc.unwrap_or(&r.locs.id), message),
        None => SourceError {
            loc: revisions
                .first()
                .map(|r| SourceLoc::file(&r.file.path))
                .unwrap_or_else(|| SourceLoc::file(&Arc::new(PathBuf::from(".")))),
            message,
            snippet: None,
        },
    }
}
