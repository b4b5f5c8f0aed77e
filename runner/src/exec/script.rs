//! `--sql`: the plan of a range of revisions written as one SQL script instead of run, for a
//! DBA to review or to run with the database's own client. The same plans and the same
//! statements on runner's tables as a live run (`plan::plan_revision_cached`,
//! `version_table::*_statements`), with the values inlined: a database the script migrated is
//! one `runner upgrade` then finds up to date. Transforms cannot run in a script; each is a
//! comment where it would run.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::actions::check_reversible;
use super::{ExecError, checksum};
use crate::db::Value;
use crate::dialect::{Action, renderer};
use crate::dialect_kind::Dialect;
use crate::plan::{self, PlanError, SchemaCache};
use crate::revision::Repository;
use crate::version_table::{
    NewEntry, Statement, Status, create_statements, insert_statement, set_heads_statements,
    update_latest_statement,
};
use crate::vocab::Direction;

/// A script and what it leaves out.
#[derive(Debug, Clone)]
pub struct Script {
    pub text: String,
    /// The transform steps written as comments, as `revision step N: module`.
    pub transforms: Vec<String>,
}

/// What a script knows of each transform module, from `transforms.lock` (`None`: not in it).
pub struct ModuleFacts<'a> {
    /// The module's sha256, for the checksums recorded.
    pub sha256: &'a dyn Fn(&str) -> Option<String>,
    /// Whether it has a `down`: a downgrade through one without is refused, as a run refuses.
    pub has_down: &'a dyn Fn(&str) -> Option<bool>,
}

/// The script taking a database that has applied exactly `applied` through `path` (in
/// order) in `direction`, for `dialect`; `now` is the time recorded.
pub fn write_script(
    repo: &Repository,
    dialect: Dialect,
    direction: Direction,
    applied: &HashSet<String>,
    path: &[String],
    modules: &ModuleFacts<'_>,
    now: DateTime<Utc>,
) -> Result<Script, ExecError> {
    let mut out = String::new();
    let mut transforms = Vec::new();
    let verb = match direction {
        Direction::Up => "upgrade",
        Direction::Down => "downgrade",
    };
    let _ = writeln!(
        out,
        "-- runner {}: {verb} of {} revision(s) for {dialect}, written {}",
        env!("CARGO_PKG_VERSION"),
        path.len(),
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let _ = writeln!(
        out,
        "-- Transform steps do not run in a script: each is a comment where it would run.\n"
    );
    for statement in create_statements(dialect) {
        let _ = writeln!(out, "{statement};");
    }
    let mut applied = applied.clone();
    let mut heads = repo.graph.heads_of(&applied)?;
    let mut schemas = SchemaCache::default();
    if direction == Direction::Down {
        schemas.prepare_downgrade(repo, &applied, path)?;
    }
    for id in path {
        let revision = repo.revision(id)?;
        let mut after = applied.clone();
        match direction {
            Direction::Up => after.insert(id.clone()),
            Direction::Down => after.remove(id),
        };
        let plan =
            plan::plan_revision_cached(repo, revision, direction, &applied, dialect, &mut schemas)?;
        check_reversible(revision, &plan, modules.has_down).map_err(|error| match error {
            ExecError::Plan(refused @ PlanError::Irreversible(_)) => ExecError::Refused(refused),
            other => other,
        })?;
        let new_heads = repo.graph.heads_of(&after)?;
        let transactional = revision.transactional && dialect.caps().transactional_ddl;
        let rebuilds = dialect == Dialect::Sqlite && plan.rebuilds_tables();
        let _ = writeln!(
            out,
            "\n-- {verb} {id}: {} ({})",
            revision.message,
            revision.file.path.display()
        );
        if rebuilds {
            // As a live run does: SQLite ignores the pragma inside a transaction, and with it
            // on, a rebuild's DROP TABLE would cascade to the rows pointing at the table.
            let _ = writeln!(out, "PRAGMA foreign_keys = OFF;");
        }
        if transactional {
            let _ = writeln!(out, "BEGIN;");
        }
        let total = plan.steps.len();
        let checksum = checksum(revision, modules.sha256);
        let entry = |status: Status, steps_applied: usize| NewEntry {
            checksum: Some(&checksum),
            steps_applied,
            steps_total: total,
            ..NewEntry::new(id, direction.as_str(), status, now)
        };
        let write = |out: &mut String, statement: Statement| {
            let _ = writeln!(out, "{};", inline(&statement, dialect));
        };
        if !transactional {
            // Each step commits as it runs: the history row says how far the script got, as
            // a live run's does, so a script that dies half way leaves a revision `current`
            // reports and `upgrade --resume` finishes.
            write(
                &mut out,
                insert_statement(dialect, &entry(Status::Running, 0)),
            );
        }
        for step in &plan.steps {
            let mut lines = vec![format!(
                "-- step {} of {total}: {} ({})",
                step.number, step.describe, step.loc
            )];
            for action in &step.actions {
                if let Action::Transform(transform) = action {
                    transforms.push(format!(
                        "{id} step {}: {} ({})",
                        step.number,
                        transform.module,
                        transform.direction.as_str()
                    ));
                }
                lines.push(action.script());
            }
            let _ = writeln!(out, "{}", lines.join("\n"));
            if !transactional {
                write(
                    &mut out,
                    update_latest_statement(dialect, id, Status::Running, step.number),
                );
            }
        }
        for statement in set_heads_statements(dialect, &heads, &new_heads) {
            write(&mut out, statement);
        }
        let last = if transactional {
            insert_statement(dialect, &entry(Status::done(direction), total))
        } else {
            update_latest_statement(dialect, id, Status::done(direction), total)
        };
        write(&mut out, last);
        if transactional {
            let _ = writeln!(out, "COMMIT;");
        }
        if rebuilds {
            let _ = writeln!(out, "PRAGMA foreign_keys = ON;");
        }
        applied = after;
        heads = new_heads;
    }
    Ok(Script {
        text: out,
        transforms,
    })
}

/// A statement with its parameters written in as literals (the statements on runner's tables
/// hold no `?` or `$` of their own).
fn inline(statement: &Statement, dialect: Dialect) -> String {
    let mut out = String::with_capacity(statement.sql.len() + 64);
    let mut chars = statement.sql.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        let index = match (dialect, c) {
            (Dialect::Postgres, '$') => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                digits.parse::<usize>().ok().and_then(|n| n.checked_sub(1))
            }
            (Dialect::Sqlite | Dialect::Mysql, '?') => {
                next += 1;
                Some(next - 1)
            }
            _ => None,
        };
        match index.and_then(|i| statement.params.get(i)) {
            Some(value) => out.push_str(&literal(value, dialect)),
            None => out.push(c),
        }
    }
    out
}

