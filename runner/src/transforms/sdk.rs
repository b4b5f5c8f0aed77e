//! The guest SDK's sources, carried inside the runner binary and written into each transforms
//! workspace (`.runner/guest-sdk/`), since the SDK is not on crates.io: a project created by
//! `runner init` anywhere builds its transforms against the SDK of the runner that runs them.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::Lang;

/// The SDK's files, relative to its folder.
pub const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../guest-sdk/Cargo.toml")),
    (
        "wit/transform.wit",
        include_str!("../../../guest-sdk/wit/transform.wit"),
    ),
    ("src/lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    (
        "src/backfill.rs",
        include_str!("../../../guest-sdk/src/backfill.rs"),
    ),
    ("src/db.rs", include_str!("../../../guest-sdk/src/db.rs")),
    (
        "src/error.rs",
        include_str!("../../../guest-sdk/src/error.rs"),
    ),
    ("src/log.rs", include_str!("../../../guest-sdk/src/log.rs")),
    (
        "src/sqlite_host.rs",
        include_str!("../../../guest-sdk/src/sqlite_host.rs"),
    ),
    (
        "src/testing.rs",
        include_str!("../../../guest-sdk/src/testing.rs"),
    ),
    (
        "src/value.rs",
        include_str!("../../../guest-sdk/src/value.rs"),
    ),
];

/// The Python SDK's files: the module transforms import, the entry point that exports their
/// `up` and `down`, and the helper their unit tests import (never imported in a component).
pub const PYTHON_FILES: &[(&str, &str)] = &[
    (
        "runner_transform.py",
        include_str!("../../../guest-sdk/python/runner_transform.py"),
    ),
    (
        "runner_main.py",
        include_str!("../../../guest-sdk/python/runner_main.py"),
    ),
    (
        "runner_testing.py",
        include_str!("../../../guest-sdk/python/runner_testing.py"),
    ),
];

/// The JavaScript SDK's files, put beside a transform's own when it is built (and written
/// into `.runner/javascript/` for editors to find).
pub const JAVASCRIPT_FILES: &[(&str, &str)] = &[
    (
        "runner_transform.js",
        include_str!("../../../guest-sdk/javascript/runner_transform.js"),
    ),
    (
        "runner_main.js",
        include_str!("../../../guest-sdk/javascript/runner_main.js"),
    ),
];

/// Where the SDK goes inside a transforms workspace.
pub const DIR: &str = ".runner/guest-sdk";

/// Where the Python SDK goes inside a transforms workspace.
pub const PYTHON_DIR: &str = ".runner/python";

/// Where the JavaScript SDK goes inside a transforms workspace.
pub const JAVASCRIPT_DIR: &str = ".runner/javascript";

/// The path a transform crate's `Cargo.toml` uses for the SDK, from its own folder.
pub const DEPENDENCY_PATH: &str = "../.runner/guest-sdk";

/// A hash of the SDK a transform in `lang` is built with (the WIT world, and that language's
/// files): a module built against another SDK is stale. Per language, so that a change to
/// one language's SDK leaves the modules of the others as they are.
pub fn fingerprint(lang: Lang) -> String {
    let wit = FILES.iter().filter(|(name, _)| name.starts_with("wit/"));
    let files: Vec<&(&str, &str)> = match lang {
        Lang::Rust => FILES.iter().collect(),
        Lang::Python => wit.chain(PYTHON_FILES).collect(),
        Lang::JavaScript => wit.chain(JAVASCRIPT_FILES).collect(),
    };
    let mut hasher = Sha256::new();
    for (name, text) in files {
        hasher.update(name.as_bytes());
        hasher.update(text.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Writes the SDK into `workspace/.runner/guest-sdk`, touching only files that differ (so
/// cargo does not rebuild it needlessly).
pub fn install(workspace: &Path) -> std::io::Result<()> {
    for (dir, files) in [
        (DIR, FILES),
        (PYTHON_DIR, PYTHON_FILES),
        (JAVASCRIPT_DIR, JAVASCRIPT_FILES),
    ] {
        let root = workspace.join(dir);
        for (name, text) in files {
            let path = root.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|existing| existing == *text) {
                continue;
            }
            crate::files::write_atomic(&path, text.as_bytes())?;
        }
    }
    let ignore = workspace.join(".runner/.gitignore");
    if !ignore.exists() {
        std::fs::write(ignore, "# Written by runner on every build.\n*\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn every_python_file_of_the_sdk_is_carried() {
        let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python");
        for entry in std::fs::read_dir(&python).expect("guest-sdk/python") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            // test_*.py are the SDK's own unit tests: not shipped into projects.
            if !name.ends_with(".py") || name.starts_with("test_") {
                continue;
            }
            assert!(
                super::PYTHON_FILES
                    .iter()
                    .any(|(carried, _)| *carried == name),
                "guest-sdk/python/{name} is missing from transforms/sdk.rs PYTHON_FILES"
            );
        }
    }

    #[test]
    fn every_source_file_of_the_sdk_is_carried() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/src");
        for entry in std::fs::read_dir(&src).expect("guest-sdk/src") {
            let name = entry.expect("entry").file_name();
            let name = format!("src/{}", name.to_string_lossy());
            assert!(
                FILES.iter().any(|(carried, _)| *carried == name),
                "guest-sdk/{name} is missing from transforms/sdk.rs FILES"
            );
        }
    }
}
