//! k-nearest-neighbour lists for the clustering graph: exact search by blocked matrix products,
//! and an IVF index (k-means coarse quantiser, list-level probing) for sizes where the exact
//! search costs too much. Both return the same structure, with distances recomputed exactly.

use crate::util::rng::SplitMix64;
use ndarray::{linalg::general_mat_mul, Array2, ArrayView2};
use rayon::prelude::*;

/// Extra candidates kept during the fast (dot-product) search: the final order comes from exact
/// distances, and the dot-product shortcut can misorder near-ties by a few ulps.
const EXTRA: usize = 4;
/// Query rows per task; with CANDIDATE_BLOCK this bounds the per-task product buffer (1 MiB).
const QUERY_BLOCK: usize = 128;
const CANDIDATE_BLOCK: usize = 2048;

/// Neighbour lists, one row of `k` per point, each sorted by (distance, index), self excluded.
#[derive(Debug, Clone)]
pub struct Knn {
    pub k: usize,
    pub idx: Vec<u32>,
    pub dist: Vec<f32>,
}

impl Knn {
    pub fn len(&self) -> usize {
        self.idx.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.idx[r.clone()], &self.dist[r])
    }
}

/// How neighbours are found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KnnMethod {
    /// Every pair, by blocked matrix products.
    Exact,
    /// Points are bucketed by the nearest of `n_lists` k-means centroids; a bucket's points search
    /// the `n_probe` buckets whose centroids are nearest to their own bucket's centroid.
    Ivf { n_lists: usize, n_probe: usize },
}

/// Row-major copy of the embeddings with squared norms: the products need contiguous rows, and
/// the norms turn a dot product into a Euclidean ranking for vectors that are not quite unit.
pub struct Points {
    pub n: usize,
    pub d: usize,
    pub data: Vec<f32>,
    pub sq_norms: Vec<f32>,
}

impl Points {
    pub fn new(embeddings: &[Vec<f32>]) -> Self {
        Self::from_rows(embeddings)
    }

    pub fn from_rows<E: AsRef<[f32]>>(embeddings: &[E]) -> Self {
        let embeddings: Vec<&[f32]> = embeddings.iter().map(AsRef::as_ref).collect();
        let d = embeddings.first().map_or(0, |e| e.len());
        let mut data = Vec::with_capacity(embeddings.len() * d);
        for e in &embeddings {
            data.extend_from_slice(e);
        }
        let sq_norms = embeddings
            .iter()
            .map(|e| e.iter().map(|x| x * x).sum())
            .collect();
        Self {
            n: embeddings.len(),
            d,
            data,
            sq_norms,
        }
    }

    fn rows(&self, start: usize, end: usize) -> &[f32] {
        &self.data[start * self.d..end * self.d]
    }

    fn row(&self, i: usize) -> &[f32] {
        self.rows(i, i + 1)
    }
}

/// Euclidean distance with the same arithmetic (order of operations included) as the `hdbscan`
/// crate, so that edge weights, and therefore tie-breaks and lambdas, are bit-identical to it.
pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .fold(0.0, |s, v| s + v)
        .sqrt()
}

/// `out = a * b^T` for row-major blocks `a` (ra x d) and `b` (rb x d).
fn products(a: &[f32], b: &[f32], d: usize, out: &mut Array2<f32>) {
    let (ra, rb) = (a.len() / d, b.len() / d);
    // Shapes are consistent by construction (slices are whole rows of width d).
    let (Ok(av), Ok(bv)) = (
        ArrayView2::from_shape((ra, d), a),
        ArrayView2::from_shape((rb, d), b),
    ) else {
        return;
    };
    if out.dim() != (ra, rb) {
        *out = Array2::zeros((ra, rb));
    }
    general_mat_mul(1.0, &av, &bv.t(), 0.0, out);
}

/// One point's finished list: (point, [(distance, neighbour)]).
type Row = (usize, Vec<(f32, u32)>);

/// The best `cap` candidates of each query row, by score (larger is nearer).
struct TopK {
    cap: usize,
    scores: Vec<f32>,
    ids: Vec<u32>,
    lens: Vec<usize>,
}

