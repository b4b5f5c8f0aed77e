//! TARGET arguments (`heads`, `head`, `base`, an id or unique prefix, a branch label,
//! `LABEL@head`, `+N`, `-N`, `REV+N`, `REV-N`) and what they mean against a graph and the
//! revisions a database has applied. Errors say why a target does not name one place, as
//! Alembic's do.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use super::graph::{Graph, GraphError};

/// A parsed TARGET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every head.
    Heads,
    /// The only head.
    Head,
    /// Before the first revision.
    Base,
    /// A full id, unique prefix or branch label.
    Revision(String),
    /// `N` steps up (positive) or down (negative) from a revision, or from the current one.
    Relative { from: Option<String>, steps: i64 },
    /// The head of the branch carrying a label.
    BranchHead(String),
}

/// Why a target does not name one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "'{0}' is not a target: use heads, head, base, a revision id or prefix, a branch label, LABEL@head, +N, -N, REV+N or REV-N"
    )]
    Unparsable(String),
    #[error("'{0}' moves down; use `runner downgrade`")]
    DownInUpgrade(String),
    #[error("'{0}' moves up; use `runner upgrade`")]
    UpInDowngrade(String),
    #[error("the database is at several heads ({}); say which with REV+N or REV-N", .heads.join(", "))]
    RelativeFromSeveralHeads { heads: Vec<String> },
    #[error("revision '{revision}' has several children ({}); name the one to go to", .children.join(", "))]
    BranchesAt {
        revision: String,
        children: Vec<String>,
    },
    #[error("there are several bases ({}); name the one to go to", .bases.join(", "))]
    SeveralBases { bases: Vec<String> },
    #[error("revision '{revision}' merges {}; name the one to go to", .parents.join(", "))]
    MergeAt {
        revision: String,
        parents: Vec<String>,
    },
    #[error("cannot go {steps} revision(s) down from {from}: base is only {available} down")]
    PastBase {
        from: String,
        steps: u64,
        available: u64,
    },
    #[error("cannot go {steps} revision(s) up from {from}: the head is only {available} up")]
    PastHead {
        from: String,
        steps: u64,
        available: u64,
    },
    #[error("'{0}' takes too many steps: at most {MAX_STEPS}")]
    TooManySteps(String),
    #[error("revision '{0}' is not applied, so the database cannot go down to it")]
    NotApplied(String),
    #[error("no branch label '{0}'")]
    UnknownLabel(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// The most steps a relative target may take: far beyond any history, and small enough that
/// counting them cannot overflow.
pub const MAX_STEPS: u64 = u32::MAX as u64;

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let unparsable = || TargetError::Unparsable(text.to_string());
        match text {
            "" => return Err(unparsable()),
            "heads" => return Ok(Self::Heads),
            "head" => return Ok(Self::Head),
            "base" => return Ok(Self::Base),
            _ => {}
        }
        if let Some((label, what)) = text.split_once('@') {
            return match what {
                "head" if !label.is_empty() => Ok(Self::BranchHead(label.into())),
                _ => Err(unparsable()),
            };
        }
        if let Some(split) = text.rfind(['+', '-']) {
            let (from, number) = text.split_at(split);
            let (sign, digits) = number.split_at(1);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                let count = digits
                    .parse::<u64>()
                    .ok()
                    .filter(|&count| count <= MAX_STEPS)
                    .ok_or_else(|| TargetError::TooManySteps(text.to_string()))?;
                if count == 0 {
                    return Err(unparsable());
                }
                // `count` fits in 32 bits, so neither the cast nor the negation can overflow.
                let count = count as i64;
                return Ok(Self::Relative {
                    from: (!from.is_empty()).then(|| from.to_string()),
                    steps: if sign == "-" { -count } else { count },
                });
            }
            if from.is_empty() {
                return Err(unparsable());
            }
        }
        Ok(Self::Revision(text.into()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Heads => f.write_str("heads"),
            Self::Head => f.write_str("head"),
            Self::Base => f.write_str("base"),
            Self::Revision(rev) => f.write_str(rev),
            Self::Relative { from, steps } => {
                write!(f, "{}{steps:+}", from.as_deref().unwrap_or(""))
            }
            Self::BranchHead(label) => write!(f, "{label}@head"),
        }
    }
}

