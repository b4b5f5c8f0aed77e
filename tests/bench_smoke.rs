//! The performance benchmark (benches/performance.rs) at a small size, so that CI knows each
//! of its columns still does the whole backfill right on every database (each column's rows
//! are checked after it runs), and that its history and start parts run. Timings are printed,
//! not judged: a timed test proves nothing on a shared machine; the benchmark compares.

use std::path::PathBuf;

use runner::dialect_kind::Dialect;
use runner_integration_tests::perf::{self, Alembic, BackfillProject, Column, Others, Tools};

fn tools() -> Tools {
    Tools {
        runner: PathBuf::from(env!("CARGO_BIN_EXE_runner-cli")),
        measure: PathBuf::from(env!("CARGO_BIN_EXE_runner-measure")),
        helper: PathBuf::from(env!("CARGO_BIN_EXE_runner-bench-helper")),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_column_of_the_benchmark_backfills_every_row_on_every_database() {
    let tools = tools();
    let project = BackfillProject::new(&tools);
    let alembic = match Alembic::prepare() {
        Ok(alembic) => Some(alembic),
        Err(why) => {
            eprintln!("no Alembic column: {why}");
            None
        }
    };
    // Python transforms are built with componentize-py, which runner installs with pip: under
    // CI (RUNNER_REQUIRE_TOOLCHAINS=1) the column must run.
    let python = match BackfillProject::python(&tools) {
        Ok(python) => Some(python),
        Err(why) => {
            assert!(
                !runner_integration_tests::guest_lang::required(),
                "the Python column could not be built: {why}"
            );
            eprintln!("no Python column: {why}");
            None
        }
    };
    let others = Others {
        alembic: alembic.as_ref(),
        python: python.as_ref(),
    };
    for dialect in Dialect::ALL {
        let Some(result) =
            perf::data_path(&tools, &project, dialect, 2500, &Column::ALL, &others, 1).await
        else {
            continue;
        };
        let expected = 5 + usize::from(alembic.is_some()) + usize::from(python.is_some());
        assert_eq!(
            result.measured.len(),
            expected,
            "{dialect}: every column ran"
        );
        for (column, measured) in &result.measured {
            eprintln!("{dialect}: {} {:.2} s", column.name(), measured.seconds);
            assert!(
                measured.rss_mib > 0.0,
                "{}: no memory reported",
                column.name()
            );
        }
    }
}

#[test]
fn the_history_and_start_parts_run() {
    let tools = tools();
    let rows = perf::history(&tools, &[20, 40]);
    let commands: Vec<(usize, &str)> = rows.iter().map(|r| (r.revisions, r.command)).collect();
    assert_eq!(
        commands,
        [
            (20, "upgrade from empty"),
            (20, "no-op upgrade"),
            (20, "current"),
            (20, "heads"),
            (20, "history"),
            (40, "no-op upgrade"),
            (40, "current"),
            (40, "heads"),
            (40, "history"),
        ]
    );
    // Builds tests/transforms/wasm/backfill.wasm.
    let _project = BackfillProject::new(&tools);
    let wasm =
        runner_integration_tests::workspace_root().join("tests/transforms/wasm/backfill.wasm");
    let (first, cached) = perf::start(&tools, &wasm);
    assert!(first > 0.0 && cached > 0.0, "{first} {cached}");
}
