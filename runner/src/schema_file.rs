//! `schema.yaml`: the schema a project wants, in the revisions' own vocabulary (each table's
//! body is what `create_table` takes, without `table`; each enum is its list of values).
//! `runner check` compares it with the schema the revisions build; autogenerate will write
//! the revision that turns one into the other.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::model::Schema;
use crate::ops::spec::{CheckSpec, ColumnSpec, ForeignKeySpec, IndexSpec, NamedColumns};
use crate::ops::{CreateEnum, CreateTable, Operation};
use crate::revision::load::yaml_error;
use crate::revision::{SourceError, SourceLoc};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchemaFile {
    #[serde(default)]
    enums: MapOrEmpty<Spanned<Vec<String>>>,
    #[serde(default)]
    tables: MapOrEmpty<Spanned<TableBody>>,
}

/// A table in `schema.yaml`: `create_table`'s fields but `table`, which is the key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableBody {
    columns: Vec<ColumnSpec>,
    #[serde(default)]
    primary_key: Option<NamedColumns>,
    #[serde(default)]
    unique: Vec<NamedColumns>,
    #[serde(default)]
    foreign_keys: Vec<ForeignKeySpec>,
    #[serde(default)]
    checks: Vec<CheckSpec>,
    #[serde(default)]
    indexes: Vec<IndexSpec>,
}

impl TableBody {
    fn into_create(self, table: String) -> CreateTable {
        CreateTable {
            table,
            columns: self.columns,
            primary_key: self.primary_key,
            unique: self.unique,
            foreign_keys: self.foreign_keys,
            checks: self.checks,
            indexes: self.indexes,
        }
    }
}

/// A mapping; an empty list (`tables: []`, as `runner init` once wrote) reads as an empty one.
struct MapOrEmpty<T>(IndexMap<String, T>);

impl<T> Default for MapOrEmpty<T> {
    fn default() -> Self {
        Self(IndexMap::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOrEmpty<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = MapOrEmpty<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to definitions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if out.insert(key.clone(), value).is_some() {
                        return Err(de::Error::custom(format!("'{key}' is defined twice")));
                    }
                }
                Ok(MapOrEmpty(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                match seq.next_element::<de::IgnoredAny>()? {
                    None => Ok(MapOrEmpty(IndexMap::new())),
                    Some(_) => Err(de::Error::custom(
                        "expected a mapping of names to definitions (`tables: {contacts: {columns: [...]}}`), not a list",
                    )),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(MapOrEmpty(IndexMap::new()))
            }
        }
        deserializer.deserialize_any(MapVisitor(PhantomData))
    }
}

/// The schema `path` declares, or `None` when the file does not exist or declares no
/// tables (a project that does not use it).
pub fn load(path: &Path) -> Result<Option<Schema>, SourceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SourceError::file(path, format!("cannot read it: {e}"))),
    };
    parse(path, &text)
}

/// The schema `text` (the contents of `path`) declares; `None` when it declares no tables.
pub fn parse(path: &Path, text: &str) -> Result<Option<Schema>, SourceError> {
    let shared = Arc::new(path.to_path_buf());
    let raw: RawSchemaFile =
        serde_saphyr::from_str(text).map_err(|e| yaml_error(&shared, text, &e))?;
    if raw.tables.0.is_empty() {
        return Ok(None);
    }
    let at = |span: &serde_saphyr::Location| {
        if span.line() == 0 {
            SourceLoc::file(&shared)
        } else {
            SourceLoc::new(&shared, span.line(), span.column())
        }
    };
    let fail = |loc: SourceLoc, message: String| SourceError::at(loc, message, Some(text));
    let mut schema = Schema::default();
    for (name, values) in raw.enums.0 {
        CreateEnum {
            name: name.clone(),
            values: values.value,
        }
        .apply(&mut schema)
        .map_err(|e| fail(at(&values.referenced), format!("enum '{name}': {e}")))?;
    }
    // Tables in an order that has each one after the tables it references.
    let mut pending: Vec<(String, Spanned<TableBody>)> = raw.tables.0.into_iter().collect();
    while !pending.is_empty() {
        let declared: HashSet<&String> = pending.iter().map(|(name, _)| name).collect();
        let ready = pending.iter().position(|(name, body)| {
            references(&body.value)
                .iter()
                .all(|target| target == name || !declared.contains(target))
        });
        let Some(index) = ready else {
            let names: Vec<&str> = pending.iter().map(|(n, _)| n.as_str()).collect();
            let (_, body) = &pending[0];
            return Err(fail(
                at(&body.referenced),
                format!(
                    "tables {} reference each other in a cycle, which one `create_table` each cannot build; \
                     declare one of the foreign keys in a revision's `add_foreign_key` instead",
                    names.join(", ")
                ),
            ));
        };
        let (name, body) = pending.remove(index);
        let loc = at(&body.referenced);
        body.value
            .into_create(name.clone())
            .apply(&mut schema)
            .map_err(|e| fail(loc, format!("table '{name}': {e}")))?;
    }
    Ok(Some(schema))
}

/// The tables a table body's foreign keys point at.
fn references(body: &TableBody) -> Vec<String> {
    body.columns
        .iter()
        .filter_map(|c| c.references.as_ref().map(|r| r.table.clone()))
        .chain(
            body.foreign_keys
                .iter()
                .map(|fk| fk.references.table.clone()),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_built_after_the_tables_they_reference() {
        let text = r#"
enums:
  deal_state: [open, won]
tables:
  deals:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: contact_id, type: integer, references: contacts.id}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
  contacts:
    columns:
      - {name: id, type: integer, primary_key: true}
"#;
        let schema = parse(Path::new("schema.yaml"), text)
            .expect("parses")
            .expect("declares tables");
        assert_eq!(
            schema.tables.keys().collect::<Vec<_>>(),
            ["contacts", "deals"]
        );
        assert_eq!(schema.enums["deal_state"].values, ["open", "won"]);
        assert_eq!(schema.tables["deals"].foreign_keys[0].ref_table, "contacts");
    }

    #[test]
    fn an_empty_file_declares_nothing() {
        for text in ["enums: []\ntables: []\n", "{}\n", "tables: {}\n"] {
            assert_eq!(parse(Path::new("schema.yaml"), text).expect("parses"), None);
        }
    }

    #[test]
    fn errors_point_at_the_table() {
        let text = "tables:\n  deals:\n    columns:\n      - {name: id, type: integer, references: nope.id}\n";
        let error = parse(Path::new("schema.yaml"), text).unwrap_err();
        assert_eq!((error.loc.line, error.loc.column), (3, 5), "{error}");
        assert!(error.message.starts_with("table 'deals': "), "{error}");
        let error = parse(Path::new("schema.yaml"), "tables:\n  t: {colums: []}\n").unwrap_err();
        assert!(error.message.contains("colums"), "{error}");
    }
}
