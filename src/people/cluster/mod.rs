//! Embeddings -> people. HDBSCAN (Euclidean distance on L2-normalised vectors, which orders
//! pairs exactly as cosine distance does) groups faces; faces in no dense group are noise. People
//! are numbered deterministically: largest first, ties by earliest face. Pure: no I/O.
//!
//! The production path ([`cluster`]) runs HDBSCAN on the mutual-reachability graph of each
//! face's nearest neighbours ([`knn`], [`hdbscan_graph`]), so time and memory grow with n k
//! rather than n^2. The `hdbscan` crate, which computes every pairwise distance, stays as the
//! reference (`cluster_exact`: tests, and `--features reference-hdbscan` for
//! examples/cluster_bench.rs) the graph path is tested against.

mod hdbscan_graph;
mod knn;

pub use knn::KnnMethod;

use std::collections::HashMap;

use rayon::prelude::*;

#[cfg(any(test, feature = "reference-hdbscan"))]
use hdbscan::{DistanceMetric, Hdbscan, HdbscanHyperParams};

/// Euclidean distance between unit vectors, 0.95 = cosine similarity 0.549. Chosen on the
/// labelled evaluation set (docs/QUALITY.md): from 0.9 to 0.95 the hard set's BCubed F rises
/// from 0.879 to 0.922 with pairwise precision still 1.0; different people measured so far are
/// at 1.06 or more (cosine <= 0.436, ../shared/MODELS.md).
pub const DEFAULT_MERGE_DISTANCE: f32 = 0.95;
/// Stricter distance at which a low-quality face may join a person it did not help form.
pub const LOW_QUALITY_JOIN_DISTANCE: f32 = 0.8;

#[derive(Debug, Clone, Copy)]
pub struct ClusterParams {
    /// Fewest faces that make a person.
    pub min_cluster_size: usize,
    /// Neighbours that make a face a core face (density smoothing).
    pub min_samples: usize,
    /// Groups that split only below this distance are one person (HDBSCAN's cluster selection
    /// epsilon). Without it, near-identical photos of one person form separate tight groups.
    pub merge_distance: f32,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self {
            min_cluster_size: 2,
            min_samples: 1,
            merge_distance: DEFAULT_MERGE_DISTANCE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("embeddings have different lengths ({0} and {1}); models must not be mixed")]
    MixedDimensions(usize, usize),
    #[cfg(any(test, feature = "reference-hdbscan"))]
    #[error("clustering failed: {0:?}")]
    Hdbscan(hdbscan::HdbscanError),
    #[error("embedding {0} has a non-finite value")]
    NonFinite(usize),
    #[error("too many embeddings to cluster ({0}); at most {max}", max = u32::MAX)]
    TooMany(usize),
}

/// Neighbours per face in the graph. The MST needs the edges inside and between dense groups;
/// 32 covers a person's other photos for typical libraries (about 20 per person) with room left
/// for the links to neighbouring groups, and n * 32 edges stay small (1M faces: 256 MB).
pub const GRAPH_K: usize = 32;

/// Above this many faces exact kNN (n^2 d work) is replaced by the IVF index.
pub const EXACT_KNN_MAX: usize = 200_000;

/// How the graph path finds neighbours; [`GraphOptions::for_size`] is what [`cluster`] uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphOptions {
    /// Neighbours per face (raised to min_samples when that is larger).
    pub k: usize,
    pub method: KnnMethod,
}

impl GraphOptions {
    pub fn for_size(n: usize) -> Self {
        let method = if n <= EXACT_KNN_MAX {
            KnnMethod::Exact
        } else {
            // About sqrt(n) lists of sqrt(n) faces; each list searches its 32 nearest lists.
            KnnMethod::Ivf {
                n_lists: ((n as f64).sqrt() as usize).max(1),
                n_probe: 32,
            }
        };
        Self { k: GRAPH_K, method }
    }
}

/// Where the time went, for benchmarks and progress reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterStats {
    pub knn_secs: f64,
    /// HDBSCAN on the graph, outlier detachment and numbering together.
    pub cluster_secs: f64,
    /// The part of `cluster_secs` spent detaching outliers.
    pub detach_secs: f64,
}

