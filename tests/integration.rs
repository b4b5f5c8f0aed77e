//! Every integration test of runner, in one test binary: a module per subject, each file of
//! this folder (its own doc comment says what it covers). One binary rather than one per file:
//! each links wasmtime, cranelift and sqlx, and ~35 of them took 4 GB of disk and a link each.
//!
//! `scripts/test` runs them all. One subject: `cargo nextest run -p runner-integration-tests
//! -E 'test(/^sandbox::/)'` (or `cargo test -p runner-integration-tests --test integration --
//! sandbox::`).

mod autogen;
mod bench_smoke;
mod branches;
mod build_isolation;
mod check;
mod cli;
mod concurrency;
mod crash;
mod demo;
mod diff;
mod dry_run;
mod enums;
mod examples;
mod failure;
mod fixtures;
mod grants;
mod guard_fuzz;
mod introspect;
mod javascript_transforms;
mod json;
mod lint;
// No database: the import graph of runner/src's top-level modules has no cycle.
mod module_cycles;
mod operations;
mod python_component;
// The Python ports of the example transforms against the Rust ones, and their unit tests.
mod python_examples;
mod python_transforms;
mod recovery;
mod sandbox;
mod schema_print;
mod smoke;
mod sql_script;
// No database: the example transforms' unit tests, `cargo test` natively in a copy of examples/transforms.
mod transform_unit_tests;
mod transforms;
mod try_transform;
mod workflow;
