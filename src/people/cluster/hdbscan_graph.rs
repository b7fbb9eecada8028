//! HDBSCAN on the mutual-reachability graph restricted to kNN edges: core distances, Kruskal
//! MST (a forest joined at infinite distance), single-linkage tree, condensed tree, excess-of-mass
//! selection with a selection epsilon, and labelling. Follows the `hdbscan` crate (0.12) step by
//! step, float arithmetic included, so that on a complete graph the result is the crate's, except
//! for the labelling of fall-out points (see `label`).

use std::collections::VecDeque;

use rayon::prelude::*;

use super::knn::Knn;

/// Union-find with path halving and union by size.
struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins the sets of `a` and `b`; false when they were already one.
    fn union(&mut self, a: u32, b: u32) -> bool {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        true
    }
}

/// One merge of the single-linkage tree; node ids below n are points, node n + i is merge i.
struct Merge {
    left: usize,
    right: usize,
    distance: f32,
    size: usize,
}

/// One row of the condensed tree: `child` (a point if below n, else a cluster id) leaves
/// cluster `parent` at `lambda`.
struct Condensed {
    parent: usize,
    child: usize,
    lambda: f32,
    size: usize,
}

/// The crate's lambda: 1/distance, infinite for zero distance (duplicates).
fn lambda_of(distance: f32) -> f32 {
    if distance > 0.0 {
        1.0 / distance
    } else {
        f32::INFINITY
    }
}

/// Minimum spanning forest of the mutual-reachability kNN graph, as (weight, a, b) sorted by
/// weight, completed into a tree with infinite-weight edges between components.
fn spanning_tree(knn: &Knn, min_samples: usize) -> Vec<(f32, u32, u32)> {
    let n = knn.len();
    // The crate sorts each point's distances *including itself* (0) and takes entry
    // min_samples - 1, so min_samples = 1 gives core distance 0.
    let core: Vec<f32> = (0..n)
        .map(|i| match min_samples {
            0 | 1 => 0.0,
            m => knn.row(i).1.get(m - 2).copied().unwrap_or(f32::INFINITY),
        })
        .collect();
    let mut edges: Vec<(f32, u32, u32)> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let (idx, dist) = knn.row(i);
            let core = &core;
            idx.iter().zip(dist).filter_map(move |(&j, &d)| {
                let (a, b) = (i.min(j as usize), i.max(j as usize));
                (j != u32::MAX).then(|| (core[a].max(core[b]).max(d), a as u32, b as u32))
            })
        })
        .collect();
    // A total order on (weight, a, b) makes Kruskal deterministic under ties.
    edges.par_sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    edges.dedup();
    let mut uf = UnionFind::new(n);
    let mut tree = Vec::with_capacity(n.saturating_sub(1));
    for &(w, a, b) in &edges {
        if uf.union(a, b) {
            tree.push((w, a, b));
        }
    }
    drop(edges);
    // Components that no kNN edge joins only meet at the root, at lambda 0.
    for i in 1..n as u32 {
        if uf.union(0, i) {
            tree.push((f32::INFINITY, 0, i));
        }
    }
    tree
}

fn single_linkage(n: usize, tree: &[(f32, u32, u32)]) -> Vec<Merge> {
    // Each point/merge node points at the merge that absorbed it; `top[root]` is the node id
    // currently standing for that set.
    let mut uf = UnionFind::new(n);
    let mut top: Vec<usize> = (0..n).collect();
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    for (i, &(w, a, b)) in tree.iter().enumerate() {
        let (ra, rb) = (uf.find(a), uf.find(b));
        let (left, right) = (top[ra as usize], top[rb as usize]);
        let size = uf.size[ra as usize] + uf.size[rb as usize];
        uf.union(ra, rb);
        let r = uf.find(ra);
        top[r as usize] = n + i;
        merges.push(Merge {
            left,
            right,
            distance: w,
            size: size as usize,
        });
    }
    merges
}

