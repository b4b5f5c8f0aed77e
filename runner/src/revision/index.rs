//! The revision files' headers (id, parents, dependencies, labels, message, date,
//! `transactional`, checksum), kept in the user's cache folder after a full load, so that
//! commands that need only the graph (`current`, `status`, `heads`, `branches`, `history`)
//! read a project of 10,000 revisions in milliseconds instead of parsing every file and
//! replaying the schema model through it.
//!
//! The cache is used only when every file of the folder is listed in it with the same name,
//! size and modification time (nanoseconds), and it was written by this version of runner
//! after a load that validated the whole folder; anything else (a file added, removed, edited
//! or touched, another runner, an unreadable or foreign cache file) is a full load, which
//! writes the cache again. The files are listed before they are read, so a file that changes
//! during a load is read again next time. A file modified less than [`RACY`] before the cache
//! is written is not trusted to it (a file system's clock ticks coarser than its nanoseconds,
//! so a second edit in the same tick would keep the stamp): it is read again next time, as
//! git does with its index.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Downgrade, Repository, Revision, RevisionFile, RevisionLocs, SourceError, SourceLoc};
use crate::files::{private_dir, write_atomic};

/// A listed file: its path and stamp.
type Listed = (PathBuf, Stamp);

/// How long after its last change a file's stamp is trusted to say it did not change since.
const RACY: std::time::Duration = std::time::Duration::from_secs(2);

/// A revision file as listed: what says whether it changed. (Short names: the cache of a
/// long history is read on every `current`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    #[serde(rename = "f")]
    name: String,
    #[serde(rename = "z")]
    size: u64,
    /// Nanoseconds since 1970 (a u64 lasts until 2554).
    #[serde(rename = "t")]
    modified_ns: u64,
}

/// One file's header, as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    #[serde(rename = "k")]
    stamp: Stamp,
    #[serde(rename = "i")]
    id: String,
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    parents: Vec<String>,
    #[serde(rename = "d", default, skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<String>,
    #[serde(rename = "b", default, skip_serializing_if = "Vec::is_empty")]
    branch_labels: Vec<String>,
    #[serde(rename = "m")]
    message: String,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(rename = "x")]
    transactional: bool,
    #[serde(rename = "s")]
    checksum: String,
}

/// The cache file.
#[derive(Debug, Serialize, Deserialize)]
struct Index {
    /// The runner that wrote it: another one may read files differently.
    runner: String,
    /// The folder, canonical.
    dir: PathBuf,
    headers: Vec<Header>,
}

/// Every revision file in `dir` (`.yaml`, `.yml`), sorted by path, with its stamp; `None` if
/// one cannot be listed (the full load then says why). The files are looked at on several
/// threads: on a virtual machine a `stat` costs microseconds, and a long history has
/// thousands of files.
fn list(dir: &Path) -> Option<Vec<Listed>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Vec::new()),
        Err(_) => return None,
    };
    let mut yaml = Vec::new();
    for entry in entries {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let name = name.to_str()?;
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            yaml.push(entry);
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = yaml.len().div_ceil(threads).max(256);
    let stamped: Vec<Option<Vec<Option<Listed>>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = yaml
            .chunks(chunk)
            .map(|entries| scope.spawn(move || entries.iter().map(stamp).collect()))
            .collect();
        workers.into_iter().map(|w| w.join().ok()).collect()
    });
    let mut files = Vec::with_capacity(yaml.len());
    for chunk in stamped {
        // A file that cannot be looked at: the full load says why.
        for file in chunk? {
            files.push(file?);
        }
    }
    files.retain(|(_, stamp)| stamp.size != u64::MAX);
    // One folder: the names' order is the paths' order (`load_dir` sorts the paths).
    files.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Some(files)
}

/// A listed file's stamp; a stamp of size `u64::MAX` for what is not a file (a folder named
/// `x.yaml`), which `load_dir` skips too.
fn stamp(entry: &std::fs::DirEntry) -> Option<Listed> {
    let path = entry.path();
    // A link is followed, as `load_dir` follows it (`is_file` reads through it).
    let metadata = if entry.file_type().ok()?.is_symlink() {
        std::fs::metadata(&path).ok()?
    } else {
        entry.metadata().ok()?
    };
    let modified_ns = u64::try_from(
        metadata
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos(),
    )
    .ok()?;
    let name = entry.file_name().to_str()?.to_string();
    let size = if metadata.is_file() {
        metadata.len()
    } else {
        u64::MAX
    };
    Some((
        path,
        Stamp {
            name,
            size,
            modified_ns,
        },
    ))
}

