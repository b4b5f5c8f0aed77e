//! Transform crates and the modules built from them: the transforms workspace, the lock file
//! (`transforms.lock`: each module's sha256, the hash of the sources it was built from, and
//! whether it has a `down`), building with cargo for `wasm32-wasip2`, and loading the modules a
//! run needs, building the missing or stale ones first when a toolchain is there.

mod build;
mod env;
pub mod javascript;
pub mod python;
mod scaffold;
pub mod sdk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::files::write_atomic;
pub use build::{BuildReport, build};
pub use scaffold::{new_transform, workspace_manifest};

/// The WebAssembly target transforms are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Where a project's transforms live.
#[derive(Debug, Clone)]
pub struct Project {
    /// The cargo workspace of transform crates.
    pub dir: PathBuf,
    /// `transforms.lock`.
    pub lock_path: PathBuf,
}

impl Project {
    /// The transforms of the configured project.
    pub fn new(config: &Config) -> Self {
        Self {
            dir: config.transforms_dir.clone(),
            lock_path: config.transforms_lock(),
        }
    }

    /// Where built modules are copied: `<transforms>/wasm/<name>.wasm`.
    pub fn wasm_path(&self, module: &str) -> PathBuf {
        self.dir.join("wasm").join(format!("{module}.wasm"))
    }
}

/// A problem with transforms: exit code 2 (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum TransformsError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Build(String),
    #[error("{0}")]
    Lock(String),
    #[error(
        "transform module '{module}' {problem}; build it with `runner build` (needs Rust with the wasm32-wasip2 target: `rustup target add wasm32-wasip2`), or ship {wasm} together with {lock}"
    )]
    NotBuilt {
        module: String,
        problem: String,
        wasm: String,
        lock: String,
    },
    #[error(
        "transform module '{module}' ({wasm}) does not match transforms.lock: its sha256 is {actual}, the lock says {locked}; run `runner build` where the sources are trusted"
    )]
    Tampered {
        module: String,
        wasm: String,
        actual: String,
        locked: String,
    },
    /// A module's sources were edited after an applied revision ran it: building it would
    /// replace what that revision ran, so nothing is built.
    #[error(
        "transform module '{module}' was edited after revision {revision} ran it, so building it would replace the module {revision} ran; nothing was built. \
         Undo the edit; or put the new code in a new module (`runner new-transform NAME`) for a new revision to run; \
         or, if {revision} should count as having run the new code, run `runner repair`, which builds it and records it so"
    )]
    EditedAfterApplied { module: String, revision: String },
    /// `--no-build` and a module that is not prebuilt, current and in the lock: the run cannot
    /// build it, as building runs code outside the sandbox.
    #[error(
        "transform module '{module}' {problem}; --no-build runs only prebuilt modules that match transforms.lock: run `runner build` where the sources are trusted, and ship {wasm} with {lock}"
    )]
    Unverified {
        module: String,
        problem: String,
        wasm: String,
        lock: String,
    },
}

fn io_error(context: impl std::fmt::Display, error: std::io::Error) -> TransformsError {
    TransformsError::Io(format!("{context}: {error}"))
}

/// One module's entry in `transforms.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// sha256 of the built `.wasm`.
    pub sha256: String,
    /// sha256 of the crate's sources it was built from and of the SDK it was built with, to
    /// tell a stale module.
    pub source: String,
    /// sha256 of the transform's own files alone (no SDK), to tell an edit of the transform
    /// from a new runner's SDK: only an edit stands in the way of an applied revision that ran
    /// the module. Absent in locks written before runner 0.1 recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// True if the transform has a `down`.
    pub has_down: bool,
    /// The guest SDK version it was built with.
    pub sdk: String,
}

/// `transforms.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default)]
    pub modules: BTreeMap<String, LockEntry>,
}

const LOCK_HEADER: &str = "# Written by `runner build`: the sha256 of each transform module, recorded in runner_history\n\
# with the revisions that use it. Commit this file (and wasm/ if you deploy without a Rust toolchain).\n";

impl Lock {
    /// Reads the lock file (none: an empty lock).
    pub fn read(path: &Path) -> Result<Lock, TransformsError> {
        Ok(Self::read_if_exists(path)?.unwrap_or_default())
    }

