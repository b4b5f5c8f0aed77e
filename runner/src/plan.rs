//! What to run, without running it: a revision's steps in one direction (the explicit
//! downgrade, or the one derived from the schema model), each validated against the schema it
//! meets and rendered to SQL for the database. Pure: no IO, so that the executor, `show` (and the
//! dry run and `--sql` still to be built) all see the same plan.

use std::collections::{HashMap, HashSet};

use crate::dialect::{Action, renderer};
use crate::dialect_kind::Dialect;
use crate::model::Schema;
use crate::ops::{RenderCx, Step, enum_use};
use crate::revision::{
    Downgrade, Located, Repository, Revision, SourceError, SourceLoc, apply_steps,
};
use crate::version_table::Direction;

/// One step ready to run.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// 1-based position in the revision's steps for this direction.
    pub number: usize,
    /// What the step does, as `add_column contacts.first_name`.
    pub describe: String,
    /// The step in the file (for derived downgrade steps: the upgrade step they undo).
    pub loc: SourceLoc,
    /// The operation as it runs (for a derived downgrade step, the reverse operation).
    pub step: Step,
    pub actions: Vec<Action>,
}

impl PlannedStep {
    /// True if the step rebuilds a SQLite table (foreign key enforcement must be off for it).
    pub fn rebuilds_table(&self) -> bool {
        self.actions.iter().any(|a| matches!(a, Action::Rebuild(_)))
    }

    /// True for a `sql` step: the schema model cannot see what it does, nor whether a failed
    /// run of it left part of it behind.
    pub fn is_opaque(&self) -> bool {
        matches!(self.step, Step::Sql(_))
    }
}

/// A revision's steps in one direction, rendered.
#[derive(Debug, Clone)]
pub struct RevisionPlan {
    pub direction: Direction,
    pub steps: Vec<PlannedStep>,
    /// The schema once the revision has run.
    pub schema_after: Schema,
}

impl RevisionPlan {
    /// True if a step rebuilds a SQLite table (foreign key enforcement must be off for it).
    pub fn rebuilds_tables(&self) -> bool {
        self.steps.iter().any(PlannedStep::rebuilds_table)
    }
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A step does not fit the schema, or the database cannot do it: bad input.
    #[error(transparent)]
    Invalid(SourceError),
    /// A downgrade passes a step that has no reverse.
    #[error("{0}")]
    Irreversible(SourceError),
}

/// The steps a revision runs in `direction`, given the revisions applied before it runs.
pub fn plan_revision(
    repo: &Repository,
    revision: &Revision,
    direction: Direction,
    applied: &HashSet<String>,
    dialect: Dialect,
) -> Result<RevisionPlan, PlanError> {
    plan_revision_cached(
        repo,
        revision,
        direction,
        applied,
        dialect,
        &mut SchemaCache::default(),
    )
}

/// [`plan_revision`] with the schemas it needs taken from `cache` where a run met them already,
/// and the schema the revision leaves behind remembered for the next one.
pub fn plan_revision_cached(
    repo: &Repository,
    revision: &Revision,
    direction: Direction,
    applied: &HashSet<String>,
    dialect: Dialect,
    cache: &mut SchemaCache,
) -> Result<RevisionPlan, PlanError> {
    let current = cache.take(repo, applied)?;
    let mut without = applied.clone();
    without.remove(&revision.id);
    let before = match (direction, &revision.downgrade) {
        (Direction::Down, Downgrade::Auto) => Some(cache.take(repo, &without)?),
        _ => None,
    };
    let plan = plan_revision_with(
        revision,
        direction,
        &current,
        before.as_ref().unwrap_or(&current),
        dialect,
    )?;
    // The run goes past `applied`: what it needs next is the set it leaves behind.
    match direction {
        Direction::Up => {
            let mut after = applied.clone();
            after.insert(revision.id.clone());
            if comes_last(repo, &after, &revision.id) {
                cache.remember(after, plan.schema_after.clone());
            }
        }
        Direction::Down => {
            if let Some(before) = before {
                cache.remember(without, before);
            }
        }
    }
    Ok(plan)
}

