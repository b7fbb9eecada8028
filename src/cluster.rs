//! Embeddings -> people. HDBSCAN (the `hdbscan` crate, Euclidean distance on L2-normalised
//! vectors, which orders pairs exactly as cosine distance does) groups faces; faces in no dense
//! group are noise. People are numbered deterministically: largest first, ties by earliest face.
//! Pure: no I/O.

use std::collections::HashMap;

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
    #[error("clustering failed: {0:?}")]
    Hdbscan(hdbscan::HdbscanError),
}

/// One label per embedding: `Some(person)` with persons numbered from 0, or `None` for noise.
pub fn cluster(
    embeddings: &[Vec<f32>],
    params: ClusterParams,
) -> Result<Vec<Option<usize>>, ClusterError> {
    if let Some(first) = embeddings.first() {
        if let Some(other) = embeddings.iter().find(|e| e.len() != first.len()) {
            return Err(ClusterError::MixedDimensions(first.len(), other.len()));
        }
    }
    let min_cluster_size = params.min_cluster_size.max(2);
    if embeddings.len() < min_cluster_size {
        return Ok(vec![None; embeddings.len()]);
    }
    let hp = HdbscanHyperParams::builder()
        .min_cluster_size(min_cluster_size)
        .min_samples(params.min_samples.clamp(1, embeddings.len() - 1))
        .dist_metric(DistanceMetric::Euclidean)
        .allow_single_cluster(true)
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
fn detach_outliers(
    embeddings: &[Vec<f32>],
    labels: &mut [i32],
    merge_distance: f32,
    min_size: usize,
) {
    let snapshot = labels.to_vec();
    for (i, label) in labels.iter_mut().enumerate() {
        if *label < 0 {
            continue;
        }
        let close = snapshot.iter().enumerate().any(|(j, &other)| {
            j != i && other == *label && distance(&embeddings[i], &embeddings[j]) <= merge_distance
        });
        if !close {
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

/// Like [`cluster`], but only faces with `good[i]` form people; every other face joins the
/// person of its nearest good face when within [`LOW_QUALITY_JOIN_DISTANCE`], else stays noise.
pub fn cluster_gated(
    embeddings: &[Vec<f32>],
    good: &[bool],
    params: ClusterParams,
) -> Result<Vec<Option<usize>>, ClusterError> {
    let seeds: Vec<usize> = (0..embeddings.len()).filter(|&i| good[i]).collect();
    let seed_vectors: Vec<Vec<f32>> = seeds.iter().map(|&i| embeddings[i].clone()).collect();
    let seed_labels = cluster(&seed_vectors, params)?;
    let mut labels = vec![None; embeddings.len()];
    for (&i, l) in seeds.iter().zip(&seed_labels) {
        labels[i] = *l;
    }
    for i in (0..embeddings.len()).filter(|&i| !good[i]) {
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
    fn renumbering_is_by_size_then_first_face() {
        assert_eq!(
            renumber(&[5, 2, 2, -1, 5, 7, 7]),
            vec![Some(0), Some(1), Some(1), None, Some(0), Some(2), Some(2)]
        );
    }
}