/// Node ids of the subtree under `root`, breadth first (the order the crate uses).
fn subtree(n: usize, merges: &[Merge], root: usize) -> Vec<usize> {
    let mut queue = VecDeque::from([root]);
    let mut out = Vec::new();
    while let Some(node) = queue.pop_front() {
        out.push(node);
        if node >= n {
            let m = &merges[node - n];
            queue.push_back(m.left);
            queue.push_back(m.right);
        }
    }
    out
}

/// The condensed tree; cluster ids start at n (the root) and children get larger ids than
/// their parents.
fn condense(n: usize, merges: &[Merge], min_cluster_size: usize) -> Vec<Condensed> {
    let root = 2 * n - 2;
    let size_of = |node: usize| if node < n { 1 } else { merges[node - n].size };
    let mut relabel = vec![0usize; root + 1];
    relabel[root] = n;
    let mut next_label = n + 1;
    let mut visited = vec![false; root + 1];
    let mut out = Vec::new();
    for node in subtree(n, merges, root) {
        if visited[node] || node < n {
            continue;
        }
        let m = &merges[node - n];
        let lambda = lambda_of(m.distance);
        let (left, right) = (m.left, m.right);
        let (ls, rs) = (size_of(left), size_of(right));
        let parent = relabel[node];
        let mut fall_out = |child: usize, out: &mut Vec<Condensed>| {
            for sub in subtree(n, merges, child) {
                if sub < n {
                    out.push(Condensed {
                        parent,
                        child: sub,
                        lambda,
                        size: 1,
                    });
                }
                visited[sub] = true;
            }
        };
        match (ls >= min_cluster_size, rs >= min_cluster_size) {
            (true, true) => {
                for (child, size) in [(left, ls), (right, rs)] {
                    relabel[child] = next_label;
                    next_label += 1;
                    out.push(Condensed {
                        parent,
                        child: relabel[child],
                        lambda,
                        size,
                    });
                }
            }
            (false, false) => {
                fall_out(left, &mut out);
                fall_out(right, &mut out);
            }
            (false, true) => {
                relabel[right] = parent;
                fall_out(left, &mut out);
            }
            (true, false) => {
                relabel[left] = parent;
                fall_out(right, &mut out);
            }
        }
    }
    out
}

/// Cluster structure of the condensed tree, indexed by cluster id - n.
struct Clusters {
    parent: Vec<usize>,
    birth: Vec<f32>,
}

impl Clusters {
    fn new(n: usize, tree: &[Condensed]) -> Self {
        let count = 1 + tree.iter().filter(|c| c.child >= n).count();
        let mut parent = vec![0; count];
        let mut birth = vec![0.0; count];
        for c in tree.iter().filter(|c| c.child >= n) {
            parent[c.child - n] = c.parent - n;
            birth[c.child - n] = c.lambda;
        }
        Self { parent, birth }
    }
}

/// Excess of mass: the crate's comparison (`stability > children`, which is false for NaN from
/// infinite lambdas) and summation order. The root (everything) is a cluster only when nothing
/// else is: allowed to compete, it won whenever people each spread wider than half the distance
/// between them, and a whole library came out as one person; never allowed, a library with one
/// recurring person would find nobody.
fn excess_of_mass(n: usize, tree: &[Condensed], clusters: &Clusters) -> Vec<bool> {
    let count = clusters.parent.len();
    let mut stability = vec![0.0f32; count];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); count];
    for c in tree {
        let p = c.parent - n;
        stability[p] += (c.lambda - clusters.birth[p]) * c.size as f32;
        if c.child >= n {
            children[p].push(c.child - n);
        }
    }
    let mut selected = vec![false; count];
    for c in (0..count).rev() {
        let combined = children[c]
            .iter()
            .map(|&k| stability[k])
            .fold(0.0f32, |s, v| s + v);
        if c != 0 && stability[c] > combined {
            selected[c] = true;
        } else {
            stability[c] = combined;
        }
    }
    if !selected.iter().any(|&s| s) {
        selected[0] = true;
    }
    // Selecting a cluster deselects its descendants: keep only the top-most selections.
    let mut covered = vec![false; count];
    for c in 1..count {
        let p = clusters.parent[c];
        covered[c] = covered[p] || selected[p];
    }
    (0..count).map(|c| selected[c] && !covered[c]).collect()
}

