//! Finding a project's transforms without running cargo: the crates its cargo workspace lists,
//! and the folders of Python and JavaScript transforms beside them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Project, TARGET, TransformsError, io_error, javascript, python};

/// The language a transform is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// A crate of the cargo workspace, built with the Rust SDK.
    Rust,
    /// A folder with `transform.py`, built with componentize-py.
    Python,
    /// A folder with `transform.js`, built with componentize-js.
    #[value(name = "javascript", alias = "js")]
    #[serde(rename = "javascript")]
    JavaScript,
}

impl Lang {
    /// The file a folder of this language's transform holds (Rust: a crate's manifest).
    pub fn entry_file(self) -> &'static str {
        match self {
            Lang::Rust => "Cargo.toml",
            Lang::Python => python::ENTRY_FILE,
            Lang::JavaScript => javascript::ENTRY_FILE,
        }
    }
}

/// A transform of the workspace: a crate, or a folder of Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    /// The package (or folder) name, which revisions use as `module`.
    pub name: String,
    pub dir: PathBuf,
    pub lang: Lang,
}

impl Crate {
    /// The file cargo writes for a `cdylib` of this crate.
    pub fn artifact(&self, target_dir: &Path) -> PathBuf {
        target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", self.name.replace('-', "_")))
    }
}

#[derive(Deserialize)]
struct WorkspaceManifest {
    workspace: Option<WorkspaceSection>,
}

#[derive(Deserialize)]
struct WorkspaceSection {
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
struct PackageManifest {
    package: Option<PackageSection>,
}

#[derive(Deserialize)]
struct PackageSection {
    name: String,
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TransformsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io_error(format!("reading {}", path.display()), e))?;
    toml::from_str(&text).map_err(|e| TransformsError::Build(format!("{}: {e}", path.display())))
}

/// The crates the workspace lists (`members`, with `dir/*` globs), without running cargo, and
/// the folders of Python and JavaScript transforms beside them.
pub fn crates(project: &Project) -> Result<Vec<Crate>, TransformsError> {
    let manifest = project.dir.join("Cargo.toml");
    if !manifest.exists() {
        // A folder of Python and JavaScript transforms needs no cargo workspace.
        return python_transforms(project, &[]);
    }
    let workspace: WorkspaceManifest = read_toml(&manifest)?;
    let mut dirs = Vec::new();
    for member in workspace.workspace.map(|w| w.members).unwrap_or_default() {
        match member.strip_suffix("/*") {
            Some(parent) => {
                let parent = project.dir.join(parent);
                let entries = std::fs::read_dir(&parent)
                    .map_err(|e| io_error(format!("reading {}", parent.display()), e))?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("Cargo.toml").exists())
                    .collect();
                found.sort();
                dirs.extend(found);
            }
            None => dirs.push(project.dir.join(member)),
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        let package: PackageManifest = read_toml(&dir.join("Cargo.toml"))?;
        if let Some(package) = package.package {
            out.push(Crate {
                name: package.name,
                dir,
                lang: Lang::Rust,
            });
        }
    }
    out.extend(python_transforms(project, &out)?);
    Ok(out)
}

/// The folders of the workspace holding a `transform.py` or a `transform.js` (and no
/// `Cargo.toml`): Python and JavaScript transforms, named after their folder.
fn python_transforms(project: &Project, crates: &[Crate]) -> Result<Vec<Crate>, TransformsError> {
    let entries = match std::fs::read_dir(&project.dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("reading {}", project.dir.display()), e)),
    };
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        if dir.join("Cargo.toml").exists() || crates.iter().any(|c| c.dir == dir) {
            continue;
        }
        let lang = match (
            dir.join(python::ENTRY_FILE).is_file(),
            dir.join(javascript::ENTRY_FILE).is_file(),
        ) {
            (false, false) => continue,
            (true, false) => Lang::Python,
            (false, true) => Lang::JavaScript,
            (true, true) => {
                return Err(TransformsError::Build(format!(
                    "{} holds both a transform.py and a transform.js: a transform is one or the other",
                    dir.display()
                )));
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if !crate::vocab::is_transform_name(&name) {
            return Err(TransformsError::Build(format!(
                "{} holds a transform, but '{name}' cannot name one: use lowercase letters, digits, '_' or '-', starting with a letter",
                dir.display()
            )));
        }
        found.push(Crate { name, dir, lang });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