/// The single head, or an error listing them.
pub fn only_head(graph: &Graph) -> Result<Vec<String>, TargetError> {
    let heads = graph.heads();
    if heads.len() > 1 {
        return Err(GraphError::MultipleHeads { heads }.into());
    }
    Ok(heads)
}

fn current(graph: &Graph, applied: &HashSet<String>) -> Result<Option<String>, TargetError> {
    let mut heads = graph.heads_of(applied)?;
    match heads.len() {
        0 => Ok(None),
        1 => Ok(heads.pop()),
        _ => Err(TargetError::RelativeFromSeveralHeads { heads }),
    }
}

/// `steps` revisions up from `from` (`None`: base), along the only child each time.
fn walk_up(graph: &Graph, from: Option<String>, steps: u64) -> Result<String, TargetError> {
    let start = from.clone().unwrap_or_else(|| "base".into());
    let mut at = from;
    for taken in 0..steps {
        let next = match &at {
            None => {
                let bases = graph.bases();
                if bases.len() > 1 {
                    return Err(TargetError::SeveralBases { bases });
                }
                bases
            }
            Some(revision) => graph.children(revision),
        };
        match next.len() {
            0 => {
                return Err(TargetError::PastHead {
                    from: start,
                    steps,
                    available: taken,
                });
            }
            1 => at = next.into_iter().next(),
            _ => {
                return Err(TargetError::BranchesAt {
                    revision: at.unwrap_or_default(),
                    children: next,
                });
            }
        }
    }
    at.ok_or(TargetError::PastHead {
        from: start,
        steps,
        available: 0,
    })
}

/// The revisions left after going `steps` down from `from` (empty: base).
fn walk_down(graph: &Graph, from: &str, steps: u64) -> Result<Vec<String>, TargetError> {
    let mut at = vec![from.to_string()];
    // The revision whose parents `at` holds, to name a merge that makes the walk ambiguous.
    let mut below = from.to_string();
    for taken in 0..steps {
        match at.as_slice() {
            [] => {
                return Err(TargetError::PastBase {
                    from: from.into(),
                    steps,
                    available: taken,
                });
            }
            [only] => {
                let parents = graph.parents(only);
                below = only.clone();
                at = parents;
            }
            _ => {
                return Err(TargetError::MergeAt {
                    revision: below,
                    parents: at,
                });
            }
        }
    }
    Ok(at)
}

/// `steps` up (positive) or down (negative) from `from` (`None`: base).
fn relative(graph: &Graph, from: Option<String>, steps: i64) -> Result<Vec<String>, TargetError> {
    let count = steps.unsigned_abs();
    if steps > 0 {
        return Ok(vec![walk_up(graph, from, count)?]);
    }
    match from {
        Some(from) => walk_down(graph, &from, count),
        None => Err(TargetError::PastBase {
            from: "base".into(),
            steps: count,
            available: 0,
        }),
    }
}

/// The head of the branch `label` is on: its labelled revision's children, followed to the
/// end. Revisions of other branches that only depend on the branch are not on it.
fn branch_head(graph: &Graph, label: &str) -> Result<String, TargetError> {
    if !graph.has_label(label) {
        return Err(TargetError::UnknownLabel(label.into()));
    }
    let labelled = graph.resolve(label)?;
    let below = graph.branch_descendants(&labelled)?;
    let mut heads: Vec<String> = graph
        .heads()
        .into_iter()
        .filter(|h| below.contains(h))
        .collect();
    if heads.len() > 1 {
        return Err(GraphError::MultipleHeads { heads }.into());
    }
    Ok(heads.pop().unwrap_or(labelled))
}

