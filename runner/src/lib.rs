//! runner: database migrations where schema changes are declarative YAML and data changes are
//! sandboxed WebAssembly components. This library holds everything; `main.rs` is a thin CLI.
//!
//! Data flows one way: `cli -> config -> revision (YAML, graph) -> plan -> exec ->
//! {ops rendered by a dialect} -> version_table`. The shared nouns live in leaves that use no
//! other module (`dialect_kind`, `vocab`, `units`, `files`, `crash`); docs/architecture.md has
//! the layering, and `tests/module_cycles.rs` keeps the module graph free of cycles.
// The futures of a revision's run nest deeply (a step's transform inside a revision inside a
// plan); the compiler's default depth for laying them out is too small.
#![recursion_limit = "256"]

pub mod autogen;
pub mod check;
pub mod cli;
pub mod config;
pub mod crash;
pub mod db;
pub mod dialect;
pub mod dialect_kind;
pub mod dry_run;
pub mod exec;
pub(crate) mod files;
pub mod fixtures;
pub mod lint;
pub mod model;
pub mod ops;
pub mod plan;
pub mod revision;
pub mod sandbox;
pub mod schema_file;
pub mod suggest;
pub mod transforms;
pub mod units;
pub mod version_table;
pub mod vocab;
