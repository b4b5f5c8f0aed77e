//! `runner build`: compiles every crate of the transforms workspace to `wasm32-wasip2` (adding
//! the target with rustup when it is missing), copies each module to `wasm/`, asks it for its
//! `info`, and records it all in `transforms.lock`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::env::toolchain_command;
use super::{
    Crate, Lang, Lock, LockEntry, Project, TARGET, TransformsError, crates, files_hash, io_error,
    javascript, python, sdk, source_hash,
};
use crate::files::write_atomic;

/// What a build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub modules: Vec<(String, LockEntry)>,
    pub duration_ms: u64,
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = toolchain_command(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Makes sure cargo and the wasm32-wasip2 target are there, adding the target if rustup can.
fn ensure_target(progress: &mut dyn FnMut(&str)) -> Result<(), TransformsError> {
    if !super::toolchain_available() {
        return Err(TransformsError::Build(
            "cargo is not on this machine: install Rust (https://rustup.rs), then run `rustup target add wasm32-wasip2`"
                .into(),
        ));
    }
    let Some(installed) = command_output("rustup", &["target", "list", "--installed"]) else {
        // Not a rustup toolchain: let cargo say whether it can build for the target.
        return Ok(());
    };
    if installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(());
    }
    progress(&format!(
        "adding the {TARGET} target (rustup target add {TARGET})"
    ));
    let status = toolchain_command("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| io_error("running rustup", e))?;
    if !status.success() {
        return Err(TransformsError::Build(format!(
            "could not add the {TARGET} target; run `rustup target add {TARGET}` and try again"
        )));
    }
    Ok(())
}

/// The target folder cargo builds into: `CARGO_TARGET_DIR`, else `<transforms>/target`.
fn target_dir(project: &Project) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => std::env::current_dir()
            .map(|cwd| cwd.join(&dir))
            .unwrap_or(dir),
        None => project.dir.join("target"),
    }
}

/// Runs cargo, passing on its `Compiling`/`Finished` lines as progress as they come (a first
/// build takes most of a minute); returns whether it succeeded and all it printed.
async fn run_cargo(
    command: std::process::Command,
    progress: &mut dyn FnMut(&str),
) -> Result<(bool, String), TransformsError> {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::from(command);
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| io_error("running cargo", e))?;
    let mut text = String::new();
    if let Some(stderr) = child.stderr.take() {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(|e| io_error("reading cargo's output", e))?
        {
            let trimmed = line.trim_start();
            if trimmed.starts_with("Compiling ") || trimmed.starts_with("Finished ") {
                progress(&format!("  {trimmed}"));
            }
            text.push_str(&line);
            text.push('\n');
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| io_error("waiting for cargo", e))?;
    Ok((status.success(), text))
}

/// `dir` as the user would type it from where runner runs: relative to the current folder
/// where it is inside it.
fn shown(dir: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or_else(|| dir.to_path_buf())
}

