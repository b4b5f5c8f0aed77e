//! Two people branch from the same head, each with `runner migrate`: once both revisions are
//! in one checkout, `heads` shows both, `upgrade head` refuses and says how to go on, `merge
//! heads` joins them and `check` passes. And `history --graph` draws separate roots apart and
//! shows `depends_on`, while `current` names the effective heads.

use runner_integration_tests::{Project, TestDb};

fn edit_schema(project: &Project, from: &str, to: &str) {
    let path = project.dir.path().join("schema.yaml");
    let text = std::fs::read_to_string(&path).expect("schema.yaml");
    assert!(text.contains(from), "schema.yaml has no {from}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write schema.yaml");
}

const LINKEDIN: (&str, &str) = (
    "      - {name: last_name, type: string(120)}\n",
    "      - {name: last_name, type: string(120)}\n      - {name: linkedin, type: string(200)}\n",
);
const DEAL_NOTE: (&str, &str) = (
    "      - {name: amount_cents, type: bigint, nullable: false, default: 0}\n",
    "      - {name: amount_cents, type: bigint, nullable: false, default: 0}\n      - {name: note, type: text}\n",
);

/// The one revision file `project` has that `before` did not list.
fn new_revision(project: &Project, before: &[std::path::PathBuf]) -> std::path::PathBuf {
    let mut added: Vec<std::path::PathBuf> = std::fs::read_dir(project.versions())
        .expect("versions")
        .map(|e| e.expect("entry").path())
        .filter(|p| !before.iter().any(|b| b.file_name() == p.file_name()))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    added.remove(0)
}

fn files(project: &Project) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(project.versions())
        .expect("versions")
        .map(|e| e.expect("entry").path())
        .collect()
}

#[tokio::test]
async fn two_branches_from_one_head_are_merged_and_check_passes() {
    for test_db in TestDb::all().await {
        let dialect = test_db.dialect;
        let url = test_db.url_arg();
        // Production: the demo at its head.
        let mine = Project::demo();
        mine.ok(Some(&url), &["upgrade"]);
        // Two checkouts, each adding a column with `runner migrate`.
        let theirs = Project::demo();
        let before = files(&mine);
        edit_schema(&mine, LINKEDIN.0, LINKEDIN.1);
        mine.ok(None, &["migrate", "-m", "contact linkedin"]);
        let my_revision = new_revision(&mine, &before);
        edit_schema(&theirs, DEAL_NOTE.0, DEAL_NOTE.1);
        theirs.ok(None, &["migrate", "-m", "deal notes"]);
        let their_revision = new_revision(&theirs, &before);
        for revision in [&my_revision, &their_revision] {
            let text = std::fs::read_to_string(revision).expect("revision");
            assert!(
                text.contains("parents: [b5f08d2e6a91]"),
                "{dialect}: not made from the head:\n{text}"
            );
        }
        // Git merges their branch: their revision file and their schema.yaml change.
        std::fs::copy(
            &their_revision,
            mine.versions()
                .join(their_revision.file_name().expect("name")),
        )
        .expect("copy revision");
        edit_schema(&mine, DEAL_NOTE.0, DEAL_NOTE.1);
        let my_id = &my_revision.file_name().unwrap().to_string_lossy()[..12];
        let their_id = &their_revision.file_name().unwrap().to_string_lossy()[..12];

        let heads = mine.ok(None, &["heads"]);
        assert!(
            heads.contains(my_id) && heads.contains(their_id),
            "{dialect}: {heads}"
        );
        let (code, text) = mine.run(Some(&url), &["upgrade", "head"]);
        assert_eq!(code, 2, "{dialect}: {text}");
        assert!(
            text.contains("there are several heads")
                && text.contains(my_id)
                && text.contains(their_id)
                && text.contains("use 'heads', or join them with `runner merge`"),
            "{dialect}: {text}"
        );
        let (code, text) = mine.run(None, &["check", "--no-build"]);
        assert_eq!(code, 3, "{dialect}: check passes with two heads: {text}");
        assert!(text.contains("the graph has 2 heads"), "{dialect}: {text}");

        let merged = mine.ok(None, &["merge", "heads", "-m", "merge linkedin and notes"]);
        assert!(merged.contains("merge"), "{dialect}: {merged}");
        let heads = mine.ok(None, &["heads"]);
        assert_eq!(heads.lines().count(), 1, "{dialect}: {heads}");
        let check = mine.ok(None, &["check"]);
        assert!(check.contains("check: passed"), "{dialect}: {check}");

        mine.ok(Some(&url), &["upgrade", "head"]);
        let (code, text) = mine.run(Some(&url), &["migrate", "-m", "nothing", "--from-database"]);
        assert_eq!(code, 0, "{dialect}: {text}");
        assert!(
            text.contains("no changes"),
            "{dialect}: the live schema is not schema.yaml's: {text}"
        );
    }
}

fn revision(project: &Project, id: &str, parents: &str, message: &str, depends_on: &str) {
    project.write(
        &format!("{id}_x.yaml"),
        &format!(
            "revision: {id}\nparents: [{parents}]\nmessage: {message}\ndepends_on: [{depends_on}]\nupgrade:\n  - create_table: {{table: t_{id}, columns: [{{name: id, type: integer, primary_key: true}}]}}\n"
        ),
    );
}

#[tokio::test]
async fn history_draws_roots_apart_and_depends_on_and_current_names_effective_heads() {
    let project = Project::new();
    revision(&project, "aaaaaaaaaaa1", "", "root one", "");
    revision(&project, "aaaaaaaaaaa2", "aaaaaaaaaaa1", "a two", "");
    revision(&project, "bbbbbbbbbbb1", "", "root two", "");
    revision(
        &project,
        "bbbbbbbbbbb2",
        "bbbbbbbbbbb1",
        "b two",
        "aaaaaaaaaaa2",
    );
    revision(
        &project,
        "ccccccccccc1",
        "aaaaaaaaaaa2, bbbbbbbbbbb2",
        "merge",
        "",
    );
    revision(&project, "ddddddddddd1", "", "lonely root", "");
    let graph = project.ok(None, &["history", "--graph"]);
    assert_eq!(
        graph,
        "\
o  ddddddddddd1 (head) lonely root

*  ccccccccccc1 (head, merge) merge
|\\
| *  bbbbbbbbbbb2 b two  (depends on aaaaaaaaaaa2)
| o  bbbbbbbbbbb1 root two
|
*  aaaaaaaaaaa2 a two
o  aaaaaaaaaaa1 root one
"
    );
    let dot = project.ok(None, &["history", "--format", "dot"]);
    assert!(
        dot.contains("\"bbbbbbbbbbb2\" -> \"aaaaaaaaaaa2\" [style=dashed];"),
        "{dot}"
    );
    for test_db in TestDb::all().await {
        let url = test_db.url_arg();
        project.ok(Some(&url), &["upgrade", "bbbbbbbbbbb2"]);
        let current = project.ok(Some(&url), &["current"]);
        assert_eq!(
            current,
            "bbbbbbbbbbb2 b two\naaaaaaaaaaa2 (effective head: bbbbbbbbbbb2 depends on it) a two\n",
            "{}",
            test_db.dialect
        );
    }
}
