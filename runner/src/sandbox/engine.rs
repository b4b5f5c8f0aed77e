//! One wasmtime engine per process, with epoch interruption for deadlines, and compiled
//! components cached: in memory for the run, and on disk keyed by the module's sha256 and the
//! engine's compatibility hash, so a transform compiles once per machine (about 0.2 s) and then
//! loads in about a millisecond (see ../shared/STACK.md). The disk cache loads only files this
//! runner signed (`cache.rs`): loading a compiled component runs its native code.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use super::bindings::Transform;
use super::cache::DiskCache;
use super::host::HostState;

/// How often the epoch advances: the granularity of a transform's deadline.
pub const TICK: Duration = Duration::from_millis(10);

/// Why the sandbox could not be set up or a module not loaded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

fn engine_error(context: &str, error: wasmtime::Error) -> EngineError {
    EngineError(format!("{context}: {error:#}"))
}

/// The engine and the linker with WASI (empty) and runner's imports.
pub struct Sandbox {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    compatibility: String,
    components: Mutex<HashMap<String, Component>>,
}

static SANDBOX: OnceLock<Result<Sandbox, String>> = OnceLock::new();

/// The process's sandbox, created on first use with its epoch ticker.
pub fn sandbox() -> Result<&'static Sandbox, EngineError> {
    SANDBOX
        .get_or_init(|| create().map_err(|e| e.0))
        .as_ref()
        .map_err(|e| EngineError(e.clone()))
}

fn create() -> Result<Sandbox, EngineError> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    let engine = Engine::new(&config).map_err(|e| engine_error("cannot start wasmtime", e))?;
    let mut linker = Linker::<HostState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| engine_error("cannot link WASI", e))?;
    Transform::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )
    .map_err(|e| engine_error("cannot link runner's imports", e))?;
    let ticker = engine.clone();
    std::thread::Builder::new()
        .name("runner-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                ticker.increment_epoch();
            }
        })
        .map_err(|e| EngineError(format!("cannot start the epoch ticker: {e}")))?;
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    Ok(Sandbox {
        compatibility: format!("{:016x}", hasher.finish()),
        engine,
        linker,
        components: Mutex::new(HashMap::new()),
    })
}

/// Where compiled components are kept: `RUNNER_CACHE_DIR`, else the user's cache folder.
pub use crate::files::cache_dir;

/// The disk cache in `dir`, or `None` (saying why at debug level) when it cannot be trusted:
/// the run then compiles in memory.
fn disk_cache(dir: &Path) -> Option<DiskCache> {
    match DiskCache::open(dir) {
        Ok(cache) => Some(cache),
        Err(why) => {
            tracing::debug!("not using the compiled-component cache: {why}");
            None
        }
    }
}

/// How a component was obtained, for tests and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Memory,
    Disk,
    Compiled,
}

/// A compiled component and the sha256 of the bytes it was compiled from.
#[derive(Clone)]
pub struct Compiled {
    pub component: Component,
    pub sha256: String,
}

