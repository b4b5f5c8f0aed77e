//! The runner CLI, built in the test package so its tests can run it as users do, with the
//! crash points (`runner::crash`) wired to three environment variables that only this test
//! build reads:
//!
//! * `RUNNER_CRASH_TRACE=FILE` appends the name of every point reached to FILE, a line each;
//! * `RUNNER_CRASH_AT=NAME:N` kills the process with SIGKILL the N-th time point NAME is
//!   reached (1-based);
//! * `RUNNER_STALL_AT=NAME:N` stops there instead: it writes its pid to the file
//!   `RUNNER_STALL_FILE` and waits until that file is deleted (two minutes at most), so a
//!   test can act on the database mid-run (kill the server's session, say) at an exact point.

use std::io::Write;
use std::sync::Mutex;

/// The allocator the `runner` binary has (runner/src/main.rs), so measurements of this build
/// are measurements of that one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn target(var: &str) -> Option<(String, usize)> {
    let text = std::env::var(var).ok()?;
    let (name, nth) = text.rsplit_once(':')?;
    Some((name.to_string(), nth.parse().ok()?))
}

fn main() {
    let trace = std::env::var_os("RUNNER_CRASH_TRACE").map(|path| {
        Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("RUNNER_CRASH_TRACE opens"),
        )
    });
    let crash = target("RUNNER_CRASH_AT");
    let stall = target("RUNNER_STALL_AT");
    let stall_file = std::env::var_os("RUNNER_STALL_FILE");
    if trace.is_some() || crash.is_some() || stall.is_some() {
        let counts: Mutex<std::collections::HashMap<String, usize>> = Mutex::default();
        runner::crash::install(move |name| {
            if let Some(file) = &trace {
                let mut file = file.lock().expect("trace lock");
                writeln!(file, "{name}").expect("trace writes");
            }
            let nth = {
                let mut counts = counts.lock().expect("counts lock");
                let n = counts.entry(name.to_string()).or_default();
                *n += 1;
                *n
            };
            if crash
                .as_ref()
                .is_some_and(|(at, n)| at == name && *n == nth)
            {
                // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, nothing runs after.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
            }
            if stall
                .as_ref()
                .is_some_and(|(at, n)| at == name && *n == nth)
            {
                let Some(path) = &stall_file else { return };
                std::fs::write(path, std::process::id().to_string()).expect("stall file");
                let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
                while std::path::Path::new(path).exists() && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        });
    }
    std::process::exit(runner::cli::main());
}
