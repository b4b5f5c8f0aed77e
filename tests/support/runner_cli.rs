//! The runner CLI, built in the test package so its tests can run it as users do.

fn main() {
    std::process::exit(runner::cli::main());
}