/// cargo's messages with the paths it gives relative to the transforms workspace
/// (`--> shout/src/lib.rs:10:8`) made relative to where runner runs, so that they can be
/// opened from there.
fn from_project(text: &str, workspace: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        match line.trim_start().strip_prefix("--> ") {
            Some(path) if !Path::new(path).is_absolute() => {
                out.push_str(&line[..indent]);
                out.push_str("--> ");
                out.push_str(&workspace.join(path).display().to_string());
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub(super) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Builds every transform crate and writes `transforms.lock`.
pub async fn build(
    project: &Project,
    progress: &mut dyn FnMut(&str),
) -> Result<BuildReport, TransformsError> {
    build_hashed(project, progress, HashMap::new()).await
}

/// [`build`], reusing the source hashes of the crates in `hashes` (worked out just before).
pub(super) async fn build_hashed(
    project: &Project,
    progress: &mut dyn FnMut(&str),
    mut hashes: HashMap<String, String>,
) -> Result<BuildReport, TransformsError> {
    let started = Instant::now();
    let crates = crates(project)?;
    if crates.is_empty() {
        return Ok(BuildReport {
            modules: Vec::new(),
            duration_ms: 0,
        });
    }
    let rust = crates.iter().any(|c| c.lang == Lang::Rust);
    if rust {
        ensure_target(progress)?;
    }
    // Hashed before cargo runs: a source edited during the build is not recorded as built.
    for krate in &crates {
        if !hashes.contains_key(&krate.name) {
            hashes.insert(krate.name.clone(), source_hash(&krate.dir, krate.lang)?);
        }
    }
    sdk::install(&project.dir).map_err(|e| {
        io_error(
            format!("writing the guest SDK into {}", project.dir.display()),
            e,
        )
    })?;
    let target_dir = target_dir(project);
    if rust {
        build_rust(project, &target_dir, progress).await?;
    }
    let mut lock = Lock::read(&project.lock_path)?;
    // componentize-py and componentize-js do not make the same component twice from the
    // same sources (componentize-py#247, ComponentizeJS#321): a Python or JavaScript module
    // built from the files it has now is kept, so that rebuilding changes no checksum of a
    // revision that ran it; so is one stale only because this runner carries a newer SDK.
    let current = |krate: &&Crate| {
        krate.lang != Lang::Rust
            && lock.modules.get(&krate.name).is_some_and(|entry| {
                let same_files = hashes.get(&krate.name) == Some(&entry.source)
                    || matches!(super::edited_since(krate, entry), Ok(false));
                same_files
                    && std::fs::read(project.wasm_path(&krate.name))
                        .is_ok_and(|wasm| hex::encode(Sha256::digest(&wasm)) == entry.sha256)
            })
    };
    let kept: Vec<String> = crates
        .iter()
        .filter(current)
        .map(|c| c.name.clone())
        .collect();
    let python: Vec<&Crate> = crates
        .iter()
        .filter(|c| c.lang == Lang::Python && !kept.contains(&c.name))
        .collect();
    if !python.is_empty() {
        let tool = python::componentize_py(progress)?;
        for krate in python {
            progress(&format!(
                "building the Python transform {} with componentize-py",
                krate.name
            ));
            python::build(
                &tool,
                project,
                krate,
                &component_artifact(&target_dir, krate),
            )
            .await?;
        }
    }
    let javascript: Vec<&Crate> = crates
        .iter()
        .filter(|c| c.lang == Lang::JavaScript && !kept.contains(&c.name))
        .collect();
    if !javascript.is_empty() {
        let tool = javascript::componentize_js(progress)?;
        for krate in javascript {
            progress(&format!(
                "building the JavaScript transform {} with componentize-js",
                krate.name
            ));
            javascript::build(
                &tool,
                project,
                krate,
                &component_artifact(&target_dir, krate),
            )
            .await?;
        }
    }
    let wasm_dir = project.dir.join("wasm");
    std::fs::create_dir_all(&wasm_dir)
        .map_err(|e| io_error(format!("creating {}", wasm_dir.display()), e))?;
    let mut modules = Vec::new();
    for krate in &crates {
        let artifact = match krate.lang {
            Lang::Rust => krate.artifact(&target_dir),
            _ if kept.contains(&krate.name) => project.wasm_path(&krate.name),
            Lang::Python | Lang::JavaScript => component_artifact(&target_dir, krate),
        };
        let wasm = std::fs::read(&artifact).map_err(|e| {
            io_error(
                format!(
                    "reading {} (is `crate-type = [\"cdylib\"]` set in {}?)",
                    artifact.display(),
                    krate.dir.join("Cargo.toml").display()
                ),
                e,
            )
        })?;
        let sha256 = hex::encode(Sha256::digest(&wasm));
        let info = crate::sandbox::module_info(&wasm)
            .await
            .map_err(|e| TransformsError::Build(format!("module '{}': {e}", krate.name)))?;
        let destination = project.wasm_path(&krate.name);
        write_if_changed(&destination, &wasm)?;
        let source = match hashes.remove(&krate.name) {
            Some(hash) => hash,
            None => source_hash(&krate.dir, krate.lang)?,
        };
        let entry = LockEntry {
            sha256,
            source,
            files: Some(files_hash(&krate.dir)?),
            has_down: info.has_down,
            sdk: info.sdk_version,
        };
        lock.modules.insert(krate.name.clone(), entry.clone());
        modules.push((krate.name.clone(), entry));
    }
    lock.modules.retain(|name, _| {
        crates.iter().any(|c| &c.name == name) || project.wasm_path(name).exists()
    });
    lock.write(&project.lock_path)?;
    Ok(BuildReport {
        modules,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Where a Python or JavaScript transform's component is built.
fn component_artifact(target_dir: &Path, krate: &Crate) -> PathBuf {
    let folder = match krate.lang {
        Lang::JavaScript => "javascript",
        _ => "python",
    };
    target_dir.join(folder).join(format!("{}.wasm", krate.name))
}

/// Builds the workspace's Rust crates with cargo, for wasm32-wasip2.
async fn build_rust(
    project: &Project,
    target_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), TransformsError> {
    let manifest = project.dir.join("Cargo.toml");
    // A cleared environment: the crates' build scripts and proc macros run natively, and must
    // not see runner's (`DATABASE_URL`, credentials). See `env::PASSED`.
    let mut command = toolchain_command("cargo");
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // Paths embedded in modules (panic locations) should not depend on where they were built,
    // so that the same sources give the same module, and the same checksum, everywhere.
    if std::env::var_os("RUSTFLAGS").is_none()
        && std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_none()
    {
        let mut flags = vec![format!(
            "--remap-path-prefix={}=/transforms",
            project.dir.display()
        )];
        if let Some(home) = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        {
            flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
        }
        command.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"));
    }
    let shown_dir = shown(&project.dir);
    progress(&format!(
        "building transforms in {} (the first build compiles the SDK's dependencies too)",
        shown_dir.display()
    ));
    let (success, stderr) = run_cargo(command, progress).await?;
    if !success {
        return Err(TransformsError::Build(format!(
            "cargo could not build the transforms in {}:\n{}",
            shown_dir.display(),
            last_lines(&from_project(&stderr, &shown_dir), 60)
        )));
    }
    Ok(())
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), TransformsError> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    write_atomic(path, bytes).map_err(|e| io_error(format!("writing {}", path.display()), e))
}
