//! Revision files (`versions/<id>_<slug>.yaml`) to [`Revision`]s: strict YAML (unknown keys,
//! unknown operations and wrong types are errors at `file:line:column`), with the location of
//! every step kept for the errors found later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{MessageFormatter, Spanned};
use sha2::{Digest, Sha256};

use super::source::{SourceError, SourceLoc};
use super::step_entry::StepEntry;
use super::{Downgrade, LintIgnore, Located, Revision, RevisionFile, RevisionLocs};
use crate::ops::Step;

/// The longest revision id the version table holds.
pub const MAX_ID_LEN: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevision {
    revision: Spanned<String>,
    parents: Spanned<IdList>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    created: Option<Spanned<String>>,
    #[serde(default)]
    branch_labels: Vec<Spanned<String>>,
    #[serde(default)]
    depends_on: Option<Spanned<IdList>>,
    #[serde(default = "yes")]
    transactional: bool,
    /// `upgrade:` with nothing under it (a new revision's, all its steps commented out) is
    /// no steps.
    #[serde(default, deserialize_with = "steps_or_nothing")]
    upgrade: Vec<Spanned<StepEntry>>,
    #[serde(default)]
    downgrade: RawDowngrade,
}

fn yes() -> bool {
    true
}

fn steps_or_nothing<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Spanned<StepEntry>>, D::Error> {
    Ok(Option::<Vec<Spanned<StepEntry>>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A list of revision ids; `parents: a` is read as `parents: [a]`, as Alembic's
/// `down_revision` takes one or many.
struct IdList(Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrMany).map(IdList)
    }
}

struct OneOrMany;