impl TopK {
    fn new(rows: usize, cap: usize) -> Self {
        Self {
            cap,
            scores: vec![f32::NEG_INFINITY; rows * cap],
            ids: vec![u32::MAX; rows * cap],
            lens: vec![0; rows],
        }
    }

    /// Scores one row of products against candidates `ids`; `score = dot - |c|^2 / 2` ranks
    /// candidates by Euclidean distance to the query.
    fn offer_row(&mut self, row: usize, dots: &[f32], cand: &[u32], sq_norms: &[f32], me: u32) {
        let cap = self.cap;
        let scores = &mut self.scores[row * cap..(row + 1) * cap];
        let ids = &mut self.ids[row * cap..(row + 1) * cap];
        let len = &mut self.lens[row];
        for ((&dot, &id), &sq) in dots.iter().zip(cand).zip(sq_norms) {
            let s = dot - 0.5 * sq;
            if (*len == cap && s <= scores[cap - 1]) || id == me {
                continue;
            }
            let mut pos = if *len < cap {
                *len += 1;
                *len - 1
            } else {
                cap - 1
            };
            while pos > 0 && scores[pos - 1] < s {
                scores[pos] = scores[pos - 1];
                ids[pos] = ids[pos - 1];
                pos -= 1;
            }
            scores[pos] = s;
            ids[pos] = id;
        }
    }

    /// Offers one candidate that may already be in the row (neighbour-of-neighbour search).
    fn offer_unique(&mut self, row: usize, s: f32, id: u32, me: u32) {
        let cap = self.cap;
        let len = self.lens[row];
        let (scores, ids) = (
            &self.scores[row * cap..(row + 1) * cap],
            &self.ids[row * cap..row * cap + len],
        );
        if id == me || (len == cap && s <= scores[cap - 1]) || ids.contains(&id) {
            return;
        }
        self.offer_row(row, &[s], &[id], &[0.0], me);
    }

    /// Exact distances for the kept candidates, sorted by (distance, index), cut to `k`.
    fn finish(&self, row: usize, query: &[f32], points: &Points, k: usize) -> Vec<(f32, u32)> {
        let ids = &self.ids[row * self.cap..row * self.cap + self.lens[row]];
        let mut out: Vec<(f32, u32)> = ids
            .iter()
            .map(|&j| (euclidean(query, points.row(j as usize)), j))
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.truncate(k);
        out
    }
}

/// Neighbour lists for every point. `k` is capped at `n - 1`.
pub fn build(points: &Points, k: usize, method: KnnMethod) -> Knn {
    let k = k.min(points.n.saturating_sub(1));
    if k == 0 {
        return Knn {
            k: 0,
            idx: Vec::new(),
            dist: Vec::new(),
        };
    }
    match method {
        KnnMethod::Exact => exact(points, k),
        KnnMethod::Ivf { n_lists, n_probe } => refine(points, ivf(points, k, n_lists, n_probe)),
    }
}

fn assemble(n: usize, k: usize, rows: impl IntoIterator<Item = (usize, Vec<(f32, u32)>)>) -> Knn {
    let mut idx = vec![u32::MAX; n * k];
    let mut dist = vec![f32::INFINITY; n * k];
    for (i, row) in rows {
        for (slot, (d, j)) in row.into_iter().enumerate().take(k) {
            idx[i * k + slot] = j;
            dist[i * k + slot] = d;
        }
    }
    Knn { k, idx, dist }
}

/// Exact kNN: each task takes a block of query rows and streams all points past it in blocks,
/// so memory is O(n k + QUERY_BLOCK * CANDIDATE_BLOCK) and the work is matrix products.
fn exact(points: &Points, k: usize) -> Knn {
    let n = points.n;
    let cap = (k + EXTRA).min(n - 1);
    let all_ids: Vec<u32> = (0..n as u32).collect();
    let blocks: Vec<Vec<Row>> = (0..n.div_ceil(QUERY_BLOCK))
        .into_par_iter()
        .map(|b| {
            let (qs, qe) = (b * QUERY_BLOCK, ((b + 1) * QUERY_BLOCK).min(n));
            let queries = points.rows(qs, qe);
            let mut top = TopK::new(qe - qs, cap);
            let mut buf = Array2::zeros((0, 0));
            for cs in (0..n).step_by(CANDIDATE_BLOCK) {
                let ce = (cs + CANDIDATE_BLOCK).min(n);
                products(queries, points.rows(cs, ce), points.d, &mut buf);
                for (r, dots) in buf.rows().into_iter().enumerate() {
                    let dots = dots.as_slice().unwrap_or(&[]);
                    top.offer_row(
                        r,
                        dots,
                        &all_ids[cs..ce],
                        &points.sq_norms[cs..ce],
                        (qs + r) as u32,
                    );
                }
            }
            (qs..qe)
                .map(|i| (i, top.finish(i - qs, points.row(i), points, k)))
                .collect()
        })
        .collect();
    assemble(n, k, blocks.into_iter().flatten())
}