/// Cluster selection epsilon: a selected cluster born below `epsilon` is replaced by its nearest
/// ancestor born above it, or by the root when the root itself splits below `epsilon` (then all
/// it holds is within `epsilon` of each other, and one person is right).
fn apply_epsilon(clusters: &Clusters, selected: &[bool], epsilon: f32) -> Vec<bool> {
    let count = selected.len();
    let birth_eps = |c: usize| {
        if c == 0 {
            epsilon - 1.0
        } else {
            1.0 / clusters.birth[c]
        }
    };
    let mut out = vec![false; count];
    for c in (0..count).filter(|&c| selected[c]) {
        if birth_eps(c) >= epsilon {
            out[c] = true;
            continue;
        }
        let mut cur = c;
        loop {
            let p = clusters.parent[cur];
            if p == 0 || birth_eps(p) > epsilon {
                out[p] = true;
                break;
            }
            cur = p;
        }
    }
    let mut covered = vec![false; count];
    for c in 1..count {
        let p = clusters.parent[c];
        covered[c] = covered[p] || out[p];
    }
    (0..count).map(|c| out[c] && !covered[c]).collect()
}

/// Labels: every point of a selected cluster's descendant clusters belongs to it; a point that
/// fell out of the selected cluster itself belongs only if it fell out at lambda >= 1/epsilon
/// (within epsilon of the rest). The crate applies that test only for a single cluster and
/// otherwise absorbs points however far away they fell out.
fn label(
    n: usize,
    tree: &[Condensed],
    clusters: &Clusters,
    chosen: &[bool],
    epsilon: f32,
) -> Vec<i32> {
    let count = chosen.len();
    let mut owner: Vec<Option<usize>> = vec![None; count];
    owner[0] = chosen[0].then_some(0);
    for c in 1..count {
        owner[c] = if chosen[c] {
            Some(c)
        } else {
            owner[clusters.parent[c]]
        };
    }
    // Without epsilon, the crate keeps only root points that stayed until the last split.
    let root_threshold = tree
        .iter()
        .filter(|c| c.parent == n)
        .map(|c| c.lambda)
        .fold(0.0f32, f32::max);
    let mut labels = vec![-1; n];
    for c in tree.iter().filter(|c| c.child < n) {
        let p = c.parent - n;
        let Some(s) = owner[p] else { continue };
        let member = if s != p {
            true
        } else if epsilon > 0.0 {
            c.lambda >= 1.0 / epsilon
        } else {
            p != 0 || c.lambda >= root_threshold
        };
        if member {
            labels[c.child] = s as i32;
        }
    }
    labels
}

/// Raw HDBSCAN labels (-1 = noise) from kNN lists with exact distances.
pub fn hdbscan(knn: &Knn, min_samples: usize, min_cluster_size: usize, epsilon: f32) -> Vec<i32> {
    let n = knn.len();
    if n < 2 {
        return vec![-1; n];
    }
    let tree = spanning_tree(knn, min_samples);
    let merges = single_linkage(n, &tree);
    drop(tree);
    let condensed = condense(n, &merges, min_cluster_size);
    drop(merges);
    let clusters = Clusters::new(n, &condensed);
    let mut chosen = excess_of_mass(n, &condensed, &clusters);
    if epsilon > 0.0 {
        chosen = apply_epsilon(&clusters, &chosen, epsilon);
    }
    label(n, &condensed, &clusters, &chosen, epsilon)
}
