//! `runner new-transform NAME`: a transform crate that builds as it is, added to the workspace.

use std::path::PathBuf;

use toml_edit::{Array, DocumentMut, Item, Value};

use super::{Project, TransformsError, io_error, sdk};
use crate::vocab::is_transform_name;

const WORKSPACE: &str = r#"# Transform crates, one folder each (`runner new-transform NAME`), built to wasm32-wasip2 by
# `runner build`.
[workspace]
resolver = "2"
members = []

[profile.release]
opt-level = "s"
lto = true
strip = true
panic = "abort"
codegen-units = 1
"#;

fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
runner-guest-sdk = {{ path = "{}" }}
"#,
        sdk::DEPENDENCY_PATH
    )
}

fn source(name: &str) -> String {
    format!(
        r#"//! The `{name}` transform. A revision runs it with
//! `- transform: {{module: {name}, reads: [TABLE], writes: [TABLE]}}`.

use runner_guest_sdk::prelude::*;

/// Runs on upgrade, inside the revision's transaction.
fn up(db: &Db, _args: &Args) -> Result<()> {{
    let tables: i64 = db.query_scalar("SELECT 1", &[])?;
    info!("{name} ran ({{tables}})");
    Ok(())
}}

/// Runs on downgrade and undoes `up`. Without it, the step cannot be reversed:
/// export with `transform!(up = up)`.
fn down(_db: &Db, _args: &Args) -> Result<()> {{
    Ok(())
}}

runner_guest_sdk::transform!(up = up, down = down);
"#
    )
}

/// Creates `<transforms>/<name>/` and adds it to the workspace (created if missing).
pub fn new_transform(project: &Project, name: &str) -> Result<PathBuf, TransformsError> {
    if !is_transform_name(name) {
        return Err(TransformsError::Build(format!(
            "'{name}' cannot name a transform: use lowercase letters, digits, '_' or '-', starting with a letter"
        )));
    }
    let crate_dir = project.dir.join(name);
    if crate_dir.exists() {
        return Err(TransformsError::Build(format!(
            "{} already exists",
            crate_dir.display()
        )));
    }
    let manifest_path = project.dir.join("Cargo.toml");
    let text = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WORKSPACE.to_string(),
        Err(e) => return Err(io_error(format!("reading {}", manifest_path.display()), e)),
    };
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e| TransformsError::Build(format!("{}: {e}", manifest_path.display())))?;
    let workspace = document
        .entry("workspace")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .ok_or_else(|| {
            TransformsError::Build(format!(
                "{}: [workspace] is not a table",
                manifest_path.display()
            ))
        })?;
    let members = workspace
        .entry("members")
        .or_insert(Item::Value(Value::Array(Array::new())))
        .as_array_mut()
        .ok_or_else(|| {
            TransformsError::Build(format!(
                "{}: workspace.members is not a list",
                manifest_path.display()
            ))
        })?;
    if !members.iter().any(|m| m.as_str() == Some(name)) {
        members.push(name);
    }
    let src = crate_dir.join("src");
    std::fs::create_dir_all(&src)
        .map_err(|e| io_error(format!("creating {}", src.display()), e))?;
    std::fs::write(crate_dir.join("Cargo.toml"), manifest(name))
        .map_err(|e| io_error("writing Cargo.toml", e))?;
    std::fs::write(src.join("lib.rs"), source(name))
        .map_err(|e| io_error("writing src/lib.rs", e))?;
    std::fs::write(&manifest_path, document.to_string())
        .map_err(|e| io_error(format!("writing {}", manifest_path.display()), e))?;
    sdk::install(&project.dir).map_err(|e| io_error("writing the guest SDK", e))?;
    Ok(crate_dir)
}

/// The transforms workspace manifest `runner init` writes.
pub fn workspace_manifest() -> &'static str {
    WORKSPACE
}
