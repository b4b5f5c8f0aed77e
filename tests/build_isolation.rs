//! Building a transform runs its build script and proc macros natively, outside the sandbox:
//! cargo must get a cleared environment (no `DATABASE_URL`, no credentials), and
//! `--no-build` must run only the prebuilt modules `transforms.lock` vouches for, without cargo.

use std::path::PathBuf;

use predicates::prelude::*;
use runner::db::{ConnectOptions, Db};
use runner_integration_tests::{Project, dump};

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

const BASE: &str = "revision: aaaa00000001
parents: []
message: deals
upgrade:
  - create_table:
      table: deals
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: title, type: string(100), nullable: false}
  - sql:
      up: \"INSERT INTO deals (id, title) VALUES (1, 'first'), (2, 'second')\"
      down: \"DELETE FROM deals\"
";

const ROUNDTRIP: &str = "revision: bbbb00000002
parents: [aaaa00000001]
message: round trip
upgrade:
  - transform: {module: roundtrip, writes: [deals], args: {table: deals}}
";

/// What a deploy job gets from a build job: a project with the `roundtrip` module's `.wasm`
/// and the `transforms.lock` that `runner build` wrote, and no transform sources at all.
fn deployed() -> (Project, String) {
    let build = Project::with_test_transforms();
    build.runner(None).arg("build").assert().success();
    let built = runner::transforms::Project::new(&build.config());
    let deploy = Project::new();
    std::fs::write(deploy.dir.path().join("runner.toml"), "# defaults\n").unwrap();
    let shipped = runner::transforms::Project::new(&deploy.config());
    std::fs::create_dir_all(shipped.wasm_path("roundtrip").parent().unwrap()).unwrap();
    std::fs::copy(built.wasm_path("roundtrip"), shipped.wasm_path("roundtrip")).unwrap();
    std::fs::copy(&built.lock_path, &shipped.lock_path).unwrap();
    deploy.write("aaaa00000001_deals.yaml", BASE);
    let url = format!("sqlite://{}", deploy.dir.path().join("app.db").display());
    (deploy, url)
}

fn sqlite_file(url: &str) -> PathBuf {
    PathBuf::from(url.trim_start_matches("sqlite://"))
}

/// The schema, the rows, the version table and runner_history, as text.
async fn snapshot(url: &str) -> String {
    let mut db = Db::connect(&url.parse().unwrap(), &ConnectOptions::default())
        .await
        .unwrap();
    let mut text = dump(&mut db).await;
    let history = db
        .query(
            "SELECT revision, direction, status FROM runner_history ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    text.push_str(&format!("{:?}", history.rows));
    db.close().await.unwrap();
    text
}

#[tokio::test]
async fn no_build_runs_prebuilt_modules_that_match_the_lock_without_a_toolchain() {
    let (deploy, url) = deployed();
    deploy.write("bbbb00000002_roundtrip.yaml", ROUNDTRIP);
    // No cargo on PATH: the run cannot have built anything.
    deploy
        .runner(Some(&url))
        .env("PATH", "")
        .args(["upgrade", "--no-build"])
        .assert()
        .success()
        .stdout(predicate::str::contains("upgraded 2 revision(s)"));
    let history = snapshot(&url).await;
    assert!(
        history.contains(r#"[Text("bbbb00000002"), Text("up"), Text("applied")]"#),
        "{history}"
    );
}

#[tokio::test]
async fn no_build_refuses_a_module_whose_wasm_is_not_the_locked_one_and_changes_nothing() {
    let (deploy, url) = deployed();
    deploy.write("bbbb00000002_roundtrip.yaml", ROUNDTRIP);
    deploy
        .runner(Some(&url))
        .args(["upgrade", "--no-build"])
        .assert()
        .success();
    let wasm = runner::transforms::Project::new(&deploy.config()).wasm_path("roundtrip");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wasm, bytes).unwrap();
    deploy.write(
        "cccc00000003_again.yaml",
        "revision: cccc00000003\nparents: [bbbb00000002]\nupgrade:\n  - transform: {module: roundtrip, writes: [deals], args: {table: deals}}\n",
    );
    let before = snapshot(&url).await;
    for args in [["upgrade", "--no-build"], ["downgrade", "--no-build"]] {
        let mut command = deploy.runner(Some(&url));
        command.args(args);
        if args[0] == "downgrade" {
            command.arg("aaaa00000001");
        }
        command
            .assert()
            .code(2)
            .stderr(predicate::str::contains("transform module 'roundtrip' ("))
            .stderr(predicate::str::contains("does not match transforms.lock"))
            .stderr(predicate::str::contains(
                "run `runner build` where the sources are trusted",
            ));
        assert_eq!(
            before,
            snapshot(&url).await,
            "{args:?} changed the database"
        );
    }
}

#[tokio::test]
async fn no_build_without_a_lock_exits_2_and_changes_nothing() {
    let (deploy, url) = deployed();
    deploy.runner(Some(&url)).arg("upgrade").assert().success();
    let before = snapshot(&url).await;
    let lock = deploy.config().transforms_lock();
    std::fs::remove_file(&lock).unwrap();
    deploy.write("bbbb00000002_roundtrip.yaml", ROUNDTRIP);
    deploy
        .runner(Some(&url))
        .args(["upgrade", "--no-build"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "transform module 'roundtrip' cannot be verified: migrations/transforms.lock does not exist; --no-build runs only prebuilt modules that match transforms.lock: run `runner build` where the sources are trusted",
        ));
    assert_eq!(before, snapshot(&url).await, "the database changed");
}

#[tokio::test]
async fn no_build_refuses_a_module_older_than_its_source_instead_of_building_it() {
    let project = Project::with_test_transforms();
    project.write("aaaa00000001_deals.yaml", BASE);
    project.write("bbbb00000002_roundtrip.yaml", ROUNDTRIP);
    project.runner(None).arg("build").assert().success();
    // As if the crate had been edited since `runner build` wrote the lock.
    let lock_path = project.config().transforms_lock();
    let mut lock = runner::transforms::Lock::read(&lock_path).unwrap();
    let entry = lock.modules.get_mut("roundtrip").unwrap();
    let source = std::mem::replace(&mut entry.source, "0".repeat(64));
    entry.files = Some("0".repeat(64));
    lock.write(&lock_path).unwrap();
    let stale = std::fs::read_to_string(&lock_path).unwrap();
    let url = format!("sqlite://{}", project.dir.path().join("app.db").display());
    project
        .runner(Some(&url))
        .args(["upgrade", "--no-build"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "transform module 'roundtrip' is older than its source; --no-build runs only prebuilt modules",
        ));
    assert_eq!(
        std::fs::read_to_string(&lock_path).unwrap(),
        stale,
        "--no-build rebuilt the module"
    );
    assert!(!sqlite_file(&url).exists(), "the database was created");
    // Without the flag the same run builds it (so the refusal above was the flag's doing).
    project.runner(Some(&url)).arg("upgrade").assert().success();
    let rebuilt = runner::transforms::Lock::read(&lock_path).unwrap();
    assert_eq!(rebuilt.modules["roundtrip"].source, source);
}