fn validate(embeddings: &[Vec<f32>]) -> Result<(), ClusterError> {
    if let Some(first) = embeddings.first() {
        if let Some(other) = embeddings.iter().find(|e| e.len() != first.len()) {
            return Err(ClusterError::MixedDimensions(first.len(), other.len()));
        }
    }
    if let Some(bad) = embeddings
        .iter()
        .position(|e| e.iter().any(|x| !x.is_finite()))
    {
        return Err(ClusterError::NonFinite(bad));
    }
    if u32::try_from(embeddings.len()).is_err() {
        return Err(ClusterError::TooMany(embeddings.len()));
    }
    Ok(())
}

/// One label per embedding: `Some(person)` with persons numbered from 0, or `None` for noise.
pub fn cluster(
    embeddings: &[Vec<f32>],
    params: ClusterParams,
) -> Result<Vec<Option<usize>>, ClusterError> {
    let options = GraphOptions::for_size(embeddings.len());
    cluster_with(embeddings, params, options).map(|(labels, _)| labels)
}

/// [`cluster`] with explicit neighbour search options, also returning timings.
pub fn cluster_with(
    embeddings: &[Vec<f32>],
    params: ClusterParams,
    options: GraphOptions,
) -> Result<(Vec<Option<usize>>, ClusterStats), ClusterError> {
    validate(embeddings)?;
    let mut stats = ClusterStats::default();
    let min_cluster_size = params.min_cluster_size.max(2);
    if embeddings.len() < min_cluster_size {
        return Ok((vec![None; embeddings.len()], stats));
    }
    let min_samples = params.min_samples.clamp(1, embeddings.len() - 1);
    let t = std::time::Instant::now();
    let points = knn::Points::new(embeddings);
    // Core distances need the (min_samples - 1)-th neighbour.
    let knn = knn::build(&points, options.k.max(min_samples), options.method);
    drop(points);
    stats.knn_secs = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let mut raw =
        hdbscan_graph::hdbscan(&knn, min_samples, min_cluster_size, params.merge_distance);
    let td = std::time::Instant::now();
    detach_outliers_with(
        embeddings,
        &mut raw,
        params.merge_distance,
        min_cluster_size,
        Some(&knn),
    );
    stats.detach_secs = td.elapsed().as_secs_f64();
    let labels = renumber(&raw);
    stats.cluster_secs = t.elapsed().as_secs_f64();
    Ok((labels, stats))
}

/// The `k` nearest `base` faces of each query face, as (Euclidean distance, index into
/// `base`) sorted nearest first; exact, by the blocked products the clustering graph uses.
pub fn nearest_among(queries: &[&[f32]], base: &[&[f32]], k: usize) -> Vec<Vec<(f32, u32)>> {
    knn::search(
        &knn::Points::from_rows(queries),
        &knn::Points::from_rows(base),
        k,
    )
}

/// Diagnostics: the fraction of true k nearest neighbours that `options` finds, measured on
/// `sample` evenly spaced faces against a full scan.
pub fn knn_recall(embeddings: &[Vec<f32>], options: GraphOptions, sample: usize) -> f64 {
    let n = embeddings.len();
    let knn = knn::build(&knn::Points::new(embeddings), options.k, options.method);
    if n < 2 || knn.k == 0 || sample == 0 {
        return 1.0;
    }
    let step = (n / sample).max(1);
    let (found, total) = (0..n)
        .step_by(step)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|&i| {
            let mut all: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (knn::euclidean(&embeddings[i], &embeddings[j]), j))
                .collect();
            let kth = knn.k - 1;
            all.select_nth_unstable_by(kth, |a, b| a.0.total_cmp(&b.0));
            let cutoff = all[kth].0;
            // Ties at the cut-off count as found: any of them is a correct k-th neighbour.
            let got = knn.row(i).1.iter().filter(|&&d| d <= cutoff).count();
            (got, knn.k)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    found as f64 / total as f64
}

