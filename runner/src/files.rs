//! Files runner keeps: written whole or not at all (for the files several runners may read
//! while one writes: compiled components in the cache, `transforms.lock`, built modules, the
//! guest SDK), and the user's cache folder, private to the user. A leaf, as `sandbox` (compiled
//! components), `revision` (the headers' index) and `transforms` keep such files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so that a
/// reader never sees half a file. The temporary name is unique to this process and call:
/// two threads (or runners) writing the same file at once each rename a whole file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Where runner caches what it can make again (compiled components, revision headers):
/// `RUNNER_CACHE_DIR`, else `$XDG_CACHE_HOME/runner`, else `~/.cache/runner`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RUNNER_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("runner"))
}

/// Why a folder is not one to keep this user's private files in.
#[derive(Debug, thiserror::Error)]
pub enum NotPrivate {
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Someone else could have written it.
    #[error("{} is {problem}", path.display())]
    Shared { path: PathBuf, problem: String },
    /// Owners and modes are only checked on Unix.
    #[cfg(not(unix))]
    #[error("file owners cannot be checked on this platform")]
    Unsupported,
}

/// Creates `dir` if missing (readable by this user alone), then checks it is a folder this
/// user owns that neither group nor others can write.
#[cfg(unix)]
pub fn private_dir(dir: &Path) -> Result<(), NotPrivate> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let io = |context| {
        let path = dir.to_path_buf();
        move |source| NotPrivate::Io {
            context,
            path,
            source,
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("creating"))?;
    let metadata = std::fs::metadata(dir).map_err(io("reading"))?;
    let refused = |problem: String| NotPrivate::Shared {
        path: dir.to_path_buf(),
        problem,
    };
    if !metadata.is_dir() {
        return Err(refused("not a folder".into()));
    }
    owned_by_me(&metadata).map_err(refused)?;
    if metadata.mode() & 0o022 != 0 {
        return Err(refused(format!(
            "writable by its group or others (mode {:o})",
            metadata.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn private_dir(_dir: &Path) -> Result<(), NotPrivate> {
    Err(NotPrivate::Unsupported)
}

/// Ok if this process's user owns what `metadata` describes.
#[cfg(unix)]
pub fn owned_by_me(metadata: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() == me {
        Ok(())
    } else {
        Err(format!(
            "owned by user {}, not by this user ({me})",
            metadata.uid()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_writing_the_same_file_at_once_each_leave_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/one.cwasm");
        std::thread::scope(|scope| {
            for n in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, &[n; 100_000]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "a torn file");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["one.cwasm"], "no temporary file is left behind");
    }
}