    /// Reads the lock file, or `None` if there is none: a run that must not build has nothing
    /// to check its modules against then.
    pub fn read_if_exists(path: &Path) -> Result<Option<Lock>, TransformsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| TransformsError::Lock(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(format!("reading {}", path.display()), e)),
        }
    }

    /// Writes the lock file.
    pub fn write(&self, path: &Path) -> Result<(), TransformsError> {
        let body = toml::to_string(self).map_err(|e| TransformsError::Lock(e.to_string()))?;
        write_atomic(path, format!("{LOCK_HEADER}{body}").as_bytes())
            .map_err(|e| io_error(format!("writing {}", path.display()), e))
    }
}

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

/// sha256 over a transform's files (everything but `target/` and the like), and the SDK of
/// its language: what decides whether its module is stale.
pub fn source_hash(dir: &Path, lang: Lang) -> Result<String, TransformsError> {
    hash_files(dir, Some(&sdk::fingerprint(lang)))
}

/// sha256 over a transform's own files alone: what tells an edit of the transform from a new
/// SDK (see [`LockEntry::files`]).
pub fn files_hash(dir: &Path) -> Result<String, TransformsError> {
    hash_files(dir, None)
}

fn hash_files(dir: &Path, sdk: Option<&str>) -> Result<String, TransformsError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .map_err(|e| io_error(format!("reading {}", current.display()), e))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target"
                || name == "__pycache__"
                || name == "node_modules"
                || name.to_string_lossy().starts_with('.')
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    if let Some(sdk) = sdk {
        hasher.update(sdk.as_bytes());
    }
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().replace('\\', "/").as_bytes());
        hasher.update([0]);
        let bytes =
            std::fs::read(&file).map_err(|e| io_error(format!("reading {}", file.display()), e))?;
        hasher.update(bytes.replace_crlf());
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Reading text files the same on every platform.
trait ReplaceCrlf {
    fn replace_crlf(self) -> Vec<u8>;
}

impl ReplaceCrlf for Vec<u8> {
    fn replace_crlf(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut bytes = self.into_iter().peekable();
        while let Some(byte) = bytes.next() {
            if byte == b'\r' && bytes.peek() == Some(&b'\n') {
                continue;
            }
            out.push(byte);
        }
        out
    }
}

/// A built module, ready to run.
#[derive(Debug, Clone)]
pub struct Module {
    pub name: String,
    pub wasm: Vec<u8>,
    pub sha256: String,
    pub has_down: bool,
}

impl Module {
    /// A module from its bytes; its sha256 is theirs.
    pub fn new(name: String, wasm: Vec<u8>, has_down: bool) -> Self {
        Self {
            sha256: hex::encode(Sha256::digest(&wasm)),
            name,
            wasm,
            has_down,
        }
    }
}

/// The modules a run can use, by name.
#[derive(Debug, Clone, Default)]
pub struct Modules {
    modules: HashMap<String, Module>,
}

impl Modules {
    /// The module called `name`.
    pub fn get(&self, name: &str) -> Option<&Module> {
        self.modules.get(name)
    }

    /// Adds a module (tests build their own).
    pub fn insert(&mut self, module: Module) {
        self.modules.insert(module.name.clone(), module);
    }
}

/// Why a module cannot be used as it is. The hash of its crate's sources, when it was worked
/// out, goes into `hashes` for a build to reuse.
fn staleness(
    project: &Project,
    lock: &Lock,
    name: &str,
    crates: &[Crate],
    hashes: &mut HashMap<String, String>,
) -> Result<Option<String>, TransformsError> {
    let Some(entry) = lock.modules.get(name) else {
        return Ok(Some("has not been built".into()));
    };
    if !project.wasm_path(name).exists() {
        return Ok(Some(format!(
            "is missing ({})",
            project.wasm_path(name).display()
        )));
    }
    if let Some(source) = crates.iter().find(|c| c.name == name) {
        let hash = source_hash(&source.dir, source.lang)?;
        let stale = hash != entry.source;
        hashes.insert(name.to_string(), hash);
        if stale {
            return Ok(Some("is older than its source".into()));
        }
    }
    Ok(None)
}

/// The modules that exist in some form: a crate of the workspace, an entry in
/// `transforms.lock`, or a `.wasm` in `wasm/`.
pub fn known_modules(project: &Project) -> Result<HashSet<String>, TransformsError> {
    let mut known: HashSet<String> = crates(project)?.into_iter().map(|c| c.name).collect();
    known.extend(Lock::read(&project.lock_path)?.modules.into_keys());
    if let Ok(entries) = std::fs::read_dir(project.dir.join("wasm")) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "wasm")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                known.insert(stem.to_string());
            }
        }
    }
    Ok(known)
}