/// [`plan_revision`] from schemas the caller knows: `current`, the schema of the revisions
/// applied when it runs, and `without`, the schema of those revisions but this one (only
/// `downgrade: auto` reads it: it is what the derived steps restore).
pub fn plan_revision_with(
    revision: &Revision,
    direction: Direction,
    current: &Schema,
    without: &Schema,
    dialect: Dialect,
) -> Result<RevisionPlan, PlanError> {
    let steps = steps_for(revision, direction, without)?;
    // On PostgreSQL a revision is one transaction, in which an enum value added by
    // `ALTER TYPE ... ADD VALUE` cannot be used: those adds swap the type instead.
    let used_later: Vec<usize> = if dialect == Dialect::Postgres && revision.transactional {
        enum_use::adds_used_later(steps.iter().map(|s| &s.value), current)
            .into_iter()
            .map(|found| found.add_step)
            .collect()
    } else {
        Vec::new()
    };
    let mut schema = current.clone();
    let mut planned = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let operation = step.value.operation();
        let before = schema.clone();
        operation
            .apply(&mut schema)
            .map_err(|e| PlanError::Invalid(revision.error_at(&step.loc, e.to_string())))?;
        let actions = operation
            .render(&RenderCx {
                dialect: renderer(dialect),
                before: &before,
                after: &schema,
                used_in_transaction: used_later.contains(&i),
            })
            .map_err(|e| PlanError::Invalid(revision.error_at(&step.loc, e.to_string())))?;
        planned.push(PlannedStep {
            number: i + 1,
            describe: operation.describe(),
            loc: step.loc.clone(),
            step: step.value.clone(),
            actions,
        });
    }
    Ok(RevisionPlan {
        direction,
        steps: planned,
        schema_after: schema,
    })
}

/// The steps `revision` runs in `direction`; `without` is the schema of the revisions applied
/// but this one (only `downgrade: auto` reads it).
fn steps_for(
    revision: &Revision,
    direction: Direction,
    without: &Schema,
) -> Result<Vec<Located<Step>>, PlanError> {
    Ok(match (direction, &revision.downgrade) {
        (Direction::Up, _) => revision.upgrade.clone(),
        (Direction::Down, Downgrade::Steps(steps)) => steps.clone(),
        (Direction::Down, Downgrade::Auto) => derive_downgrade(revision, without)?,
    })
}

/// The schema just before step `index` (0-based) of `revision` in `direction` runs, and just
/// after it, given the schemas [`plan_revision_with`] takes: what a resumed run compares the
/// live database with to tell whether a step that died with its process is in.
pub fn schemas_around_step(
    revision: &Revision,
    direction: Direction,
    current: &Schema,
    without: &Schema,
    index: usize,
) -> Result<(Schema, Schema), PlanError> {
    let steps = steps_for(revision, direction, without)?;
    let mut schema = current.clone();
    for step in steps.iter().take(index) {
        step.value
            .operation()
            .apply(&mut schema)
            .map_err(|e| PlanError::Invalid(revision.error_at(&step.loc, e.to_string())))?;
    }
    let before = schema.clone();
    if let Some(step) = steps.get(index) {
        step.value
            .operation()
            .apply(&mut schema)
            .map_err(|e| PlanError::Invalid(revision.error_at(&step.loc, e.to_string())))?;
    }
    Ok((before, schema))
}

/// The schemas of applied sets that a run has met, so that planning each revision does not
/// replay the whole history from base again (which made a run of n revisions cost n^2 steps):
/// an upgrade carries each revision's schema forward to the next, and a downgrade replays its
/// path once before it starts. A schema is only used for exactly the set it was made for, so
/// another runner that moved the database in between costs a replay, never a wrong plan.
#[derive(Debug, Default)]
pub struct SchemaCache {
    /// By the size of the set, which differs at every point of a run.
    known: HashMap<usize, (HashSet<String>, Schema)>,
}

