//! `runner lint [RANGE]`: what the revisions' upgrade steps risk on a database with data,
//! from the files alone (no database). Exit 3 on findings, 0 when clean.

use serde::Serialize;

use super::show::DialectArg;
use super::{Context, Format, UsageError};
use crate::dialect_kind::Dialect;
use crate::lint::{Finding, LintOptions, lint};
use crate::revision::Repository;

/// Report what the revisions' upgrade steps risk on a database that holds data
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revisions to lint: `A:B` (either side may be left out or be `base`/`heads`), or one
    /// revision [default: all]
    #[arg(value_name = "RANGE")]
    range: Option<String>,
    #[command(flatten)]
    dialects: DialectsArg,
}

/// The databases a project runs on, which decide whether PostgreSQL's rules apply.
#[derive(Debug, Clone, clap::Args)]
pub struct DialectsArg {
    /// A database the project runs on (repeat for several); PostgreSQL's locking and enum
    /// rules apply only when it is among them [default: all three]
    #[arg(long = "dialect", value_enum, value_name = "DIALECT")]
    pub dialects: Vec<DialectArg>,
}

impl DialectsArg {
    /// The lint options these databases call for.
    pub fn options(&self) -> LintOptions {
        LintOptions {
            postgres: self.dialects.is_empty()
                || self
                    .dialects
                    .iter()
                    .any(|d| Dialect::from(*d) == Dialect::Postgres),
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    clean: bool,
    findings: &'a [Finding],
}

/// Runs `lint`.
pub fn run(cx: &Context, args: &Args) -> anyhow::Result<i32> {
    let repo = cx.repository()?;
    let only = match &args.range {
        None => None,
        Some(range) => Some(revisions_in(&repo, range)?),
    };
    let findings = lint(&repo, only.as_ref(), args.dialects.options())?;
    match cx.format {
        Format::Json => super::output::json(&Report {
            clean: findings.is_empty(),
            findings: &findings,
        })?,
        _ => print_findings(&findings, cx.quiet),
    }
    Ok(if findings.is_empty() { 0 } else { 3 })
}

/// The revisions a RANGE names: `A:B` as `history -r` reads it, or one revision.
fn revisions_in(
    repo: &Repository,
    range: &str,
) -> anyhow::Result<std::collections::HashSet<String>> {
    if range.contains(':') {
        return super::history::in_range(repo, Some(range));
    }
    if range.is_empty() {
        return Err(UsageError("the range is empty; give A:B or a revision".into()).into());
    }
    Ok([repo.graph.resolve(range)?].into_iter().collect())
}

/// The findings as compiler-style lines, then a count (or that there are none).
pub fn print_findings(findings: &[Finding], quiet: bool) {
    for finding in findings {
        println!("{}: {}: {}", finding.at, finding.code, finding.message);
        println!(
            "    revision {}, step {}: {}",
            finding.revision, finding.step, finding.operation
        );
    }
    if findings.is_empty() {
        if !quiet {
            println!("lint: no findings");
        }
    } else {
        println!(
            "lint: {} finding(s); silence one on purpose with `lint: {{ignore: [CODE]}}` beside its step (docs/lint.md)",
            findings.len()
        );
    }
}
