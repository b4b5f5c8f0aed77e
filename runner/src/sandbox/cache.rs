//! Compiled components on disk, and why runner may load one. A compiled component is native
//! code that wasmtime maps and runs without checking it (`Component::deserialize` is `unsafe`
//! for that reason), so a file planted in the cache would be code execution. runner loads only
//! files it wrote: each carries an HMAC-SHA256 under a secret key kept in the cache folder,
//! checked before wasmtime sees a byte. A folder or key that someone else owns or could write
//! is not used at all: the component is compiled in memory instead.
//!
//! A file is `MAGIC`, the tag, then what `Component::serialize` gave. The tag covers the file's
//! name (the module's sha256 and the engine's compatibility hash) as well as its bytes, so a
//! signed file moved under another module's name does not load either.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use sha2::Sha256;

use crate::files::{NotPrivate, owned_by_me, private_dir, write_atomic};

/// The secret key's file, in the cache folder.
const KEY_FILE: &str = "key";
/// The key's length: HMAC-SHA256 gains nothing from a longer one.
const KEY_LEN: usize = 32;
/// The first bytes of every cache file: its format, so that a file of another version (or an
/// unsigned one from before) is told apart at once and compiled again.
const MAGIC: &[u8; 8] = b"rcwasm1\n";
/// An HMAC-SHA256 tag's length.
const TAG_LEN: usize = 32;

/// Why the disk cache is not used: logged at debug level, as the run goes on without it.
#[derive(Debug, thiserror::Error)]
pub enum CacheRefused {
    /// A folder or key file someone else could have written (or, for the key, read).
    #[error("{} is {problem}", path.display())]
    NotPrivate { path: PathBuf, problem: String },
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot get a random key: {0}")]
    Random(String),
    /// Owners and modes are only checked on Unix; elsewhere the cache stays off.
    #[cfg(not(unix))]
    #[error("file owners cannot be checked on this platform")]
    Unsupported,
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CacheRefused {
    let path = path.to_path_buf();
    move |source| CacheRefused::Io {
        context,
        path,
        source,
    }
}

/// The compiled-component cache of one folder, with its key.
pub struct DiskCache {
    components: PathBuf,
    key: [u8; KEY_LEN],
}

impl DiskCache {
    /// The cache in `dir` (created, private to this user, if missing), or why it cannot be
    /// trusted: `dir` or its `components/` folder owned by someone else or writable by group or
    /// others, or a key file that is not this user's alone.
    pub fn open(dir: &Path) -> Result<DiskCache, CacheRefused> {
        private_dir(dir)?;
        let components = dir.join("components");
        private_dir(&components)?;
        let key_path = dir.join(KEY_FILE);
        let key = match read_key(&key_path)? {
            Some(key) => key,
            None => {
                create_key(dir, &key_path)?;
                read_key(&key_path)?.ok_or_else(|| CacheRefused::Io {
                    context: "reading",
                    path: key_path.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?
            }
        };
        Ok(DiskCache { components, key })
    }

    /// Where the file called `name` is kept.
    pub fn path(&self, name: &str) -> PathBuf {
        self.components.join(name)
    }

    /// The bytes stored as `name`, if there is such a file and this cache's key signed it.
    pub fn load(&self, name: &str) -> Option<Vec<u8>> {
        let path = self.path(name);
        let mut file = std::fs::read(&path).ok()?;
        let signed = file
            .strip_prefix(MAGIC.as_slice())
            .filter(|rest| rest.len() >= TAG_LEN)
            .is_some_and(|rest| {
                let (tag, bytes) = rest.split_at(TAG_LEN);
                tag_of(&self.key, name, bytes).is_some_and(|mac| mac.verify_slice(tag).is_ok())
            });
        if !signed {
            tracing::debug!(
                "{} was not written by this runner (its tag does not match): compiling again",
                path.display()
            );
            return None;
        }
        Some(file.split_off(MAGIC.len() + TAG_LEN))
    }

    /// Stores `bytes` as `name`, signed, replacing any file of that name whole.
    pub fn store(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let tag = tag_of(&self.key, name, bytes)
            .ok_or_else(|| std::io::Error::other("cannot key HMAC-SHA256"))?
            .finalize()
            .into_bytes();
        let mut file = Vec::with_capacity(MAGIC.len() + TAG_LEN + bytes.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&tag);
        file.extend_from_slice(bytes);
        write_atomic(&self.path(name), &file)
    }
}

/// The HMAC-SHA256 of `name`, a zero byte, and `bytes`, under `key`, ready to finalize or
/// verify (which `Mac::verify_slice` does in constant time).
fn tag_of(key: &[u8], name: &str, bytes: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = hmac_sha256(key)?;
    mac.update(name.as_bytes());
    mac.update(&[0]);
    mac.update(bytes);
    Some(mac)
}

/// HMAC-SHA256 keyed with `key`. HMAC takes a key of any length (a long one is hashed first),
/// so this is never `None`; the type only keeps an impossible error from becoming a panic.
fn hmac_sha256(key: &[u8]) -> Option<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(key).ok()
}

impl From<NotPrivate> for CacheRefused {
    fn from(error: NotPrivate) -> Self {
        match error {
            NotPrivate::Io {
                context,
                path,
                source,
            } => CacheRefused::Io {
                context,
                path,
                source,
            },
            NotPrivate::Shared { path, problem } => CacheRefused::NotPrivate { path, problem },
            #[cfg(not(unix))]
            NotPrivate::Unsupported => CacheRefused::Unsupported,
        }
    }
}

/// The key in `path`, or `None` if there is none yet. The checks are made on the opened file
/// itself, so the file read is the file checked: this user's, readable by no one else (whoever
/// can read the key can sign a file), and of the right length.
fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, CacheRefused> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("opening", path)(e)),
    };
    let metadata = file.metadata().map_err(io("reading", path))?;
    let refused = |problem: String| CacheRefused::NotPrivate {
        path: path.to_path_buf(),
        problem,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        owned_by_me(&metadata).map_err(refused)?;
        if metadata.mode() & 0o077 != 0 {
            return Err(refused(format!(
                "readable or writable by its group or others (mode {:o})",
                metadata.mode() & 0o777
            )));
        }
    }
    if !metadata.is_file() || metadata.len() != KEY_LEN as u64 {
        return Err(refused(format!("not a {KEY_LEN}-byte key")));
    }
    let mut key = [0; KEY_LEN];
    file.read_exact(&mut key).map_err(io("reading", path))?;
    Ok(Some(key))
}

