//! The demo (seeded: `seeded_demo`) killed with SIGKILL at every crash point (`runner::crash`), on every database, in
//! revisions that run in one transaction and in revisions that run step by step (MySQL/MariaDB
//! always, PostgreSQL and SQLite with `transactional: false`). After each death:
//!
//! * a revision that runs in one transaction left the database exactly at a revision
//!   boundary: schema and rows equal a clean run's stopped at the same revisions;
//! * a step-by-step revision is reported half applied by `runner current` (exit 1), its
//!   `runner_history` row says which steps are in, and the live schema is the model's schema
//!   after those steps (or, for a step that commits as it runs and died before its record,
//!   after the next one);
//! * `runner upgrade` either finishes or refuses with a message naming `--resume`; following
//!   it ends with schema and rows equal to a clean run's, so no transform ran twice.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use runner::db::Db;
use runner::db::introspect::introspect;
use runner::dialect_kind::Dialect;
use runner::model::compare::comparable;
use runner::plan;
use runner::version_table::{self, Direction};
use runner_integration_tests::{Project, SEEDED_AT, TestDb, dump, seeded_demo};

/// How the demo's revisions run in a variant of the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// As written: `transactional: true`.
    AsWritten,
    /// Every revision `transactional: false`: each step commits on its own.
    StepByStep,
}

/// A revision on top of the demo whose steps are several statements on MySQL: a value
/// renamed in an enum columns use (widen, move the rows, narrow) and a type change computed
/// with `using` (staging column, fill, replace), so that a crash can fall between them.
const MULTI_STATEMENT: &str = "revision: f1a2b3c4d5e6
parents: [b5f08d2e6a91]
message: multi-statement steps
transactional: true
upgrade:
  - alter_enum: {name: deal_type, rename: {from: upsell, to: expansion}}
  - alter_column: {table: companies, column: website, type: text, using: \"LOWER(website)\"}
downgrade:
  - alter_column: {table: companies, column: website, type: string(500), using: \"website\"}
  - alter_enum: {name: deal_type, rename: {from: expansion, to: upsell}}
";

fn project(variant: Variant) -> Project {
    let (project, transactional) = match variant {
        Variant::AsWritten => (Project::demo(), "true"),
        Variant::StepByStep => (Project::demo_step_by_step(), "false"),
    };
    project.write(
        "f1a2b3c4d5e6_multi_statement_steps.yaml",
        &MULTI_STATEMENT.replace(
            "transactional: true",
            &format!("transactional: {transactional}"),
        ),
    );
    project
}

fn runner(project: &Project, url: &str) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("runner-cli"));
    command
        .current_dir(project.dir.path())
        .env("DATABASE_URL", url)
        .env_remove("RUNNER_CRASH_AT")
        .env_remove("RUNNER_CRASH_TRACE");
    command
}

fn run_ok(project: &Project, url: &str, args: &[&str]) {
    let out = runner(project, url).args(args).output().expect("runner");
    assert!(
        out.status.success(),
        "runner {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn seeded(dialect: Dialect, project: &Project) -> TestDb {
    seeded_demo(dialect, project).await
}

async fn heads(db: &mut Db) -> Vec<String> {
    version_table::heads(db).await.expect("heads")
}

/// What a clean run leaves after each of its revisions: dumps by the version table's rows, and
/// the points the run passes, with how often.
struct Reference {
    dumps: BTreeMap<Vec<String>, String>,
    /// The dump at the end of the run.
    last: String,
    points: Vec<(String, usize)>,
}

/// Fails with the first lines where two dumps differ, rather than both dumps whole.
fn assert_same(actual: &str, expected: &str, what: &str) {
    if actual == expected {
        return;
    }
    let diff: Vec<String> = actual
        .lines()
        .zip(expected.lines())
        .enumerate()
        .filter(|(_, (a, e))| a != e)
        .take(6)
        .map(|(i, (a, e))| format!("line {}: got {a:?}, want {e:?}", i + 1))
        .collect();
    panic!(
        "{what}:\n{}\n({} lines against {})",
        diff.join("\n"),
        actual.lines().count(),
        expected.lines().count()
    );
}

/// The command a test kills: the upgrade from the seeded revision to the heads, or the
/// downgrade from the heads back to it.
fn command(direction: Direction) -> Vec<&'static str> {
    match direction {
        Direction::Up => vec!["upgrade"],
        Direction::Down => vec!["downgrade", SEEDED_AT],
    }
}

/// A database where `direction`'s run starts: seeded, and for a downgrade upgraded to the heads.
async fn start(dialect: Dialect, project: &Project, direction: Direction) -> TestDb {
    let test_db = seeded(dialect, project).await;
    if direction == Direction::Down {
        run_ok(project, &test_db.url_arg(), &["upgrade"]);
    }
    test_db
}