/// A value as a SQL literal of `dialect`.
fn literal(value: &Value, dialect: Dialect) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(n) => n.to_string(),
        // MySQL's DATETIME takes neither the `T` nor the zone; the value is UTC.
        Value::Timestamp(text) if dialect == Dialect::Mysql => renderer(dialect)
            .string_literal(text.trim_end_matches('Z').replacen('T', " ", 1).as_str()),
        other => renderer(dialect).string_literal(&other.to_text().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_written_in_as_literals_of_each_dialect() {
        let statement = |dialect: Dialect| Statement {
            sql: format!(
                "INSERT INTO t (a, b, c) VALUES ({}, {}, {})",
                dialect.param(1),
                dialect.param(2),
                dialect.param(3)
            ),
            params: vec![
                Value::Text("it's".into()),
                Value::Null,
                crate::version_table::timestamp("2026-12-02T05:30:00Z".parse().expect("time")),
            ],
        };
        assert_eq!(
            inline(&statement(Dialect::Postgres), Dialect::Postgres),
            "INSERT INTO t (a, b, c) VALUES ('it''s', NULL, '2026-12-02T05:30:00.000000Z')"
        );
        assert_eq!(
            inline(&statement(Dialect::Mysql), Dialect::Mysql),
            "INSERT INTO t (a, b, c) VALUES ('it''s', NULL, '2026-12-02 05:30:00.000000')"
        );
        assert_eq!(
            inline(&statement(Dialect::Sqlite), Dialect::Sqlite),
            "INSERT INTO t (a, b, c) VALUES ('it''s', NULL, '2026-12-02T05:30:00.000000Z')"
        );
    }
}
