//! Where a grouping's errors are: BCubed precision and recall per item (the same definitions as
//! [`super::eval::score`], noise a cluster of its own), averaged over the items of each kind of
//! photo (close-up, small face, group, a corpus source...), so a threshold's cost shows where
//! it is paid. Pure.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// BCubed (precision, recall) of each item.
pub fn bcubed_per_item(truth: &[usize], predicted: &[Option<usize>]) -> Vec<(f64, f64)> {
    assert_eq!(truth.len(), predicted.len(), "one label per item");
    let mut cells: HashMap<(usize, usize), usize> = HashMap::new();
    let (mut cluster_size, mut identity_size) = (HashMap::new(), HashMap::new());
    for (&t, p) in truth.iter().zip(predicted) {
        *identity_size.entry(t).or_insert(0usize) += 1;
        if let Some(p) = p {
            *cluster_size.entry(*p).or_insert(0usize) += 1;
            *cells.entry((t, *p)).or_insert(0) += 1;
        }
    }
    truth
        .iter()
        .zip(predicted)
        .map(|(&t, p)| {
            let (shared, size) = match p {
                Some(p) => (cells[&(t, *p)], cluster_size[p]),
                None => (1, 1),
            };
            (
                shared as f64 / size as f64,
                shared as f64 / identity_size[&t] as f64,
            )
        })
        .collect()
}

/// The scores of the items of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    pub kind: String,
    pub photos: usize,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub bcubed_f: f64,
}

/// One [`KindScore`] per kind any item has, by kind name; `kinds[i]` are item `i`'s kinds.
pub fn by_kind(per_item: &[(f64, f64)], kinds: &[Vec<String>]) -> Vec<KindScore> {
    let mut sums: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for ((p, r), ks) in per_item.iter().zip(kinds) {
        for k in ks {
            let s = sums.entry(k).or_default();
            *s = (s.0 + 1, s.1 + p, s.2 + r);
        }
    }
    sums.into_iter()
        .map(|(kind, (n, p, r))| {
            let (p, r) = (p / n as f64, r / n as f64);
            KindScore {
                kind: kind.to_string(),
                photos: n,
                bcubed_precision: p,
                bcubed_recall: r,
                bcubed_f: if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::eval::score;

    #[test]
    fn per_item_scores_average_to_the_totals() {
        let truth = [0, 0, 0, 1, 1, 2];
        let predicted = [Some(0), Some(0), None, Some(0), Some(1), None];
        let per = bcubed_per_item(&truth, &predicted);
        let n = per.len() as f64;
        let s = score(&truth, &predicted);
        let p: f64 = per.iter().map(|x| x.0).sum::<f64>() / n;
        let r: f64 = per.iter().map(|x| x.1).sum::<f64>() / n;
        assert!((p - s.bcubed_precision).abs() < 1e-12, "{p} {s:?}");
        assert!((r - s.bcubed_recall).abs() < 1e-12, "{r} {s:?}");
        // The item left as noise is its own cluster: precise, and 1 of its 3.
        assert_eq!(per[2], (1.0, 1.0 / 3.0));
        // Cluster 0 holds two of identity 0 and one of identity 1.
        assert_eq!(per[3], (1.0 / 3.0, 0.5));
    }

    #[test]
    fn kinds_score_only_their_own_items() {
        let per = [(1.0, 0.5), (0.5, 1.0), (1.0, 1.0)];
        let kinds = [
            vec!["all".to_string(), "close-up".to_string()],
            vec!["all".to_string()],
            vec!["all".to_string(), "close-up".to_string()],
        ];
        let k = by_kind(&per, &kinds);
        assert_eq!(k.len(), 2);
        assert_eq!((k[0].kind.as_str(), k[0].photos), ("all", 3));
        assert_eq!((k[1].kind.as_str(), k[1].photos), ("close-up", 2));
        assert!((k[1].bcubed_recall - 0.75).abs() < 1e-12);
        assert!((k[1].bcubed_precision - 1.0).abs() < 1e-12);
    }
}
