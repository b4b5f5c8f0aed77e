//! `runner schema`: the schema at a revision, and the live one, printed in `schema.yaml` form
//! that reads back to the same schema, on every database.

use std::collections::HashSet;
use std::path::Path;

use runner::model::compare::comparable;
use runner_integration_tests::{Project, TestDb};

fn printed(project: &Project, url: Option<&str>, args: &[&str]) -> String {
    let out = project
        .runner(url)
        .arg("schema")
        .args(args)
        .output()
        .expect("runner schema");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_schema_at_a_revision_reads_back_as_the_one_the_revisions_build() {
    let project = Project::demo();
    let repo = project.repository();
    for (rev, applied) in [
        (
            None,
            repo.graph.ordered().into_iter().collect::<HashSet<_>>(),
        ),
        (
            Some("8b21d4e0c5a3"),
            repo.graph
                .ancestors(&["8b21d4e0c5a3".to_string()])
                .expect("ancestors"),
        ),
    ] {
        let text = printed(&project, None, rev.as_slice());
        let back = runner::schema_file::parse(Path::new("schema.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .expect("tables");
        let model = repo.schema_of(&applied).expect("model");
        assert_eq!(back.normalized(), model.normalized(), "{text}");
    }
    // At head it is the demo's own schema.yaml.
    let text = printed(&project, None, &[]);
    let declared = runner::schema_file::load(&project.dir.path().join("schema.yaml"))
        .expect("schema.yaml")
        .expect("tables");
    let back = runner::schema_file::parse(Path::new("schema.yaml"), &text)
        .expect("parses")
        .expect("tables");
    assert_eq!(back.normalized(), declared.normalized());
    // A revision that does not exist is bad input.
    let out = project
        .runner(None)
        .args(["schema", "0000deadbeef"])
        .output()
        .expect("runner");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no revision '0000deadbeef'"));
}

#[tokio::test]
async fn the_live_schema_reads_back_as_the_database_holds_it() {
    let project = Project::demo();
    let repo = project.repository();
    let head = repo
        .schema_of(&repo.graph.ordered().into_iter().collect())
        .expect("model");
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        project
            .runner(Some(&test_db.url_arg()))
            .arg("upgrade")
            .assert()
            .success();
        // With the project's schema.yaml the enums keep its names; without one they are named
        // after their column where the database keeps no name (SQLite, MySQL).
        let with_hint = printed(&project, Some(&test_db.url_arg()), &["--from-database"]);
        std::fs::rename(
            project.dir.path().join("schema.yaml"),
            project.dir.path().join("schema.yaml.off"),
        )
        .expect("move schema.yaml");
        let without = printed(&project, Some(&test_db.url_arg()), &["--from-database"]);
        std::fs::rename(
            project.dir.path().join("schema.yaml.off"),
            project.dir.path().join("schema.yaml"),
        )
        .expect("restore schema.yaml");
        assert!(
            with_hint.contains("deal_state: [open, negotiation, won, lost]"),
            "{dialect}: {with_hint}"
        );
        if dialect != runner::dialect_kind::Dialect::Postgres {
            assert!(
                without.contains("deals_state: [open, negotiation, won, lost]"),
                "{dialect}: {without}"
            );
        }
        for text in [&with_hint, &without] {
            let back = runner::schema_file::parse(Path::new("schema.yaml"), text)
                .unwrap_or_else(|e| panic!("{dialect}: {e}\n{text}"))
                .expect("tables");
            assert_eq!(
                comparable(&back, dialect),
                comparable(&head, dialect),
                "{dialect}: {text}"
            );
        }
    }
}
