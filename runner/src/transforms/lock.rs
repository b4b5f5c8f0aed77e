//! `transforms.lock`: for each module, the sha256 of the built `.wasm` (what a revision's
//! checksum and `--no-build` runs rely on), the hashes of what it was built from, whether it has
//! a `down`, and the SDK it was built with. Written atomically, so a build killed halfway leaves
//! the previous lock.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{TransformsError, io_error};
use crate::files::write_atomic;

/// One module's entry in `transforms.lock`. Fields this runner does not know are ignored, not
/// refused: a lock written by a newer runner (which may record more) still reads here, so a team
/// need not move to a new runner all at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    /// sha256 of the built `.wasm`.
    pub sha256: String,
    /// sha256 of the crate's sources it was built from and of the SDK it was built with, to
    /// tell a stale module.
    pub source: String,
    /// sha256 of the transform's own files alone (no SDK), to tell an edit of the transform
    /// from a new runner's SDK: only an edit stands in the way of an applied revision that ran
    /// the module. Absent in locks written before runner 0.1 recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// True if the transform has a `down`.
    pub has_down: bool,
    /// The guest SDK version it was built with.
    pub sdk: String,
}

/// `transforms.lock` (unknown sections are ignored, as in [`LockEntry`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub modules: BTreeMap<String, LockEntry>,
}

const LOCK_HEADER: &str = "# Written by `runner build`: the sha256 of each transform module, recorded in runner_history\n\
# with the revisions that use it. Commit this file (and wasm/ if you deploy without a Rust toolchain).\n";

impl Lock {
    /// Reads the lock file (none: an empty lock).
    pub fn read(path: &Path) -> Result<Lock, TransformsError> {
        Ok(Self::read_if_exists(path)?.unwrap_or_default())
    }

    /// Reads the lock file, or `None` if there is none: a run that must not build has nothing
    /// to check its modules against then.
    pub fn read_if_exists(path: &Path) -> Result<Option<Lock>, TransformsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| TransformsError::Lock(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(format!("reading {}", path.display()), e)),
        }
    }

    /// Writes the lock file.
    pub fn write(&self, path: &Path) -> Result<(), TransformsError> {
        let body = toml::to_string(self).map_err(|e| TransformsError::Lock(e.to_string()))?;
        write_atomic(path, format!("{LOCK_HEADER}{body}").as_bytes())
            .map_err(|e| io_error(format!("writing {}", path.display()), e))
    }
}
