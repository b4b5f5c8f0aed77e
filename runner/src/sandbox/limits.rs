//! The store's limits: the memory cap for all of a component's memories and tables together,
//! and the structure limits (instances, tables, memories) sized for other toolchains' components.

use wasmtime::ResourceLimiter;

/// The store's limits. The memory cap holds for all of a component's memories together (a
/// component may have several), counted as they grow, and for its tables, which live in host
/// memory too.
pub struct Limits {
    pub(super) cap: usize,
    pub(super) used: usize,
    /// Set when a growth past the cap was refused: the run failed for want of memory.
    pub refused: bool,
}

impl Limits {
    pub(super) fn new(cap_bytes: u64) -> Self {
        Self {
            cap: usize::try_from(cap_bytes).unwrap_or(usize::MAX),
            used: 0,
            refused: false,
        }
    }

    fn grow(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        match self.used.checked_add(bytes) {
            Some(total) if total <= self.cap => {
                self.used = total;
                Ok(true)
            }
            // A trap, not a failed `memory.grow`: the guest cannot carry on without it.
            _ => {
                self.refused = true;
                Err(wasmtime::Error::msg(format!(
                    "the memory limit of {} bytes is reached",
                    self.cap
                )))
            }
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        self.grow(desired.saturating_sub(current))
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("the memory could not grow"))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        let elements = desired.saturating_sub(current);
        self.grow(elements.saturating_mul(std::mem::size_of::<usize>()))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("a table could not grow"))
    }

    // Sized for components made by other toolchains: componentize-py's (CPython inside) and
    // componentize-js's have about ten core instances and several memories. Time and memory
    // stay capped by the epoch deadline and `memory_growing` above.
    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cap_holds_for_all_memories_together() {
        const MIB: usize = 1 << 20;
        let mut limits = Limits::new(64 << 20);
        // A component's two memories, created and grown: together they may not pass the cap.
        assert!(limits.memory_growing(0, 16 * MIB, None).unwrap());
        assert!(limits.memory_growing(0, 16 * MIB, None).unwrap());
        assert!(limits.memory_growing(16 * MIB, 40 * MIB, None).unwrap());
        assert!(!limits.refused);
        let err = limits.memory_growing(16 * MIB, 40 * MIB, None).unwrap_err();
        assert!(err.to_string().contains("memory limit"), "{err}");
        assert!(limits.refused);
        // Growth past a memory's own maximum fails as wasm says, without blaming the cap.
        let mut limits = Limits::new(64 << 20);
        assert!(!limits.memory_growing(0, 2 * MIB, Some(MIB)).unwrap());
        assert!(!limits.refused);
        // Tables live in host memory too.
        assert!(limits.table_growing(0, 1000, None).unwrap());
        assert!(limits.table_growing(1000, usize::MAX / 2, None).is_err());
        assert!(limits.refused);
    }
}
