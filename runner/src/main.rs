//! The `runner` binary: parse the command line, run the command, print the error chain and
//! exit with its code (0 ok, 1 failed, 2 bad input).

fn main() {
    std::process::exit(runner::cli::main());
}