/// The sha256 of a module's bytes, in hex: the key of its compiled component.
pub fn sha256(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

impl Sandbox {
    /// The compiled component for `wasm`, cached under the sha256 of these very bytes.
    pub fn component(&self, wasm: &[u8]) -> Result<(Compiled, Origin), EngineError> {
        let sha256 = sha256(wasm);
        if let Some(component) = self
            .components
            .lock()
            .ok()
            .and_then(|c| c.get(&sha256).cloned())
        {
            return Ok((Compiled { component, sha256 }, Origin::Memory));
        }
        let disk = cache_dir().and_then(|dir| disk_cache(&dir));
        let (component, origin) = self.load_or_compile(wasm, &sha256, disk.as_ref())?;
        if let Ok(mut components) = self.components.lock() {
            components.insert(sha256.clone(), component.clone());
        }
        Ok((Compiled { component, sha256 }, origin))
    }

    /// The component for `wasm` from `disk` if this runner cached it there, else compiled (and
    /// cached there, replacing a file that did not verify).
    fn load_or_compile(
        &self,
        wasm: &[u8],
        sha256: &str,
        disk: Option<&DiskCache>,
    ) -> Result<(Component, Origin), EngineError> {
        let name = format!("{sha256}-{}.cwasm", self.compatibility);
        if let Some(bytes) = disk.and_then(|cache| cache.load(&name)) {
            // SAFETY: wasmtime runs these bytes as native code without checking them. They are
            // bytes this runner serialized itself: `DiskCache::load` returned them only because
            // their HMAC under this user's key (which no one else can read, in a folder no one
            // else can write) matched, over the file's name, which carries the module's sha256
            // and the engine's compatibility hash. They were read into memory before the check,
            // so the file cannot change between the check and this load.
            match unsafe { Component::deserialize(&self.engine, &bytes) } {
                Ok(component) => return Ok((component, Origin::Disk)),
                Err(error) => tracing::debug!("recompiling {name}: {error:#}"),
            }
        }
        let started = std::time::Instant::now();
        let component = Component::from_binary(&self.engine, wasm)
            .map_err(|e| engine_error("the module is not a valid transform component", e))?;
        tracing::debug!("compiled component {sha256} in {:?}", started.elapsed());
        if let Some(cache) = disk {
            let written = component
                .serialize()
                .map_err(|e| std::io::Error::other(format!("{e:#}")))
                .and_then(|bytes| cache.store(&name, &bytes));
            if let Err(error) = written {
                tracing::debug!("cannot cache {}: {error}", cache.path(&name).display());
            }
        }
        Ok((component, Origin::Compiled))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The smallest valid component: it compiles, and serializes, like any other.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn cached_file(cache: &DiskCache) -> PathBuf {
        let mut files: Vec<PathBuf> = std::fs::read_dir(cache.path(""))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.remove(0)
    }

    #[test]
    fn a_component_this_runner_cached_loads_from_disk() {
        let sandbox = sandbox().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let sha = sha256(EMPTY_COMPONENT);
        let (_, origin) = sandbox
            .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
            .unwrap();
        assert_eq!(origin, Origin::Compiled);
        let (_, origin) = sandbox
            .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
            .unwrap();
        assert_eq!(origin, Origin::Disk);
    }

    #[test]
    fn a_cached_file_with_one_flipped_byte_is_compiled_again_and_replaced() {
        let sandbox = sandbox().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let sha = sha256(EMPTY_COMPONENT);
        sandbox
            .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
            .unwrap();
        let path = cached_file(&cache);
        let signed = std::fs::read(&path).unwrap();
        for at in [signed.len() - 1, 8, 0] {
            let mut bytes = signed.clone();
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let (_, origin) = sandbox
                .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
                .unwrap();
            assert_eq!(origin, Origin::Compiled, "byte {at} flipped");
            assert_eq!(std::fs::read(&path).unwrap(), signed, "replaced");
        }
        // What wasmtime serialized, planted without runner's tag: compiled, never loaded.
        let planted = Component::from_binary(&sandbox.engine, EMPTY_COMPONENT)
            .unwrap()
            .serialize()
            .unwrap();
        std::fs::write(&path, &planted).unwrap();
        let (_, origin) = sandbox
            .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
            .unwrap();
        assert_eq!(origin, Origin::Compiled);
        let (_, origin) = sandbox
            .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
            .unwrap();
        assert_eq!(origin, Origin::Disk, "the replacement loads");
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_folder_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(disk_cache(dir.path()).is_none());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "it wrote into the folder"
        );
        // Once private, the same folder is used.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let cache = disk_cache(dir.path()).unwrap();
        let sandbox = sandbox().unwrap();
        let sha = sha256(EMPTY_COMPONENT);
        sandbox
            .load_or_compile(EMPTY_COMPONENT, &sha, Some(&cache))
            .unwrap();
        // A folder that becomes writable by others is dropped, whatever it holds.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(disk_cache(dir.path()).is_none());
    }
}
