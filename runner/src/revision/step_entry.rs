//! One entry of a revision's `upgrade` or `downgrade` list: an operation, and optionally a
//! `lint` key beside it that silences lint findings on purpose:
//!
//! ```yaml
//! - drop_column: {table: contacts, column: full_name}
//!   lint: {ignore: [drop-column]}
//! ```
//!
//! The operation is read by [`Step`]'s own deserializer, streamed from the file, so its errors
//! keep their `file:line:column`.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::ops::Step;

/// A step as written, with the lint codes its `lint: {ignore: [...]}` names.
pub struct StepEntry {
    pub step: Step,
    pub lint_ignore: Vec<Spanned<String>>,
}

/// The `lint` key of a step.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LintKey {
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for StepEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = StepEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step: one operation, as in `- add_column: {...}`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepEntry, A::Error> {
        let mut step: Option<(String, Step)> = None;
        let mut lint: Option<LintKey> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "lint" {
                if lint.is_some() {
                    return Err(de::Error::custom("a step has one `lint` key"));
                }
                lint = Some(map.next_value()?);
                continue;
            }
            if let Some((first, _)) = &step {
                return Err(de::Error::custom(format!(
                    "a step holds one operation, but this one has `{first}` and `{key}`; \
                     start the second with its own `- `"
                )));
            }
            let op = Step::deserialize(MapAccessDeserializer::new(OneOperation {
                key: Some(key.clone()),
                map: &mut map,
            }))?;
            step = Some((key, op));
        }
        let Some((_, step)) = step else {
            return Err(de::Error::custom(
                "a step needs an operation, as in `- add_column: {...}`; `lint` alone is not a step",
            ));
        };
        Ok(StepEntry {
            step,
            lint_ignore: lint.map(|l| l.ignore).unwrap_or_default(),
        })
    }
}

/// The operation's key and value out of a step's mapping, seen by [`Step`]'s deserializer as a
/// mapping of its own (an externally tagged enum).
struct OneOperation<'m, A> {
    key: Option<String>,
    map: &'m mut A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for OneOperation<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(de::value::StringDeserializer::<A::Error>::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.map.next_value_seed(seed)
    }
}
