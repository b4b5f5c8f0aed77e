//! `runner-measure`: runs a command, kills it if it runs too long, and writes how it ended, how
//! long it took and its peak resident memory to a report file. tests/sandbox.rs runs each
//! attack through it.
//!
//! Why a process of its own: the peak RSS that `wait4` reports for a child counts the pages the
//! child shared with its parent when it forked (Linux folds the old address space's high-water
//! mark into the child's at `exec`), so a test process holding a few hundred MB would inflate
//! every measurement. This process holds almost nothing when it starts the command.
//!
//! Usage: `runner-measure REPORT DATA_LIMIT KILL_AFTER_MS PROGRAM [ARGS...]`. A `DATA_LIMIT` of
//! bytes other than 0 caps the command's data segment (`RLIMIT_DATA`), so that a command that
//! allocates without bound fails instead of taking the machine's memory; core dumps are off.
//! Standard input, output and error are the command's. The report is one line:
//! `code=N signal=N killed=B elapsed_ms=N max_rss_kib=N` (`code` or `signal` -1 when absent).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [report, data_limit, kill_after, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: runner-measure REPORT DATA_LIMIT KILL_AFTER_MS PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let (Ok(data_limit), Ok(kill_after)) = (data_limit.parse::<u64>(), kill_after.parse::<u64>())
    else {
        eprintln!("runner-measure: DATA_LIMIT and KILL_AFTER_MS are numbers");
        return ExitCode::from(2);
    };
    // Set here, before the command starts, and inherited by it.
    let limit = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: a plain system call with a valid pointer to an initialised rlimit.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    let limited = limit(libc::RLIMIT_CORE, 0).and_then(|()| match data_limit {
        0 => Ok(()),
        bytes => limit(libc::RLIMIT_DATA, bytes),
    });
    if let Err(e) = limited {
        eprintln!("runner-measure: setrlimit: {e}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let mut child = match Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("runner-measure: cannot run {program}: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return ExitCode::from(2);
    };
    let kill_after = Duration::from_millis(kill_after);
    let mut killed = false;
    let (status, usage) = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: a zeroed rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is this process's only child and only this loop reaps it; `status` and
        // `usage` are valid for writes.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break (status, usage);
        }
        if reaped < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                eprintln!("runner-measure: wait4: {error}");
                return ExitCode::from(2);
            }
        }
        if !killed && started.elapsed() >= kill_after {
            // Not reaped yet, so the pid is still the child's.
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let signal = if libc::WIFSIGNALED(status) {
        libc::WTERMSIG(status)
    } else {
        -1
    };
    let line = format!(
        "code={code} signal={signal} killed={killed} elapsed_ms={} max_rss_kib={}\n",
        elapsed.as_millis(),
        usage.ru_maxrss
    );
    if let Err(e) = std::fs::write(report, line) {
        eprintln!("runner-measure: cannot write {report}: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