/// The modules among `names` that a build would replace: built before (in the lock), with
/// sources here that changed since.
pub fn edited_since_built(
    project: &Project,
    names: &[String],
) -> Result<Vec<String>, TransformsError> {
    let lock = Lock::read(&project.lock_path)?;
    let crates = crates(project)?;
    let mut edited = Vec::new();
    for name in names {
        let (Some(entry), Some(krate)) = (
            lock.modules.get(name),
            crates.iter().find(|c| &c.name == name),
        ) else {
            continue;
        };
        if edited_since(krate, entry)? {
            edited.push(name.clone());
        }
    }
    Ok(edited)
}

/// True if `krate`'s own files differ from those its locked module was built from. A module
/// that is stale only because this runner carries another SDK was not edited. A lock written
/// before `files` was recorded cannot tell the two apart: a Rust module is then taken as not
/// edited (cargo rebuilds it, almost always to the same bytes, and the revision's checksum
/// catches a difference), a Python or JavaScript one by its whole source hash.
pub fn edited_since(krate: &Crate, entry: &LockEntry) -> Result<bool, TransformsError> {
    match &entry.files {
        Some(files) => Ok(&files_hash(&krate.dir)? != files),
        None if krate.lang == Lang::Rust => Ok(false),
        None => Ok(source_hash(&krate.dir, krate.lang)? != entry.source),
    }
}

/// True if cargo is on this machine (asked in the build's environment, as the build will be).
pub fn toolchain_available() -> bool {
    env::program_runs("cargo")
}

/// Whether loading modules may build them. Building runs the crates' build scripts and proc
/// macros natively, outside the sandbox, so a job that holds database credentials can refuse
/// to (`--no-build`) and run only what a trusted build made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Build the workspace first when a module is missing or stale and cargo is there.
    WhenStale,
    /// Never run cargo: every module must be prebuilt, current, and match `transforms.lock`.
    Never,
}

/// Loads the modules `names`, each checked against the sha256 `transforms.lock` records for
/// it. With [`BuildPolicy::WhenStale`] the workspace is built first if one is missing or stale
/// and a toolchain is there; otherwise the error says exactly what to run.
pub async fn load(
    project: &Project,
    names: &[String],
    policy: BuildPolicy,
    progress: &mut dyn FnMut(&str),
) -> Result<Modules, TransformsError> {
    if names.is_empty() {
        return Ok(Modules::default());
    }
    let crates = crates(project)?;
    let lock = match policy {
        BuildPolicy::WhenStale => built_lock(project, names, &crates, progress).await?,
        BuildPolicy::Never => prebuilt_lock(project, names, &crates)?,
    };
    verified(project, &lock, names)
}

/// The lock once every module in `names` is built and current, building if needed and possible.
async fn built_lock(
    project: &Project,
    names: &[String],
    crates: &[Crate],
    progress: &mut dyn FnMut(&str),
) -> Result<Lock, TransformsError> {
    let lock = Lock::read(&project.lock_path)?;
    let mut stale = Vec::new();
    let mut hashes = HashMap::new();
    for name in names {
        if let Some(problem) = staleness(project, &lock, name, crates, &mut hashes)? {
            stale.push((name.clone(), problem));
        }
    }
    let Some((name, problem)) = stale.first() else {
        return Ok(lock);
    };
    let buildable = stale
        .iter()
        .all(|(n, _)| crates.iter().any(|c| &c.name == n));
    if buildable && toolchain_available() {
        progress(&format!("building transforms: module '{name}' {problem}"));
        build::build_hashed(project, progress, hashes).await?;
        return Lock::read(&project.lock_path);
    }
    Err(TransformsError::NotBuilt {
        module: name.clone(),
        problem: if crates.iter().any(|c| &c.name == name) {
            problem.clone()
        } else {
            format!(
                "{problem}, and no transform in {} is called so",
                project.dir.display()
            )
        },
        wasm: project.wasm_path(name).display().to_string(),
        lock: project.lock_path.display().to_string(),
    })
}

/// The lock, for a run that must not build: every module in `names` has to be in it, with its
/// `.wasm` there and its crate (where the sources are here at all) unchanged since.
fn prebuilt_lock(
    project: &Project,
    names: &[String],
    crates: &[Crate],
) -> Result<Lock, TransformsError> {
    let unverified = |name: &String, problem: String| TransformsError::Unverified {
        module: name.clone(),
        problem,
        wasm: project.wasm_path(name).display().to_string(),
        lock: project.lock_path.display().to_string(),
    };
    let Some(first) = names.first() else {
        return Ok(Lock::default());
    };
    let Some(lock) = Lock::read_if_exists(&project.lock_path)? else {
        return Err(unverified(
            first,
            format!(
                "cannot be verified: {} does not exist",
                project.lock_path.display()
            ),
        ));
    };
    for name in names {
        if let Some(problem) = staleness(project, &lock, name, crates, &mut HashMap::new())?
            && !built_from_these_files(project, &lock, name, crates)
        {
            return Err(unverified(name, problem));
        }
    }
    Ok(lock)
}

