//! `schema.yaml`: the schema a project wants, in the revisions' own vocabulary (each table's
//! body is what `create_table` takes, without `table`; each enum is its list of values).
//! `runner check` compares it with the schema the revisions build; autogenerate will write
//! the revision that turns one into the other; [`render`] writes a schema back in this form
//! (`runner schema`), so that a project can start from what it has.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use serde_saphyr::{FlowMap, FlowSeq};

use crate::model::{Schema, fk_name, index_name, unique_name};
use crate::ops::spec::{CheckSpec, ColumnRef, ColumnSpec, ForeignKeySpec, IndexSpec, NamedColumns};
use crate::ops::{CreateEnum, CreateTable, Operation};
use crate::revision::load::yaml_error;
use crate::revision::write::scalar;
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

/// `schema` as the text of a `schema.yaml` that [`parse`] reads back to the same schema: each
/// item on one line in flow style, derived names left out, one-column keys, uniques and foreign
/// keys under their default names written on their column, as people write them.
pub fn render(schema: &Schema) -> Result<String, UnwritableSchema> {
    let mut out = String::new();
    if !schema.enums.is_empty() {
        out.push_str("enums:\n");
        for (name, enum_type) in &schema.enums {
            out.push_str(&format!(
                "  {}: {}\n",
                scalar(name),
                flow(&enum_type.values)?
            ));
        }
    }
    if schema.tables.is_empty() {
        out.push_str("tables: {}\n");
        return Ok(out);
    }
    out.push_str("tables:\n");
    for table in schema.tables.values() {
        let body = compact_create(table);
        out.push_str(&format!("  {}:\n    columns:\n", scalar(&table.name)));
        for column in &body.columns {
            out.push_str(&format!("      - {}\n", flow(column)?));
        }
        if let Some(pk) = &body.primary_key {
            out.push_str(&format!("    primary_key: {}\n", flow(pk)?));
        }
        list(&mut out, "unique", &body.unique)?;
        list(&mut out, "foreign_keys", &body.foreign_keys)?;
        list(&mut out, "checks", &body.checks)?;
        list(&mut out, "indexes", &body.indexes)?;
    }
    Ok(out)
}

/// A schema item that serde could not write as YAML (not expected: every item is plain data).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the schema as YAML: {0}")]
pub struct UnwritableSchema(String);

fn list<T: serde::Serialize>(
    out: &mut String,
    key: &str,
    items: &[T],
) -> Result<(), UnwritableSchema> {
    if !items.is_empty() {
        out.push_str(&format!("    {key}:\n"));
        for item in items {
            out.push_str(&format!("      - {}\n", flow(item)?));
        }
    }
    Ok(())
}

/// One value in YAML flow style, on one line.
fn flow<T: serde::Serialize>(value: &T) -> Result<String, UnwritableSchema> {
    let json = serde_json::to_value(value).map_err(|e| UnwritableSchema(e.to_string()))?;
    let text = match &json {
        serde_json::Value::Object(_) => serde_saphyr::to_string(&FlowMap(json)),
        serde_json::Value::Array(_) => serde_saphyr::to_string(&FlowSeq(json)),
        _ => serde_saphyr::to_string(&json),
    }
    .map_err(|e| UnwritableSchema(e.to_string()))?;
    Ok(text.trim_end().to_string())
}

/// The `create_table` of a model table as a person writes it: derived names dropped, a
/// one-column unique or foreign key under its derived name moved onto its column.
pub fn compact_create(table: &crate::model::Table) -> CreateTable {
    let mut body = CreateTable::from_model(table);
    let table = body.table.clone();
    body.unique.retain(|unique| {
        let [column] = unique.columns.as_slice() else {
            return true;
        };
        let derived = unique.name.as_deref() == Some(unique_name(&table, &unique.columns).as_str());
        match body.columns.iter_mut().find(|c| &c.name == column) {
            Some(spec) if derived && !spec.unique => {
                spec.unique = true;
                false
            }
            _ => true,
        }
    });
    for unique in &mut body.unique {
        if unique.name.as_deref() == Some(unique_name(&table, &unique.columns).as_str()) {
            unique.name = None;
        }
    }
    body.foreign_keys.retain(|fk| {
        let ([column], [target]) = (fk.columns.as_slice(), fk.references.columns.as_slice()) else {
            return true;
        };
        let derived =
            fk.name.as_deref() == Some(fk_name(&table, &fk.columns, &fk.references.table).as_str());
        match body.columns.iter_mut().find(|c| &c.name == column) {
            Some(spec) if derived && spec.references.is_none() => {
                spec.references = Some(ColumnRef {
                    table: fk.references.table.clone(),
                    column: target.clone(),
                });
                spec.on_delete = fk.on_delete;
                spec.on_update = fk.on_update;
                false
            }
            _ => true,
        }
    });
    for fk in &mut body.foreign_keys {
        if fk.name.as_deref() == Some(fk_name(&table, &fk.columns, &fk.references.table).as_str()) {
            fk.name = None;
        }
    }
    for index in &mut body.indexes {
        if index.name.as_deref() == Some(index_name(&table, &index.columns, index.unique).as_str())
        {
            index.name = None;
        }
    }
    body
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
    fn a_rendered_schema_reads_back_the_same_and_is_written_as_people_write_it() {
        let text = r#"
enums:
  deal_state: [open, "won: yes", lost]
tables:
  companies:
    columns:
      - {name: id, type: integer, primary_key: true, autoincrement: true}
      - {name: name, type: string, nullable: false, unique: true}
  deals:
    columns:
      - {name: id, type: bigint, primary_key: true}
      - {name: company_id, type: integer, references: companies.id, on_delete: cascade}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
      - {name: amount, type: "decimal(10,2)", default: 0}
      - {name: code, type: string(3)}
    unique:
      - {name: uq_deals_code_named, columns: [code]}
      - [company_id, code]
    foreign_keys:
      - {name: fk_named, columns: [company_id], references: {table: companies, columns: [id]}}
    checks:
      - {name: ck_deals_amount, expr: "amount >= 0"}
    indexes:
      - {columns: [state]}
      - {name: ix_partial, columns: [amount], where: "amount > 100"}
"#;
        let schema = parse(Path::new("schema.yaml"), text).unwrap().unwrap();
        let written = render(&schema).unwrap();
        let back = parse(Path::new("schema.yaml"), &written)
            .unwrap_or_else(|e| panic!("{e}\n{written}"))
            .unwrap();
        assert_eq!(back.normalized(), schema.normalized(), "{written}");
        expect_test::expect![[r#"
            enums:
              deal_state: [open, "won: yes", lost]
            tables:
              companies:
                columns:
                  - {name: id, type: integer, primary_key: true, autoincrement: true}
                  - {name: name, type: string, nullable: false, unique: true}
              deals:
                columns:
                  - {name: id, type: bigint, primary_key: true}
                  - {name: company_id, type: integer, references: companies.id, on_delete: cascade}
                  - {name: state, type: enum(deal_state), nullable: false, default: open}
                  - {name: amount, type: "decimal(10,2)", default: 0}
                  - {name: code, type: string(3)}
                unique:
                  - {name: uq_deals_code_named, columns: [code]}
                  - [company_id, code]
                foreign_keys:
                  - {name: fk_named, columns: [company_id], references: {table: companies, columns: [id]}}
                checks:
                  - {name: ck_deals_amount, expr: amount >= 0}
                indexes:
                  - {columns: [state]}
                  - {name: ix_partial, columns: [amount], where: amount > 100}
        "#]]
        .assert_eq(&written);
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
