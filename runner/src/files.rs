//! Writing a file whole or not at all, for the files several runners may read while one
//! writes: compiled components in the cache, `transforms.lock`, built modules, the guest SDK. A
//! leaf, as both `sandbox` (the cache) and `transforms` (the rest) write such files.

use std::path::Path;
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
