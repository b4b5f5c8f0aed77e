//! runner's performance benchmark, every comparison side by side from one run:
//!
//! 1. the data path: a backfill over N rows (default 1,000,000) on every reachable database,
//!    written as a runner transform three ways, beside a native sqlx program, one set-based
//!    `UPDATE`, an Alembic data migration (in a Python virtual environment made with pip;
//!    skipped, saying why, when that cannot be made) and the same backfill as a Python
//!    transform (tests/benches/python, built with componentize-py; skipped the same way),
//!    each a whole process on a fresh copy of the same rows: wall time, the ratio to the
//!    set-based floor and to native Rust, and peak RSS;
//! 2. a long history: `upgrade` from empty, then a no-op `upgrade`, `current`, `heads` and
//!    `history` with 1,000 and 10,000 generated revisions;
//! 3. a transform's first start (compiled) against a cached start.
//!
//! `cargo bench -p runner-integration-tests --bench performance [-- ROWS] [--repeat N]
//! [--db sqlite|postgres|mysql]... [--skip rows|batch|helper|native|set|alembic|python|data|history|start]...`
//! docs/performance.md holds a run and how to read it.

use std::path::PathBuf;

use runner::dialect_kind::Dialect;
use runner_integration_tests::perf::{
    self, Alembic, BackfillProject, Column, DataPathResult, Others, Tools,
};

struct Options {
    rows: usize,
    repeat: usize,
    dialects: Vec<Dialect>,
    skip: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        rows: 1_000_000,
        repeat: 3,
        dialects: Vec::new(),
        skip: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => options
                .dialects
                .extend(args.next().map(|d| match d.as_str() {
                    "sqlite" => Dialect::Sqlite,
                    "postgres" => Dialect::Postgres,
                    "mysql" | "mariadb" => Dialect::Mysql,
                    other => panic!("--db takes sqlite, postgres or mysql, not {other}"),
                })),
            "--skip" => options.skip.extend(args.next()),
            "--repeat" => {
                options.repeat = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--repeat takes a number")
            }
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            number => {
                if let Ok(rows) = number.replace('_', "").parse() {
                    options.rows = rows;
                }
            }
        }
    }
    if options.dialects.is_empty() {
        options.dialects = Dialect::ALL.to_vec();
    }
    options
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn print_data_path(result: &DataPathResult) {
    println!(
        "\n{} ({} rows)\n{:<26} {:>9} {:>9} {:>10} {:>10}",
        result.dialect, result.rows, "", "wall s", "/ set", "/ native", "peak MiB"
    );
    let set = result.seconds(Column::SetBased);
    let native = result.seconds(Column::Native);
    for (column, m) in &result.measured {
        println!(
            "{:<26} {:>9.2} {:>9} {:>10} {:>10.0}",
            column.name(),
            m.seconds,
            ratio(Some(m.seconds), set),
            ratio(Some(m.seconds), native),
            m.rss_mib
        );
    }
    let s = |c| result.seconds(c);
    println!(
        "batch/set {}  batch/native {}  helper/set {}  rows/batch {}  alembic/batch {}  alembic/helper {}  alembic/rows {}",
        ratio(s(Column::Batch), set),
        ratio(s(Column::Batch), native),
        ratio(s(Column::Helper), set),
        ratio(s(Column::PerRow), s(Column::Batch)),
        ratio(s(Column::Alembic), s(Column::Batch)),
        ratio(s(Column::Alembic), s(Column::Helper)),
        ratio(s(Column::Alembic), s(Column::PerRow)),
    );
    println!(
        "python/helper {}  alembic/python {}",
        ratio(s(Column::Python), s(Column::Helper)),
        ratio(s(Column::Alembic), s(Column::Python)),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = options();
    let skipped = |part: &str| options.skip.iter().any(|s| s == part);
    let tools = Tools {
        runner: PathBuf::from(env!("CARGO_BIN_EXE_runner-cli")),
        measure: PathBuf::from(env!("CARGO_BIN_EXE_runner-measure")),
        helper: PathBuf::from(env!("CARGO_BIN_EXE_runner-bench-helper")),
    };
    println!(
        "runner performance benchmark: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    let project = BackfillProject::new(&tools);

    if !skipped("data") {
        let columns: Vec<Column> = Column::ALL
            .into_iter()
            .filter(|c| !skipped(c.key()))
            .collect();
        let alembic = if columns.contains(&Column::Alembic) {
            match Alembic::prepare() {
                Ok(alembic) => Some(alembic),
                Err(why) => {
                    println!("(no Alembic column: {why})");
                    None
                }
            }
        } else {
            None
        };
        let python = if columns.contains(&Column::Python) {
            match BackfillProject::python(&tools) {
                Ok(python) => Some(python),
                Err(why) => {
                    println!("(no Python column: {why})");
                    None
                }
            }
        } else {
            None
        };
        let others = Others {
            alembic: alembic.as_ref(),
            python: python.as_ref(),
        };
        println!(
            "\nData path: split full_name at its first space into first_name and last_name, \
             lower-case email, over {} rows; each column a whole process (start included) on a \
             fresh copy of the same table, its rows checked after it ran; a column under a minute \
             runs {} times (in rounds: every column, then again) and its best run counts",
            options.rows, options.repeat
        );
        for &dialect in &options.dialects {
            match perf::data_path(
                &tools,
                &project,
                dialect,
                options.rows,
                &columns,
                &others,
                options.repeat,
            )
            .await
            {
                Some(result) => print_data_path(&result),
                None => println!("\n{dialect}: not reachable, skipped"),
            }
        }
    }

    if !skipped("history") {
        println!(
            "\nA long history (SQLite; best of three runs except `upgrade from empty`)\n{:>7}  {:<20} {:>9} {:>10}",
            "revs", "command", "wall ms", "peak MiB"
        );
        for row in perf::history(&tools, &[1000, 10_000]) {
            println!(
                "{:>7}  {:<20} {:>9.0} {:>10.1}",
                row.revisions,
                row.command,
                row.measured.seconds * 1000.0,
                row.measured.rss_mib
            );
        }
    }

    if !skipped("start") {
        let wasm =
            runner_integration_tests::workspace_root().join("tests/transforms/wasm/backfill.wasm");
        let (first, cached) = perf::start(&tools, &wasm);
        println!(
            "\nA transform's start (load + instantiate + `info`, {} KiB component): first {:.1} ms (compiled), cached {:.2} ms",
            std::fs::metadata(&wasm).map_or(0, |m| m.len() / 1024),
            first,
            cached
        );
    }
}
