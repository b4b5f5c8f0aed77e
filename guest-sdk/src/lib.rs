//! Write runner data transforms in ordinary Rust.
//!
//! A transform is a WebAssembly component that runs inside a revision's transaction, between its
//! schema steps, with a database handle that can only reach the tables the step declares. It is a
//! function taking that handle:
//!
//! ```no_run
//! use runner_guest_sdk::prelude::*;
//!
//! /// Splits `contacts.full_name` into `first_name` and `last_name`.
//! fn up(db: &Db, _args: &Args) -> Result<()> {
//!     let total: i64 = db.query_scalar("SELECT count(*) FROM contacts", &[])?;
//!     let mut cursor = db.cursor("SELECT id, full_name FROM contacts ORDER BY id", &[])?;
//!     let mut done = 0;
//!     while let Some(batch) = cursor.next_batch(1000)? {
//!         let mut updates = Vec::with_capacity(batch.len());
//!         for row in batch.iter() {
//!             let id: i64 = row.get("id")?;
//!             let full: String = row.get("full_name")?;
//!             let (first, last) = full.split_once(' ').unwrap_or((full.as_str(), ""));
//!             updates.push(params![first, last, id]);
//!         }
//!         db.execute_many("UPDATE contacts SET first_name = $1, last_name = $2 WHERE id = $3", &updates)?;
//!         done += batch.len() as u64;
//!         progress(done, Some(total as u64));
//!     }
//!     info!("split {done} names");
//!     Ok(())
//! }
//!
//! /// Puts the names back together.
//! fn down(db: &Db, _args: &Args) -> Result<()> {
//!     db.execute(
//!         "UPDATE contacts SET full_name = TRIM(COALESCE(first_name, '') || ' ' || COALESCE(last_name, ''))",
//!         &[],
//!     )?;
//!     Ok(())
//! }
//!
//! runner_guest_sdk::transform!(up = up, down = down);
//! ```
//!
//! The revision step that runs it declares what it may touch:
//!
//! ```yaml
//! - transform: {module: split_names, reads: [contacts], writes: [contacts]}
//! ```
//!
//! * SQL uses `$1, $2, ...` placeholders on every database (`?` also works on SQLite and
//!   MySQL). Only SELECT, INSERT, UPDATE, DELETE and WITH are allowed, on the declared tables.
//! * Values are [`Value`]s; [`params!`] turns Rust values into them and [`Row::get`] reads them
//!   back as Rust types, by column name or position.
//! * [`Db::cursor`] reads a large result in batches; [`Db::execute_many`] writes a batch in one
//!   go (the host does not pay a database round trip per row).
//! * Log with [`info!`], [`warn!`], [`debug!`], [`error!`]; report [`progress`] for the progress
//!   bar. A panic fails the revision with the panic's message.
//! * Without `down`, the step cannot be reversed and a downgrade past it says so.
//! * Unit-test a transform natively with `cargo test`: `testing::TestDb`, behind the `testing`
//!   feature, runs `up` and `down` on an in-memory SQLite database (docs/testing-transforms.md).

extern crate self as runner_guest_sdk;

mod backfill;
mod db;
mod error;
mod log;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
mod sqlite_host;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;
mod value;

/// What serves the SDK's calls to runner: the one seam between the SDK's API and the imports
/// of `wit/transform.wit`. In a component, the imports themselves (the WIT bindings). In a
/// native build with the `testing` feature, an in-memory SQLite database (`testing::TestDb`)
/// that serves the same functions with the same types, so that a transform's `cargo test`
/// runs the same SDK code above this seam as the component does.
mod host {
    #[cfg(not(all(feature = "testing", not(target_arch = "wasm32"))))]
    pub(crate) use crate::bindings::runner::transform::{db, log};
    #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
    pub(crate) use crate::sqlite_host::{db, log};
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The bindings generated from `wit/transform.wit`, the contract with runner.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "transform",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_transform",
        default_bindings_module: "::runner_guest_sdk::bindings",
        runtime_path: "::runner_guest_sdk::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

pub use backfill::{Backfill, BackfillReport};
pub use db::{Args, Cursor, Db, Dialect, PendingRows, Row, Rows, Writer};
pub use error::{Error, Result};
pub use log::{Level, log, progress};
pub use value::{FromValue, Value};

/// The SDK version recorded in `transforms.lock`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a transform usually needs: `use runner_guest_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Args, Backfill, BackfillReport, Cursor, Db, Dialect, Error, FromValue, PendingRows, Result,
        Row, Rows, Value, Writer, bail, debug, error, info, params, progress, warn,
    };
}

/// Turns Rust values into a parameter list: `params![name, 42, None::<i64>]`.
#[macro_export]
macro_rules! params {
    () => { ::std::vec::Vec::<$crate::Value>::new() };
    ($($value:expr),+ $(,)?) => { ::std::vec![$($crate::Value::from($value)),+] };
}

/// Returns early with an error made from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return ::std::result::Result::Err($crate::Error::msg(::std::format!($($arg)*))) };
}

/// Exports the transform's functions: `transform!(up = up)` or `transform!(up = up, down = down)`.
/// Each is a `fn(&Db, &Args) -> Result<()>`.
#[macro_export]
macro_rules! transform {
    (up = $up:path, down = $down:path $(,)?) => {
        $crate::transform!(@export $up, ::std::option::Option::Some($down as fn(&$crate::Db, &$crate::Args) -> $crate::Result<()>));
    };
    (up = $up:path $(,)?) => {
        $crate::transform!(@export $up, ::std::option::Option::None);
    };
    (@export $up:path, $down:expr) => {
        struct __RunnerTransform;

        impl $crate::bindings::Guest for __RunnerTransform {
            fn up(args: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                $crate::__run(args, $up)
            }

            fn down(args: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                let down: ::std::option::Option<fn(&$crate::Db, &$crate::Args) -> $crate::Result<()>> = $down;
                match down {
                    ::std::option::Option::Some(down) => $crate::__run(args, down),
                    ::std::option::Option::None => ::std::result::Result::Err("this transform has no down".into()),
                }
            }

            fn info() -> $crate::bindings::Info {
                let down: ::std::option::Option<fn(&$crate::Db, &$crate::Args) -> $crate::Result<()>> = $down;
                $crate::bindings::Info { sdk_version: $crate::VERSION.into(), has_down: down.is_some() }
            }
        }

        $crate::bindings::__export_transform!(__RunnerTransform with_types_in $crate::bindings);
    };
}

/// Runs a transform function: installs the panic hook, builds the handle and the arguments, and
/// turns the error into the text runner shows.
#[doc(hidden)]
pub fn __run(
    args: Vec<(String, String)>,
    function: fn(&Db, &Args) -> Result<()>,
) -> std::result::Result<(), String> {
    log::install_panic_hook();
    function(&Db::handle(), &Args::new(args)).map_err(|e| e.to_string())
}