/// The `k` nearest `base` points of every query (exact, by blocked matrix products like
/// [`build`]'s exact search), each list sorted by (distance, index). `k` is capped at the
/// number of base points.
pub fn search(queries: &Points, base: &Points, k: usize) -> Vec<Vec<(f32, u32)>> {
    let k = k.min(base.n);
    if k == 0 || queries.n == 0 {
        return vec![Vec::new(); queries.n];
    }
    let cap = (k + EXTRA).min(base.n);
    let all_ids: Vec<u32> = (0..base.n as u32).collect();
    let blocks: Vec<Vec<Vec<(f32, u32)>>> = (0..queries.n.div_ceil(QUERY_BLOCK))
        .into_par_iter()
        .map(|b| {
            let (qs, qe) = (b * QUERY_BLOCK, ((b + 1) * QUERY_BLOCK).min(queries.n));
            let mut top = TopK::new(qe - qs, cap);
            let mut buf = Array2::zeros((0, 0));
            for cs in (0..base.n).step_by(CANDIDATE_BLOCK) {
                let ce = (cs + CANDIDATE_BLOCK).min(base.n);
                products(queries.rows(qs, qe), base.rows(cs, ce), base.d, &mut buf);
                for (r, dots) in buf.rows().into_iter().enumerate() {
                    let dots = dots.as_slice().unwrap_or(&[]);
                    // No point is its own neighbour here: queries and base are different sets.
                    top.offer_row(r, dots, &all_ids[cs..ce], &base.sq_norms[cs..ce], u32::MAX);
                }
            }
            (qs..qe)
                .map(|i| top.finish(i - qs, queries.row(i), base, k))
                .collect()
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// Dot product with eight independent accumulators, so that it vectorises (the exact,
/// sequential `euclidean` does not); used only to rank candidates.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for t in 0..8 {
            acc[t] += x[t] * y[t];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One round of neighbour-of-neighbour search (as in NN-descent): a neighbour's neighbours are
/// likely neighbours, which recovers most of what IVF misses at list boundaries, for k^2
/// distance evaluations per point.
fn refine(points: &Points, knn: Knn) -> Knn {
    let (n, k) = (points.n, knn.k);
    let cap = (k + EXTRA).min(n - 1);
    let rows: Vec<Row> = (0..n)
        .into_par_iter()
        .map(|i| {
            let query = points.row(i);
            let mut top = TopK::new(1, cap);
            let own = knn.row(i).0;
            let second = own
                .iter()
                .filter(|&&j| j != u32::MAX)
                .flat_map(|&j| knn.row(j as usize).0);
            for &j in own.iter().chain(second).filter(|&&j| j != u32::MAX) {
                let s = dot(query, points.row(j as usize)) - 0.5 * points.sq_norms[j as usize];
                top.offer_unique(0, s, j, i as u32);
            }
            (i, top.finish(0, query, points, k))
        })
        .collect();
    assemble(n, k, rows)
}

/// Nearest centroid of every row of `data` (row-major, width d), by blocked products.
fn assign(data: &[f32], d: usize, centroids: &[f32], c_sq: &[f32]) -> Vec<u32> {
    data.par_chunks(QUERY_BLOCK * d)
        .flat_map_iter(|block| {
            let mut buf = Array2::zeros((0, 0));
            products(block, centroids, d, &mut buf);
            buf.rows()
                .into_iter()
                .map(|dots| {
                    let mut best = (f32::NEG_INFINITY, 0u32);
                    for (c, (&dot, &sq)) in dots.iter().zip(c_sq).enumerate() {
                        let s = dot - 0.5 * sq;
                        if s > best.0 {
                            best = (s, c as u32);
                        }
                    }
                    best.1
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Lloyd's k-means on a fixed-seed sample; empty lists keep their previous centroid.
fn kmeans(points: &Points, n_lists: usize) -> Vec<f32> {
    const ITERATIONS: usize = 8;
    const SAMPLE_PER_LIST: usize = 32;
    let (n, d) = (points.n, points.d);
    let mut rng = SplitMix64(0x5EED_F00D);
    // Partial Fisher-Yates: the first m entries are a uniform sample without replacement.
    let m = (n_lists * SAMPLE_PER_LIST).min(n);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        perm.swap(i, j);
    }
    let mut sample = Vec::with_capacity(m * d);
    for &i in &perm[..m] {
        sample.extend_from_slice(points.row(i));
    }
    let mut centroids = sample[..n_lists * d].to_vec();
    for _ in 0..ITERATIONS {
        let c_sq: Vec<f32> = centroids
            .chunks_exact(d)
            .map(|c| c.iter().map(|x| x * x).sum())
            .collect();
        let owner = assign(&sample, d, &centroids, &c_sq);
        let mut sums = vec![0.0f64; n_lists * d];
        let mut counts = vec![0usize; n_lists];
        for (row, &c) in sample.chunks_exact(d).zip(&owner) {
            let c = c as usize;
            counts[c] += 1;
            for (s, &x) in sums[c * d..(c + 1) * d].iter_mut().zip(row) {
                *s += f64::from(x);
            }
        }
        for c in 0..n_lists {
            if counts[c] > 0 {
                for t in 0..d {
                    centroids[c * d + t] = (sums[c * d + t] / counts[c] as f64) as f32;
                }
            }
        }
    }
    centroids
}

/// Approximate kNN with an inverted file. Probing is per list rather than per point so that
/// every task is a dense product of one list's points against a few whole lists.
fn ivf(points: &Points, k: usize, n_lists: usize, n_probe: usize) -> Knn {
    let (n, d) = (points.n, points.d);
    let n_lists = n_lists.clamp(1, n);
    let n_probe = n_probe.clamp(1, n_lists);
    let centroids = kmeans(points, n_lists);
    let c_sq: Vec<f32> = centroids
        .chunks_exact(d)
        .map(|c| c.iter().map(|x| x * x).sum())
        .collect();
    let owner = assign(&points.data, d, &centroids, &c_sq);
    // Counting sort by list keeps points in index order within a list (determinism).
    let mut offsets = vec![0usize; n_lists + 1];
    for &c in &owner {
        offsets[c as usize + 1] += 1;
    }
    for c in 0..n_lists {
        offsets[c + 1] += offsets[c];
    }
    let mut next = offsets.clone();
    let mut order = vec![0u32; n];
    for (i, &c) in owner.iter().enumerate() {
        order[next[c as usize]] = i as u32;
        next[c as usize] += 1;
    }
    let mut sorted = Vec::with_capacity(n * d);
    for &i in &order {
        sorted.extend_from_slice(points.row(i as usize));
    }
    let sorted_sq: Vec<f32> = order.iter().map(|&i| points.sq_norms[i as usize]).collect();
    // Lists to probe for each list: the n_probe nearest centroids (itself first).
    let probes: Vec<Vec<usize>> = (0..n_lists)
        .into_par_iter()
        .map(|a| {
            let ca = &centroids[a * d..(a + 1) * d];
            let mut near: Vec<(f32, usize)> = (0..n_lists)
                .map(|b| (euclidean(ca, &centroids[b * d..(b + 1) * d]), b))
                .collect();
            near.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            near.truncate(n_probe);
            near.into_iter().map(|(_, b)| b).collect()
        })
        .collect();
    let tasks: Vec<(usize, usize, usize)> = (0..n_lists)
        .flat_map(|a| {
            let end = offsets[a + 1];
            (offsets[a]..end)
                .step_by(QUERY_BLOCK)
                .map(move |s| (a, s, (s + QUERY_BLOCK).min(end)))
        })
        .collect();
    let results: Vec<Vec<Row>> = tasks
        .par_iter()
        .map(|&(a, qs, qe)| {
            let queries = &sorted[qs * d..qe * d];
            let cap = (k + EXTRA).min(n - 1);
            let mut top = TopK::new(qe - qs, cap);
            let mut buf = Array2::zeros((0, 0));
            for &b in &probes[a] {
                for cs in (offsets[b]..offsets[b + 1]).step_by(CANDIDATE_BLOCK) {
                    let ce = (cs + CANDIDATE_BLOCK).min(offsets[b + 1]);
                    products(queries, &sorted[cs * d..ce * d], d, &mut buf);
                    for (r, dots) in buf.rows().into_iter().enumerate() {
                        let dots = dots.as_slice().unwrap_or(&[]);
                        top.offer_row(r, dots, &order[cs..ce], &sorted_sq[cs..ce], order[qs + r]);
                    }
                }
            }
            (qs..qe)
                .map(|s| {
                    let i = order[s] as usize;
                    (i, top.finish(s - qs, points.row(i), points, k))
                })
                .collect()
        })
        .collect();
    assemble(n, k, results.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_unit(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = SplitMix64(seed);
        (0..n)
            .map(|_| {
                let mut v: Vec<f32> = (0..d)
                    .map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0)
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect()
    }

    fn brute_force(data: &[Vec<f32>], k: usize) -> Vec<Vec<(f32, u32)>> {
        (0..data.len())
            .map(|i| {
                let mut row: Vec<(f32, u32)> = (0..data.len())
                    .filter(|&j| j != i)
                    .map(|j| (euclidean(&data[i], &data[j]), j as u32))
                    .collect();
                row.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                row.truncate(k);
                row
            })
            .collect()
    }

    #[test]
    fn exact_knn_matches_brute_force() {
        // Sizes straddle the block sizes so partial blocks are exercised.
        for (n, d, k) in [(5, 3, 10), (300, 16, 7), (2500, 32, 12)] {
            let data = random_unit(n, d, n as u64);
            let knn = build(&Points::new(&data), k, KnnMethod::Exact);
            let want = brute_force(&data, k);
            assert_eq!(knn.k, k.min(n - 1));
            for (i, row) in want.iter().enumerate() {
                let (idx, dist) = knn.row(i);
                let got: Vec<(f32, u32)> = dist.iter().copied().zip(idx.iter().copied()).collect();
                assert_eq!(&got, row, "point {i} of {n}");
            }
        }
    }

    #[test]
    fn search_of_one_set_in_another_matches_brute_force() {
        // Queries straddle QUERY_BLOCK and the base straddles CANDIDATE_BLOCK.
        for (nq, nb, d, k) in [(3, 2, 4, 5), (130, 2100, 16, 9)] {
            let queries = random_unit(nq, d, 7);
            let base = random_unit(nb, d, 8);
            let got = search(&Points::new(&queries), &Points::new(&base), k);
            for (q, row) in queries.iter().zip(&got) {
                let mut want: Vec<(f32, u32)> = base
                    .iter()
                    .enumerate()
                    .map(|(j, b)| (euclidean(q, b), j as u32))
                    .collect();
                want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                want.truncate(k);
                assert_eq!(row, &want);
            }
        }
        assert!(
            search(&Points::new(&random_unit(2, 4, 1)), &Points::new(&[]), 3)
                .iter()
                .all(Vec::is_empty)
        );
    }

    #[test]
    fn ivf_with_all_lists_probed_is_exact_and_is_deterministic() {
        let data = random_unit(700, 24, 3);
        let points = Points::new(&data);
        let method = KnnMethod::Ivf {
            n_lists: 8,
            n_probe: 8,
        };
        let knn = build(&points, 5, method);
        let exact = build(&points, 5, KnnMethod::Exact);
        assert_eq!(knn.idx, exact.idx);
        assert_eq!(knn.dist, exact.dist);
        let partial = KnnMethod::Ivf {
            n_lists: 16,
            n_probe: 4,
        };
        assert_eq!(
            build(&points, 5, partial).idx,
            build(&points, 5, partial).idx
        );
    }
}