impl SchemaCache {
    /// The schema of `applied`, taken out of the cache (a run does not come back to a set it
    /// has planned a revision on), or replayed from base if it is not there.
    fn take(&mut self, repo: &Repository, applied: &HashSet<String>) -> Result<Schema, PlanError> {
        match self.known.remove(&applied.len()) {
            Some((set, schema)) if set == *applied => Ok(schema),
            _ => repo.schema_of(applied).map_err(PlanError::Invalid),
        }
    }

    fn remember(&mut self, applied: HashSet<String>, schema: Schema) {
        self.known.insert(applied.len(), (applied, schema));
    }

    /// Before a downgrade that reverts `path` (newest first) from `applied`: replays the schema
    /// the downgrade ends at once, then each revision of the path on top of it, remembering the
    /// schema at every point, so that no revision of the downgrade replays the history again.
    pub fn prepare_downgrade(
        &mut self,
        repo: &Repository,
        applied: &HashSet<String>,
        path: &[String],
    ) -> Result<(), PlanError> {
        let mut set: HashSet<String> = applied
            .iter()
            .filter(|id| !path.contains(id))
            .cloned()
            .collect();
        let mut schema = repo.schema_of(&set).map_err(PlanError::Invalid)?;
        self.remember(set.clone(), schema.clone());
        for id in path.iter().rev() {
            set.insert(id.clone());
            match repo.get(id) {
                Some(revision) if comes_last(repo, &set, id) => {
                    apply_steps(revision, &revision.upgrade, &mut schema)
                        .map_err(PlanError::Invalid)?;
                }
                _ => schema = repo.schema_of(&set).map_err(PlanError::Invalid)?,
            }
            self.remember(set.clone(), schema.clone());
        }
        Ok(())
    }
}

/// True if a replay of `set` (in upgrade order) runs `id` last.
fn comes_last(repo: &Repository, set: &HashSet<String>, id: &str) -> bool {
    repo.graph
        .sorted(set)
        .is_ok_and(|order| order.last().is_some_and(|last| last == id))
}

