//! The Python ports of the example transforms (examples/transforms-python) against the Rust
//! originals (examples/transforms): the demo history and both example revisions, run on the
//! same awkward rows once with each, leave byte-identical databases on every backend, after
//! each upgrade and each downgrade, and log the same lines. The ports' own unit tests
//! (runner_testing on plain SQLite) run here too, so that CI runs them.
//!
//! Without python3 and pip (or PyPI) these tests say why and pass, except under CI (`CI=true`
//! or `RUNNER_REQUIRE_TOOLCHAINS=1`, which .ci/run sets), where that is a failure.

use std::process::Command;

use runner_integration_tests::guest_lang::required;
use runner_integration_tests::{Project, TestDb, dump, transforms_target_dir, workspace_root};

/// The demo revision before the first transform (split_names, 9c3e5a7b1d24).
const BEFORE_TRANSFORMS: &str = "7ab4d9e2c610";
/// The head of the example revision whose transforms all have a `down`.
const NORMALIZE_EMAILS: &str = "d7e1a4c9b2f0";
const EXAMPLE_REVISIONS: [&str; 2] = [
    "d7e1a4c9b2f0_normalize_emails.yaml",
    "e8f2b5d0c3a1_remap_deal_types.yaml",
];

/// The rows of tests/examples.rs, and rows where Python and Rust could part: white space that
/// only one of them calls white space, Unicode case, names of one word or none, addresses
/// equal but for case and blanks, halves of a minor unit, a large amount. Every value is given
/// (no default that depends on the clock), so that two seeded databases hold the same rows.
const ROWS: &[&str] = &[
    "INSERT INTO users (id, email, display_name, created_at) VALUES \
     (1, 'owner@example.com', 'Owner', '2026-01-01 00:00:00')",
    "INSERT INTO companies (id, name, created_at) VALUES (1, 'Engines', '2026-01-01 00:00:00')",
    "INSERT INTO contacts (id, full_name, email, company_id, owner_id) VALUES \
     (1, 'Ada King Lovelace', ' Ada@Example.COM ', 1, 1), \
     (2, 'Plato', 'ada@example.com', NULL, 1), \
     (3, '  Alan   Turing ', 'alan@example.org', 1, 1), \
     (4, 'Grace Hopper', NULL, NULL, 1), \
     (5, 'Joan Clarke', '   ', NULL, 1), \
     (6, '\tAda\u{3000}Byron\u{a0}', 'GRACE@EXAMPLE.ORG', NULL, 1), \
     (7, 'Mary\u{1f}Shelley', 'grace@example.org\t', NULL, 1), \
     (8, 'Zoë Ünïcødé-Smith', '\u{3000}Zoë@Example.com\u{a0}', NULL, 1), \
     (9, 'Σωκράτης', 'ΟΔΥΣΣΕΥΣ@EXAMPLE.COM', NULL, 1), \
     (10, '', ' \u{1f}bob@example.com ', NULL, 1), \
     (11, '   ', 'İSTANBUL@example.com', NULL, 1), \
     (12, 'Jean-Paul  Sartre', 'ADA@EXAMPLE.COM', NULL, 1)",
    "INSERT INTO deals (contact_id, title, amount, currency_code, deal_type) VALUES \
     (1, 'engine', 1234.56, 'EUR', 'upsell'), \
     (2, 'republic', 999, 'JPY', 'new_business'), \
     (3, 'bombe', 0.1, 'USD', 'upsell'), \
     (4, 'compiler', 19.99, 'USD', 'renewal'), \
     (5, 'half a cent', 0.005, 'EUR', 'upsell'), \
     (6, 'a cent and a half', 0.015, 'EUR', 'renewal'), \
     (7, 'two cents and a half', 0.025, 'EUR', 'new_business'), \
     (8, 'just under a half', 1.005, 'EUR', 'upsell'), \
     (9, 'a half exactly', 2.675, 'USD', 'renewal'), \
     (10, 'half a yen', 0.5, 'JPY', 'upsell'), \
     (11, 'two yen and a half', 2.5, 'JPY', 'new_business'), \
     (12, 'large', 12345678901234.56, 'EUR', 'renewal'), \
     (1, 'nothing', 0, 'USD', 'upsell')",
];

