//! Transforms written in JavaScript: a folder of the transforms workspace holding
//! `transform.js`, built into a component by componentize-js (the StarlingMonkey engine,
//! compiled to WebAssembly, with the transform's code and runner's JavaScript SDK inside).
//! runner installs componentize-js with npm into a folder of its own the first time it needs
//! it. Like a Python build, the build runs with a cleared environment (see `env.rs`).

use std::path::{Path, PathBuf};

use super::env::{ToolInstall, program_runs, toolchain_command};
use super::{Crate, Project, TransformsError, io_error, sdk};

/// The componentize-js runner installs and builds with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The file a JavaScript transform's folder holds.
pub const ENTRY_FILE: &str = "transform.js";

const PACKAGE: &str = "@bytecodealliance/componentize-js";

/// The program inside an install.
const CLI: &str = "node_modules/@bytecodealliance/componentize-js/src/cli.js";

fn install_dir() -> Option<PathBuf> {
    crate::files::cache_dir().map(|dir| {
        dir.join("tools")
            .join(format!("componentize-js-{COMPONENTIZE_JS_VERSION}"))
    })
}

/// How to run componentize-js: `RUNNER_COMPONENTIZE_JS` (a `componentize-js` program), else
/// runner's own install, run with node.
#[derive(Debug, Clone)]
pub enum Tool {
    Program(PathBuf),
    Installed(PathBuf),
}

impl Tool {
    fn command(&self) -> std::process::Command {
        match self {
            Tool::Program(program) => toolchain_command(&program.to_string_lossy()),
            Tool::Installed(dir) => {
                let mut command = toolchain_command("node");
                command.arg(dir.join(CLI));
                command
            }
        }
    }
}

fn by_hand(dir: &str) -> String {
    format!(
        "`npm install --prefix {dir} {PACKAGE}@{COMPONENTIZE_JS_VERSION}`, or install componentize-js {COMPONENTIZE_JS_VERSION} your way and set RUNNER_COMPONENTIZE_JS to the `componentize-js` program"
    )
}

/// componentize-js, installed with npm into runner's own folder the first time (saying so).
pub fn componentize_js(progress: &mut dyn FnMut(&str)) -> Result<Tool, TransformsError> {
    if let Some(program) = std::env::var_os("RUNNER_COMPONENTIZE_JS") {
        return Ok(Tool::Program(PathBuf::from(program)));
    }
    let Some(dir) = install_dir() else {
        return Err(TransformsError::Build(format!(
            "JavaScript transforms are built with componentize-js, and there is no cache folder to install it in (HOME is not set): {}",
            by_hand("DIR")
        )));
    };
    if dir.join(CLI).is_file() {
        return Ok(Tool::Installed(dir));
    }
    if !program_runs("node") || !program_runs("npm") {
        return Err(TransformsError::Build(format!(
            "JavaScript transforms are built with componentize-js, which needs Node.js 18 or later with npm: install them, then run `runner build` again; or {}",
            by_hand(&dir.display().to_string())
        )));
    }
    progress(&format!(
        "installing componentize-js {COMPONENTIZE_JS_VERSION} with npm into {} (once; about 15 s)",
        dir.display()
    ));
    ToolInstall {
        name: "componentize-js",
        version: COMPONENTIZE_JS_VERSION,
        installer: "npm",
        dir: &dir,
        by_hand: by_hand(&dir.display().to_string()),
    }
    .run(
        |staging| {
            let mut npm = toolchain_command("npm");
            npm.args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(staging)
            .arg(format!("{PACKAGE}@{COMPONENTIZE_JS_VERSION}"));
            npm
        },
        |dir| dir.join(CLI).is_file(),
    )?;
    Ok(Tool::Installed(dir))
}

/// Copies the transform's own files (not `node_modules`) into `to`.
fn copy_sources(from: &Path, to: &Path) -> Result<(), TransformsError> {
    std::fs::create_dir_all(to).map_err(|e| io_error(format!("creating {}", to.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| io_error(format!("reading {}", from.display()), e))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_sources(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))
                .map_err(|e| io_error(format!("copying {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Builds the JavaScript transform `krate` into `out` with componentize-js: its files and the
/// SDK are put side by side in a folder of the build's, which componentize-js bundles from
/// `runner_main.js`.
pub async fn build(
    tool: &Tool,
    project: &Project,
    krate: &Crate,
    out: &Path,
) -> Result<(), TransformsError> {
    let absolute = |path: &Path| {
        std::path::absolute(path).map_err(|e| io_error(format!("resolving {}", path.display()), e))
    };
    let out = absolute(out)?;
    let staging = out.with_extension("src");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|e| io_error(format!("clearing {}", staging.display()), e))?;
    }
    copy_sources(&krate.dir, &staging)?;
    for (name, text) in sdk::JAVASCRIPT_FILES {
        std::fs::write(staging.join(name), text)
            .map_err(|e| io_error(format!("writing {name}"), e))?;
    }
    let wit_dir = absolute(&project.dir.join(sdk::DIR).join("wit"))?;
    let mut command = tool.command();
    command
        .arg(staging.join("runner_main.js"))
        .arg("--wit")
        .arg(&wit_dir)
        .args(["--world-name", "transform"])
        // No HTTP client and no fetch handler: the sandbox offers neither, and a component
        // importing them would not instantiate.
        .args(["--disable", "http", "fetch-event", "--out"])
        .arg(&out)
        .current_dir(&staging);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| TransformsError::Build(format!("the build did not finish: {e}")))?
        .map_err(|e| io_error("running componentize-js", e))?;
    if output.status.success() && out.is_file() {
        return Ok(());
    }
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(TransformsError::Build(format!(
        "componentize-js could not build the JavaScript transform '{}' ({}):\n{}",
        krate.name,
        krate.dir.join(ENTRY_FILE).display(),
        super::build::last_lines(printed.trim(), 40)
    )))
}
