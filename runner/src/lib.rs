//! runner: database migrations where schema changes are declarative YAML and data changes are
//! sandboxed WebAssembly components. This library holds everything; `main.rs` is a thin CLI.
//!
//! Data flows one way: `cli -> config -> revision (YAML, graph) -> plan -> exec ->
//! {ops rendered by a dialect} -> version_table`. The shared nouns live in leaves that use no
//! other module (`dialect_kind`, `vocab`, `units`, `files`, `crash`); docs/architecture.md has
//! the layering, and `tests/module_cycles.rs` keeps the module graph free of cycles.

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
pub mod transforms;
pub mod units;
pub mod version_table;
pub mod vocab;