impl<'de> Visitor<'de> for OneOrMany {
    type Value = Vec<Spanned<String>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a revision id or a list of revision ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(out)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(vec![Spanned::new(
            v.to_string(),
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        )])
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

#[derive(Default)]
enum RawDowngrade {
    #[default]
    Auto,
    Steps(Vec<Spanned<StepEntry>>),
}

impl<'de> Deserialize<'de> for RawDowngrade {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DowngradeVisitor;
        impl<'de> Visitor<'de> for DowngradeVisitor {
            type Value = RawDowngrade;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`auto` or a list of steps")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDowngrade, E> {
                if v == "auto" {
                    Ok(RawDowngrade::Auto)
                } else {
                    Err(E::custom(format!(
                        "`downgrade` must be `auto` or a list of steps, got '{v}'"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawDowngrade, A::Error> {
                let mut steps = Vec::new();
                while let Some(step) = seq.next_element()? {
                    steps.push(step);
                }
                Ok(RawDowngrade::Steps(steps))
            }
        }
        deserializer.deserialize_any(DowngradeVisitor)
    }
}

/// Turns a YAML error into a located one. Serde's "unknown variant" becomes "unknown
/// operation" where the variants are operations.
pub fn yaml_error(path: &Arc<PathBuf>, text: &str, err: &serde_saphyr::Error) -> SourceError {
    let mut message = match ours(err) {
        Some(message) => message,
        None => serde_saphyr::DefaultMessageFormatter
            .format_message(err)
            .into_owned(),
    };
    if message.starts_with("unknown variant") && message.contains("create_table") {
        message = message.replacen("unknown variant", "unknown operation", 1);
    }
    if let Some(hint) = unknown_name_hint(&message) {
        message.push_str(&hint);
    }
    match err.location() {
        Some(at) if at.line() > 0 => SourceError::at(
            SourceLoc::new(path, at.line(), at.column()),
            message,
            Some(text),
        ),
        _ => SourceError::at(SourceLoc::file(path), message, None),
    }
}

/// "did you mean" for serde's `unknown field `x`, expected one of ...` and `unknown variant`
/// (operation) messages, from the names the message itself lists.
fn unknown_name_hint(message: &str) -> Option<String> {
    let rest = [
        "unknown field `",
        "unknown variant `",
        "unknown operation `",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))?;
    let (typed, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected ")?;
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let names = expected
        .split([',', ' '])
        .map(|name| name.trim_matches(|c: char| c == '`' || c.is_whitespace()))
        .filter(|name| !name.is_empty() && *name != "or");
    crate::suggest::closest(typed, names).map(|name| format!("; did you mean `{name}`?"))
}

/// Our words for the parser's errors whose own text gives advice about the parser's options,
/// which a revision's author cannot set.
fn ours(err: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::Error;
    let mut err = err;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = err {
        err = error;
    }
    match err {
        Error::DuplicateMappingKey { key: Some(key), .. } => Some(format!(
            "`{key}` is given twice in this mapping: a key may appear once (merge the two, or \
             delete the one you do not mean)"
        )),
        Error::DuplicateMappingKey { key: None, .. } => Some(
            "this key is given twice in this mapping: a key may appear once (merge the two, or \
             delete the one you do not mean)"
                .into(),
        ),
        Error::BinaryNotUtf8 { .. } => {
            Some("a !!binary value is not UTF-8 text: a revision holds text only".into())
        }
        Error::Budget { .. } => Some(
            "the file is too large or too deeply nested to be a revision (it passes the YAML \
             parser's limits)"
                .into(),
        ),
        _ => None,
    }
}

/// The checksum recorded for a file: sha256 of its bytes with CRLF read as LF, so that a
/// checkout on Windows does not look like an edit.
pub fn checksum(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n");
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// True if `id` can be a revision id: 1 to 64 lowercase letters, digits or underscores.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Words a TARGET reads as itself, so a branch label cannot be one.
const TARGET_WORDS: [&str; 3] = ["head", "heads", "base"];

/// True if `label` can be a branch label: what a revision id can be (so that `LABEL@head`,
/// `LABEL-1` and `A:B` read it back whole), other than `head`, `heads` and `base`.
pub fn valid_label(label: &str) -> bool {
    valid_id(label) && !TARGET_WORDS.contains(&label)
}

/// Parses one revision file's text.
pub fn parse(path: &Path, text: &str) -> Result<Revision, SourceError> {
    let path = Arc::new(path.to_path_buf());
    let raw: RawRevision = serde_saphyr::from_str(text).map_err(|e| yaml_error(&path, text, &e))?;
    let loc = |span: &serde_saphyr::Location| {
        if span.line() == 0 {
            SourceLoc::file(&path)
        } else {
            SourceLoc::new(&path, span.line(), span.column())
        }
    };
    let fail = |at: SourceLoc, message: String| SourceError::at(at, message, Some(text));

    let id = raw.revision.value.clone();
    if !valid_id(&id) {
        return Err(fail(
            loc(&raw.revision.referenced),
            format!(
                "revision id '{id}' must be 1 to {MAX_ID_LEN} lowercase letters, digits or underscores"
            ),
        ));
    }
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let named_after_id = file_name
        .strip_prefix(id.as_str())
        .is_some_and(|rest| rest.starts_with(['_', '.']));
    if !named_after_id {
        return Err(fail(
            loc(&raw.revision.referenced),
            format!(
                "the file name must start with its revision id '{id}' (as in {id}_message.yaml)"
            ),
        ));
    }
    // An id given as a bare string has no span of its own: point at the list's value.
    let entries = |list: &Spanned<IdList>| -> Vec<(String, SourceLoc)> {
        list.value
            .0
            .iter()
            .map(|entry| {
                let at = if entry.referenced.line() == 0 {
                    &list.referenced
                } else {
                    &entry.referenced
                };
                (entry.value.clone(), loc(at))
            })
            .collect()
    };
    let parents = entries(&raw.parents);
    let depends_on = raw.depends_on.as_ref().map(entries).unwrap_or_default();
    for list in [&parents, &depends_on] {
        for (id, at) in list {
            if !valid_id(id) {
                return Err(fail(at.clone(), format!("'{id}' is not a revision id")));
            }
        }
    }
    let mut labels = std::collections::HashSet::new();
    for label in &raw.branch_labels {
        let at = loc(&label.referenced);
        if !valid_label(&label.value) {
            return Err(fail(
                at,
                format!(
                    "branch label '{}' must be 1 to {MAX_ID_LEN} lowercase letters, digits or underscores, and not {}",
                    label.value,
                    TARGET_WORDS.join(", ")
                ),
            ));
        }
        if !labels.insert(label.value.as_str()) {
            return Err(fail(
                at,
                format!("branch label '{}' is given twice", label.value),
            ));
        }
    }
    let created: Option<DateTime<Utc>> = match &raw.created {
        None => None,
        Some(created) => Some(
            DateTime::parse_from_rfc3339(created.value.trim())
                .map_err(|e| {
                    fail(
                        loc(&created.referenced),
                        format!(
                            "`created` must be an RFC 3339 time such as 2026-11-24T12:00:00Z: {e}"
                        ),
                    )
                })?
                .with_timezone(&Utc),
        ),
    };
    let mut lint_ignores = Vec::new();
    let mut located = |steps: Vec<Spanned<StepEntry>>| -> Vec<Located<Step>> {
        steps
            .into_iter()
            .map(|s| {
                let at = loc(&s.referenced);
                if !s.value.lint_ignore.is_empty() {
                    lint_ignores.push(LintIgnore {
                        step: at.clone(),
                        codes: s
                            .value
                            .lint_ignore
                            .iter()
                            .map(|code| Located {
                                value: code.value.clone(),
                                loc: loc(&code.referenced),
                            })
                            .collect(),
                    });
                }
                Located {
                    loc: at,
                    value: s.value.step,
                }
            })
            .collect()
    };
    let upgrade = located(raw.upgrade);
    let downgrade = match raw.downgrade {
        RawDowngrade::Auto => Downgrade::Auto,
        RawDowngrade::Steps(steps) => Downgrade::Steps(located(steps)),
    };
    Ok(Revision {
        locs: RevisionLocs {
            id: loc(&raw.revision.referenced),
            parents: parents.iter().map(|(_, at)| at.clone()).collect(),
            depends_on: depends_on.iter().map(|(_, at)| at.clone()).collect(),
            branch_labels: raw
                .branch_labels
                .iter()
                .map(|p| loc(&p.referenced))
                .collect(),
        },
        id,
        parents: parents.into_iter().map(|(id, _)| id).collect(),
        depends_on: depends_on.into_iter().map(|(id, _)| id).collect(),
        branch_labels: raw.branch_labels.into_iter().map(|p| p.value).collect(),
        message: raw.message,
        created,
        transactional: raw.transactional,
        upgrade,
        downgrade,
        lint_ignores,
        file: RevisionFile {
            checksum: checksum(text),
            path,
            text: Arc::from(text),
        },
    })
}

/// Every revision file (`*.yaml`, `*.yml`) in `dir`, sorted by file name. A missing folder
/// holds no revisions.
pub fn load_dir(dir: &Path) -> Result<Vec<Revision>, SourceError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SourceError::file(
                dir,
                format!("cannot read the folder: {e}"),
            ));
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| SourceError::file(dir, format!("cannot read the folder: {e}")))?;
        let path = entry.path();
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if is_yaml && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SourceError::file(path, format!("cannot read the file: {e}")))?;
            parse(path, &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Revision, String> {
        parse(Path::new("versions/abc_test.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_a_full_revision_with_step_locations() {
        let rev = parse_text(
            "revision: abc\nparents: [def]\nmessage: split names\ncreated: 2026-11-24T12:00:00Z\n\
             branch_labels: [crm]\ndepends_on: []\ntransactional: false\nupgrade:\n  - drop_table: {table: t}\n\
             downgrade:\n  - sql: {up: SELECT 1}\n",
        )
        .unwrap();
        assert_eq!(rev.id, "abc");
        assert_eq!(rev.parents, ["def"]);
        assert_eq!(rev.branch_labels, ["crm"]);
        assert!(!rev.transactional);
        assert_eq!(rev.upgrade[0].loc.to_string(), "versions/abc_test.yaml:9:5");
        assert!(matches!(rev.downgrade, Downgrade::Steps(ref s) if s.len() == 1));
        assert_eq!(
            rev.created.unwrap().to_rfc3339(),
            "2026-11-24T12:00:00+00:00"
        );
    }

    #[test]
    fn accepts_a_single_parent_as_a_string() {
        let rev = parse_text("revision: abc\nparents: def\n").unwrap();
        assert_eq!(rev.parents, ["def"]);
        assert!(matches!(rev.downgrade, Downgrade::Auto));
    }

    #[test]
    fn reports_unknown_operations_keys_and_types_at_their_place() {
        let err = parse_text("revision: abc\nparents: []\nupgrade:\n  - add_colum: {table: t}\n")
            .unwrap_err();
        assert!(err.starts_with("versions/abc_test.yaml:4:5: unknown operation `add_colum`, expected one of create_table"), "{err}");
        let err = parse_text(
            "revision: abc\nparents: []\nupgrade:\n  - drop_table: {table: t, cascade: true}\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "versions/abc_test.yaml:4:28: unknown field `cascade`, expected one of table"
            ),
            "{err}"
        );
        let err = parse_text("revision: abc\nparents: []\nupgrade:\n  - add_column: {table: t, column: {name: c, type: strin(5)}}\n").unwrap_err();
        assert!(
            err.starts_with("versions/abc_test.yaml:4:52: unknown column type 'strin(5)'"),
            "{err}"
        );
        let err = parse_text("revision: abc\nparents: []\ntransactional: maybe\n").unwrap_err();
        assert!(
            err.starts_with("versions/abc_test.yaml:3:16: invalid boolean"),
            "{err}"
        );
        let err = parse_text("revision: abc\nparents: []\nmesage: typo\n").unwrap_err();
        assert!(
            err.starts_with("versions/abc_test.yaml:3:1: unknown field `mesage`"),
            "{err}"
        );
        let err = parse_text("revision: ABC\nparents: []\n").unwrap_err();
        assert!(err.contains("revision id 'ABC' must be"), "{err}");
        let err = parse_text("revision: xyz\nparents: []\n").unwrap_err();
        assert!(
            err.contains("must start with its revision id 'xyz'"),
            "{err}"
        );
        let err = parse_text("revision: abc\n").unwrap_err();
        assert!(err.contains("missing field `parents`"), "{err}");
        let err =
            parse_text("revision: abc\nparents: []\nbranch_labels: [ok, release-2]\n").unwrap_err();
        assert!(
            err.starts_with("versions/abc_test.yaml:3:21: branch label 'release-2' must be 1 to 64 lowercase letters, digits or underscores, and not head, heads, base"),
            "{err}"
        );
        for bad in ["\"a:b\"", "\"a@b\"", "heads", "Crm", "\"\""] {
            let err = parse_text(&format!(
                "revision: abc\nparents: []\nbranch_labels: [{bad}]\n"
            ))
            .unwrap_err();
            assert!(
                err.starts_with("versions/abc_test.yaml:3:17: branch label"),
                "{bad}: {err}"
            );
        }
        let err =
            parse_text("revision: abc\nparents: []\nbranch_labels: [crm, crm]\n").unwrap_err();
        assert!(
            err.starts_with("versions/abc_test.yaml:3:22: branch label 'crm' is given twice"),
            "{err}"
        );
        let err = parse_text("revision: abc\nparents: []\ndowngrade: later\n").unwrap_err();
        assert!(
            err.contains("`downgrade` must be `auto` or a list of steps"),
            "{err}"
        );
    }
}
