//! `runner build`: compiles every crate of the transforms workspace to `wasm32-wasip2` (adding
//! the target with rustup when it is missing), copies each module to `wasm/`, asks it for its
//! `info`, and records it all in `transforms.lock`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::env::toolchain_command;
use super::{
    Lock, LockEntry, Project, TARGET, TransformsError, crates, io_error, sdk, source_hash,
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

fn last_lines(text: &str, count: usize) -> String {
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
    ensure_target(progress)?;
    // Hashed before cargo runs: a source edited during the build is not recorded as built.
    for krate in &crates {
        if !hashes.contains_key(&krate.name) {
            hashes.insert(krate.name.clone(), source_hash(&krate.dir)?);
        }
    }
    sdk::install(&project.dir).map_err(|e| {
        io_error(
            format!("writing the guest SDK into {}", project.dir.display()),
            e,
        )
    })?;
    let target_dir = target_dir(project);
    let manifest = project.dir.join("Cargo.toml");
    // A cleared environment: the crates' build scripts and proc macros run natively, and must
    // not see runner's (`DATABASE_URL`, credentials). See `env::PASSED`.
    let mut command = toolchain_command("cargo");
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
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
    progress(&format!("building transforms in {}", project.dir.display()));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| TransformsError::Build(format!("the build did not finish: {e}")))?
        .map_err(|e| io_error("running cargo", e))?;
    if !output.status.success() {
        return Err(TransformsError::Build(format!(
            "cargo could not build the transforms in {}:\n{}",
            project.dir.display(),
            last_lines(&String::from_utf8_lossy(&output.stderr), 60)
        )));
    }
    let mut lock = Lock::read(&project.lock_path)?;
    let wasm_dir = project.dir.join("wasm");
    std::fs::create_dir_all(&wasm_dir)
        .map_err(|e| io_error(format!("creating {}", wasm_dir.display()), e))?;
    let mut modules = Vec::new();
    for krate in &crates {
        let artifact = krate.artifact(&target_dir);
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
            None => source_hash(&krate.dir)?,
        };
        let entry = LockEntry {
            sha256,
            source,
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

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), TransformsError> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    write_atomic(path, bytes).map_err(|e| io_error(format!("writing {}", path.display()), e))
}
