//! The revision graph: a pure DAG over revision ids, with `parents` (which join branches) and
//! `depends_on` (which only order them). Knows heads, bases, branch points, ancestry, and what
//! to apply or revert to move between two states. No IO, no files: errors name revision ids and
//! the loader turns them into file locations.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, Utc};

/// One revision as the graph sees it.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    pub id: String,
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    parents: Vec<usize>,
    depends_on: Vec<usize>,
    children: Vec<usize>,
    dependents: Vec<usize>,
}

/// Why a set of revisions is not a valid graph, or a target does not name one place in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("revision '{id}' is defined twice")]
    Duplicate { id: String },
    #[error("revision '{revision}' names parent '{parent}', which does not exist")]
    MissingParent { revision: String, parent: String },
    #[error("revision '{revision}' depends on '{dependency}', which does not exist")]
    MissingDependency {
        revision: String,
        dependency: String,
    },
    #[error("the revisions form a cycle: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("branch label '{label}' is on both '{first}' and '{second}'")]
    DuplicateLabel {
        label: String,
        first: String,
        second: String,
    },
    #[error("branch label '{label}' of '{revision}' is also a revision id")]
    LabelIsRevision { label: String, revision: String },
    #[error("no revision '{target}'")]
    UnknownRevision { target: String },
    #[error("'{prefix}' is ambiguous: it starts {}", .candidates.join(", "))]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("there are several heads ({}): name one, use 'heads', or join them with `runner merge`", .heads.join(", "))]
    MultipleHeads { heads: Vec<String> },
    #[error("the database is at revision '{id}', which is not among the revision files")]
    UnknownApplied { id: String },
}

/// The revision DAG.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    labels: HashMap<String, usize>,
    /// Every node, parents and dependencies first, ties broken by creation time then id.
    topo: Vec<usize>,
    rank: Vec<usize>,
}

impl Graph {
    /// Builds the graph, rejecting duplicates, missing parents, cycles and clashing labels.
    pub fn build(specs: Vec<NodeSpec>) -> Result<Self, GraphError> {
        let mut index = HashMap::new();
        for (i, spec) in specs.iter().enumerate() {
            if index.insert(spec.id.clone(), i).is_some() {
                return Err(GraphError::Duplicate {
                    id: spec.id.clone(),
                });
            }
        }
        let mut nodes: Vec<Node> = specs
            .iter()
            .map(|spec| Node {
                id: spec.id.clone(),
                parents: Vec::new(),
                depends_on: Vec::new(),
                children: Vec::new(),
                dependents: Vec::new(),
            })
            .collect();
        let mut labels: HashMap<String, usize> = HashMap::new();
        for (i, spec) in specs.iter().enumerate() {
            for parent in &spec.parents {
                let &p = index.get(parent).ok_or_else(|| GraphError::MissingParent {
                    revision: spec.id.clone(),
                    parent: parent.clone(),
                })?;
                if !nodes[i].parents.contains(&p) {
                    nodes[i].parents.push(p);
                    nodes[p].children.push(i);
                }
            }
            for dependency in &spec.depends_on {
                let &d = index
                    .get(dependency)
                    .ok_or_else(|| GraphError::MissingDependency {
                        revision: spec.id.clone(),
                        dependency: dependency.clone(),
                    })?;
                if !nodes[i].depends_on.contains(&d) {
                    nodes[i].depends_on.push(d);
                    nodes[d].dependents.push(i);
                }
            }
            for label in &spec.branch_labels {
                if index.contains_key(label) {
                    return Err(GraphError::LabelIsRevision {
                        label: label.clone(),
                        revision: spec.id.clone(),
                    });
                }
                if let Some(&first) = labels.get(label) {
                    return Err(GraphError::DuplicateLabel {
                        label: label.clone(),
                        first: specs[first].id.clone(),
                        second: spec.id.clone(),
                    });
                }
                labels.insert(label.clone(), i);
            }
        }
        let topo = topological_order(&nodes, &specs)?;
        let mut rank = vec![0; nodes.len()];
        for (position, &node) in topo.iter().enumerate() {
            rank[node] = position;
        }
        Ok(Self {
            nodes,
            index,
            labels,
            topo,
            rank,
        })
    }

