//! Messages and progress for runner's output, and the panic hook that turns a panic into a
//! message runner can show (the sandbox has no stderr worth reading).

use crate::host::log as host;

/// How important a message is.
pub use host::Level;

/// Sends a message to runner.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Reports how far the transform got: `done` of `total` units (rows, usually), if known.
pub fn progress(done: u64, total: Option<u64>) {
    host::progress(done, total);
}

/// The prefix of a panic's message, which runner recognises (`PANIC_PREFIX` in
/// runner/src/sandbox/host.rs: the two must stay equal; a test there checks it).
pub(crate) const PANIC_PREFIX: &str = "panic: ";

/// Forwards panic messages through `log`, once per instance.
pub(crate) fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            host::log(Level::Error, &format!("{PANIC_PREFIX}{payload}{place}"));
        }));
    });
}

/// Logs at info level: `info!("split {} names", n)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at debug level (shown with `runner -v`).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log($crate::Level::Error, &::std::format!($($arg)*)) };
}