/// Where every case starts: made once, copied for each.
struct Start(TestDb);

impl Start {
    async fn new(dialect: Dialect, project: &Project, direction: Direction) -> Self {
        Self(start(dialect, project, direction).await)
    }

    async fn fresh(&self) -> TestDb {
        self.0.copy().await
    }
}

async fn reference(project: &Project, direction: Direction, start: &Start) -> Reference {
    let dialect = start.0.dialect;
    // The points of a clean run, traced.
    let traced = start.fresh().await;
    let mut traced_db = traced.connect().await;
    let mut dumps = BTreeMap::new();
    dumps.insert(heads(&mut traced_db).await, dump(&mut traced_db).await);
    let trace = tempfile::NamedTempFile::new().expect("trace file");
    let out = runner(project, &traced.url_arg())
        .args(command(direction))
        .env("RUNNER_CRASH_TRACE", trace.path())
        .output()
        .expect("runner");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = dump(&mut traced_db).await;
    dumps.insert(heads(&mut traced_db).await, last.clone());
    let mut counts: Vec<(String, usize)> = Vec::new();
    for name in std::fs::read_to_string(trace.path())
        .expect("trace")
        .lines()
    {
        match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name.to_string(), 1)),
        }
    }
    // What a clean run leaves after each revision: the same run, stopped right after the
    // revision's commit.
    let revisions = counts
        .iter()
        .find(|(name, _)| name == runner::crash::points::REVISION_DONE)
        .map_or(0, |(_, n)| *n);
    for k in 1..revisions {
        let test_db = start.fresh().await;
        let died = runner(project, &test_db.url_arg())
            .args(command(direction))
            .env(
                "RUNNER_CRASH_AT",
                format!("{}:{k}", runner::crash::points::REVISION_DONE),
            )
            .output()
            .expect("runner");
        assert_eq!(died.status.signal(), Some(9), "{dialect}: revision {k}");
        let mut db = test_db.connect().await;
        dumps.insert(heads(&mut db).await, dump(&mut db).await);
    }
    Reference {
        dumps,
        last,
        points: counts,
    }
}

/// The crash points to try: every occurrence of every point, except that on the servers,
/// where each case costs a database and a partial run, transform statements are sampled
/// (first, second, last) as they all sit in the same transaction.
fn cases(reference: &Reference, dialect: Dialect) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (name, count) in &reference.points {
        let mut nths: Vec<usize> = (1..=*count).collect();
        if dialect != Dialect::Sqlite && name == runner::crash::points::TRANSFORM_STATEMENT {
            nths = vec![1, 2, *count];
            nths.dedup();
        }
        out.extend(nths.into_iter().map(|n| (name.clone(), n)));
    }
    out
}

/// The live schema, and the model's schemas just before and after the step a half-applied
/// revision stopped at.
async fn check_half_applied(project: &Project, db: &mut Db, case: &str) -> Option<(String, i64)> {
    let repo = project.repository();
    let history = version_table::history(db, None).await.expect("history");
    let half = version_table::half_done(&history);
    let entry = half.first()?;
    let revision = repo.revision(&entry.revision).expect("revision");
    let applied = repo
        .graph
        .applied_from_rows(&heads(db).await)
        .expect("applied");
    let current = repo.schema_of(&applied).expect("schema");
    let direction = if entry.direction == "down" {
        Direction::Down
    } else {
        Direction::Up
    };
    let mut without = applied.clone();
    without.remove(&revision.id);
    let without = repo.schema_of(&without).expect("schema");
    let index = usize::try_from(entry.steps_applied).expect("steps");
    let (before, after) =
        plan::schemas_around_step(revision, direction, &current, &without, index).expect("schemas");
    let dialect = db.dialect();
    let mut live = introspect(db).await.expect("introspect");
    // A staging column of a MySQL `alter_column ... using` that died half way.
    for table in live.tables.values_mut() {
        table
            .columns
            .retain(|c| !c.name.starts_with("_runner_new_"));
    }
    let live = comparable(&live, dialect);
    let (before, after) = (comparable(&before, dialect), comparable(&after, dialect));
    // Between two statements of one step the schema is in between (an enum widened to both
    // spellings of a renamed value): that step is the one in flight.
    let mid_step = case.starts_with(runner::crash::points::ACTION);
    assert!(
        mid_step || live == before || live == after,
        "{dialect} {case}: runner_history says {} step(s) of {} are in, and the schema is neither the one before step {} nor the one after it",
        entry.steps_applied,
        entry.revision,
        index + 1
    );
    Some((entry.revision.clone(), entry.steps_applied))
}

