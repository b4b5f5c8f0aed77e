//! `upgrade --sql`: the demo's script, written without a database and fed to each database's
//! own client (`sqlite3`, `psql`, `mariadb`) on an empty database, gives the schema and the
//! version table `runner upgrade` gives; a database it migrated is one `runner upgrade` finds
//! up to date. Transforms are comments, and make the command exit 1 unless skipped.

use std::io::Write as _;
use std::process::{Command, Stdio};

use runner::db::Db;
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb};

/// The command-line client of `dialect`.
fn client(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite3",
        Dialect::Postgres => "psql",
        Dialect::Mysql => "mariadb",
    }
}

/// True if `dialect`'s client is installed; when it is not, says so and the test skips that
/// database, unless RUNNER_REQUIRE_DBS=1 (CI), where it fails.
fn client_installed(dialect: Dialect) -> bool {
    let found = Command::new(client(dialect))
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("RUNNER_REQUIRE_DBS").map_or(true, |v| v != "1"),
            "{} is not installed, and RUNNER_REQUIRE_DBS=1",
            client(dialect)
        );
        eprintln!(
            "skipping {dialect}: its client {} is not installed",
            client(dialect)
        );
    }
    found
}

/// Runs `script` with the database's own command-line client; panics with its output if the
/// client fails.
fn feed(test_db: &TestDb, script: &str) {
    let url = &test_db.url;
    let mut command = match test_db.dialect {
        Dialect::Sqlite => {
            let mut c = Command::new(client(Dialect::Sqlite));
            c.args(["-bail"])
                .arg(url.sqlite_path().expect("a SQLite file"));
            c
        }
        Dialect::Postgres => {
            let mut c = Command::new(client(Dialect::Postgres));
            c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url.secret()]);
            c
        }
        Dialect::Mysql => {
            let mut c = Command::new(client(Dialect::Mysql));
            let parsed = url::Url::parse(url.secret()).expect("a MySQL URL");
            c.arg(format!(
                "--host={}",
                parsed.host_str().unwrap_or("127.0.0.1")
            ))
            .arg(format!("--port={}", parsed.port().unwrap_or(3306)))
            .arg(format!("--user={}", parsed.username()))
            .arg(url.database_name().expect("a database name"));
            if let Some(password) = parsed.password() {
                c.arg(format!("--password={password}"));
            }
            c
        }
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{:?}: {e}", command.get_program()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the script");
    let out = child.wait_with_output().expect("client");
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        command.get_program(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The schema (runner's tables aside), the version table's rows, and the history's
/// (revision, direction, status, checksum, steps) rows, in order.
async fn state(db: &mut Db) -> (String, Vec<String>, Vec<String>) {
    let schema = runner::db::introspect::introspect(db)
        .await
        .expect("introspect");
    let heads = runner::version_table::heads(db).await.expect("heads");
    let history = runner::version_table::history(db, None)
        .await
        .expect("history")
        .into_iter()
        .map(|h| {
            format!(
                "{} {} {:?} {:?} {}/{}",
                h.revision, h.direction, h.status, h.checksum, h.steps_applied, h.steps_total
            )
        })
        .collect();
    (format!("{:#?}", schema.normalized()), heads, history)
}

/// Upgrades `live` with the demo (which builds the transforms and records their hashes in the
/// lock, for the checksums the script records), then writes the demo's script for `dialect`
/// from base with no database at all: the range says where to start.
fn upgraded_and_scripted(demo: &Project, live: &TestDb, dialect: Dialect) -> String {
    demo.runner(Some(&live.url_arg()))
        .arg("upgrade")
        .assert()
        .success();
    let out = demo
        .runner(None)
        .args([
            "upgrade",
            "--sql",
            "base:heads",
            "--dialect",
            dialect.name(),
        ])
        .arg("--skip-transforms")
        .output()
        .expect("upgrade --sql");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn the_demo_script_builds_what_upgrade_builds_on_every_database() {
    let demo = Project::demo();
    for dialect in Dialect::ALL {
        if !client_installed(dialect) {
            continue;
        }
        let (Some(live), Some(scripted)) = (TestDb::new(dialect).await, TestDb::new(dialect).await)
        else {
            continue;
        };
        let script = upgraded_and_scripted(&demo, &live, dialect);
        assert!(
            script.contains("-- transform split_names (up) in the sandbox"),
            "{script}"
        );
        feed(&scripted, &script);

        let mut a = live.connect().await;
        let mut b = scripted.connect().await;
        let (live_state, scripted_state) = (state(&mut a).await, state(&mut b).await);
        a.close().await.expect("close");
        b.close().await.expect("close");
        assert_eq!(live_state.0, scripted_state.0, "{dialect}: schema");
        assert_eq!(live_state.1, scripted_state.1, "{dialect}: runner_version");
        assert_eq!(live_state.2, scripted_state.2, "{dialect}: runner_history");
        // The scripted database is up to date to runner: same checksums, nothing to apply.
        demo.runner(Some(&scripted.url_arg()))
            .arg("upgrade")
            .assert()
            .success()
            .stdout(predicates::str::contains("nothing to do"));
    }
}

#[tokio::test]
async fn transforms_left_out_exit_1_and_a_single_target_starts_where_the_database_is() {
    let demo = Project::demo();
    let test_db = TestDb::new(Dialect::Sqlite).await.expect("sqlite");
    let url = test_db.url_arg();
    demo.runner(Some(&url))
        .args(["upgrade", "e1c6f20d8b37"])
        .assert()
        .success();
    let mut db = test_db.connect().await;
    let before = runner_integration_tests::dump(&mut db).await;
    db.close().await.expect("close");
    let out = demo
        .runner(Some(&url))
        .args(["upgrade", "--sql"])
        .output()
        .expect("upgrade --sql");
    assert_eq!(out.status.code(), Some(1));
    let script = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the script leaves out 2 transform step(s)")
            && stderr.contains("9c3e5a7b1d24 step 1: split_names (up)")
            && stderr.contains("--skip-transforms"),
        "{stderr}"
    );
    // Only what the database has not applied, in order; for the URL's database.
    let revisions: Vec<&str> = script
        .lines()
        .filter_map(|l| l.strip_prefix("-- upgrade "))
        .map(|l| &l[..12])
        .collect();
    assert_eq!(revisions, ["7ab4d9e2c610", "9c3e5a7b1d24", "b5f08d2e6a91"]);
    assert!(script.contains("for sqlite"), "{script}");
    // Reading where the database is changed nothing.
    let mut db = test_db.connect().await;
    assert_eq!(runner_integration_tests::dump(&mut db).await, before);
    db.close().await.expect("close");

    // Bad input is exit 2, and reads nothing.
    for args in [
        &[
            "upgrade",
            "--sql",
            "abcdef999999:heads",
            "--dialect",
            "sqlite",
        ][..],
        &[
            "upgrade",
            "--sql",
            "base:nosuchlabel@head",
            "--dialect",
            "sqlite",
        ],
        &["upgrade", "--dialect", "sqlite"],
        &["upgrade", "--sql", "--resume"],
    ] {
        let out = demo.runner(None).args(args).output().expect("runner");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }

    // A downgrade through a transform without `down` is refused, as a run refuses it.
    let lock_path = demo.dir.path().join("migrations/transforms.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("lock");
    let start = lock.find("[modules.split_names]").expect("split_names");
    let mut edited = lock.clone();
    let at = start + lock[start..].find("has_down = true").expect("has_down");
    edited.replace_range(at..at + "has_down = true".len(), "has_down = false");
    std::fs::write(&lock_path, edited).expect("edit lock");
    let out = demo
        .runner(None)
        .args(["downgrade", "--sql", "heads:base", "--dialect", "sqlite"])
        .arg("--skip-transforms")
        .output()
        .expect("downgrade --sql");
    // Refused before anything is written: bad input, as a live run's refusal is.
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "revision 9c3e5a7b1d24 cannot be downgraded: transform split_names has no `down`"
        ),
        "{stderr}"
    );
    std::fs::write(&lock_path, lock).expect("restore lock");

    // A downgrade script reverses the range, and JSON carries the script.
    let out = demo
        .runner(None)
        .args([
            "--format",
            "json",
            "downgrade",
            "--sql",
            "heads:c47e09b3f812",
        ])
        .args(["--dialect", "postgres", "--skip-transforms"])
        .output()
        .expect("downgrade --sql");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["direction"], "down");
    assert_eq!(json["dialect"], "postgres");
    assert_eq!(json["revisions"][0], "b5f08d2e6a91");
    assert!(
        json["script"].as_str().is_some_and(
            |s| s.contains("DELETE FROM runner_version WHERE revision = 'b5f08d2e6a91'")
        ),
        "{json}"
    );
}