/// True if python3 runs here (with pip, if `pip`); else says why (a failure under CI).
fn python_here(pip: bool) -> bool {
    let args: &[&str] = if pip {
        &["-m", "pip", "--version"]
    } else {
        &["--version"]
    };
    let found = Command::new("python3")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let what = if pip { "python3 with pip" } else { "python3" };
        assert!(
            !required(),
            "{what} is needed under CI for the Python examples"
        );
        eprintln!("skipping the Python example tests: {what} is not on this machine");
    }
    found
}

/// The demo with both example revisions, its transforms taken from `folder`.
fn project(folder: &str) -> Project {
    let project = Project::demo();
    let transforms = workspace_root().join(folder);
    std::fs::write(
        project.dir.path().join("runner.toml"),
        format!("transforms = {:?}\n", transforms.display().to_string()),
    )
    .expect("runner.toml");
    for file in EXAMPLE_REVISIONS {
        let source = workspace_root().join("examples/revisions").join(file);
        std::fs::copy(&source, project.versions().join(file)).expect("copy example revision");
    }
    project
}

/// Builds the project's transforms; false (skipping) where PyPI cannot be reached off CI.
///
/// Building the four ports takes minutes (componentize-py, then wasmtime compiles each to ask
/// its `info`). With the lock of the last run, runner keeps each module whose sources and wasm
/// have not changed since, as in a project that commits its lock.
fn built(project: &Project) -> bool {
    let lock = project.dir.path().join("migrations/transforms.lock");
    let kept = transforms_target_dir().join("python-examples.lock");
    if kept.exists() {
        std::fs::copy(&kept, &lock).expect("copy the kept lock");
    }
    let output = project
        .runner(None)
        .arg("build")
        .output()
        .expect("runner build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        std::fs::create_dir_all(transforms_target_dir()).expect("target folder");
        std::fs::copy(&lock, &kept).expect("keep the lock");
        return true;
    }
    if stderr.contains("pip could not install") && !required() {
        eprintln!("skipping the Python example tests: {stderr}");
        return false;
    }
    panic!("runner build failed:\n{stderr}");
}

/// `test_db` (new and empty) with `project` at [`BEFORE_TRANSFORMS`] and [`ROWS`] in it.
async fn seeded(test_db: TestDb, project: &Project) -> TestDb {
    let dialect = test_db.dialect;
    project.ok(Some(&test_db.url_arg()), &["upgrade", BEFORE_TRANSFORMS]);
    let mut db = test_db.connect().await;
    for sql in ROWS {
        db.execute_script(sql)
            .await
            .unwrap_or_else(|e| panic!("{dialect}: {sql}: {e}"));
    }
    db.close().await.ok();
    test_db
}

/// What a run printed of its transforms' messages (`    info: ...`), in order.
fn messages(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| {
            ["    debug: ", "    info: ", "    warn: ", "    error: "]
                .iter()
                .any(|label| line.starts_with(label))
        })
        .map(str::to_string)
        .collect()
}

/// One side of the comparison: a language's project and its database.
struct Side<'a> {
    project: &'a Project,
    db: TestDb,
}

impl Side<'_> {
    /// Runs the CLI on this side's database: its exit code and its stderr.
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let output = self
            .project
            .runner(Some(&self.db.url_arg()))
            .args(args)
            .output()
            .expect("runner");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn dump(&self) -> String {
        let mut db = self.db.connect().await;
        let text = dump(&mut db).await;
        db.close().await.ok();
        text
    }
}