async fn crash_everywhere(dialect: Dialect, variant: Variant, direction: Direction) {
    if TestDb::new(dialect).await.is_none() {
        return;
    }
    let project = project(variant);
    let start = Start::new(dialect, &project, direction).await;
    let reference = reference(&project, direction, &start).await;
    let (verb, resume) = match direction {
        Direction::Up => ("upgrade", "runner upgrade --resume"),
        Direction::Down => ("downgrade", "runner downgrade --resume"),
    };
    let last = reference.last.clone();
    let step_by_step = variant == Variant::StepByStep || dialect == Dialect::Mysql;
    let cases = cases(&reference, dialect);
    assert!(
        cases.len() > 20,
        "{dialect}: only {} crash points",
        cases.len()
    );
    eprintln!(
        "{dialect} {variant:?} {verb}: {} crash cases over {:?}",
        cases.len(),
        reference.points
    );
    let mut half_seen = HashSet::new();
    for (point, nth) in cases {
        let case = format!("{point}:{nth}");
        let test_db = start.fresh().await;
        let url = test_db.url_arg();
        let died = runner(&project, &url)
            .args(command(direction))
            .env("RUNNER_CRASH_AT", &case)
            .output()
            .expect("runner");
        assert_eq!(
            died.status.signal(),
            Some(9),
            "{dialect} {case}: the run did not die there: {}",
            String::from_utf8_lossy(&died.stderr)
        );
        let mut db = test_db.connect().await;
        let half = check_half_applied(&project, &mut db, &case).await;
        if step_by_step {
            let current = runner(&project, &url)
                .arg("current")
                .output()
                .expect("current");
            let text = String::from_utf8_lossy(&current.stdout);
            match &half {
                Some((revision, _)) => {
                    half_seen.insert(revision.clone());
                    assert_eq!(current.status.code(), Some(1), "{dialect} {case}: {text}");
                    assert!(
                        text.contains(&format!("blocked: revision {revision} is half applied"))
                            && text.contains(resume),
                        "{dialect} {case}: {text}"
                    );
                }
                None => assert_eq!(current.status.code(), Some(0), "{dialect} {case}: {text}"),
            }
        } else {
            assert!(half.is_none(), "{dialect} {case}: {half:?} half applied");
            let at = heads(&mut db).await;
            let expected = reference
                .dumps
                .get(&at)
                .unwrap_or_else(|| panic!("{dialect} {case}: not at a revision boundary: {at:?}"));
            assert_same(
                &dump(&mut db).await,
                expected,
                &format!("{dialect} {case}: the database is not what a clean run leaves at {at:?}"),
            );
        }
        // Recover as the messages say.
        let again = runner(&project, &url)
            .args(command(direction))
            .output()
            .expect("runner");
        if !again.status.success() {
            let stderr = String::from_utf8_lossy(&again.stderr);
            assert!(
                half.is_some() && again.status.code() == Some(1),
                "{dialect} {case}: {stderr}"
            );
            assert!(
                stderr.contains(resume),
                "{dialect} {case}: the refusal does not say what to do: {stderr}"
            );
            run_ok(&project, &url, &[verb, "--resume"]);
            // `downgrade --resume` alone finishes the half-done revision; the rest of the way
            // is the command again.
            run_ok(&project, &url, &command(direction));
        }
        assert_same(
            &dump(&mut db).await,
            &last,
            &format!("{dialect} {case}: the recovered database differs from a clean run's"),
        );
        db.close().await.expect("close");
    }
    if step_by_step {
        assert!(
            !half_seen.is_empty(),
            "{dialect}: no crash left a revision half applied"
        );
    }
}

#[tokio::test]
async fn sqlite_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Sqlite, Variant::AsWritten, Direction::Up).await;
}

#[tokio::test]
async fn sqlite_step_by_step_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Sqlite, Variant::StepByStep, Direction::Up).await;
}

#[tokio::test]
async fn sqlite_downgrade_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Sqlite, Variant::AsWritten, Direction::Down).await;
}

#[tokio::test]
async fn postgres_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Postgres, Variant::AsWritten, Direction::Up).await;
}

#[tokio::test]
async fn postgres_step_by_step_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Postgres, Variant::StepByStep, Direction::Up).await;
}

#[tokio::test]
async fn postgres_step_by_step_downgrade_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Postgres, Variant::StepByStep, Direction::Down).await;
}

#[tokio::test]
async fn mysql_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Mysql, Variant::AsWritten, Direction::Up).await;
}

#[tokio::test]
async fn mysql_downgrade_survives_a_crash_at_every_point() {
    crash_everywhere(Dialect::Mysql, Variant::AsWritten, Direction::Down).await;
}