/// The cache file for `dir` in `cache`.
fn index_path(cache: &Path, dir: &Path) -> PathBuf {
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    cache
        .join("revisions")
        .join(format!("{}.json", hex::encode(&digest[..16])))
}

/// The cache file at `path`, if it is this runner's for `dir`.
fn read_index(path: &Path, dir: &Path) -> Option<Index> {
    let bytes = std::fs::read(path).ok()?;
    let index: Index = serde_json::from_slice(&bytes).ok()?;
    (index.runner == env!("CARGO_PKG_VERSION") && index.dir == dir).then_some(index)
}

/// The headers the cache holds for exactly `listed`, if it does.
fn matching(index: Index, listed: &[Listed]) -> Option<Vec<Header>> {
    let same = index.headers.len() == listed.len()
        && index
            .headers
            .iter()
            .zip(listed)
            .all(|(header, (_, stamp))| header.stamp == *stamp);
    same.then_some(index.headers)
}

/// A revision made of its header alone (no steps, no text), read from the file at `path`.
fn revision(path: &Path, header: Header, no_text: &Arc<str>) -> Revision {
    let path = Arc::new(path.to_path_buf());
    let at = SourceLoc::file(&path);
    Revision {
        id: header.id,
        parents: header.parents,
        depends_on: header.depends_on,
        branch_labels: header.branch_labels,
        message: header.message,
        created: header
            .created
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
            .map(|c| c.with_timezone(&chrono::Utc)),
        transactional: header.transactional,
        upgrade: Vec::new(),
        downgrade: Downgrade::Auto,
        file: RevisionFile {
            path,
            text: no_text.clone(),
            checksum: header.checksum,
        },
        locs: RevisionLocs {
            id: at,
            parents: Vec::new(),
            depends_on: Vec::new(),
            branch_labels: Vec::new(),
        },
        lint_ignores: Vec::new(),
    }
}

/// The headers of a fully loaded repository, under the stamps listed before it was read; a
/// file changed too recently to be trusted gets a stamp no listing matches.
fn headers(repo: &Repository, listed: Vec<Listed>) -> Option<Vec<Header>> {
    let trusted_before = std::time::SystemTime::now()
        .checked_sub(RACY)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
    let mut by_path: std::collections::HashMap<&Path, &Revision> = repo
        .revisions
        .values()
        .map(|r| (r.file.path.as_path(), r))
        .collect();
    listed
        .into_iter()
        .map(|(path, mut stamp)| {
            let revision = by_path.remove(path.as_path())?;
            if stamp.modified_ns >= trusted_before {
                stamp.modified_ns = u64::MAX;
            }
            Some(Header {
                stamp,
                id: revision.id.clone(),
                parents: revision.parents.clone(),
                depends_on: revision.depends_on.clone(),
                branch_labels: revision.branch_labels.clone(),
                message: revision.message.clone(),
                created: revision.created.map(|c| c.to_rfc3339()),
                transactional: revision.transactional,
                checksum: revision.file.checksum.clone(),
            })
        })
        .collect()
}

/// The repository in `dir` for commands that need the graph and the headers only (its
/// revisions have no steps): from the cache in `cache` when it holds exactly these files,
/// else loaded and validated in full (errors as [`Repository::load`]'s), and cached.
pub fn load(dir: &Path, cache: Option<&Path>) -> Result<Repository, SourceError> {
    let cache = cache.filter(|cache| private_dir(&cache.join("revisions")).is_ok());
    let (Some(cache), Ok(canonical)) = (cache, dir.canonicalize()) else {
        return Repository::load(dir);
    };
    let path = index_path(cache, &canonical);
    // The cache is read while the files are listed: both take a while on a long history.
    let (listed, index) = std::thread::scope(|scope| {
        let index = scope.spawn(|| read_index(&path, &canonical));
        (list(dir), index.join().ok().flatten())
    });
    let Some(listed) = listed else {
        return Repository::load(dir);
    };
    if let Some(headers) = index.and_then(|index| matching(index, &listed)) {
        let no_text: Arc<str> = Arc::from("");
        let revisions = headers
            .into_iter()
            .zip(&listed)
            .map(|(header, (path, _))| revision(path, header, &no_text))
            .collect();
        if let Ok(repo) = Repository::from_headers(dir, revisions) {
            return Ok(repo);
        }
    }
    let repo = Repository::load(dir)?;
    if let Some(headers) = headers(&repo, listed) {
        let index = Index {
            runner: env!("CARGO_PKG_VERSION").to_string(),
            dir: canonical,
            headers,
        };
        if let Ok(bytes) = serde_json::to_vec(&index) {
            match write_atomic(&path, &bytes) {
                Ok(()) => prune(&cache.join("revisions")),
                Err(e) => tracing::debug!("could not write {}: {e}", path.display()),
            }
        }
    }
    Ok(repo)
}