/// True if `name`'s module is in `wasm/` and the lock records it as built from the files its
/// transform has now, whatever SDK that runner carried: without a build, it is what runs (a
/// deploy with a newer runner runs the modules it was handed; their sha256 is still checked).
fn built_from_these_files(project: &Project, lock: &Lock, name: &str, crates: &[Crate]) -> bool {
    let (Some(entry), Some(krate)) = (
        lock.modules.get(name),
        crates.iter().find(|c| c.name == name),
    ) else {
        return false;
    };
    entry.files.is_some()
        && project.wasm_path(name).exists()
        && matches!(edited_since(krate, entry), Ok(false))
}

/// The modules `names`, read from `wasm/` and refused unless their sha256 is the lock's.
fn verified(project: &Project, lock: &Lock, names: &[String]) -> Result<Modules, TransformsError> {
    let mut modules = Modules::default();
    for name in names {
        let Some(entry) = lock.modules.get(name) else {
            return Err(TransformsError::NotBuilt {
                module: name.clone(),
                problem: "is not in transforms.lock".into(),
                wasm: project.wasm_path(name).display().to_string(),
                lock: project.lock_path.display().to_string(),
            });
        };
        let path = project.wasm_path(name);
        let wasm =
            std::fs::read(&path).map_err(|e| io_error(format!("reading {}", path.display()), e))?;
        let module = Module::new(name.clone(), wasm, entry.has_down);
        if module.sha256 != entry.sha256 {
            return Err(TransformsError::Tampered {
                module: name.clone(),
                wasm: path.display().to_string(),
                actual: module.sha256[..12].to_string(),
                locked: entry.sha256.chars().take(12).collect(),
            });
        }
        modules.insert(module);
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &Path) -> Project {
        Project {
            dir: dir.join("transforms"),
            lock_path: dir.join("transforms.lock"),
        }
    }

    #[test]
    fn the_lock_file_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        assert_eq!(Lock::read(&project.lock_path).unwrap(), Lock::default());
        let mut lock = Lock::default();
        lock.modules.insert(
            "split_names".into(),
            LockEntry {
                sha256: "ab".repeat(32),
                source: "cd".repeat(32),
                files: None,
                has_down: true,
                sdk: "0.1.0".into(),
            },
        );
        lock.write(&project.lock_path).unwrap();
        assert_eq!(Lock::read(&project.lock_path).unwrap(), lock);
        std::fs::write(&project.lock_path, "[modules.x]\nsha = 1\n").unwrap();
        let err = Lock::read(&project.lock_path).unwrap_err().to_string();
        assert!(err.contains("transforms.lock"), "{err}");
    }

    #[test]
    fn crates_are_found_by_path_and_glob_and_their_sources_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        for name in ["one", "more/two", "more/three"] {
            let crate_dir = project.dir.join(name);
            std::fs::create_dir_all(crate_dir.join("src")).unwrap();
            let package = name.rsplit('/').next().unwrap();
            std::fs::write(
                crate_dir.join("Cargo.toml"),
                format!("[package]\nname = \"{package}\"\n"),
            )
            .unwrap();
            std::fs::write(crate_dir.join("src/lib.rs"), "// v1\n").unwrap();
        }
        std::fs::write(
            project.dir.join("Cargo.toml"),
            "[workspace]\nmembers = [\"one\", \"more/*\"]\n",
        )
        .unwrap();
        let names: Vec<String> = crates(&project)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["one", "three", "two"]);
        let one = project.dir.join("one");
        let before = source_hash(&one, Lang::Rust).unwrap();
        std::fs::create_dir_all(one.join("target")).unwrap();
        std::fs::write(one.join("target/ignored"), "x").unwrap();
        assert_eq!(
            source_hash(&one, Lang::Rust).unwrap(),
            before,
            "target/ does not count"
        );
        std::fs::write(one.join("src/lib.rs"), "// v1\r\n").unwrap();
        assert_eq!(
            source_hash(&one, Lang::Rust).unwrap(),
            before,
            "CRLF reads as LF"
        );
        std::fs::write(one.join("src/lib.rs"), "// v2\n").unwrap();
        assert_ne!(source_hash(&one, Lang::Rust).unwrap(), before);
    }

    #[tokio::test]
    async fn without_building_only_current_modules_that_match_the_lock_load() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        let names = vec!["m".to_string()];
        let load_prebuilt = async || {
            let mut messages = Vec::new();
            let loaded = load(&project, &names, BuildPolicy::Never, &mut |m| {
                messages.push(m.to_string())
            })
            .await;
            assert!(messages.is_empty(), "it started a build: {messages:?}");
            loaded
        };
        let err = load_prebuilt().await.unwrap_err();
        assert!(
            matches!(&err, TransformsError::Unverified { module, .. } if module == "m")
                && err.to_string().contains("transforms.lock does not exist"),
            "{err}"
        );

        // Shipped without its sources: the lock alone vouches for it.
        let wasm = b"\0asm prebuilt".to_vec();
        write_atomic(&project.wasm_path("m"), &wasm).unwrap();
        let mut lock = Lock::default();
        let entry = LockEntry {
            sha256: hex::encode(Sha256::digest(&wasm)),
            source: "0".repeat(64),
            files: None,
            has_down: false,
            sdk: "0.1.0".into(),
        };
        lock.modules.insert("m".into(), entry.clone());
        lock.write(&project.lock_path).unwrap();
        let modules = load_prebuilt().await.unwrap();
        assert_eq!(modules.get("m").map(|m| &m.wasm), Some(&wasm));

        // With its sources here, edited since the lock was written: stale, and not rebuilt.
        std::fs::create_dir_all(project.dir.join("m/src")).unwrap();
        std::fs::write(
            project.dir.join("m/Cargo.toml"),
            "[package]\nname = \"m\"\n",
        )
        .unwrap();
        std::fs::write(project.dir.join("m/src/lib.rs"), "// edited\n").unwrap();
        std::fs::write(
            project.dir.join("Cargo.toml"),
            "[workspace]\nmembers = [\"m\"]\n",
        )
        .unwrap();
        let err = load_prebuilt().await.unwrap_err();
        assert!(
            matches!(&err, TransformsError::Unverified { problem, .. } if problem == "is older than its source"),
            "{err}"
        );

        // Current sources, but a .wasm that is not the one built from them.
        lock.modules.insert(
            "m".into(),
            LockEntry {
                source: source_hash(&project.dir.join("m"), Lang::Rust).unwrap(),
                ..entry
            },
        );
        lock.write(&project.lock_path).unwrap();
        assert!(load_prebuilt().await.is_ok());
        write_atomic(&project.wasm_path("m"), b"\0asm planted").unwrap();
        let err = load_prebuilt().await.unwrap_err();
        assert!(
            matches!(&err, TransformsError::Tampered { module, .. } if module == "m"),
            "{err}"
        );
        std::fs::remove_file(project.wasm_path("m")).unwrap();
        let err = load_prebuilt().await.unwrap_err().to_string();
        assert!(err.contains("'m' is missing ("), "{err}");
    }

    #[test]
    fn a_new_sdk_is_not_an_edit_of_the_transform() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("m");
        std::fs::create_dir_all(module.join("src")).unwrap();
        std::fs::write(module.join("src/lib.rs"), "fn up() {}\n").unwrap();
        let rust = Crate {
            name: "m".into(),
            dir: module.clone(),
            lang: Lang::Rust,
        };
        // Built by a runner with another SDK: the source hash differs, the files do not.
        let entry = LockEntry {
            sha256: "0".repeat(64),
            source: "1".repeat(64),
            files: Some(files_hash(&module).unwrap()),
            has_down: false,
            sdk: "0.1.0".into(),
        };
        assert_ne!(source_hash(&module, Lang::Rust).unwrap(), entry.source);
        assert!(
            !edited_since(&rust, &entry).unwrap(),
            "a new SDK is no edit"
        );
        std::fs::write(module.join("src/lib.rs"), "fn up() { edited() }\n").unwrap();
        assert!(edited_since(&rust, &entry).unwrap(), "an edit is one");

        // A lock from before `files`: a Rust module is rebuilt (its checksum tells a change),
        // a Python one is judged by its whole source hash.
        let legacy = LockEntry {
            files: None,
            ..entry
        };
        assert!(!edited_since(&rust, &legacy).unwrap());
        let python = Crate {
            lang: Lang::Python,
            ..rust
        };
        assert!(edited_since(&python, &legacy).unwrap());
        let current = LockEntry {
            source: source_hash(&module, Lang::Python).unwrap(),
            ..legacy
        };
        assert!(!edited_since(&python, &current).unwrap());
    }
}
