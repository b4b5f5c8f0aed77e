//! The hashes that tell a stale module and an edited transform: over a transform's files, with
//! or without its language's SDK.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Lang, TransformsError, io_error, sdk};

/// sha256 over a transform's files (everything but `target/` and the like), and the SDK of
/// its language: what decides whether its module is stale.
pub fn source_hash(dir: &Path, lang: Lang) -> Result<String, TransformsError> {
    hash_files(dir, Some(&sdk::fingerprint(lang)))
}

/// sha256 over a transform's own files alone: what tells an edit of the transform from a new
/// SDK (see [`LockEntry::files`]).
pub fn files_hash(dir: &Path) -> Result<String, TransformsError> {
    hash_files(dir, None)
}

fn hash_files(dir: &Path, sdk: Option<&str>) -> Result<String, TransformsError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .map_err(|e| io_error(format!("reading {}", current.display()), e))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target"
                || name == "__pycache__"
                || name == "node_modules"
                || name.to_string_lossy().starts_with('.')
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    if let Some(sdk) = sdk {
        hasher.update(sdk.as_bytes());
    }
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().replace('\\', "/").as_bytes());
        hasher.update([0]);
        let bytes =
            std::fs::read(&file).map_err(|e| io_error(format!("reading {}", file.display()), e))?;
        hasher.update(bytes.replace_crlf());
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Reading text files the same on every platform.
trait ReplaceCrlf {
    fn replace_crlf(self) -> Vec<u8>;
}

impl ReplaceCrlf for Vec<u8> {
    fn replace_crlf(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut bytes = self.into_iter().peekable();
        while let Some(byte) = bytes.next() {
            if byte == b'\r' && bytes.peek() == Some(&b'\n') {
                continue;
            }
            out.push(byte);
        }
        out
    }
}