/// How many projects' indexes the cache keeps; the least recently written go first.
const KEPT_INDEXES: usize = 64;

/// Removes the oldest indexes past [`KEPT_INDEXES`]: every project (and every test's
/// temporary one) leaves one behind.
fn prune(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let mut indexes: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if indexes.len() <= KEPT_INDEXES {
        return;
    }
    indexes.sort();
    for (_, path) in &indexes[..indexes.len() - KEPT_INDEXES] {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a revision file last modified `ago` seconds before now.
    fn write(dir: &Path, id: &str, parent: Option<&str>, message: &str, ago: u64) {
        let parents = parent.unwrap_or_default();
        let path = dir.join(format!("{id}_x.yaml"));
        std::fs::write(
            &path,
            format!(
                "revision: {id}\nparents: [{parents}]\nmessage: {message}\ncreated: 2026-01-02T03:04:05Z\nupgrade:\n  - create_table: {{table: t{id}, columns: [{{name: id, type: integer, primary_key: true}}]}}\n"
            ),
        )
        .unwrap();
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(ago);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(then).unwrap();
    }

    /// Each revision's header, as text.
    fn summary(repo: &Repository) -> Vec<String> {
        repo.ordered()
            .into_iter()
            .map(|r| {
                format!(
                    "{} {:?} {} {:?} {}",
                    r.id,
                    r.parents,
                    r.message,
                    r.created.map(|c| c.to_rfc3339()),
                    r.file.checksum
                )
            })
            .collect()
    }

    #[test]
    fn a_cached_load_reads_what_a_full_load_reads_until_a_file_changes() {
        let project = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let dir = project.path();
        write(dir, "aaaaaaaaaaaa", None, "one", 3600);
        write(dir, "bbbbbbbbbbbb", Some("aaaaaaaaaaaa"), "two", 3600);
        let full = Repository::load(dir).unwrap();
        let first = load(dir, Some(cache.path())).unwrap();
        assert_eq!(summary(&first), summary(&full));
        assert!(
            !first.get("bbbbbbbbbbbb").unwrap().upgrade.is_empty(),
            "loaded in full"
        );
        let cached = load(dir, Some(cache.path())).unwrap();
        assert_eq!(summary(&cached), summary(&full));
        assert!(
            cached.get("bbbbbbbbbbbb").unwrap().upgrade.is_empty(),
            "from the cache"
        );
        assert_eq!(cached.graph.heads(), full.graph.heads());
        // The same size, another message: read again.
        write(dir, "bbbbbbbbbbbb", Some("aaaaaaaaaaaa"), "owt", 1800);
        let edited = load(dir, Some(cache.path())).unwrap();
        assert_eq!(edited.get("bbbbbbbbbbbb").unwrap().message, "owt");
        // Changed just now: not trusted to the cache, however often it is read.
        write(dir, "bbbbbbbbbbbb", Some("aaaaaaaaaaaa"), "new", 0);
        for _ in 0..2 {
            let fresh = load(dir, Some(cache.path())).unwrap();
            assert!(
                !fresh.get("bbbbbbbbbbbb").unwrap().upgrade.is_empty(),
                "read in full"
            );
        }
        write(dir, "bbbbbbbbbbbb", Some("aaaaaaaaaaaa"), "owt", 1800);
        // A broken file is the full load's error, cache or not.
        std::fs::write(dir.join("cccccccccccc_x.yaml"), "revision: [").unwrap();
        let err = load(dir, Some(cache.path())).unwrap_err().to_string();
        assert!(err.contains("cccccccccccc_x.yaml"), "{err}");
        // A cache file that does not parse is ignored.
        std::fs::remove_file(dir.join("cccccccccccc_x.yaml")).unwrap();
        let index = index_path(cache.path(), &dir.canonicalize().unwrap());
        std::fs::write(&index, "{not json").unwrap();
        assert_eq!(
            summary(&load(dir, Some(cache.path())).unwrap()),
            summary(&edited)
        );
    }
}
