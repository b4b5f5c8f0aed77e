//! Building a transform runs its build script and proc macros natively, outside the sandbox:
//! cargo must get a cleared environment (no `DATABASE_URL`, no credentials), and
//! `--no-build` must run only the prebuilt modules `transforms.lock` vouches for, without cargo.

use predicates::prelude::*;
use runner_integration_tests::Project;

/// A build script that fails the build if it can see any of the variables a build must not
/// see, and tells the crate it ran (so that a build that skipped it does not pass either).
const PROBE_BUILD_SCRIPT: &str = r#"fn main() {
    for name in ["DATABASE_URL", "RUNNER_TEST_SECRET", "CARGO_REGISTRY_TOKEN", "CARGO_REGISTRIES_PRIVATE_TOKEN"] {
        if std::env::var_os(name).is_some() {
            panic!("the build script can see {name}");
        }
    }
    println!("cargo:rustc-env=PROBE_BUILD_SCRIPT_RAN=yes");
}
"#;

#[test]
fn a_transforms_build_script_sees_neither_the_database_url_nor_credentials() {
    let project = Project::new();
    let app = project.dir.path().join("app");
    let url = format!("sqlite://{}", app.join("app.db").display());
    project
        .runner(None)
        .args(["init", app.to_str().expect("utf-8 temp path")])
        .assert()
        .success();
    project
        .runner(None)
        .current_dir(&app)
        .args(["new-transform", "probe"])
        .assert()
        .success();
    let krate = app.join("migrations/transforms/probe");
    std::fs::write(krate.join("build.rs"), PROBE_BUILD_SCRIPT).unwrap();
    let mut source = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
    source.push_str("\nconst _: &str = env!(\"PROBE_BUILD_SCRIPT_RAN\");\n");
    std::fs::write(krate.join("src/lib.rs"), source).unwrap();
    std::fs::write(
        app.join("migrations/versions/aaaa00000001_probe.yaml"),
        "revision: aaaa00000001\nparents: []\nupgrade:\n  - create_table: {table: notes, columns: [{name: id, type: integer, primary_key: true}]}\n  - transform: {module: probe, reads: [notes]}\n",
    )
    .unwrap();
    // `upgrade` builds the missing module on the way, with the database URL in its own
    // environment: exactly what the build script must not see.
    project
        .runner(Some(&url))
        .current_dir(&app)
        .env("RUNNER_TEST_SECRET", "hunter2")
        .env("CARGO_REGISTRY_TOKEN", "cio-token")
        .env("CARGO_REGISTRIES_PRIVATE_TOKEN", "private-token")
        .arg("upgrade")
        .assert()
        .success()
        .stderr(predicate::str::contains("building transforms"))
        .stderr(predicate::str::contains("info: probe ran (1)"));
}
