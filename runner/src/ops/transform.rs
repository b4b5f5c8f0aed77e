//! `transform`: runs a data transform (a WebAssembly component) between the schema steps, in
//! the revision's transaction, on the tables it declares. Its reverse calls the same module's
//! `down`; whether it has one is known from `transforms.lock` when a downgrade is planned.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError, TransformAction};
use crate::model::{Literal, Schema, SchemaError};
use crate::units::{parse_duration, parse_size};
use crate::vocab::{Direction, is_runner_table, is_transform_name};

/// Runs a transform module.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    /// The transform crate (its package name).
    pub module: String,
    /// Tables the transform may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<String>,
    /// Tables the transform may read and change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
    /// Arguments passed to the transform as text.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, Literal>,
    /// Overrides `[sandbox] timeout`, as `60s` or `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Overrides `[sandbox] memory`, as `128MiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// The tables `down` may read and change, where they are not those of `up` (a backfill
    /// that reads `a` to fill `b` is undone by reading `b` to refill `a`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<DownGrants>,
    /// Set on the step a downgrade derives: it calls `down`.
    #[serde(skip)]
    pub reverse: bool,
}

/// The grants of a transform's `down`, given apart from those of `up`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DownGrants {
    /// Tables `down` may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<String>,
    /// Tables `down` may read and change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
}

impl Transform {
    /// The arguments as the transform receives them.
    pub fn arg_pairs(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Literal::String(s) => s.clone(),
                    Literal::Int(i) => i.to_string(),
                    Literal::Float(x) => crate::model::literal::float_text(*x),
                    Literal::Bool(b) => b.to_string(),
                };
                (name.clone(), text)
            })
            .collect()
    }

    /// The step's own limits, parsed.
    pub fn limits(&self) -> Result<(Option<Duration>, Option<u64>), String> {
        let timeout = self.timeout.as_deref().map(parse_duration).transpose()?;
        let memory = self.memory.as_deref().map(parse_size).transpose()?;
        Ok((timeout, memory))
    }
}

impl Operation for Transform {
    fn apply(&self, schema: &mut Schema) -> Result<(), SchemaError> {
        if !is_transform_name(&self.module) {
            return Err(SchemaError::Invalid(format!(
                "'{}' is not a transform module name (lowercase letters, digits, '_' or '-')",
                self.module
            )));
        }
        if self.reads.is_empty() && self.writes.is_empty() {
            return Err(SchemaError::Invalid(format!(
                "transform {} declares no tables: list what it reads in `reads` and what it changes in `writes`",
                self.module
            )));
        }
        if let Some(down) = &self.down
            && down.reads.is_empty()
            && down.writes.is_empty()
        {
            return Err(SchemaError::Invalid(format!(
                "transform {}'s `down` declares no tables: list what it reads in `reads` and what it changes in `writes`, or leave `down` out to give it the same tables as `up`",
                self.module
            )));
        }
        let down = self
            .down
            .iter()
            .flat_map(|d| d.reads.iter().chain(&d.writes));
        for table in self.reads.iter().chain(&self.writes).chain(down) {
            if is_runner_table(table) {
                return Err(SchemaError::Invalid(format!(
                    "'{table}' is one of runner's own tables; transforms cannot touch it"
                )));
            }
            schema.table(table)?;
        }
        self.limits().map_err(SchemaError::Invalid)?;
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        let mut down = self.clone();
        down.reverse = !self.reverse;
        // The other direction's grants become the step's own, and the step's its `down`'s:
        // reversing twice gives the step back.
        if let Some(grants) = &self.down {
            down.reads = grants.reads.clone();
            down.writes = grants.writes.clone();
            down.down = Some(DownGrants {
                reads: self.reads.clone(),
                writes: self.writes.clone(),
            });
        }
        Ok(Reversal::steps(vec![Step::Transform(down)]))
    }

    fn render(&self, _cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let (timeout, memory_bytes) = self
            .limits()
            .map_err(|e| RenderError::Schema(SchemaError::Invalid(e)))?;
        Ok(vec![Action::Transform(TransformAction {
            module: self.module.clone(),
            direction: if self.reverse {
                Direction::Down
            } else {
                Direction::Up
            },
            reads: self.reads.clone(),
            writes: self.writes.clone(),
            args: self.arg_pairs(),
            timeout,
            memory_bytes,
        })])
    }

    fn describe(&self) -> String {
        if self.reverse {
            format!("transform {} (down)", self.module)
        } else {
            format!("transform {}", self.module)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{apply_error, crm, golden, step};
    use super::super::{Operation, Step};

    #[test]
    fn declares_tables_that_exist_and_renders_a_sandbox_call() {
        let before = crm();
        let transform = step(
            "transform: {module: split_names, reads: [companies], writes: [contacts], args: {sep: ' ', max: 3}, timeout: 60s}",
        );
        let sql = golden(&before, &transform);
        assert!(
            sql.contains(
                "-- transform split_names (up) in the sandbox: reads companies, contacts; writes contacts"
            ),
            "{sql}"
        );
        // `down` may have grants of its own; the reverse step runs with them.
        let Step::Transform(with_down) = step(
            "transform: {module: m, reads: [companies], writes: [contacts], down: {reads: [contacts], writes: [companies]}}",
        ) else {
            panic!("not a transform step");
        };
        with_down.apply(&mut before.clone()).unwrap();
        let reversal = with_down.reverse(&before).unwrap();
        let [Step::Transform(reverse)] = reversal.steps.as_slice() else {
            panic!("one transform step expected: {reversal:?}");
        };
        assert!(reverse.reverse);
        assert_eq!(
            (&reverse.reads[..], &reverse.writes[..]),
            (
                &["contacts".to_string()][..],
                &["companies".to_string()][..]
            )
        );
        let twice = reverse.reverse(&before).unwrap();
        assert_eq!(twice.steps, [Step::Transform(with_down.clone())]);
        for (yaml, expected) in [
            ("transform: {module: x, reads: [nope]}", "no table 'nope'"),
            (
                "transform: {module: x, writes: [runner_version]}",
                "runner's own tables",
            ),
            ("transform: {module: x}", "declares no tables"),
            (
                "transform: {module: Bad!, reads: [contacts]}",
                "not a transform module name",
            ),
            (
                "transform: {module: x, reads: [contacts], timeout: soon}",
                "not a duration",
            ),
            (
                "transform: {module: x, reads: [contacts], down: {writes: [nope]}}",
                "no table 'nope'",
            ),
            (
                "transform: {module: x, reads: [contacts], down: {}}",
                "`down` declares no tables",
            ),
        ] {
            let err = apply_error(&before, &step(yaml));
            assert!(err.contains(expected), "{yaml}\n  gave: {err}");
        }
    }
}
