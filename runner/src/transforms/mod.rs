//! Transforms and the modules built from them: loading the modules a run needs, each checked
//! against `transforms.lock`, building the missing or stale ones first when a toolchain is
//! there and the run allows it. Finding transforms is `discover`, the hashes that tell a stale
//! module or an edited transform `hash`, the lock file `lock`, building `build` (Rust with
//! cargo for `wasm32-wasip2`, `python`, `javascript`).

mod build;
mod discover;
mod env;
mod hash;
pub mod javascript;
mod lock;
pub mod python;
mod scaffold;
pub mod sdk;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::config::Config;
pub use build::{BuildReport, build};
pub use discover::{Crate, Lang, crates};
pub use hash::{files_hash, source_hash};
pub use lock::{Lock, LockEntry};
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
    use std::path::Path;

    use super::*;
    use crate::files::write_atomic;

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
    fn a_lock_written_by_a_newer_runner_reads_without_what_this_one_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transforms.lock");
        let sha = "ab".repeat(32);
        std::fs::write(
            &path,
            format!(
                "[tools]\ncomponentize = \"9\"\n\n[modules.split_names]\nsha256 = \"{sha}\"\nsource = \"{sha}\"\nfiles = \"{sha}\"\nhas_down = false\nsdk = \"0.9.0\"\nprofile = \"fast\"\n"
            ),
        )
        .unwrap();
        let lock = Lock::read(&path).unwrap();
        let entry = &lock.modules["split_names"];
        assert_eq!(entry.sha256, sha);
        assert_eq!(entry.files.as_deref(), Some(sha.as_str()));
        assert!(!entry.has_down);
        assert_eq!(entry.sdk, "0.9.0");
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
