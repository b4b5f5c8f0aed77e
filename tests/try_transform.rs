//! `runner try-transform`: on every database, trying a transform step of the demo on seeded
//! rows leaves the database as it was (schema, rows, runner's own tables, PostgreSQL's
//! sequences), reports the rows the step wrote per table, which the real upgrade then writes
//! too, and shows a sample of the rows it changed. Whether the revision's parents are pending
//! (the copy is upgraded first), applied (the revision's earlier steps run on the copy), or the
//! revision itself is applied (the step runs on the data as it is). A module no revision runs
//! is bad input, with the name it was probably meant to be.

use runner::db::Db;
use runner::dialect_kind::Dialect;
use runner_integration_tests::{Project, TestDb, count, dump, history, seeded_demo};
use serde_json::Value;

/// Everything try-transform must leave as it found it.
async fn full_dump(db: &mut Db) -> String {
    let mut out = dump(db).await;
    out.push_str(&format!("{:?}\n", history(db).await.rows));
    if db.dialect() == Dialect::Postgres {
        let sequences = db
            .query(
                "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1",
                &[],
            )
            .await
            .expect("sequences");
        out.push_str(&format!("{:?}\n", sequences.rows));
    }
    out
}

/// Runs the CLI against `test_db`: exit code, stdout, stderr.
fn runner(project: &Project, test_db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let out = project
        .runner(Some(&test_db.url_arg()))
        .args(args)
        .output()
        .expect("runner");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `try-transform` under `--format json`, which must succeed: its report.
fn try_json(project: &Project, test_db: &TestDb, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json", "try-transform"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = runner(project, test_db, &all);
    assert_eq!(code, 0, "{}: {stdout}\n{stderr}", test_db.dialect);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Asserts the database is as `before` says.
async fn unchanged(test_db: &TestDb, before: &str, what: &str) {
    let mut db = test_db.connect().await;
    assert_eq!(
        full_dump(&mut db).await,
        before,
        "{}: {what} changed the database",
        test_db.dialect
    );
    db.close().await.ok();
}

#[tokio::test]
async fn trying_a_transform_changes_nothing_and_reports_what_the_upgrade_writes() {
    let project = Project::demo();
    for dialect in Dialect::ALL {
        let Some(_) = TestDb::new(dialect).await else {
            continue;
        };
        let test_db = seeded_demo(dialect, &project).await;
        let mut db = test_db.connect().await;
        let before = full_dump(&mut db).await;
        db.close().await.ok();

        // A typo: bad input, with the name meant.
        let (code, _, stderr) = runner(&project, &test_db, &["try-transform", "split_nams"]);
        assert_eq!(code, 2, "{dialect}: {stderr}");
        assert!(
            stderr.contains("did you mean 'split_names'?"),
            "{dialect}: {stderr}"
        );
        // A revision that runs no such step: bad input, at the revision's file.
        let (code, _, stderr) = runner(
            &project,
            &test_db,
            &["try-transform", "split_names", "--revision", "b5f08d2e6a91"],
        );
        assert_eq!(code, 2, "{dialect}: {stderr}");
        assert!(
            stderr.contains("b5f08d2e6a91_amounts_in_cents.yaml:1:")
                && stderr.contains("has no `transform` step for module 'split_names'"),
            "{dialect}: {stderr}"
        );

        // split_names, whose revision's parents are not applied: the copy is upgraded first.
        let report = try_json(&project, &test_db, &["split_names"]);
        assert_eq!(report["revision"], "9c3e5a7b1d24", "{dialect}");
        assert_eq!(report["step"], 1, "{dialect}");
        assert_eq!(report["revision_applied"], false, "{dialect}");
        assert!(
            report["at"]
                .as_str()
                .is_some_and(|at| at.ends_with("9c3e5a7b1d24_split_contact_names.yaml:10:5")),
            "{dialect}: {report:#}"
        );
        let prepared: Vec<&str> = report["prepared"]
            .as_array()
            .expect("prepared")
            .iter()
            .filter_map(|r| r["revision"].as_str())
            .collect();
        assert!(
            prepared.contains(&"7ab4d9e2c610") && prepared.last() == Some(&"9c3e5a7b1d24"),
            "{dialect}: {prepared:?}"
        );
        let names_written = report["transform"]["rows_written"]["contacts"]
            .as_u64()
            .unwrap_or_else(|| panic!("{dialect}: {report:#}"));
        let sample = &report["samples"][0];
        assert_eq!(sample["table"], "contacts", "{dialect}");
        assert_eq!(sample["changed"], 5, "{dialect}: {sample:#}");
        let first = &sample["rows"][0];
        assert_eq!(first["change"], "updated", "{dialect}: {first:#}");
        assert_eq!(first["key"]["id"], 1, "{dialect}: {first:#}");
        assert!(
            first["columns"].as_array().is_some_and(|columns| {
                columns.iter().any(|c| {
                    c["column"] == "first_name" && c["before"].is_null() && c["after"] == "Charles"
                })
            }),
            "{dialect}: {first:#}"
        );
        unchanged(&test_db, &before, "try-transform split_names").await;

        // The text report: the counts, the sample, and that nothing changed.
        let (code, stdout, stderr) = runner(&project, &test_db, &["try-transform", "split_names"]);
        assert_eq!(code, 0, "{dialect}: {stderr}");
        for expected in [
            "try-transform split_names: step 1 of 2 of revision 9c3e5a7b1d24",
            &format!("  contacts: read 6, wrote {names_written}"),
            "contacts: 5 row(s) changed",
            "  id=1: first_name NULL -> \"Charles\", last_name NULL -> \"Babbage\"",
            "nothing was changed in ",
        ] {
            assert!(stdout.contains(expected), "{dialect}: {expected}\n{stdout}");
        }
        unchanged(&test_db, &before, "try-transform split_names (text)").await;

        // The real upgrade writes what the try counted.
        let (code, _, stderr) = runner(&project, &test_db, &["upgrade", "9c3e5a7b1d24"]);
        assert_eq!(code, 0, "{dialect}: {stderr}");
        let mut db = test_db.connect().await;
        let names = count(
            &mut db,
            "SELECT COUNT(*) FROM contacts WHERE first_name IS NOT NULL",
        )
        .await;
        assert_eq!(names_written, names as u64, "{dialect}");
        assert_eq!(names, 5, "{dialect}");
        let before = full_dump(&mut db).await;
        db.close().await.ok();

        // money_to_cents, whose revision's parents are applied: its first step (the new
        // column) runs on the copy before it.
        let report = try_json(&project, &test_db, &["money_to_cents"]);
        assert_eq!(report["revision"], "b5f08d2e6a91", "{dialect}");
        assert_eq!(report["step"], 2, "{dialect}");
        let prepared = report["prepared"].as_array().expect("prepared");
        assert_eq!(prepared.len(), 1, "{dialect}: {report:#}");
        assert_eq!(
            prepared[0]["steps"][0]["describe"], "add_column deals.amount_cents",
            "{dialect}"
        );
        let cents_written = report["transform"]["rows_written"]["deals"]
            .as_u64()
            .unwrap_or_else(|| panic!("{dialect}: {report:#}"));
        assert_eq!(
            report["transform"]["rows_read"]["currencies"], 3,
            "{dialect}"
        );
        let sample = &report["samples"][0];
        assert_eq!(sample["table"], "deals", "{dialect}");
        assert_eq!(sample["changed"], 4, "{dialect}: {sample:#}");
        assert_eq!(sample["rows"][0]["columns"][0]["column"], "amount_cents");
        assert_eq!(sample["rows"][0]["columns"][0]["before"], 0, "{dialect}");
        assert_eq!(
            sample["rows"][0]["columns"][0]["after"], 123450,
            "{dialect}"
        );
        unchanged(&test_db, &before, "try-transform money_to_cents").await;

        let (code, _, stderr) = runner(&project, &test_db, &["upgrade", "b5f08d2e6a91"]);
        assert_eq!(code, 0, "{dialect}: {stderr}");
        let mut db = test_db.connect().await;
        let cents = count(
            &mut db,
            "SELECT COUNT(*) FROM deals WHERE amount_cents <> 0",
        )
        .await;
        assert_eq!(cents_written, cents as u64, "{dialect}");
        assert_eq!(cents, 4, "{dialect}");
        let before = full_dump(&mut db).await;
        db.close().await.ok();

        // The revision applied: the step runs on the data as it is, where `amount` is gone,
        // and fails (exit 1) with the sandbox's message; still nothing changes.
        let (code, stdout, stderr) =
            runner(&project, &test_db, &["try-transform", "money_to_cents"]);
        assert_eq!(code, 1, "{dialect}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("revision b5f08d2e6a91 is applied"),
            "{dialect}: {stdout}"
        );
        assert!(
            stderr.contains("try-transform money_to_cents stopped; nothing was changed in")
                && stderr.contains("transform money_to_cents:")
                && stderr.contains("b5f08d2e6a91_amounts_in_cents.yaml:11:5"),
            "{dialect}: {stderr}"
        );
        unchanged(&test_db, &before, "a failed try-transform").await;
    }
}