/// Checks what can be checked of `target` without the database (the revisions and labels it
/// names, a single head, the way a relative step goes), so that a command refuses bad input
/// before it connects and creates anything. `up` is the command's direction (`None`: stamp).
pub fn check(target: &Target, graph: &Graph, up: Option<bool>) -> Result<(), TargetError> {
    match target {
        Target::Heads | Target::Base => {}
        Target::Head => {
            only_head(graph)?;
        }
        Target::Revision(text) => {
            graph.resolve(text)?;
        }
        Target::BranchHead(label) => {
            branch_head(graph, label)?;
        }
        Target::Relative { from, steps } => {
            if let Some(text) = from {
                graph.resolve(text)?;
            }
            match up {
                Some(true) if from.is_none() && *steps < 0 => {
                    return Err(TargetError::DownInUpgrade(target.to_string()));
                }
                Some(false) if from.is_none() && *steps > 0 => {
                    return Err(TargetError::UpInDowngrade(target.to_string()));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Resolves any target to the revisions the database should be at, whichever way that is
/// from where it is: what `stamp` records. `heads` is every head of the graph, and `+N`/`-N`
/// count from the database's current revision.
pub fn resolve(
    target: &Target,
    graph: &Graph,
    applied: &HashSet<String>,
) -> Result<Vec<String>, TargetError> {
    Ok(match target {
        Target::Heads => graph.heads(),
        Target::Head => only_head(graph)?,
        Target::Base => Vec::new(),
        Target::Revision(text) => vec![graph.resolve(text)?],
        Target::BranchHead(label) => vec![branch_head(graph, label)?],
        Target::Relative { from, steps } => {
            let from = match from {
                Some(text) => Some(graph.resolve(text)?),
                None => current(graph, applied)?,
            };
            relative(graph, from, *steps)?
        }
    })
}

/// Resolves a target for `upgrade`: the revisions the database should include. `-N` from the
/// current revision moves down, which only `downgrade` does.
pub fn resolve_up(
    target: &Target,
    graph: &Graph,
    applied: &HashSet<String>,
) -> Result<Vec<String>, TargetError> {
    if let Target::Relative { from: None, steps } = target
        && *steps < 0
    {
        return Err(TargetError::DownInUpgrade(target.to_string()));
    }
    resolve(target, graph, applied)
}

/// Resolves a target for `downgrade`: the revisions to keep (none: go to base). Applied
/// revisions that descend from them are reverted. `heads` is the database's own heads, and
/// `+N` from the current revision moves up, which only `upgrade` does.
pub fn resolve_down(
    target: &Target,
    graph: &Graph,
    applied: &HashSet<String>,
) -> Result<Vec<String>, TargetError> {
    let keep = match target {
        Target::Heads => graph.heads_of(applied)?,
        Target::Relative { from: None, steps } if *steps > 0 => {
            return Err(TargetError::UpInDowngrade(target.to_string()));
        }
        _ => resolve(target, graph, applied)?,
    };
    if let Some(missing) = keep.iter().find(|rev| !applied.contains(*rev)) {
        return Err(TargetError::NotApplied(missing.clone()));
    }
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::super::graph::tests::{graph, set};
    use super::*;

    fn parse(text: &str) -> Target {
        text.parse().unwrap()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("heads"), Target::Heads);
        assert_eq!(parse("head"), Target::Head);
        assert_eq!(parse("base"), Target::Base);
        assert_eq!(parse("ab12"), Target::Revision("ab12".into()));
        assert_eq!(
            parse("+2"),
            Target::Relative {
                from: None,
                steps: 2
            }
        );
        assert_eq!(
            parse("-1"),
            Target::Relative {
                from: None,
                steps: -1
            }
        );
        assert_eq!(
            parse("ab12+3"),
            Target::Relative {
                from: Some("ab12".into()),
                steps: 3
            }
        );
        assert_eq!(
            parse("ab12-1"),
            Target::Relative {
                from: Some("ab12".into()),
                steps: -1
            }
        );
        assert_eq!(parse("billing@head"), Target::BranchHead("billing".into()));
        assert_eq!(parse("my-branch"), Target::Revision("my-branch".into()));
        for bad in ["", "+", "-x", "+0", "x@base", "@head"] {
            let err = bad.parse::<Target>().unwrap_err().to_string();
            assert!(err.contains("is not a target"), "{bad}: {err}");
        }
    }

    fn linear() -> Graph {
        graph(&[
            ("a1", &[], &[], &[]),
            ("b2", &["a1"], &[], &["feature"]),
            ("c3", &["b2"], &[], &[]),
        ])
        .unwrap()
    }

    #[test]
    fn checks_what_needs_no_database() {
        let g = linear();
        for ok in ["heads", "head", "base", "c3", "+1", "c3-1"] {
            assert!(check(&parse(ok), &g, Some(true)).is_ok(), "{ok}");
        }
        let err = check(&parse("zz9"), &g, Some(true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("zz9"), "{err}");
        assert!(check(&parse("-1"), &g, Some(true)).is_err());
        assert!(check(&parse("+1"), &g, Some(false)).is_err());
        assert!(check(&parse("-1"), &g, None).is_ok());
    }

    #[test]
    fn resolves_upgrade_targets() {
        let g = linear();
        let none = set(&[]);
        assert_eq!(resolve_up(&parse("heads"), &g, &none).unwrap(), ["c3"]);
        assert_eq!(resolve_up(&parse("head"), &g, &none).unwrap(), ["c3"]);
        assert!(resolve_up(&parse("base"), &g, &none).unwrap().is_empty());
        assert_eq!(resolve_up(&parse("b"), &g, &none).unwrap(), ["b2"]);
        assert_eq!(resolve_up(&parse("feature"), &g, &none).unwrap(), ["b2"]);
        assert_eq!(
            resolve_up(&parse("feature@head"), &g, &none).unwrap(),
            ["c3"]
        );
        assert_eq!(resolve_up(&parse("+1"), &g, &none).unwrap(), ["a1"]);
        assert_eq!(resolve_up(&parse("+2"), &g, &set(&["a1"])).unwrap(), ["c3"]);
        assert_eq!(resolve_up(&parse("a1+1"), &g, &none).unwrap(), ["b2"]);
        assert_eq!(resolve_up(&parse("c3-2"), &g, &none).unwrap(), ["a1"]);
        let err = resolve_up(&parse("+3"), &g, &set(&["a1"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot go 3 revision(s) up from a1: the head is only 2 up"
        );
        let err = resolve_up(&parse("-1"), &g, &none).unwrap_err();
        assert_eq!(err.to_string(), "'-1' moves down; use `runner downgrade`");
        let err = resolve_up(&parse("nope@head"), &g, &none).unwrap_err();
        assert_eq!(err.to_string(), "no branch label 'nope'");
    }

    #[test]
    fn resolves_downgrade_targets() {
        let g = linear();
        let all = set(&["a1", "b2", "c3"]);
        assert_eq!(resolve_down(&parse("-1"), &g, &all).unwrap(), ["b2"]);
        assert!(resolve_down(&parse("-3"), &g, &all).unwrap().is_empty());
        assert!(resolve_down(&parse("base"), &g, &all).unwrap().is_empty());
        assert_eq!(resolve_down(&parse("a1"), &g, &all).unwrap(), ["a1"]);
        assert_eq!(resolve_down(&parse("heads"), &g, &all).unwrap(), ["c3"]);
        let err = resolve_down(&parse("-4"), &g, &all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot go 4 revision(s) down from c3: base is only 3 down"
        );
        let err = resolve_down(&parse("+1"), &g, &all).unwrap_err();
        assert_eq!(err.to_string(), "'+1' moves up; use `runner upgrade`");
        let err = resolve_down(&parse("c3"), &g, &set(&["a1"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision 'c3' is not applied, so the database cannot go down to it"
        );
        let err = resolve_down(&parse("-1"), &g, &set(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot go 1 revision(s) down from base: base is only 0 down"
        );
    }

    #[test]
    fn branches_make_relative_and_head_targets_ambiguous() {
        // a -> (b, c) -> m
        let g = graph(&[
            ("a", &[], &[], &[]),
            ("b", &["a"], &[], &[]),
            ("c", &["a"], &[], &[]),
            ("m", &["b", "c"], &[], &[]),
            ("x", &[], &[], &[]),
        ])
        .unwrap();
        let err = resolve_up(&parse("head"), &g, &set(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "there are several heads (m, x): name one, use 'heads', or join them with `runner merge`"
        );
        let err = resolve_up(&parse("a+1"), &g, &set(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision 'a' has several children (b, c); name the one to go to"
        );
        let err = resolve_up(&parse("+1"), &g, &set(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "there are several bases (a, x); name the one to go to"
        );
        let err = resolve_up(&parse("+1"), &g, &set(&["a", "x"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the database is at several heads (a, x); say which with REV+N or REV-N"
        );
        // One step down from a merge keeps both parents; two steps is ambiguous.
        let applied = set(&["a", "b", "c", "m"]);
        assert_eq!(
            resolve_down(&parse("-1"), &g, &applied).unwrap(),
            ["b", "c"]
        );
        let err = resolve_down(&parse("-2"), &g, &applied).unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision 'm' merges b, c; name the one to go to"
        );
        let err = resolve_up(&parse("q"), &g, &applied).unwrap_err();
        assert_eq!(err.to_string(), "no revision 'q'");
    }

    #[test]
    fn a_label_head_stays_on_its_branch_past_a_dependency() {
        // b2 (another branch) depends on a1, the labelled revision: it is not on `one`.
        let g = graph(&[
            ("a1", &[], &[], &["one"]),
            ("a2", &["a1"], &[], &[]),
            ("b1", &[], &[], &[]),
            ("b2", &["b1"], &["a1"], &[]),
        ])
        .unwrap();
        let none = set(&[]);
        assert_eq!(resolve_up(&parse("one@head"), &g, &none).unwrap(), ["a2"]);
        let all = set(&["a1", "a2", "b1", "b2"]);
        assert_eq!(resolve_down(&parse("one@head"), &g, &all).unwrap(), ["a2"]);
    }

    #[test]
    fn an_ambiguous_walk_down_names_the_merge_not_a_sibling() {
        // b has two children: x (created first) and the merge m of b and c.
        let g = graph(&[
            ("a", &[], &[], &[]),
            ("b", &["a"], &[], &[]),
            ("x", &["b"], &[], &[]),
            ("c", &["a"], &[], &[]),
            ("m", &["b", "c"], &[], &[]),
            ("n", &["m"], &[], &[]),
        ])
        .unwrap();
        let applied = set(&["a", "b", "c", "m", "n"]);
        let err = resolve_down(&parse("n-3"), &g, &applied).unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision 'm' merges b, c; name the one to go to"
        );
    }

    #[test]
    fn absurd_step_counts_are_refused_without_overflow() {
        for text in [
            "-9223372036854775808",
            "+9223372036854775807",
            "-99999999999999999999999",
            "ab12-4294967296",
        ] {
            let err = text.parse::<Target>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("'{text}' takes too many steps: at most 4294967295"),
            );
        }
        assert_eq!(
            parse("-4294967295"),
            Target::Relative {
                from: None,
                steps: -4294967295
            }
        );
        // A target built in code rather than parsed cannot overflow either.
        let g = linear();
        let all = set(&["a1", "b2", "c3"]);
        let deep = Target::Relative {
            from: None,
            steps: i64::MIN,
        };
        let err = resolve_down(&deep, &g, &all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot go 9223372036854775808 revision(s) down from c3: base is only 3 down"
        );
    }

    #[test]
    fn stamp_resolves_every_form_both_ways() {
        let g = linear();
        let at_c3 = set(&["a1", "b2", "c3"]);
        assert_eq!(resolve(&parse("-1"), &g, &at_c3).unwrap(), ["b2"]);
        assert!(resolve(&parse("-3"), &g, &at_c3).unwrap().is_empty());
        assert_eq!(resolve(&parse("+1"), &g, &set(&["a1"])).unwrap(), ["b2"]);
        assert_eq!(resolve(&parse("heads"), &g, &set(&[])).unwrap(), ["c3"]);
        assert_eq!(resolve(&parse("c3"), &g, &set(&[])).unwrap(), ["c3"]);
        let err = resolve(&parse("-1"), &g, &set(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot go 1 revision(s) down from base: base is only 0 down"
        );
    }
}