/// Runs `args` on both sides: the same exit code (`code`), the same messages, the same
/// database after.
async fn same(rust: &Side<'_>, python: &Side<'_>, args: &[&str], code: i32) -> String {
    let dialect = rust.db.dialect;
    let (rust_code, rust_err) = rust.run(args);
    let (python_code, python_err) = python.run(args);
    assert_eq!(
        rust_code,
        Some(code),
        "{dialect}: runner {args:?} with the Rust transforms:\n{rust_err}"
    );
    assert_eq!(
        python_code,
        Some(code),
        "{dialect}: runner {args:?} with the Python transforms:\n{python_err}"
    );
    assert_eq!(
        messages(&rust_err),
        messages(&python_err),
        "{dialect}: runner {args:?}: the transforms' messages differ"
    );
    same_dump(rust, python, &format!("after runner {args:?}")).await;
    python_err
}

/// Asserts that both databases hold the same schema and rows; else shows the lines that differ.
async fn same_dump(rust: &Side<'_>, python: &Side<'_>, when: &str) {
    let (rust_dump, python_dump) = (rust.dump().await, python.dump().await);
    if rust_dump == python_dump {
        return;
    }
    let differ: Vec<String> = rust_dump
        .lines()
        .zip(python_dump.lines())
        .filter(|(r, p)| r != p)
        .take(20)
        .map(|(r, p)| format!("- Rust:   {r}\n+ Python: {p}"))
        .collect();
    panic!(
        "{}: {when}, the databases differ ({} lines with Rust, {} with Python):\n{}",
        rust.db.dialect,
        rust_dump.lines().count(),
        python_dump.lines().count(),
        differ.join("\n")
    );
}

#[tokio::test]
async fn the_python_examples_leave_every_database_as_the_rust_examples_do() {
    if !python_here(true) {
        return;
    }
    let python_project = project("examples/transforms-python");
    if !built(&python_project) {
        return;
    }
    let rust_project = project("examples/transforms");
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let second = TestDb::new(dialect).await.expect("a second database");
        let rust = Side {
            db: seeded(test_db, &rust_project).await,
            project: &rust_project,
        };
        let python = Side {
            db: seeded(second, &python_project).await,
            project: &python_project,
        };
        same_dump(&rust, &python, "seeded").await;

        // split_names, money_to_cents and normalize_emails up, then down again.
        let up = same(&rust, &python, &["upgrade", NORMALIZE_EMAILS], 0).await;
        for line in [
            "    info: split 12 names",
            "    info: 10 contacts share 7 addresses",
        ] {
            assert!(up.contains(line), "{dialect}: expected {line:?} in:\n{up}");
        }
        same(&rust, &python, &["downgrade", BEFORE_TRANSFORMS], 0).await;

        // Both heads: remap_deal_type too, which has no `down`, so the downgrade past it is
        // refused before it starts, on both sides alike.
        same(&rust, &python, &["upgrade"], 0).await;
        let refused = same(&rust, &python, &["downgrade", BEFORE_TRANSFORMS], 2).await;
        assert!(
            refused.contains(
                "revision e8f2b5d0c3a1 cannot be downgraded: transform remap_deal_type has no `down`"
            ),
            "{dialect}: {refused}"
        );
    }
}

#[test]
fn the_python_examples_pass_their_unit_tests() {
    python_unit_tests_pass("examples/transforms-python");
}

/// The Python SDK's own unit tests (guest-sdk/python/test_runner_transform.py): cursors,
/// batches and backfill as a transform sees them.
#[test]
fn the_python_sdk_passes_its_unit_tests() {
    python_unit_tests_pass("guest-sdk/python");
}

/// `python3 -m unittest discover` in `folder` (relative to the workspace) passes.
fn python_unit_tests_pass(folder: &str) {
    if !python_here(false) {
        return;
    }
    let output = Command::new("python3")
        .current_dir(workspace_root())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "unittest", "discover", "-s", folder, "-v"])
        .output()
        .expect("python3 -m unittest");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{folder}: {stderr}");
    assert!(stderr.contains("OK"), "{folder}: {stderr}");
}
