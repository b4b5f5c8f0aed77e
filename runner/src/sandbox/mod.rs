//! The WebAssembly sandbox data transforms run in: wasmtime with the component model, a WASI
//! that grants nothing, a memory cap, an epoch deadline, and runner's `db` and `log` imports,
//! which reach the database only through the SQL guard and only on the revision's own
//! connection, inside its transaction.

mod authorizer;
mod batch;
mod bindings;
mod cache;
pub mod cursor;
pub mod engine;
pub mod guard;
pub mod host;
mod implied;
mod limits;
mod plan;
mod postgres;
pub mod sql;
pub mod statement;
pub(crate) mod text;
mod wasi;

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;

use crate::db::Db;
use crate::vocab::Direction;
use bindings::Transform;
use engine::{EngineError, Origin, Sandbox};
use guard::Grants;
use host::{HostConfig, HostState};
pub use host::{LogLevel, Stats, TransformListener};

/// How long past its `timeout` a transform may take before the host stops waiting for it:
/// enough for a database call's own backstop to end it first (see `HostState::backstop`).
const HOST_GRACE: Duration = Duration::from_millis(1200);

/// One run of a transform.
pub struct TransformCall<'a> {
    /// The module's name, for messages.
    pub module: &'a str,
    /// The component's bytes and their sha256 (checked: the compiled component is cached
    /// under the hash of the bytes themselves).
    pub wasm: &'a [u8],
    pub sha256: &'a str,
    pub direction: Direction,
    pub reads: &'a [String],
    pub writes: &'a [String],
    pub args: &'a [(String, String)],
    pub timeout: Duration,
    pub memory_bytes: u64,
}

/// What a successful run did.
#[derive(Debug, Clone)]
pub struct TransformReport {
    pub stats: Stats,
    /// Whether the component was compiled for this run or loaded from a cache.
    pub origin: Origin,
}

/// Why a transform did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The sandbox or the module could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The transform ran and failed: refused, out of time or memory, panicked, or returned an
    /// error. The text says which.
    #[error("{0}")]
    Failed(String),
}

impl From<EngineError> for TransformError {
    fn from(error: EngineError) -> Self {
        Self::Setup(error.0)
    }
}

/// `256 MiB`, `4 GiB`, or a count of bytes where neither is whole.
fn bytes_text(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The most a transform may hand the host in one call (a statement, a batch of rows, an
/// error text): a quarter of the step's memory, at least 4 MiB. Whatever the guest passes is
/// copied into host memory, outside the guest's cap; this bounds that copy, so that the
/// runner's memory stays within the step's memory and a quarter more (plus its own).
fn transfer_limit(memory_bytes: u64) -> u64 {
    (memory_bytes / 4).max(4 << 20)
}

/// What wasmtime says when a guest passes more than the store's hostcall fuel.
const TRANSFER_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// True when `error` is wasmtime refusing to copy more than [`transfer_limit`] from the guest.
fn passed_too_much(error: &wasmtime::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.to_string().contains(TRANSFER_EXHAUSTED))
}

/// A store for one run: the host state, its limits, and an epoch deadline at `config.timeout`.
fn new_store(sandbox: &Sandbox, config: HostConfig) -> Store<HostState> {
    let transfer = usize::try_from(transfer_limit(config.memory_bytes)).unwrap_or(usize::MAX);
    let ticks = config
        .timeout
        .as_millis()
        .div_ceil(engine::TICK.as_millis())
        .max(1);
    let mut store = Store::new(&sandbox.engine, HostState::new(config));
    store.limiter(|state| &mut state.limits);
    store.set_hostcall_fuel(transfer);
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    store.epoch_deadline_trap();
    store
}

/// Runs a transform's `up` or `down` on `db`'s connection, inside whatever transaction is
/// open. The connection is lent to the sandbox for the run and given back before returning.
pub async fn run(
    db: &mut Db,
    call: &TransformCall<'_>,
    listener: Option<Arc<dyn TransformListener>>,
) -> Result<TransformReport, TransformError> {
    let sha256 = engine::sha256(call.wasm);
    if sha256 != call.sha256 {
        return Err(TransformError::Setup(format!(
            "module {} is not the one recorded: its sha256 is {sha256}, not {}",
            call.module, call.sha256
        )));
    }
    let sandbox = engine::sandbox()?;
    let (component, origin) = sandbox.component(call.wasm)?;
    // Statements SQLite prepared for an earlier step were checked against its grants, not
    // these: the step starts without any.
    db.release_sqlite()
        .await
        .map_err(|e| TransformError::Setup(format!("the connection is not usable: {e}")))?;
    let mut store = new_store(
        sandbox,
        HostConfig {
            db: Some(db.lend()),
            module: call.module.to_string(),
            dialect: db.dialect(),
            grants: Grants::new(call.reads, call.writes),
            memory_bytes: call.memory_bytes,
            timeout: call.timeout,
            listener,
        },
    );
    // The epoch deadline stops wasm that runs; this one stops a transform that waits in
    // the host (a WASI sleep or poll) or a database call past its own backstop.
    let overall = call.timeout + HOST_GRACE;
    let outcome = tokio::time::timeout(overall, async {
        let instance =
            Transform::instantiate_async(&mut store, &component.component, &sandbox.linker).await?;
        match call.direction {
            Direction::Up => instance.call_up(&mut store, call.args).await,
            Direction::Down => instance.call_down(&mut store, call.args).await,
        }
    })
    .await
    .unwrap_or_else(|_| Err(wasmtime::Trap::Interrupt.into()));
    // Stopped while waiting on the database (past every backstop): a connection that does
    // not answer now is given up rather than waited for.
    if let Some(db) = store.data_mut().db.as_mut()
        && outcome.is_err()
        && db.dialect() != crate::dialect_kind::Dialect::Sqlite
        && !db.answers_within(host::CANCEL_WAIT).await
    {
        db.abandon();
    }
    let mut ended = store.data_mut().end_session().await;
    if let Some(db) = store.data_mut().db.as_mut()
        && let Err(error) = db.release_sqlite().await
    {
        ended = ended.and(Err(format!("could not give SQLite's handle back: {error}")));
    }
    let mut state = store.into_data();
    match state.db.take() {
        Some(lent) => db.give_back(lent),
        None => {
            return Err(TransformError::Failed(
                "the transform lost the connection".into(),
            ));
        }
    }
    let failure = |reason: String| Err(TransformError::Failed(reason));
    match outcome {
        Ok(Ok(())) => match (state.violation, ended) {
            (Some(violation), _) => failure(violation),
            (None, Err(problem)) => failure(problem),
            (None, Ok(())) => Ok(TransformReport {
                stats: state.stats,
                origin,
            }),
        },
        Ok(Err(message)) => failure(state.violation.unwrap_or_else(|| {
            format!(
                "it returned an error: {}",
                host::bounded_text(&message, host::MAX_MESSAGE_CHARS)
            )
        })),
        Err(trap) => failure(state.violation.unwrap_or_else(|| {
            if trap.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                format!(
                    "it ran out of time: the limit is {}",
                    host::humanize(call.timeout)
                )
            } else if passed_too_much(&trap) {
                format!(
                    "it handed the host too long a value in one call (a statement, a batch of rows or an error text): the most is {}, a quarter of the step's memory; pass less at a time",
                    bytes_text(transfer_limit(call.memory_bytes))
                )
            } else if state.limits.refused {
                format!(
                    "it needed more memory than its limit of {}",
                    bytes_text(call.memory_bytes)
                )
            } else if let Some(panic) = &state.panic {
                format!("it panicked: {panic}")
            } else if let Some(error) = &state.last_error_log {
                format!("it trapped ({trap:#}) after logging: {error}")
            } else {
                format!("it trapped: {trap:#}")
            }
        })),
    }
}

