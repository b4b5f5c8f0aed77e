//! The `runner` binary: parse the command line, run the command, print the error chain and
//! exit with its code (0 ok, 1 failed, 2 bad input).

/// mimalloc, not the system allocator: see docs/performance.md (the data path allocates
/// every value it moves between the database and the sandbox).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(runner::cli::main());
}