/// The reference: the `hdbscan` crate on all pairwise distances, O(n^2) time. Kept to check
/// the graph path against; too slow for more than a few thousand faces.
#[cfg(any(test, feature = "reference-hdbscan"))]
pub fn cluster_exact(
    embeddings: &[Vec<f32>],
    params: ClusterParams,
) -> Result<Vec<Option<usize>>, ClusterError> {
    validate(embeddings)?;
    let min_cluster_size = params.min_cluster_size.max(2);
    if embeddings.len() < min_cluster_size {
        return Ok(vec![None; embeddings.len()]);
    }
    let hp = HdbscanHyperParams::builder()
        .min_cluster_size(min_cluster_size)
        .min_samples(params.min_samples.clamp(1, embeddings.len() - 1))
        .dist_metric(DistanceMetric::Euclidean)
        .allow_single_cluster(false)
        .epsilon(f64::from(params.merge_distance))
        .build();
    let mut raw = Hdbscan::new(embeddings, hp)
        .cluster()
        .map_err(ClusterError::Hdbscan)?;
    detach_outliers(
        embeddings,
        &mut raw,
        params.merge_distance,
        min_cluster_size,
    );
    Ok(renumber(&raw))
}

/// Like [`cluster`], but only faces with `good[i]` form people; every other face joins the
/// person of its nearest good face when within [`LOW_QUALITY_JOIN_DISTANCE`], else stays noise.
pub fn cluster_gated(
    embeddings: &[Vec<f32>],
    good: &[bool],
    params: ClusterParams,
) -> Result<Vec<Option<usize>>, ClusterError> {
    let usable = usable_embeddings(embeddings);
    let seeds: Vec<usize> = (0..embeddings.len())
        .filter(|&i| good[i] && usable[i])
        .collect();
    let seed_vectors: Vec<Vec<f32>> = seeds.iter().map(|&i| embeddings[i].clone()).collect();
    let seed_labels = cluster(&seed_vectors, params)?;
    let mut labels = vec![None; embeddings.len()];
    for (&i, l) in seeds.iter().zip(&seed_labels) {
        labels[i] = *l;
    }
    for i in (0..embeddings.len()).filter(|&i| !good[i] && usable[i]) {
        let nearest = seeds
            .iter()
            .zip(&seed_labels)
            .filter_map(|(&j, l)| l.map(|l| (distance(&embeddings[i], &embeddings[j]), l)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        labels[i] = nearest
            .filter(|(d, _)| *d <= LOW_QUALITY_JOIN_DISTANCE)
            .map(|(_, l)| l);
    }
    Ok(labels)
}

/// Which embeddings can take part: finite, and as long as most are. The face stage and the
/// cache already refuse the others, so this guard only keeps one bad vector from stopping the
/// clustering of everyone: such a face stays unassigned.
pub fn usable_embeddings(embeddings: &[Vec<f32>]) -> Vec<bool> {
    let mut lengths: std::collections::BTreeMap<usize, usize> = Default::default();
    for e in embeddings {
        *lengths.entry(e.len()).or_default() += 1;
    }
    let common = lengths
        .iter()
        .max_by_key(|(len, n)| (**n, std::cmp::Reverse(**len)))
        .map_or(0, |(len, _)| *len);
    embeddings
        .iter()
        .map(|e| e.len() == common && e.iter().all(|x| x.is_finite()))
        .collect()
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// With a selection epsilon the `hdbscan` crate labels every point that ever fell out of the
/// chosen cluster as a member, however far it was. A face joins a person only if some other
/// face of that person is within `merge_distance`; groups left smaller than `min_size` become
/// noise.
#[cfg(any(test, feature = "reference-hdbscan"))]
fn detach_outliers(
    embeddings: &[Vec<f32>],
    labels: &mut [i32],
    merge_distance: f32,
    min_size: usize,
) {
    detach_outliers_with(embeddings, labels, merge_distance, min_size, None);
}

/// [`detach_outliers`] that first looks for the close face among the kNN list (almost always
/// there) and only then scans the face's own group, so it costs O(n k) instead of O(n^2).
fn detach_outliers_with(
    embeddings: &[Vec<f32>],
    labels: &mut [i32],
    merge_distance: f32,
    min_size: usize,
    knn: Option<&knn::Knn>,
) {
    let snapshot = labels.to_vec();
    let mut members: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, &l) in snapshot.iter().enumerate().filter(|(_, l)| **l >= 0) {
        members.entry(l).or_default().push(i);
    }
    // A kNN edge is symmetric evidence: the close face may list this one without being in this
    // face's own list. Only faces with no such edge fall back to scanning their group.
    let mut near = vec![false; snapshot.len()];
    if let Some(knn) = knn.filter(|k| k.k > 0) {
        for i in 0..knn.len() {
            let (idx, dist) = knn.row(i);
            for (&j, &d) in idx.iter().zip(dist) {
                let j = j as usize;
                if j < snapshot.len()
                    && snapshot[i] >= 0
                    && snapshot[j] == snapshot[i]
                    && d <= merge_distance
                {
                    near[i] = true;
                    near[j] = true;
                }
            }
        }
    }
    let keep: Vec<bool> = (0..snapshot.len())
        .into_par_iter()
        .map(|i| {
            let label = snapshot[i];
            if label < 0 {
                return false;
            }
            // A full list whose farthest entry is beyond merge_distance holds every face within
            // it (exactly for exact kNN, up to recall for IVF): nothing left to scan.
            let list_covers = knn
                .is_some_and(|k| k.k > 0 && k.row(i).1.last().is_some_and(|&d| d > merge_distance));
            near[i]
                || !list_covers
                    && members.get(&label).is_some_and(|group| {
                        group.iter().any(|&j| {
                            j != i && distance(&embeddings[i], &embeddings[j]) <= merge_distance
                        })
                    })
        })
        .collect();
    for (label, keep) in labels.iter_mut().zip(keep) {
        if !keep {
            *label = -1;
        }
    }
    let mut sizes: HashMap<i32, usize> = HashMap::new();
    for &l in labels.iter().filter(|l| **l >= 0) {
        *sizes.entry(l).or_default() += 1;
    }
    for l in labels.iter_mut() {
        if *l >= 0 && sizes[l] < min_size {
            *l = -1;
        }
    }
}

/// Maps raw labels (-1 = noise) to persons ordered by size (largest first), then by first face.
pub fn renumber(raw: &[i32]) -> Vec<Option<usize>> {
    let mut groups: HashMap<i32, (usize, usize)> = HashMap::new();
    for (i, &l) in raw.iter().enumerate() {
        if l >= 0 {
            groups.entry(l).or_insert((0, i)).0 += 1;
        }
    }
    let mut order: Vec<(i32, usize, usize)> = groups
        .into_iter()
        .map(|(l, (n, first))| (l, n, first))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let person: HashMap<i32, usize> = order
        .iter()
        .enumerate()
        .map(|(p, (l, _, _))| (*l, p))
        .collect();
    raw.iter().map(|l| person.get(l).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector near axis `axis` of a 16-d space, jittered deterministically.
    fn near(axis: usize, jitter: u32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..16)
            .map(|i| ((i as u32 * 7 + jitter * 13) % 11) as f32 * 0.01)
            .collect();
        v[axis] += 1.0;
        po_backend_api::l2_normalize(&mut v);
        v
    }

    #[test]
    fn one_non_finite_embedding_leaves_only_that_face_out() {
        let mut data: Vec<Vec<f32>> = (0..6).map(|j| near(0, j)).collect();
        data.extend((0..6).map(|j| near(1, j)));
        let clean = cluster_gated(&data, &[true; 12], ClusterParams::default()).unwrap();
        data.push(vec![f32::NAN; 16]);
        data.push(vec![0.5; 3]);
        let good = [true; 14];
        let labels = cluster_gated(&data, &good, ClusterParams::default()).unwrap();
        assert_eq!(labels[..12], clean[..]);
        assert_eq!(labels[12..], [None, None]);
        assert!(labels[..12].iter().all(Option::is_some), "{labels:?}");
    }

    #[test]
    fn regression_widely_spread_people_are_not_merged_into_one_person() {
        // Faces at cosine ~0.74 to each other within a person and ~0 across people: the
        // root used to win the selection and everyone became one person.
        let (faces, truth) = crate::people::bench::synthetic_faces(600, 128, 7);
        let labels = cluster(&faces, ClusterParams::default()).unwrap();
        let scores = crate::people::eval::score(&truth, &labels);
        assert!(scores.people_found >= 20, "{scores:?}");
        assert!(scores.pairwise_precision >= 0.99, "{scores:?}");
        assert!(scores.pairwise_f >= 0.9, "{scores:?}");
    }

    #[test]
    fn a_library_with_one_recurring_person_finds_that_person() {
        let mut data: Vec<Vec<f32>> = (0..4).map(|j| near(3, j)).collect();
        data.push(near(11, 1)); // a stranger seen once
        let labels = cluster(&data, ClusterParams::default()).unwrap();
        assert_eq!(labels, vec![Some(0), Some(0), Some(0), Some(0), None]);
    }

    #[test]
    fn low_quality_faces_never_seed_and_join_only_when_close() {
        let mut data: Vec<Vec<f32>> = (0..3).map(|j| near(0, j)).collect();
        data.push(near(0, 7)); // low quality, close to person A
        data.extend((0..3).map(|j| near(8, j))); // three low-quality faces of someone else
        let good = [true, true, true, false, false, false, false];
        let labels = cluster_gated(&data, &good, ClusterParams::default()).unwrap();
        assert_eq!(&labels[..4], &[Some(0); 4]);
        assert_eq!(
            &labels[4..],
            &[None, None, None],
            "low-quality faces formed a person"
        );
    }

    #[test]
    fn separates_identities_and_leaves_loners_as_noise() {
        let mut data = Vec::new();
        data.extend((0..3).map(|j| near(0, j))); // person A: 3 faces
        data.extend((0..11).map(|j| near(5, j))); // person B: 11 faces
        data.push(near(9, 1)); // a loner
        data.extend((0..4).map(|j| near(12, j))); // person C: 4 faces
        let labels = cluster(&data, ClusterParams::default()).unwrap();
        // Largest group first.
        assert!(labels[3..14].iter().all(|l| *l == Some(0)), "{labels:?}");
        assert!(labels[15..19].iter().all(|l| *l == Some(1)), "{labels:?}");
        assert!(labels[0..3].iter().all(|l| *l == Some(2)), "{labels:?}");
        assert_eq!(labels[14], None);
    }

    #[test]
    fn too_few_faces_are_all_noise_and_mixed_models_are_refused() {
        assert_eq!(
            cluster(&[near(0, 0)], ClusterParams::default()).unwrap(),
            vec![None]
        );
        assert!(cluster(&[], ClusterParams::default()).unwrap().is_empty());
        let mixed = vec![vec![1.0, 0.0], vec![1.0, 0.0, 0.0]];
        assert!(matches!(
            cluster(&mixed, ClusterParams::default()),
            Err(ClusterError::MixedDimensions(2, 3))
        ));
    }

    #[test]
    fn outliers_are_detached_and_small_remainders_become_noise() {
        let data = vec![
            vec![1.0, 0.0],
            vec![0.99, 0.141],
            vec![0.0, 1.0], // far from the others although labelled with them
            vec![-1.0, 0.0],
            vec![0.0, -1.0], // a pair that is not close: both become noise
        ];
        let mut labels = vec![3, 3, 3, 4, 4];
        detach_outliers(&data, &mut labels, 0.5, 2);
        assert_eq!(labels, vec![3, 3, -1, -1, -1]);
    }

    #[test]
    fn renumbering_is_by_size_then_first_face() {
        assert_eq!(
            renumber(&[5, 2, 2, -1, 5, 7, 7]),
            vec![Some(0), Some(1), Some(1), None, Some(0), Some(2), Some(2)]
        );
    }

    /// Deterministic synthetic faces: `groups` identities of varied size and spread (cosine
    /// within an identity about 0.8-0.96, between identities about 0-0.2) plus `loners`.
    fn synthetic_faces(seed: u64, groups: usize, loners: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut gauss = move |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    let (u, v) = (uniform(), uniform());
                    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
                })
                .collect()
        };
        let unit = |mut v: Vec<f32>| {
            po_backend_api::l2_normalize(&mut v);
            v
        };
        let families: Vec<Vec<f32>> = (0..6).map(|_| unit(gauss(dim))).collect();
        let mut data = Vec::new();
        for g in 0..groups {
            let raw = gauss(dim + 2);
            let size = 2 + (raw[dim].abs() * 12.0) as usize % 30;
            let spread = 0.2 + 0.3 * (raw[dim + 1].abs().min(1.0));
            let base = unit(raw[..dim].to_vec());
            let centre = unit(
                base.iter()
                    .zip(&families[g % families.len()])
                    .map(|(b, f)| b + 0.45 * f)
                    .collect(),
            );
            for _ in 0..size {
                let noise = unit(gauss(dim));
                data.push(unit(
                    centre
                        .iter()
                        .zip(&noise)
                        .map(|(c, e)| c + spread * e)
                        .collect(),
                ));
            }
        }
        for _ in 0..loners {
            data.push(unit(gauss(dim)));
        }
        // Interleave so that group members are not contiguous in index order.
        let n = data.len();
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, (uniform() * (i + 1) as f64) as usize % (i + 1));
        }
        order.into_iter().map(|i| data[i].clone()).collect()
    }

    #[test]
    fn graph_path_matches_the_hdbscan_crate_on_synthetic_faces() {
        // min_cluster_size 2 (the product's setting): the crate's extra members are exactly the
        // faces detach_outliers removes, so the partitions must be identical.
        for (ms, eps) in [(1, 0.9), (2, 0.9), (1, 0.7), (1, 0.0)] {
            for seed in 0..8 {
                let data = synthetic_faces(seed, 25, 40, 128);
                let params = ClusterParams {
                    min_cluster_size: 2,
                    min_samples: ms,
                    merge_distance: eps,
                };
                let exact = cluster_exact(&data, params).unwrap();
                let graph = cluster(&data, params).unwrap();
                assert_eq!(
                    graph,
                    exact,
                    "seed {seed}, {params:?}, {} faces",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn knn_restriction_changes_nothing_and_larger_groups_stay_close_to_the_crate() {
        // With min_cluster_size > 2 a group of 2..min_size faces that fell out of a person
        // farther than merge_distance is noise here but kept by the crate (its members are
        // close to each other, so detach_outliers keeps them). That is the labelling fix, not
        // the kNN graph: the graph path equals the same algorithm on the complete graph.
        for (mcs, ms, eps) in [(3, 1, 0.9), (4, 3, 0.8), (5, 5, 0.0)] {
            for seed in 0..6 {
                let data = synthetic_faces(seed, 25, 40, 128);
                let params = ClusterParams {
                    min_cluster_size: mcs,
                    min_samples: ms,
                    merge_distance: eps,
                };
                let graph = cluster(&data, params).unwrap();
                let complete = GraphOptions {
                    k: data.len(),
                    method: KnnMethod::Exact,
                };
                let full = cluster_with(&data, params, complete).unwrap().0;
                assert_eq!(graph, full, "seed {seed}, {params:?}");
                let ari = crate::people::eval::adjusted_rand(
                    &graph,
                    &cluster_exact(&data, params).unwrap(),
                );
                assert!(ari >= 0.85, "seed {seed}, {params:?}: ARI {ari}");
            }
        }
    }

    #[test]
    fn ivf_path_agrees_with_exact_knn_path() {
        for seed in 0..4 {
            let data = synthetic_faces(seed, 60, 100, 128);
            let params = ClusterParams::default();
            let exact = cluster(&data, params).unwrap();
            let ivf = GraphOptions {
                k: GRAPH_K,
                method: KnnMethod::Ivf {
                    n_lists: 16,
                    n_probe: 6,
                },
            };
            let approx = cluster_with(&data, params, ivf).unwrap().0;
            let ari = crate::people::eval::adjusted_rand(&approx, &exact);
            eprintln!("seed {seed}: {} faces, ARI {ari}", data.len());
            assert!(ari >= 0.99, "seed {seed}: ARI {ari}");
        }
    }

    #[test]
    fn detaching_with_knn_lists_equals_the_full_scan() {
        let data = synthetic_faces(11, 30, 50, 128);
        // Arbitrary groupings, so that many faces have no close face in their group.
        let raw: Vec<i32> = (0..data.len()).map(|i| (i * 7 % 13) as i32 - 2).collect();
        let knn = knn::build(&knn::Points::new(&data), 8, KnnMethod::Exact);
        for eps in [0.5, 0.9, 1.3] {
            let (mut full, mut fast) = (raw.clone(), raw.clone());
            detach_outliers(&data, &mut full, eps, 2);
            detach_outliers_with(&data, &mut fast, eps, 2, Some(&knn));
            assert_eq!(full, fast, "eps {eps}");
        }
    }
}
