//! `runner init [DIR]`: a new project with its config, migrations folder, transforms
//! workspace and desired-schema file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Format, UsageError, output};

/// Create runner.toml, migrations/versions/, migrations/transforms/ and schema.yaml
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the project
    #[arg(default_value = ".")]
    dir: PathBuf,
}

const CONFIG: &str = r#"# runner configuration. Flags and DATABASE_URL win over these values; paths are relative
# to this file.
database_url = "sqlite://app.db"
migrations = "migrations"        # versions/, transforms/, transforms.lock inside
schema = "schema.yaml"           # the schema you want (`runner check` compares it with head)
ddl_lock_timeout = "10s"         # how long a statement waits behind another session's lock

[sandbox]                        # defaults for every transform step
timeout = "5m"
memory = "256MiB"
"#;

const SCHEMA: &str = r#"# The schema you want, in the vocabulary of revision files: each table is what `create_table`
# takes, without `table`; each enum is its list of values. Once it declares tables,
# `runner check` fails when the schema the revisions build at head differs from it.
#
# enums:
#   deal_state: [open, won, lost]
# tables:
#   contacts:
#     columns:
#       - {name: id, type: integer, primary_key: true, autoincrement: true}
#       - {name: email, type: string(255), nullable: false}
#     indexes:
#       - {columns: [email], unique: true}
enums: {}
tables: {}
"#;

/// Writes `text` at `path`, which must not exist.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Creates the project files; if any of them exists, creates nothing.
pub fn run(args: &Args, format: Format, quiet: bool) -> anyhow::Result<()> {
    let dir = &args.dir;
    let config = dir.join("runner.toml");
    let versions = dir.join("migrations").join("versions");
    let transforms = dir.join("migrations").join("transforms");
    let schema = dir.join("schema.yaml");
    let files = [
        (versions.join(".gitkeep"), ""),
        (
            transforms.join("Cargo.toml"),
            crate::transforms::workspace_manifest(),
        ),
        (schema.clone(), SCHEMA),
        (config.clone(), CONFIG),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| format!("{} already exists", path.display()))
        .collect();
    if !existing.is_empty() {
        return Err(UsageError(format!(
            "{}; runner init does not overwrite, so it created nothing",
            existing.join(", ")
        ))
        .into());
    }
    for folder in [&versions, &transforms] {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    for (path, text) in &files {
        write_new(path, text)?;
    }
    let created: Vec<String> = [config, versions, transforms, schema]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    output::emit(
        format,
        quiet,
        &serde_json::json!({ "created": created }),
        || {
            for path in &created {
                println!("created {path}");
            }
            println!("next: runner revision -m \"create tables\", then runner upgrade");
        },
    )
}
