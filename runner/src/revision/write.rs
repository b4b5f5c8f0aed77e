//! Writing revision files: new ids, slugs, and the YAML layout of `runner revision` and
//! `runner merge` (steps in flow style, one per line, as people write them by hand).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_saphyr::FlowMap;

use crate::ops::Step;

/// A revision about to be written.
#[derive(Debug, Clone)]
pub struct NewRevision {
    pub id: String,
    pub parents: Vec<String>,
    pub message: String,
    pub created: DateTime<Utc>,
    pub branch_labels: Vec<String>,
    pub depends_on: Vec<String>,
    /// The steps, for a revision written from a schema comparison (autogenerate); `runner
    /// revision` leaves it empty for the author to fill in.
    pub upgrade: Vec<Step>,
    /// `(i, text)`: a comment written above step `i` (autogenerate's notes to the reviewer).
    pub notes: Vec<(usize, String)>,
}

/// A step that cannot be written out as YAML.
#[derive(Debug, thiserror::Error)]
#[error("step {number} cannot be written as YAML: {reason}")]
pub struct UnwritableStep {
    /// 1-based.
    pub number: usize,
    pub reason: String,
}

/// A fresh revision id: 12 random lowercase hex characters, as SPEC fixes.
pub fn new_id() -> String {
    let bytes: [u8; 6] = rand::random();
    hex::encode(bytes)
}

/// The file-name part made from a message: lowercase words joined by `_`, at most 40 bytes.
pub fn slug(message: &str) -> String {
    let mut slug = String::new();
    for word in message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() + 1 > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('_');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    if slug.is_empty() {
        slug.push_str("revision");
    }
    slug
}

/// A string as a YAML scalar: plain where YAML reads it back unchanged, else double-quoted.
pub fn scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '/' | '(' | ')' | ',')
        })
        && !text.starts_with([' ', '-', '.'])
        && !text.ends_with(' ')
        && text.parse::<f64>().is_err()
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "y" | "n"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
    }
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

/// Steps as a YAML list, each step on one line in flow style.
pub fn steps_yaml(steps: &[Step]) -> Result<String, UnwritableStep> {
    let mut out = String::new();
    for (index, step) in steps.iter().enumerate() {
        let fail = |reason: String| UnwritableStep {
            number: index + 1,
            reason,
        };
        let value = serde_json::to_value(step).map_err(|e| fail(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(fail(format!("it is not a map but {value}")));
        };
        let line: BTreeMap<String, FlowMap<serde_json::Value>> =
            map.into_iter().map(|(k, v)| (k, FlowMap(v))).collect();
        let yaml = serde_saphyr::to_string(&vec![line]).map_err(|e| fail(e.to_string()))?;
        out.push_str(yaml.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// The text of a new revision file.
pub fn render(revision: &NewRevision) -> Result<String, UnwritableStep> {
    let mut out = format!(
        "revision: {}\nparents: {}\nmessage: {}\ncreated: {}\nbranch_labels: {}\ndepends_on: {}\ntransactional: true\n",
        revision.id,
        list(&revision.parents),
        scalar(&revision.message),
        revision.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        list(&revision.branch_labels),
        list(&revision.depends_on),
    );
    if revision.upgrade.is_empty() {
        out.push_str(
            "upgrade:\n\
             \x20 # Steps, run in order in one transaction. For example (remove the `# `):\n\
             \x20 # - add_column: {table: contacts, column: {name: first_name, type: string(255)}}\n\
             \x20 # - transform: {module: split_names, reads: [contacts], writes: [contacts]}\n",
        );
    } else {
        out.push_str("upgrade:\n");
        for (i, line) in steps_yaml(&revision.upgrade)?.lines().enumerate() {
            for (_, note) in revision.notes.iter().filter(|(at, _)| *at == i) {
                for text in note.lines() {
                    out.push_str("  # ");
                    out.push_str(text);
                    out.push('\n');
                }
            }
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("downgrade: auto\n");
    Ok(out)
}

/// Where a new revision's file goes: `<versions_dir>/<id>_<slug>.yaml`.
pub fn file_path(versions_dir: &Path, revision: &NewRevision) -> PathBuf {
    versions_dir.join(format!("{}_{}.yaml", revision.id, slug(&revision.message)))
}

/// Writes a new revision file's `text` at `path` (creating its folder); never overwrites.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::step;

    #[test]
    fn ids_are_twelve_hex_characters() {
        let id = new_id();
        assert_eq!(id.len(), 12);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(new_id(), id);
    }

    #[test]
    fn slugs_and_scalars_read_back() {
        assert_eq!(slug("Split contact names!"), "split_contact_names");
        assert_eq!(slug("¡¿"), "revision");
        assert_eq!(scalar("split names"), "split names");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("1.5"), "\"1.5\"");
    }

    #[test]
    fn a_written_revision_parses_back_to_the_same_content() {
        let revision = NewRevision {
            id: "abc123def456".into(),
            parents: vec!["0123456789ab".into()],
            message: "add: first name # really".into(),
            created: DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            branch_labels: vec!["crm".into()],
            depends_on: vec![],
            upgrade: vec![
                step(
                    "add_column: {table: contacts, column: {name: first_name, type: string(255), default: 'n/a'}}",
                ),
                step("alter_column: {table: contacts, column: score, default: null}"),
                step(
                    "create_table: {table: t, columns: [{name: id, type: \"decimal(10,2)\", primary_key: true}]}",
                ),
            ],
            notes: vec![(1, "a note: on two\nlines".into())],
        };
        let text = render(&revision).unwrap();
        assert!(
            text.contains("\n  # a note: on two\n  # lines\n  - alter_column:"),
            "{text}"
        );
        let parsed = super::super::load::parse(Path::new("abc123def456_x.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.message, revision.message);
        assert_eq!(parsed.parents, revision.parents);
        assert_eq!(parsed.branch_labels, revision.branch_labels);
        let steps: Vec<Step> = parsed.upgrade.into_iter().map(|s| s.value).collect();
        assert_eq!(steps, revision.upgrade, "{text}");
    }

    #[test]
    fn a_new_revision_parses_empty_and_its_example_parses_once_uncommented() {
        let revision = NewRevision {
            id: "abc123def456".into(),
            parents: vec![],
            message: "split names".into(),
            created: DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            branch_labels: vec![],
            depends_on: vec![],
            upgrade: vec![],
            notes: vec![],
        };
        let text = render(&revision).unwrap();
        let path = Path::new("abc123def456_split_names.yaml");
        let empty =
            super::super::load::parse(path, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(empty.upgrade.is_empty());
        // What a user does with the example: delete the `# ` in front of its steps.
        let uncommented = text.replace("  # - ", "  - ");
        let filled = super::super::load::parse(path, &uncommented)
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(filled.upgrade.len(), 2, "{uncommented}");
    }
}
