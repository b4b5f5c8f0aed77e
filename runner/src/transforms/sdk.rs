//! The guest SDK's sources, carried inside the runner binary and written into each transforms
//! workspace (`.runner/guest-sdk/`), since the SDK is not on crates.io: a project created by
//! `runner init` anywhere builds its transforms against the SDK of the runner that runs them.

use std::path::Path;

use sha2::{Digest, Sha256};

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
        "src/value.rs",
        include_str!("../../../guest-sdk/src/value.rs"),
    ),
];

/// Where the SDK goes inside a transforms workspace.
pub const DIR: &str = ".runner/guest-sdk";

/// The path a transform crate's `Cargo.toml` uses for the SDK, from its own folder.
pub const DEPENDENCY_PATH: &str = "../.runner/guest-sdk";

/// A hash of the SDK's sources: a module built against another SDK is stale.
pub fn fingerprint() -> String {
    let mut hasher = Sha256::new();
    for (name, text) in FILES {
        hasher.update(name.as_bytes());
        hasher.update(text.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Writes the SDK into `workspace/.runner/guest-sdk`, touching only files that differ (so
/// cargo does not rebuild it needlessly).
pub fn install(workspace: &Path) -> std::io::Result<()> {
    let root = workspace.join(DIR);
    for (name, text) in FILES {
        let path = root.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|existing| existing == *text) {
            continue;
        }
        crate::files::write_atomic(&path, text.as_bytes())?;
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
