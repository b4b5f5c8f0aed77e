//! One wasmtime engine per process, with epoch interruption for deadlines, and compiled
//! components cached: in memory for the run, and on disk keyed by the module's sha256 and the
//! engine's compatibility hash, so a transform compiles once per machine (about 0.2 s) and then
//! loads in about a millisecond (see ../shared/STACK.md).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use super::bindings::Transform;
use super::files::write_atomic;
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
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RUNNER_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("runner"))
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
        let cached = cache_dir().map(|dir| {
            dir.join("components")
                .join(format!("{sha256}-{}.cwasm", self.compatibility))
        });
        let mut loaded = None;
        if let Some(path) = cached.as_ref().filter(|p| p.exists()) {
            // SAFETY: the file is one runner wrote below from a module it compiled itself, in a
            // cache folder of this user; its name carries the module's hash and the engine's
            // compatibility hash, and wasmtime checks the header. A file that does not load is
            // compiled again and replaced.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(component) => loaded = Some((component, Origin::Disk)),
                Err(error) => tracing::debug!("recompiling {}: {error:#}", path.display()),
            }
        }
        let (component, origin) = match loaded {
            Some(loaded) => loaded,
            None => {
                let started = std::time::Instant::now();
                let component = Component::from_binary(&self.engine, wasm).map_err(|e| {
                    engine_error("the module is not a valid transform component", e)
                })?;
                tracing::debug!("compiled component {sha256} in {:?}", started.elapsed());
                if let Some(path) = &cached {
                    let written = component
                        .serialize()
                        .map_err(|e| std::io::Error::other(format!("{e:#}")))
                        .and_then(|bytes| write_atomic(path, &bytes));
                    if let Err(error) = written {
                        tracing::debug!("cannot cache {}: {error}", path.display());
                    }
                }
                (component, Origin::Compiled)
            }
        };
        if let Ok(mut components) = self.components.lock() {
            components.insert(sha256.clone(), component.clone());
        }
        Ok((Compiled { component, sha256 }, origin))
    }
}