/// Writes a new random key to `path`, atomically and without replacing one another runner
/// wrote meanwhile: the key goes to a new file only this user can read (`create_new`, mode
/// 0600), which is then linked to its name, so that `path` holds a whole key or none, and the
/// first runner's key is the one every runner uses.
fn create_key(dir: &Path, path: &Path) -> Result<(), CacheRefused> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut key = [0; KEY_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut key)
        .map_err(|e| CacheRefused::Random(e.to_string()))?;
    let temp = dir.join(format!(
        ".{KEY_FILE}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&temp)
        .and_then(|mut file| file.write_all(&key).and_then(|()| file.sync_all()))
        .and_then(|()| match std::fs::hard_link(&temp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: a rename is atomic too, it only may replace
            // a key another runner has just written (whose cached files then compile again).
            Err(_) => std::fs::rename(&temp, path),
            Ok(()) => Ok(()),
        });
    let _ = std::fs::remove_file(&temp);
    written.map_err(io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_gives_the_rfc_4231_values() {
        // RFC 4231, test cases 2 (a short key) and 6 (a key longer than the block).
        let cases: [(&[u8], &[u8], &str); 2] = [
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, expected) in cases {
            let mut mac = hmac_sha256(key).unwrap();
            mac.update(data);
            assert_eq!(hex::encode(mac.finalize().into_bytes()), expected);
        }
    }

    #[test]
    fn a_cache_keeps_one_private_key_and_reads_back_what_it_signed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runner");
        let cache = DiskCache::open(&root).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
            assert_eq!(mode(&root.join(KEY_FILE)), 0o600);
            assert_eq!(mode(&root), 0o700);
            assert_eq!(mode(&root.join("components")), 0o700);
        }
        cache.store("a.cwasm", b"compiled").unwrap();
        assert_eq!(cache.load("a.cwasm").as_deref(), Some(&b"compiled"[..]));
        // The same key next time, so what was stored still loads; no temporary file is left.
        let again = DiskCache::open(&root).unwrap();
        assert_eq!(again.load("a.cwasm").as_deref(), Some(&b"compiled"[..]));
        let mut names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["components", KEY_FILE]);
        // Under another name, or with another key, the same file does not load.
        std::fs::copy(cache.path("a.cwasm"), cache.path("b.cwasm")).unwrap();
        assert_eq!(cache.load("b.cwasm"), None);
        let other = DiskCache::open(&dir.path().join("other")).unwrap();
        std::fs::copy(cache.path("a.cwasm"), other.path("a.cwasm")).unwrap();
        assert_eq!(other.load("a.cwasm"), None);
        assert_eq!(cache.load("missing.cwasm"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_or_key_others_could_write_or_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runner");
        DiskCache::open(&root).unwrap();
        let refused = |expected: &str| {
            let err = DiskCache::open(&root).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(expected)),
                "expected {expected:?}, got {err:?}"
            );
        };
        set(&root, 0o777);
        refused("runner is writable by its group or others (mode 777)");
        set(&root, 0o700);
        set(&root.join("components"), 0o770);
        refused("components is writable by its group or others (mode 770)");
        set(&root.join("components"), 0o700);
        set(&root.join(KEY_FILE), 0o644);
        refused("key is readable or writable by its group or others (mode 644)");
        set(&root.join(KEY_FILE), 0o600);
        std::fs::write(root.join(KEY_FILE), b"short").unwrap();
        refused("key is not a 32-byte key");
        std::fs::remove_file(root.join(KEY_FILE)).unwrap();
        DiskCache::open(&root).unwrap();
        // A key file another user owns (only root can make one to try).
        if std::os::unix::fs::chown(root.join(KEY_FILE), Some(4242), None).is_ok() {
            refused("owned by user 4242");
        }
    }
}