    /// True if `id` is a revision.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    fn idx(&self, id: &str) -> Result<usize, GraphError> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| GraphError::UnknownRevision { target: id.into() })
    }

    fn ids(&self, nodes: impl IntoIterator<Item = usize>) -> Vec<String> {
        let mut nodes: Vec<usize> = nodes.into_iter().collect();
        nodes.sort_by_key(|&n| self.rank[n]);
        nodes.dedup();
        nodes
            .into_iter()
            .map(|n| self.nodes[n].id.clone())
            .collect()
    }

    /// Every revision id, parents first.
    pub fn ordered(&self) -> Vec<String> {
        self.topo
            .iter()
            .map(|&n| self.nodes[n].id.clone())
            .collect()
    }

    /// The parents of `id`.
    pub fn parents(&self, id: &str) -> Vec<String> {
        self.index
            .get(id)
            .map(|&i| {
                self.nodes[i]
                    .parents
                    .iter()
                    .map(|&p| self.nodes[p].id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The children of `id` (revisions naming it as a parent).
    pub fn children(&self, id: &str) -> Vec<String> {
        self.index
            .get(id)
            .map(|&i| self.ids(self.nodes[i].children.iter().copied()))
            .unwrap_or_default()
    }

    /// Revisions no other revision names as a parent.
    pub fn heads(&self) -> Vec<String> {
        self.ids((0..self.nodes.len()).filter(|&i| self.nodes[i].children.is_empty()))
    }

    /// Revisions without parents.
    pub fn bases(&self) -> Vec<String> {
        self.ids((0..self.nodes.len()).filter(|&i| self.nodes[i].parents.is_empty()))
    }

    /// Revisions with more than one child: where branches split.
    pub fn branch_points(&self) -> Vec<String> {
        self.ids((0..self.nodes.len()).filter(|&i| self.nodes[i].children.len() > 1))
    }

    /// Walks from `start` along the edges `walk` names, returning every node reached (`start`
    /// included).
    fn closure(&self, start: impl IntoIterator<Item = usize>, walk: Walk) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = start.into_iter().collect();
        while let Some(node) = stack.pop() {
            if seen.insert(node) {
                let n = &self.nodes[node];
                match walk {
                    Walk::Needs => stack.extend(n.parents.iter().chain(&n.depends_on)),
                    Walk::NeededBy => stack.extend(n.children.iter().chain(&n.dependents)),
                    Walk::Children => stack.extend(&n.children),
                }
            }
        }
        seen
    }

    fn id_set(&self, nodes: BTreeSet<usize>) -> HashSet<String> {
        nodes
            .into_iter()
            .map(|n| self.nodes[n].id.clone())
            .collect()
    }

    fn set_of(&self, ids: &HashSet<String>) -> Result<BTreeSet<usize>, GraphError> {
        ids.iter().map(|id| self.idx(id)).collect()
    }

    /// `ids` and everything they need (parents and dependencies, transitively).
    pub fn ancestors(&self, ids: &[String]) -> Result<HashSet<String>, GraphError> {
        let start = ids
            .iter()
            .map(|id| self.idx(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.id_set(self.closure(start, Walk::Needs)))
    }

    /// `id` and everything that needs it (children and dependents, transitively).
    pub fn descendants(&self, id: &str) -> Result<HashSet<String>, GraphError> {
        let start = self.idx(id)?;
        Ok(self.id_set(self.closure([start], Walk::NeededBy)))
    }

    /// `id` and the revisions on its branch after it: children, transitively, but not the
    /// revisions of other branches that only depend on it.
    pub fn branch_descendants(&self, id: &str) -> Result<HashSet<String>, GraphError> {
        let start = self.idx(id)?;
        Ok(self.id_set(self.closure([start], Walk::Children)))
    }

    /// The applied revisions a version table's rows stand for: the rows and all they need.
    pub fn applied_from_rows(&self, rows: &[String]) -> Result<HashSet<String>, GraphError> {
        for row in rows {
            if !self.contains(row) {
                return Err(GraphError::UnknownApplied { id: row.clone() });
            }
        }
        self.ancestors(rows)
    }

    /// The fewest revisions whose ancestry is `set`: what the version table stores (one row
    /// per head, as Alembic's does).
    pub fn heads_of(&self, set: &HashSet<String>) -> Result<Vec<String>, GraphError> {
        let nodes = self.set_of(set)?;
        let mut covered = BTreeSet::new();
        for &node in &nodes {
            let n = &self.nodes[node];
            covered.extend(n.parents.iter().chain(&n.depends_on).copied());
        }
        let covered = self.closure(covered, Walk::Needs);
        Ok(self.ids(nodes.into_iter().filter(|n| !covered.contains(n))))
    }

    /// The tips of every branch the revisions a version table's rows stand for reach (see
    /// [`Graph::applied_from_rows`]): those none of whose children are applied. These are the
    /// rows plus, as Alembic's `current` shows them, the branch tips a `depends_on` absorbed
    /// (their row was dropped because an applied revision of another branch depends on them).
    /// Found on the graph's numbers, not ids: `current` asks on every call.
    pub fn effective_heads(&self, rows: &[String]) -> Result<Vec<String>, GraphError> {
        let start = rows
            .iter()
            .map(|row| {
                self.index
                    .get(row.as_str())
                    .copied()
                    .ok_or_else(|| GraphError::UnknownApplied { id: row.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let applied = self.closure(start, Walk::Needs);
        Ok(self.ids(
            applied
                .iter()
                .copied()
                .filter(|&n| !self.nodes[n].children.iter().any(|c| applied.contains(c))),
        ))
    }

    /// `set` in the order upgrades apply it.
    pub fn sorted(&self, set: &HashSet<String>) -> Result<Vec<String>, GraphError> {
        Ok(self.ids(self.set_of(set)?))
    }

    /// What to apply, in order, to bring `applied` up to include every revision of `targets`.
    pub fn upgrade_path(
        &self,
        applied: &HashSet<String>,
        targets: &[String],
    ) -> Result<Vec<String>, GraphError> {
        let wanted = self.ancestors(targets)?;
        self.sorted(&wanted.difference(applied).cloned().collect())
    }

    /// What to revert, newest first, so that only `keep` and its ancestors stay of the branches
    /// `keep` is on: every applied revision that descends from a kept one (an empty `keep`
    /// means base: revert everything).
    pub fn downgrade_path(
        &self,
        applied: &HashSet<String>,
        keep: &[String],
    ) -> Result<Vec<String>, GraphError> {
        let remove: HashSet<String> = if keep.is_empty() {
            applied.clone()
        } else {
            let kept = self.ancestors(keep)?;
            let mut below = HashSet::new();
            for id in keep {
                below.extend(self.descendants(id)?);
            }
            below
                .into_iter()
                .filter(|id| applied.contains(id) && !kept.contains(id))
                .collect()
        };
        let mut order = self.sorted(&remove)?;
        order.reverse();
        Ok(order)
    }

    /// Resolves a full id, a unique id prefix, or a branch label (the labelled revision).
    pub fn resolve(&self, text: &str) -> Result<String, GraphError> {
        if self.index.contains_key(text) {
            return Ok(text.to_string());
        }
        if let Some(&labelled) = self.labels.get(text) {
            return Ok(self.nodes[labelled].id.clone());
        }
        let candidates: Vec<String> = self
            .topo
            .iter()
            .map(|&n| &self.nodes[n].id)
            .filter(|id| id.starts_with(text))
            .cloned()
            .collect();
        match candidates.len() {
            0 => Err(GraphError::UnknownRevision {
                target: text.into(),
            }),
            1 => Ok(candidates[0].clone()),
            _ => Err(GraphError::AmbiguousPrefix {
                prefix: text.into(),
                candidates,
            }),
        }
    }

    /// True if `label` is a branch label.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.contains_key(label)
    }
}

/// Which edges a walk follows.
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// Parents and dependencies: what a revision needs.
    Needs,
    /// Children and dependents: what needs a revision.
    NeededBy,
    /// Children only: the revisions of its own branch.
    Children,
}

/// Kahn's algorithm with a heap keyed by (created, id), so independent branches apply in the
/// order they were written; a cycle leaves nodes unvisited and is reported as a path.
fn topological_order(nodes: &[Node], specs: &[NodeSpec]) -> Result<Vec<usize>, GraphError> {
    let key = |i: usize| Reverse((specs[i].created, specs[i].id.clone(), i));
    let mut waiting: Vec<usize> = nodes
        .iter()
        .map(|n| n.parents.len() + n.depends_on.len())
        .collect();
    let mut ready: BinaryHeap<_> = (0..nodes.len())
        .filter(|&i| waiting[i] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse((_, _, node))) = ready.pop() {
        order.push(node);
        for &next in nodes[node].children.iter().chain(&nodes[node].dependents) {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push(key(next));
            }
        }
    }
    if order.len() == nodes.len() {
        return Ok(order);
    }
    // Follow parents from a node left over until one repeats: that loop is the cycle.
    let Some(start) = (0..nodes.len()).find(|&i| waiting[i] > 0) else {
        return Ok(order);
    };
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = nodes[current]
            .parents
            .iter()
            .chain(&nodes[current].depends_on)
            .copied()
            .find(|&p| waiting[p] > 0)
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|&i| nodes[i].id.clone()).collect();
            cycle.push(nodes[next].id.clone());
            return Err(GraphError::Cycle { cycle });
        }
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `(id, parents, depends_on, labels)` of one test revision.
    pub type Spec<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

    /// A graph from specs in creation order.
    pub fn graph(spec: &[Spec<'_>]) -> Result<Graph, GraphError> {
        let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Graph::build(
            spec.iter()
                .enumerate()
                .map(|(i, (id, parents, deps, labels))| NodeSpec {
                    id: id.to_string(),
                    parents: parents.iter().map(|s| s.to_string()).collect(),
                    depends_on: deps.iter().map(|s| s.to_string()).collect(),
                    branch_labels: labels.iter().map(|s| s.to_string()).collect(),
                    created: Some(base + chrono::Duration::minutes(i as i64)),
                })
                .collect(),
        )
    }

    pub fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn effective_heads_are_the_rows_and_the_tips_a_dependency_absorbed() {
        let g = graph(&[
            ("a", &[], &[], &[]),
            ("b", &["a"], &[], &[]),
            ("c", &[], &[], &[]),
            ("d", &["c"], &["b"], &[]),
            ("e", &["d"], &[], &[]),
        ])
        .unwrap();
        assert_eq!(
            g.effective_heads(&strings(&["d"])).unwrap(),
            strings(&["b", "d"])
        );
        assert_eq!(
            g.effective_heads(&strings(&["b"])).unwrap(),
            strings(&["b"])
        );
        assert_eq!(g.effective_heads(&[]).unwrap(), Vec::<String>::new());
        assert!(matches!(
            g.effective_heads(&strings(&["zz"])),
            Err(GraphError::UnknownApplied { id }) if id == "zz"
        ));
    }

    #[test]
    fn linear_history_has_one_base_and_one_head() {
        let g = graph(&[
            ("a1", &[], &[], &[]),
            ("b2", &["a1"], &[], &[]),
            ("c3", &["b2"], &[], &[]),
        ])
        .unwrap();
        assert_eq!(g.heads(), ["c3"]);
        assert_eq!(g.bases(), ["a1"]);
        assert!(g.branch_points().is_empty());
        assert_eq!(
            g.upgrade_path(&set(&[]), &strings(&["c3"])).unwrap(),
            ["a1", "b2", "c3"]
        );
        assert_eq!(
            g.upgrade_path(&set(&["a1"]), &strings(&["b2"])).unwrap(),
            ["b2"]
        );
        assert_eq!(
            g.downgrade_path(&set(&["a1", "b2", "c3"]), &strings(&["a1"]))
                .unwrap(),
            ["c3", "b2"]
        );
        assert_eq!(
            g.downgrade_path(&set(&["a1", "b2", "c3"]), &[]).unwrap(),
            ["c3", "b2", "a1"]
        );
        assert_eq!(g.heads_of(&set(&["a1", "b2"])).unwrap(), ["b2"]);
    }

    #[test]
    fn diamond_branches_and_merges() {
        // a -> (b, c) -> m
        let g = graph(&[
            ("a", &[], &[], &[]),
            ("b", &["a"], &[], &[]),
            ("c", &["a"], &[], &[]),
            ("m", &["b", "c"], &[], &[]),
        ])
        .unwrap();
        assert_eq!(g.heads(), ["m"]);
        assert_eq!(g.branch_points(), ["a"]);
        assert_eq!(
            g.upgrade_path(&set(&[]), &strings(&["m"])).unwrap(),
            ["a", "b", "c", "m"]
        );
        assert_eq!(g.heads_of(&set(&["a", "b", "c"])).unwrap(), ["b", "c"]);
        assert_eq!(g.heads_of(&set(&["a", "b", "c", "m"])).unwrap(), ["m"]);
        // Reverting b takes the merge with it but leaves c.
        assert_eq!(
            g.downgrade_path(&set(&["a", "b", "c", "m"]), &strings(&["a"]))
                .unwrap(),
            ["m", "c", "b"]
        );
        assert_eq!(
            g.downgrade_path(&set(&["a", "b", "c", "m"]), &strings(&["b", "c"]))
                .unwrap(),
            ["m"]
        );
        assert_eq!(
            g.downgrade_path(&set(&["a", "b", "c"]), &strings(&["c"]))
                .unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn two_bases_are_two_independent_histories() {
        let g = graph(&[
            ("a", &[], &[], &[]),
            ("x", &[], &[], &[]),
            ("b", &["a"], &[], &[]),
            ("y", &["x"], &[], &[]),
        ])
        .unwrap();
        assert_eq!(g.bases(), ["a", "x"]);
        assert_eq!(g.heads(), ["b", "y"]);
        assert_eq!(
            g.upgrade_path(&set(&[]), &strings(&["b"])).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            g.upgrade_path(&set(&["a"]), &g.heads()).unwrap(),
            ["x", "b", "y"]
        );
        assert_eq!(
            g.downgrade_path(&set(&["a", "b", "x", "y"]), &strings(&["x"]))
                .unwrap(),
            ["y"]
        );
    }

    #[test]
    fn depends_on_orders_without_merging() {
        // b (branch two) needs a2 (branch one) applied first, but the branches stay apart.
        let g = graph(&[
            ("a1", &[], &[], &[]),
            ("a2", &["a1"], &[], &[]),
            ("b1", &[], &[], &[]),
            ("b2", &["b1"], &["a2"], &[]),
        ])
        .unwrap();
        assert_eq!(g.heads(), ["a2", "b2"]);
        assert_eq!(
            g.upgrade_path(&set(&[]), &strings(&["b2"])).unwrap(),
            ["a1", "a2", "b1", "b2"]
        );
        // Applied a1, a2, b1, b2: the table keeps b2 only, which stands for all of them.
        assert_eq!(g.heads_of(&set(&["a1", "a2", "b1", "b2"])).unwrap(), ["b2"]);
        // Reverting branch one down to a1 must first revert b2, which needs a2.
        assert_eq!(
            g.downgrade_path(&set(&["a1", "a2", "b1", "b2"]), &strings(&["a1"]))
                .unwrap(),
            ["b2", "a2"]
        );
    }

    #[test]
    fn branch_labels_resolve_to_their_revision() {
        let g = graph(&[("a", &[], &[], &[]), ("b", &["a"], &[], &["billing"])]).unwrap();
        assert_eq!(g.resolve("billing").unwrap(), "b");
        assert!(g.has_label("billing") && !g.has_label("b"));
        let err = graph(&[("a", &[], &[], &["x"]), ("b", &["a"], &[], &["x"])]).unwrap_err();
        assert_eq!(err.to_string(), "branch label 'x' is on both 'a' and 'b'");
        let err = graph(&[("a", &[], &[], &["a"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "branch label 'a' of 'a' is also a revision id"
        );
    }

    #[test]
    fn rejects_cycles_missing_parents_and_duplicates() {
        let err = graph(&[
            ("a", &["c"], &[], &[]),
            ("b", &["a"], &[], &[]),
            ("c", &["b"], &[], &[]),
        ])
        .unwrap_err();
        let GraphError::Cycle { cycle } = &err else {
            panic!("{err}")
        };
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4, "{err}");
        let err = graph(&[("a", &["a"], &[], &[])]).unwrap_err();
        assert_eq!(err.to_string(), "the revisions form a cycle: a -> a");
        let err = graph(&[("a", &[], &[], &[]), ("b", &["zz"], &[], &[])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision 'b' names parent 'zz', which does not exist"
        );
        let err = graph(&[("a", &[], &[], &[]), ("b", &["a"], &["zz"], &[])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision 'b' depends on 'zz', which does not exist"
        );
        let err = graph(&[("a", &[], &[], &[]), ("a", &[], &[], &[])]).unwrap_err();
        assert_eq!(err.to_string(), "revision 'a' is defined twice");
    }

    #[test]
    fn prefixes_resolve_when_unique() {
        let g = graph(&[("abc123", &[], &[], &[]), ("abd456", &["abc123"], &[], &[])]).unwrap();
        assert_eq!(g.resolve("abc").unwrap(), "abc123");
        let err = g.resolve("ab").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'ab' is ambiguous: it starts abc123, abd456"
        );
        assert_eq!(g.resolve("zz").unwrap_err().to_string(), "no revision 'zz'");
        assert_eq!(
            g.applied_from_rows(&strings(&["gone"]))
                .unwrap_err()
                .to_string(),
            "the database is at revision 'gone', which is not among the revision files"
        );
    }
}
