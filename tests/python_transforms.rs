//! Python transforms as the docs teach them: scaffolded with `runner new-transform --lang
//! python`, built by runner (which installs componentize-py with pip the first time), run in a
//! revision on every database and undone by their `down`; and hostile Python stopped as
//! hostile Rust is, the database left as it was (see `support/guest_lang.rs`, shared with the
//! JavaScript tests).
//!
//! Without python3 and pip (or PyPI) these tests say why and pass, except under CI (`CI=true`
//! or `RUNNER_REQUIRE_TOOLCHAINS=1`, which .ci/run sets), where that is a failure.

use std::path::Path;

use runner_integration_tests::guest_lang::PYTHON;

#[tokio::test]
async fn the_python_transform_of_the_docs_runs_and_reverts_on_every_database() {
    PYTHON.tutorial_runs_and_reverts_everywhere().await;
}

/// A Python transform that tries what the sandbox must stop, chosen by its `attack` argument.
const HOSTILE: &str = r#"
import os
import socket
import sys
import time

from runner_transform import TransformError, info


def up(db, args):
    db.execute("UPDATE notes SET body = 'changed'")
    attack = args["attack"]
    if attack == "open":
        with open("/etc/passwd") as f:
            info(f.read())
    elif attack == "system":
        os.system("touch /tmp/runner-python-was-here")
    elif attack == "socket":
        socket.create_connection(("127.0.0.1", 5432), timeout=1)
    elif attack == "sleep":
        time.sleep(60)
    elif attack == "memory":
        hoard = []
        while True:
            hoard.append("x" * (1 << 20))
    elif attack == "secret":
        info(str(db.query("SELECT * FROM secret")))
    elif attack == "print":
        # Not an attack: what print writes reaches runner's log, though output is discarded.
        print("print says", 1)
        print("to stderr, unfinished", end="", file=sys.stderr)
        raise TransformError("printed")
    info("the attack did nothing")
"#;

#[tokio::test]
async fn hostile_python_ends_like_hostile_rust_and_changes_nothing() {
    PYTHON
        .attacks_change_nothing(
            HOSTILE,
            &[
                ("open", "No such file or directory"),
                ("system", "module 'os' has no attribute 'system'"),
                ("socket", "socket"),
                ("sleep", "ran out of time"),
                ("memory", "memory"),
                ("secret", "table 'secret' is not declared"),
                ("print", "info: print says 1"),
                ("print", "warn: to stderr, unfinished"),
            ],
        )
        .await;
    assert!(
        !Path::new("/tmp/runner-python-was-here").exists(),
        "a Python transform ran a process"
    );
}

/// docs/testing-transforms.md's Python unit test, on the tutorial's transform in a project
/// made as the docs say, run as the docs say: no build, no database server.
#[test]
fn the_python_unit_test_of_the_docs_passes() {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        assert!(
            !runner_integration_tests::guest_lang::required(),
            "python3 is needed under CI"
        );
        eprintln!("skipping: python3 is not on this machine");
        return;
    }
    let project = runner_integration_tests::Project::new();
    let code = runner_integration_tests::guest_lang::tutorial_blocks("python")
        .into_iter()
        .next()
        .expect("the tutorial's Python transform");
    let app = PYTHON.scaffolded(&project, "split_names", &code);
    let docs = std::fs::read_to_string(
        runner_integration_tests::workspace_root().join("docs/testing-transforms.md"),
    )
    .expect("docs/testing-transforms.md");
    let test = docs
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split_once("```"))
        .map(|(block, _)| block.to_string())
        .expect("the docs' Python test");
    let transforms = app.join("migrations/transforms");
    std::fs::create_dir_all(transforms.join("tests")).expect("tests folder");
    std::fs::write(transforms.join("tests/test_split_names.py"), test).expect("write the test");
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-v"])
        .current_dir(&transforms)
        .env("PYTHONPATH", ".runner/python")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Ran 2 tests") && stderr.contains("OK"),
        "{stderr}"
    );
}
