//! The example transforms' own unit tests, run here so that CI runs them: `cargo test`, natively,
//! in a copy of examples/transforms with this checkout's guest SDK where `runner build` puts it
//! (`.runner/guest-sdk`), as a transform author runs them (docs/testing-transforms.md). The copy
//! and its target folder live under target/, so the SDK's dependencies (SQLite among them) build
//! once; files are copied only when they changed, so an unchanged rerun compiles nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use runner_integration_tests::workspace_root;

/// The tests that must run and pass, per crate (`runner_guest_sdk` is the SDK's own tests of
/// its test database: the SDK is a member of the transforms workspace it sits in).
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "split_names",
        &[
            "tests::up_splits_off_the_last_word_batch_by_batch",
            "tests::down_joins_the_names_with_white_space_normalised",
            "tests::a_batch_that_is_not_a_number_is_refused",
        ],
    ),
    (
        "money_to_cents",
        &[
            "tests::up_counts_each_currencys_minor_units",
            "tests::down_converts_the_cents_back_into_amounts",
            "tests::an_unknown_currency_fails_and_changes_nothing",
        ],
    ),
    (
        "normalize_emails",
        &[
            "tests::up_stores_each_address_once_and_skips_null_and_blank_ones",
            "tests::down_restores_the_normalised_addresses",
        ],
    ),
    (
        "remap_deal_type",
        &[
            "tests::up_remaps_each_old_value_to_its_new_one",
            "tests::up_without_args_fails_with_what_to_write",
        ],
    ),
    (
        "runner_guest_sdk",
        &[
            "testing::tests::placeholders_take_their_values_by_number",
            "testing::tests::values_are_stored_and_read_back_by_the_declared_type_as_runner_does",
            "testing::tests::a_cursor_reads_the_rows_as_they_were_when_it_opened",
            "testing::tests::a_failing_batch_changes_nothing_and_a_writer_stops_after_it",
            "testing::tests::an_error_rolls_the_run_back_and_logs_and_progress_are_per_run",
            "testing::tests::a_backfill_runs_in_pages_and_reports_progress",
            "testing::tests::statements_a_transform_may_not_run_are_refused",
        ],
    ),
];

#[test]
fn the_example_transforms_unit_tests_pass_natively() {
    let root = workspace_root();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("transform-unit-tests");
    let transforms = work.join("transforms");
    copy_changed(
        &root.join("examples/transforms"),
        &transforms,
        &["target", "wasm", ".runner"],
    );
    copy_changed(
        &root.join("guest-sdk"),
        &transforms.join(".runner/guest-sdk"),
        &["python", "javascript"],
    );
    // `--locked`: the examples' committed Cargo.lock must already hold what the tests need.
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(&transforms)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .args(["test", "--locked", "--target-dir"])
        .arg(work.join("target"));
    let (success, output) = run_interleaved(command);
    assert!(
        success,
        "cargo test failed in {}:\n{}",
        transforms.display(),
        last_lines(&output, 150)
    );
    let passed = passed_by_crate(&output);
    for (krate, tests) in EXPECTED {
        let ran = passed.get(*krate).cloned().unwrap_or_default();
        for test in *tests {
            assert!(
                ran.contains(*test),
                "{krate}: {test} did not run and pass; passed: {ran:?}\n{output}"
            );
        }
    }
}

/// Runs `command` with its stdout and stderr in one stream, in the order written: cargo says
/// which test binary runs on stderr, the binary lists its tests on stdout.
fn run_interleaved(mut command: Command) -> (bool, String) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    command
        .stdout(writer.try_clone().expect("pipe"))
        .stderr(writer);
    let mut child = command.spawn().expect("cargo runs");
    // The command holds the pipe's write ends: without dropping it, the read never ends.
    drop(command);
    let mut output = String::new();
    reader.read_to_string(&mut output).expect("cargo's output");
    let status = child.wait().expect("cargo exits");
    (status.success(), output)
}

/// The tests that passed, per crate, from `cargo test`'s output: each crate's tests follow its
/// `Running unittests src/lib.rs (target/debug/deps/CRATE-HASH)` line.
fn passed_by_crate(output: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut passed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut krate = None;
    for line in output.lines() {
        let line = line.trim();
        if let Some(binary) = line
            .strip_prefix("Running ")
            .and_then(|rest| rest.rsplit_once('('))
            .map(|(_, binary)| binary.trim_end_matches(')'))
        {
            let file = Path::new(binary)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            krate = file.rsplit_once('-').map(|(name, _)| name.to_string());
        } else if let (Some(krate), Some(test)) = (
            &krate,
            line.strip_prefix("test ")
                .and_then(|rest| rest.strip_suffix(" ... ok")),
        ) {
            passed
                .entry(krate.clone())
                .or_default()
                .insert(test.to_string());
        }
    }
    passed
}

/// Copies the files of `from` into `to`, except the top-level entries named in `skip`, writing
/// only those whose content differs (cargo rebuilds what a newer file time touches).
fn copy_changed(from: &Path, to: &Path, skip: &[&str]) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("directory entry");
        let name = entry.file_name();
        if skip.iter().any(|s| name == **s) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if entry.file_type().expect("file type").is_dir() {
            copy_changed(&source, &target, &[]);
            continue;
        }
        let bytes = std::fs::read(&source).expect("read source file");
        if std::fs::read(&target).is_ok_and(|existing| existing == bytes) {
            continue;
        }
        std::fs::create_dir_all(to).expect("create folder");
        std::fs::write(&target, bytes).expect("write copy");
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
