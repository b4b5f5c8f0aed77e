//! Lint: what a revision's upgrade steps risk on a database with data, found from the files
//! alone, before anything runs. Each finding has a stable [`Code`], the step's `file:line:col`
//! and a sentence saying why and what to do; a step's `lint: {ignore: [CODE]}` silences one on
//! purpose. `runner lint` prints them, and `runner check` fails on them.

mod codes;
mod rules;
mod types;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::model::Schema;
use crate::ops::{Step, enum_use};
use crate::revision::{Repository, Revision, SourceError, SourceLoc, apply_steps};
pub use codes::{Code, Kind};

/// Which databases' rules apply.
#[derive(Debug, Clone, Copy)]
pub struct LintOptions {
    /// PostgreSQL's locking and enum rules (on unless the project names other databases
    /// only: a project tested on SQLite often runs PostgreSQL in production).
    pub postgres: bool,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self { postgres: true }
    }
}

/// One thing a step risks.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: Code,
    pub kind: Kind,
    pub revision: String,
    /// The step's number in the revision's `upgrade` list, from 1.
    pub step: usize,
    /// The step, as progress lines name it (`drop_column contacts.full_name`).
    pub operation: String,
    #[serde(flatten)]
    pub at: Place,
    /// Why, and what to do, for this step.
    pub message: String,
    /// The code's one-line explanation.
    pub explain: &'static str,
}

/// Where a finding or a check's problem is: a place in a file, shaped for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl From<&SourceLoc> for Place {
    fn from(loc: &SourceLoc) -> Self {
        Self {
            file: loc.path.display().to_string(),
            line: loc.line,
            column: loc.column,
        }
    }
}

impl std::fmt::Display for Place {
    /// `file:line:col`, as compilers print a place.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The findings of the upgrade steps of the revisions in `only` (all when `None`), in the
/// order upgrades apply them. An unknown code in a `lint: {ignore: [...]}` is an error at its
/// place.
pub fn lint(
    repo: &Repository,
    only: Option<&HashSet<String>>,
    options: LintOptions,
) -> Result<Vec<Finding>, SourceError> {
    let mut findings = Vec::new();
    repo.replay(|revision, before| {
        if only.is_some_and(|only| !only.contains(&revision.id)) {
            return Ok(());
        }
        let ignores = ignores_of(revision)?;
        for finding in lint_revision(revision, before, options)? {
            let silenced = ignores
                .get(&(finding.at.line, finding.at.column))
                .is_some_and(|codes| codes.contains(&finding.code));
            if !silenced {
                findings.push(finding);
            }
        }
        Ok(())
    })?;
    Ok(findings)
}

/// The codes each step silences, by the step's line and column.
fn ignores_of(revision: &Revision) -> Result<HashMap<(u64, u64), HashSet<Code>>, SourceError> {
    let mut out: HashMap<(u64, u64), HashSet<Code>> = HashMap::new();
    for ignore in &revision.lint_ignores {
        let codes = out
            .entry((ignore.step.line, ignore.step.column))
            .or_default();
        for code in &ignore.codes {
            let parsed = code
                .value
                .parse::<Code>()
                .map_err(|message| revision.error_at(&code.loc, message))?;
            codes.insert(parsed);
        }
    }
    Ok(out)
}

/// The findings of one revision's upgrade steps, `schema` being the schema it meets.
fn lint_revision(
    revision: &Revision,
    schema: &Schema,
    options: LintOptions,
) -> Result<Vec<Finding>, SourceError> {
    let mut schema = schema.clone();
    let mut fresh: HashSet<String> = HashSet::new();
    let used_later = if options.postgres && revision.transactional {
        enum_use::adds_used_later(revision.upgrade.iter().map(|s| &s.value), &schema)
    } else {
        Vec::new()
    };
    let mut all_null: HashSet<(String, String)> = HashSet::new();
    let mut findings = Vec::new();
    for (index, step) in revision.upgrade.iter().enumerate() {
        let finding = |code: Code, message: String| Finding {
            code,
            kind: code.kind(),
            revision: revision.id.clone(),
            step: index + 1,
            operation: step.value.operation().describe(),
            at: Place::from(&step.loc),
            message,
            explain: code.explain(),
        };
        let cx = rules::StepCx {
            step: &step.value,
            before: &schema,
            fresh: &fresh,
            all_null: &all_null,
            postgres: options.postgres,
        };
        for (code, message) in rules::check(&cx) {
            findings.push(finding(code, message));
        }
        // In a transactional revision PostgreSQL runs every step in one transaction, where a
        // value `ADD VALUE` added cannot be used: the plan swaps the type instead.
        if let Some(found) = used_later.iter().find(|f| f.add_step == index) {
            let users: Vec<String> = schema
                .enum_users(&found.enum_name)
                .map(|(t, c)| format!("{}.{}", t.name, c.name))
                .collect();
            if !users.is_empty() {
                findings.push(finding(
                    Code::PgEnumRewrite,
                    format!(
                        "value '{}' of enum '{}' is used later in this revision's transaction (step {}: {}); PostgreSQL cannot use a value `ADD VALUE` added before the commit (55P04), so runner adds it by swapping in a new type, which rewrites {} under an ACCESS EXCLUSIVE lock. An `alter_enum` in a revision of its own before this one adds the value without the rewrite",
                        found.value,
                        found.enum_name,
                        found.use_step + 1,
                        found.how,
                        users.join(", ")
                    ),
                ));
            }
        }
        match &step.value {
            Step::CreateTable(op) => {
                fresh.insert(op.table.clone());
            }
            Step::RenameTable(op) if fresh.remove(&op.table) => {
                fresh.insert(op.to.clone());
            }
            Step::AddColumn(op) => {
                let column = &op.column;
                let filled = column.nullable == Some(false)
                    || column.primary_key
                    || column.autoincrement
                    || column.default.is_some()
                    || column.default_sql.is_some();
                if !filled {
                    all_null.insert((op.table.clone(), column.name.clone()));
                }
            }
            // Whatever may write a table may fill its columns.
            Step::Transform(op) => all_null.retain(|(table, _)| !op.writes.contains(table)),
            Step::Sql(_) => all_null.clear(),
            _ => {
                if let Some(table) = step.value.table() {
                    all_null.retain(|(t, _)| t != table);
                }
            }
        }
        apply_steps(revision, std::slice::from_ref(step), &mut schema)?;
    }
    Ok(findings)
}
