//! The WASI a transform gets: nothing. No files (no preopens), no network, no environment, no
//! arguments, stdin closed and output discarded, clocks frozen at the Unix epoch and random
//! numbers from a fixed seed, so that a transform is deterministic unless the host chooses
//! otherwise. Rust's standard library imports these interfaces even when a transform never
//! uses them; linking them empty keeps such transforms loadable and harmless.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// A wall clock that always says 1970-01-01T00:00:00Z.
struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that never moves.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// A WASI context that grants nothing.
pub fn empty_context() -> WasiCtx {
    WasiCtxBuilder::new()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .wall_clock(FrozenWallClock)
        .monotonic_clock(FrozenMonotonicClock)
        .secure_random(StdRng::seed_from_u64(0x7275_6e6e_6572))
        .insecure_random(StdRng::seed_from_u64(0x7275_6e6e_6572))
        .insecure_random_seed(0x7275_6e6e_6572)
        .build()
}