/// What a built transform says about itself (`runner build` records it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    pub sdk_version: String,
    pub has_down: bool,
}

/// Loads a component and asks it for its `info`, without a database.
pub async fn module_info(wasm: &[u8]) -> Result<ModuleInfo, TransformError> {
    let sandbox = engine::sandbox()?;
    let (component, _) = sandbox.component(wasm)?;
    let mut store = new_store(
        sandbox,
        HostConfig {
            db: None,
            module: String::new(),
            dialect: crate::dialect_kind::Dialect::Sqlite,
            grants: Grants::default(),
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            listener: None,
        },
    );
    let info = async {
        let instance =
            Transform::instantiate_async(&mut store, &component.component, &sandbox.linker).await?;
        instance.call_info(&mut store).await
    }
    .await
    .map_err(|e| TransformError::Setup(format!("the module does not answer `info`: {e:#}")))?;
    Ok(ModuleInfo {
        sdk_version: info.sdk_version,
        has_down: info.has_down,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_written_in_runner_toml() {
        assert_eq!(bytes_text(256 << 20), "256 MiB");
        assert_eq!(bytes_text(4 << 30), "4 GiB");
        assert_eq!(bytes_text(1536 << 20), "1536 MiB");
        assert_eq!(bytes_text(1000), "1000 bytes");
    }

    #[tokio::test]
    async fn a_module_whose_bytes_are_not_the_recorded_ones_is_refused_before_it_runs() {
        let url = "sqlite::memory:".parse().unwrap();
        let mut db = Db::connect(&url, &Default::default()).await.unwrap();
        // An empty component: valid, but not the module the caller names.
        let wasm = b"\0asm\x0d\x00\x01\x00";
        let call = TransformCall {
            module: "split_names",
            wasm,
            sha256: &"ab".repeat(32),
            direction: Direction::Up,
            reads: &[],
            writes: &[],
            args: &[],
            timeout: Duration::from_secs(1),
            memory_bytes: 1 << 20,
        };
        let err = run(&mut db, &call, None).await.unwrap_err().to_string();
        assert!(
            err.contains("module split_names is not the one recorded: its sha256 is ")
                && err.contains(&engine::sha256(wasm)),
            "{err}"
        );
        // The connection was never lent.
        let one = db.query("SELECT 1", &[]).await.unwrap();
        assert_eq!(one.scalar(), Some(&crate::db::Value::Integer(1)));
    }

    #[test]
    fn stats_count_every_table_a_statement_reads() {
        let mut stats = Stats::default();
        let join = ["contacts".to_string(), "deals".to_string()];
        host::Stats::add(&mut stats.rows_read, &join, 3);
        host::Stats::add(&mut stats.rows_read, &join[1..], 2);
        assert_eq!(stats.rows_read["contacts"], 3);
        assert_eq!(stats.rows_read["deals"], 5);
    }
}
