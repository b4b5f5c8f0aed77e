//! How runner's commands scale with the length of a project's history: N generated revisions
//! (each a small `create_table`, one after the other), and for each N the wall time and peak
//! memory of a no-op `upgrade`, `current`, `heads` and `history` on an SQLite database at head,
//! plus a whole `upgrade` from empty for the smallest N. Printed side by side from one run, with
//! each time's ratio to the smallest N's (linear growth is the ratio of the Ns).
//!
//! `cargo bench -p runner-integration-tests --bench history_scale` (default N: 1000 and 10000;
//! `-- 250 500 1000` for others). Commands run the release binary under `runner-measure`, so
//! the memory is the command's own.

use std::path::Path;
use std::process::Command;

/// Writes `count` revisions into `dir`/migrations/versions, each on the one before.
fn generate(dir: &Path, count: usize) {
    let versions = dir.join("migrations/versions");
    std::fs::create_dir_all(&versions).expect("versions folder");
    let mut parent: Option<String> = None;
    for i in 0..count {
        let id = format!("{:012x}", 0xa000_0000_0000_u64 + i as u64);
        let parents = parent.as_deref().unwrap_or_default();
        std::fs::write(
            versions.join(format!("{id}_t{i}.yaml")),
            format!(
                "revision: {id}\nparents: [{parents}]\nmessage: table {i}\nupgrade:\n  - create_table: {{table: t{i}, columns: [{{name: id, type: integer, primary_key: true}}, {{name: name, type: string(50)}}]}}\n"
            ),
        )
        .expect("revision file");
        parent = Some(id);
    }
}

/// One measured run: wall milliseconds and peak RSS in MiB.
struct Measured {
    ms: f64,
    rss_mib: f64,
}

fn measure(dir: &Path, args: &[&str]) -> Measured {
    let report = dir.join("measure.txt");
    let status = Command::new(env!("CARGO_BIN_EXE_runner-measure"))
        .arg(&report)
        .args(["0", "3600000", env!("CARGO_BIN_EXE_runner-cli")])
        .args(["--database-url", "sqlite://bench.db", "-q"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("runner-measure");
    assert!(status.success(), "runner {args:?} failed");
    let text = std::fs::read_to_string(&report).expect("report");
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Measured {
        ms: field("elapsed_ms"),
        rss_mib: field("max_rss_kib") / 1024.0,
    }
}

/// The best of three runs (the machine is shared; the best is the least disturbed).
fn best(dir: &Path, args: &[&str]) -> Measured {
    (0..3)
        .map(|_| measure(dir, args))
        .min_by(|a, b| a.ms.total_cmp(&b.ms))
        .expect("three runs")
}

fn main() {
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if counts.is_empty() {
        counts = vec![1000, 10_000];
    }
    counts.sort_unstable();
    let commands: [(&str, &[&str]); 4] = [
        ("no-op upgrade", &["upgrade"]),
        ("current", &["current"]),
        ("heads", &["heads"]),
        ("history", &["history"]),
    ];
    let mut rows: Vec<(usize, &str, Measured)> = Vec::new();
    for &count in &counts {
        let dir = tempfile::tempdir().expect("temp dir");
        generate(dir.path(), count);
        if count == counts[0] {
            rows.push((
                count,
                "upgrade from empty",
                measure(dir.path(), &["upgrade"]),
            ));
        } else {
            // Thousands of CREATE TABLEs measure SQLite, not runner: record them as applied.
            measure(dir.path(), &["stamp", "heads"]);
        }
        for (name, args) in commands {
            rows.push((count, name, best(dir.path(), args)));
        }
    }
    println!(
        "{:>7}  {:<20} {:>10} {:>10} {:>14}",
        "revs", "command", "wall ms", "peak MiB", "time / first N"
    );
    for (count, name, m) in &rows {
        let first = rows
            .iter()
            .find(|(c, n, _)| *c == counts[0] && n == name)
            .map(|(_, _, f)| f.ms);
        let ratio = match first {
            Some(f) if *count != counts[0] => format!("{:.1}x", m.ms / f),
            _ => "-".into(),
        };
        println!(
            "{count:>7}  {name:<20} {:>10.0} {:>10.1} {ratio:>14}",
            m.ms, m.rss_mib
        );
    }
    if counts.len() > 1 {
        println!(
            "(linear growth from {} to {} revisions would be {:.1}x)",
            counts[0],
            counts[counts.len() - 1],
            counts[counts.len() - 1] as f64 / counts[0] as f64
        );
    }
}
