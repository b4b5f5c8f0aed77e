//! `runner new-transform NAME`: a transform crate that builds as it is, added to the workspace.

use std::path::PathBuf;

use toml_edit::{Array, DocumentMut, Item, Value};

use super::{Lang, Project, TransformsError, io_error, sdk};
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
runner-guest-sdk = {{ path = "{0}" }}

# `cargo test` runs `up` and `down` natively on an in-memory SQLite (docs/testing-transforms.md).
[dev-dependencies]
runner-guest-sdk = {{ path = "{0}", features = ["testing"] }}
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

// No `down` yet: a downgrade past a step that runs this transform is refused before anything
// is reverted. To make it reversible, write the function that undoes `up`,
//
//     fn down(db: &Db, _args: &Args) -> Result<()> {{ ... }}
//
// and export it too: `runner_guest_sdk::transform!(up = up, down = down);`
runner_guest_sdk::transform!(up = up);
"#
    )
}

fn python_source(name: &str) -> String {
    format!(
        r#""""The `{name}` transform. A revision runs it with
`- transform: {{module: {name}, reads: [TABLE], writes: [TABLE]}}`."""

from runner_transform import info


def up(db, args):
    """Runs on upgrade, inside the revision's transaction."""
    one = db.query_scalar("SELECT 1")
    info(f"{name} ran ({{one}})")


# No `down` yet: a downgrade past a step that runs this transform is refused before anything
# is reverted. To make it reversible, define the function that undoes `up`:
#
#     def down(db, args):
#         ...
"#
    )
}

fn javascript_source(name: &str) -> String {
    format!(
        r#"// The `{name}` transform. A revision runs it with
// `- transform: {{module: {name}, reads: [TABLE], writes: [TABLE]}}`.

import {{ info }} from './runner_transform.js';

/** Runs on upgrade, inside the revision's transaction. */
export function up(db, args) {{
  const one = db.queryScalar('SELECT 1');
  info(`{name} ran (${{one}})`);
}}

// No `down` yet: a downgrade past a step that runs this transform is refused before anything
// is reverted. To make it reversible, export the function that undoes `up`:
//
//     export function down(db, args) {{ ... }}
"#
    )
}

/// Creates `<transforms>/<name>/` as a transform in `lang`: a crate added to the cargo
/// workspace (created if missing), or a folder with `transform.py`.
pub fn new_transform(
    project: &Project,
    name: &str,
    lang: Lang,
) -> Result<PathBuf, TransformsError> {
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
    let folder_source = match lang {
        Lang::Rust => None,
        Lang::Python => Some(python_source(name)),
        Lang::JavaScript => Some(javascript_source(name)),
    };
    if let Some(source) = folder_source {
        std::fs::create_dir_all(&crate_dir)
            .map_err(|e| io_error(format!("creating {}", crate_dir.display()), e))?;
        std::fs::write(crate_dir.join(lang.entry_file()), source)
            .map_err(|e| io_error(format!("writing {}", lang.entry_file()), e))?;
        sdk::install(&project.dir).map_err(|e| io_error("writing the guest SDK", e))?;
        return Ok(crate_dir);
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