/// `downgrade: auto`: each upgrade step's reverse, last step first, computed from the schema
/// just before that step; deferred steps (NOT NULL restored after transforms refill a column)
/// come last.
pub fn derive_downgrade(
    revision: &Revision,
    before: &Schema,
) -> Result<Vec<Located<Step>>, PlanError> {
    let mut schema = before.clone();
    let mut reversals = Vec::with_capacity(revision.upgrade.len());
    for step in &revision.upgrade {
        let operation = step.value.operation();
        let reversal = operation.reverse(&schema).map_err(|e| {
            PlanError::Irreversible(revision.error_at(
                &step.loc,
                format!(
                    "revision {} cannot be downgraded automatically: {} has no reverse: {e}",
                    revision.id,
                    operation.describe()
                ),
            ))
        })?;
        operation
            .apply(&mut schema)
            .map_err(|e| PlanError::Invalid(revision.error_at(&step.loc, e.to_string())))?;
        reversals.push((step.loc.clone(), reversal));
    }
    let mut steps = Vec::new();
    for (loc, reversal) in reversals.iter().rev() {
        steps.extend(reversal.steps.iter().map(|s| Located {
            value: s.clone(),
            loc: loc.clone(),
        }));
    }
    for (loc, reversal) in reversals.iter().rev() {
        steps.extend(reversal.finally.iter().map(|s| Located {
            value: s.clone(),
            loc: loc.clone(),
        }));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::revision::load::parse;

    fn repo(files: &[(&str, &str)]) -> Repository {
        let revisions = files
            .iter()
            .map(|(name, text)| parse(Path::new(name), text).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        Repository::from_revisions(Path::new("versions"), revisions)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    const BASE: (&str, &str) = (
        "a1_base.yaml",
        "revision: a1\nparents: []\nupgrade:\n  - create_table: {table: contacts, columns: [{name: id, type: integer, primary_key: true}, {name: full_name, type: text, nullable: false}]}\n",
    );

    #[test]
    fn derives_the_downgrade_from_the_model() {
        let repo = repo(&[
            BASE,
            (
                "b2_split.yaml",
                "revision: b2\nparents: [a1]\nupgrade:\n  - add_column: {table: contacts, column: {name: first_name, type: text}}\n  - drop_column: {table: contacts, column: full_name}\n",
            ),
        ]);
        let revision = repo.get("b2").unwrap();
        let plan = plan_revision(
            &repo,
            revision,
            Direction::Down,
            &set(&["a1", "b2"]),
            Dialect::Postgres,
        )
        .unwrap();
        let described: Vec<&str> = plan.steps.iter().map(|s| s.describe.as_str()).collect();
        assert_eq!(
            described,
            [
                "add_column contacts.full_name",
                "drop_column contacts.first_name",
                "alter_column contacts.full_name"
            ]
        );
        assert_eq!(
            plan.steps[0].loc.line, 5,
            "derived steps point at the step they undo"
        );
        let sql: Vec<String> = plan
            .steps
            .iter()
            .flat_map(|s| s.actions.iter().map(Action::script))
            .collect();
        assert_eq!(
            sql,
            [
                "ALTER TABLE \"contacts\" ADD COLUMN \"full_name\" text;",
                "ALTER TABLE \"contacts\" DROP COLUMN \"first_name\";",
                "ALTER TABLE \"contacts\" ALTER COLUMN \"full_name\" SET NOT NULL;",
            ]
        );
        assert_eq!(
            plan.schema_after,
            repo.schema_of(&set(&["a1"])).unwrap().clone()
        );
    }

    /// The SQL and the schema after of every plan of a run, made without and with the cache.
    fn compare_with_the_cache(
        repo: &Repository,
        direction: Direction,
        path: &[&str],
        start: &[&str],
    ) {
        let mut applied = set(start);
        let mut cache = SchemaCache::default();
        if direction == Direction::Down {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            cache.prepare_downgrade(repo, &applied, &path).unwrap();
        }
        for id in path {
            let revision = repo.get(id).unwrap();
            let fresh =
                plan_revision(repo, revision, direction, &applied, Dialect::Sqlite).unwrap();
            let cached = plan_revision_cached(
                repo,
                revision,
                direction,
                &applied,
                Dialect::Sqlite,
                &mut cache,
            )
            .unwrap();
            let sql = |plan: &RevisionPlan| -> Vec<String> {
                plan.steps
                    .iter()
                    .flat_map(|s| s.actions.iter().map(Action::script))
                    .collect()
            };
            assert_eq!(sql(&fresh), sql(&cached), "{id} {direction:?}");
            assert_eq!(
                fresh.schema_after, cached.schema_after,
                "{id} {direction:?}"
            );
            match direction {
                Direction::Up => applied.insert(id.to_string()),
                Direction::Down => applied.remove(*id),
            };
            // What the next revision meets is known without a replay (upwards: unless a
            // replay would run the revision before others already applied).
            let carried = direction == Direction::Down || comes_last(repo, &applied, id);
            if id != path.last().unwrap() && carried {
                let known = cache.known.get(&applied.len());
                assert!(
                    known
                        .is_some_and(|(s, schema)| *s == applied
                            && *schema == repo.schema_of(&applied).unwrap()),
                    "{id} {direction:?}: the next schema is not carried"
                );
            }
        }
    }

    #[test]
    fn a_run_plans_from_the_schema_it_carries_as_a_replay_would() {
        let repo = repo(&[
            BASE,
            (
                "b2_email.yaml",
                "revision: b2\nparents: [a1]\nupgrade:\n  - add_column: {table: contacts, column: {name: email, type: text}}\n",
            ),
            (
                "c3_phone.yaml",
                "revision: c3\nparents: [b2]\nupgrade:\n  - add_column: {table: contacts, column: {name: phone, type: text}}\n  - alter_column: {table: contacts, column: email, nullable: false}\n",
            ),
            (
                "d4_split.yaml",
                "revision: d4\nparents: [c3]\nupgrade:\n  - add_column: {table: contacts, column: {name: first_name, type: text}}\n  - drop_column: {table: contacts, column: full_name}\ndowngrade:\n  - add_column: {table: contacts, column: {name: full_name, type: text, nullable: true}}\n  - drop_column: {table: contacts, column: first_name}\n",
            ),
        ]);
        compare_with_the_cache(&repo, Direction::Up, &["a1", "b2", "c3", "d4"], &[]);
        compare_with_the_cache(&repo, Direction::Up, &["c3", "d4"], &["a1", "b2"]);
        compare_with_the_cache(
            &repo,
            Direction::Down,
            &["d4", "c3", "b2", "a1"],
            &["a1", "b2", "c3", "d4"],
        );
        // Branches: x2 sorts after b2, so the schema after b2 on {a1, x2} is not the schema of
        // {a1, b2, x2} (its columns come in another order) and is not carried.
        let branched = repo.with_revision(parse(
            Path::new("x2_extra.yaml"),
            "revision: x2\nparents: [a1]\nupgrade:\n  - add_column: {table: contacts, column: {name: extra, type: text}}\n",
        ).unwrap()).unwrap();
        assert!(!comes_last(&branched, &set(&["a1", "b2", "x2"]), "b2"));
        compare_with_the_cache(&branched, Direction::Up, &["b2", "c3"], &["a1", "x2"]);
        compare_with_the_cache(
            &branched,
            Direction::Down,
            &["c3", "b2"],
            &["a1", "b2", "c3", "x2"],
        );
        // A schema is only used for the set it was made for.
        let mut cache = SchemaCache::default();
        cache.remember(set(&["a1"]), Schema::default());
        let plan = plan_revision_cached(
            &repo,
            repo.get("b2").unwrap(),
            Direction::Up,
            &set(&["a1"]),
            Dialect::Sqlite,
            &mut cache,
        );
        assert!(
            plan.is_err(),
            "planned against the remembered (empty) schema"
        );
        let mut cache = SchemaCache::default();
        cache.remember(set(&["b2"]), Schema::default());
        let plan = plan_revision_cached(
            &repo,
            repo.get("b2").unwrap(),
            Direction::Up,
            &set(&["a1"]),
            Dialect::Sqlite,
            &mut cache,
        )
        .unwrap();
        assert_eq!(
            plan.schema_after,
            repo.schema_of(&set(&["a1", "b2"])).unwrap()
        );
    }

    #[test]
    fn an_irreversible_step_names_itself() {
        let repo = repo(&[
            BASE,
            (
                "b2_raw.yaml",
                "revision: b2\nparents: [a1]\nupgrade:\n  - sql: {up: \"UPDATE contacts SET full_name = 'x'\"}\n",
            ),
        ]);
        let err = plan_revision(
            &repo,
            repo.get("b2").unwrap(),
            Direction::Down,
            &set(&["a1", "b2"]),
            Dialect::Sqlite,
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::Irreversible(_)));
        let err = err.to_string();
        assert!(err.starts_with("b2_raw.yaml:4:5: revision b2 cannot be downgraded automatically: sql has no reverse"), "{err}");
    }

    #[test]
    fn steps_are_validated_against_the_schema_they_meet() {
        let revisions = vec![
            parse(Path::new("a1_base.yaml"), BASE.1).unwrap(),
            parse(
                Path::new("b2_bad.yaml"),
                "revision: b2\nparents: [a1]\nupgrade:\n  - drop_column: {table: contacts, column: email}\n",
            )
            .unwrap(),
        ];
        let err = Repository::from_revisions(Path::new("versions"), revisions)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("b2_bad.yaml:4:5: table 'contacts' has no column 'email'"),
            "{err}"
        );
    }
}