/// On MySQL each step commits as it runs, and so does a script's: one that dies half way (here:
/// cut after a revision's second step) leaves a history row saying how far it got, which
/// `current` reports and `upgrade --resume` finishes from, as after a live run.
#[tokio::test]
async fn a_mysql_script_that_stops_half_way_is_resumed_like_a_run() {
    let demo = Project::demo();
    if !client_installed(Dialect::Mysql) {
        return;
    }
    let (Some(live), Some(scripted)) = (
        TestDb::new(Dialect::Mysql).await,
        TestDb::new(Dialect::Mysql).await,
    ) else {
        return;
    };
    let script = upgraded_and_scripted(&demo, &live, Dialect::Mysql);
    let revision = script
        .find("-- upgrade b5f08d2e6a91")
        .expect("the revision in the script");
    let cut = revision
        + script[revision..]
            .find("-- step 3 of 5")
            .expect("its third step");
    feed(&scripted, &script[..cut]);
    let url = scripted.url_arg();
    demo.runner(Some(&url))
        .arg("current")
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "blocked: revision b5f08d2e6a91 is half applied",
        ))
        .stdout(predicates::str::contains("stopped after step 2 of 5"));
    demo.runner(Some(&url))
        .args(["upgrade", "--resume"])
        .assert()
        .success();
    let mut a = live.connect().await;
    let mut b = scripted.connect().await;
    let (live_state, resumed) = (state(&mut a).await, state(&mut b).await);
    a.close().await.expect("close");
    b.close().await.expect("close");
    assert_eq!(live_state.0, resumed.0, "schema");
    assert_eq!(live_state.1, resumed.1, "runner_version");
}
