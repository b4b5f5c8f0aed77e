//! Transforms written in Python: a folder of the transforms workspace holding `transform.py`,
//! built into a component by componentize-py (CPython compiled to WebAssembly, with the
//! transform's code and runner's Python SDK inside). runner installs componentize-py with pip
//! into a folder of its own the first time it needs it.
//!
//! Building imports `transform.py` natively (componentize-py runs the module's top level to
//! snapshot it), outside the sandbox: like a Rust build script, it runs with a cleared
//! environment (see `env.rs`).

use std::path::{Path, PathBuf};

use super::env::{ToolInstall, toolchain_command};
use super::{Crate, Project, TransformsError, io_error, sdk};

/// The componentize-py runner installs and builds with: the version its Python SDK is
/// tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The file a Python transform's folder holds.
pub const ENTRY_FILE: &str = "transform.py";

/// Where componentize-py is installed: `<cache>/tools/componentize-py-<version>`.
fn install_dir() -> Option<PathBuf> {
    crate::files::cache_dir().map(|dir| {
        dir.join("tools")
            .join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}"))
    })
}

/// How to run componentize-py: `RUNNER_COMPONENTIZE_PY` (a `componentize-py` program),
/// else runner's own install, made first if missing.
#[derive(Debug, Clone)]
pub enum Tool {
    /// A `componentize-py` program of the user's.
    Program(PathBuf),
    /// runner's install: `python3` with this folder on its path.
    Installed(PathBuf),
}

impl Tool {
    fn command(&self) -> std::process::Command {
        match self {
            Tool::Program(program) => toolchain_command(&program.to_string_lossy()),
            Tool::Installed(dir) => {
                let mut command = toolchain_command("python3");
                command.env("PYTHONPATH", dir).args([
                    "-c",
                    "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
                ]);
                command
            }
        }
    }
}

fn by_hand(dir: &str) -> String {
    format!(
        "`python3 -m pip install --target {dir} componentize-py=={COMPONENTIZE_PY_VERSION}`, or install componentize-py {COMPONENTIZE_PY_VERSION} your way and set RUNNER_COMPONENTIZE_PY to the `componentize-py` program"
    )
}

/// componentize-py, installed with pip into runner's own folder the first time (saying so).
pub fn componentize_py(progress: &mut dyn FnMut(&str)) -> Result<Tool, TransformsError> {
    if let Some(program) = std::env::var_os("RUNNER_COMPONENTIZE_PY") {
        return Ok(Tool::Program(PathBuf::from(program)));
    }
    let Some(dir) = install_dir() else {
        return Err(TransformsError::Build(format!(
            "Python transforms are built with componentize-py, and there is no cache folder to install it in (HOME is not set): {}",
            by_hand("DIR")
        )));
    };
    if dir.join("componentize_py").is_dir() {
        return Ok(Tool::Installed(dir));
    }
    if !super::env::program_runs("python3") {
        return Err(TransformsError::Build(format!(
            "Python transforms are built with componentize-py, which needs python3 (3.9 or later, with pip): install it, then run `runner build` again; or {}",
            by_hand(&dir.display().to_string())
        )));
    }
    progress(&format!(
        "installing componentize-py {COMPONENTIZE_PY_VERSION} with pip into {} (once; about 20 s)",
        dir.display()
    ));
    ToolInstall {
        name: "componentize-py",
        version: COMPONENTIZE_PY_VERSION,
        installer: "pip",
        dir: &dir,
        by_hand: by_hand(&dir.display().to_string()),
    }
    .run(
        |staging| {
            let mut pip = toolchain_command("python3");
            pip.args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(staging)
            .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}"));
            pip
        },
        |dir| dir.join("componentize_py").is_dir(),
    )?;
    Ok(Tool::Installed(dir))
}

/// Builds the Python transform `krate` into `out` with componentize-py; returns what it
/// printed when it failed.
pub async fn build(
    tool: &Tool,
    project: &Project,
    krate: &Crate,
    out: &Path,
) -> Result<(), TransformsError> {
    // componentize-py runs in the transform's folder: every path it is given is absolute.
    let absolute = |path: &Path| {
        std::path::absolute(path).map_err(|e| io_error(format!("resolving {}", path.display()), e))
    };
    let sdk_dir = absolute(&project.dir.join(sdk::PYTHON_DIR))?;
    let wit_dir = absolute(&project.dir.join(sdk::DIR).join("wit"))?;
    let source_dir = absolute(&krate.dir)?;
    let out = absolute(out)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| io_error(format!("creating {}", parent.display()), e))?;
    }
    let mut command = tool.command();
    command
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("-d")
        .arg(&wit_dir)
        .args(["-w", "transform", "componentize", "runner_main", "-p"])
        .arg(&source_dir)
        .arg("-p")
        .arg(&sdk_dir)
        .arg("-o")
        .arg(&out)
        .current_dir(&source_dir);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| TransformsError::Build(format!("the build did not finish: {e}")))?
        .map_err(|e| io_error("running componentize-py", e))?;
    if output.status.success() {
        return Ok(());
    }
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(TransformsError::Build(format!(
        "componentize-py could not build the Python transform '{}' ({}):\n{}",
        krate.name,
        krate.dir.join(ENTRY_FILE).display(),
        super::build::last_lines(printed.trim(), 40)
    )))
}
