//! Clustering quality against a labelled set: pairwise and BCubed precision / recall / F
//! ([`score`]), and the clusters worth looking at by hand ([`worst_merges`], [`worst_splits`]).
//! Pure functions over one label per item (a photo, or a face): no I/O.
//!
//! The definitions follow learn-to-cluster's `evaluation/metrics.py` (the numbers published for
//! face clustering use them), so a score here can be compared with theirs:
//! - pairwise: over all unordered pairs of items, precision = pairs together in both truth and
//!   prediction / pairs together in the prediction; recall = the same / pairs together in truth.
//! - BCubed: for each item, precision = share of its predicted cluster that has its identity,
//!   recall = share of its identity that is in its predicted cluster; both averaged over items.
//!
//! Noise (`None`, an item the clusterer left unassigned) counts as a cluster of its own, as
//! learn-to-cluster does for unclustered items: leaving a face out is never rewarded as a merge,
//! but it costs recall.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::people::attach::Outcome;

/// Quality of one clustering against the truth. Every ratio is in `0.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub pairwise_precision: f64,
    pub pairwise_recall: f64,
    pub pairwise_f: f64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub bcubed_f: f64,
    /// Distinct identities in the truth.
    pub people_true: usize,
    /// Distinct predicted clusters, noise not counted.
    pub people_found: usize,
}

/// One predicted cluster or one true identity, with the items of it that fall in one part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    /// In a [`Merge`]: the true identity. In a [`Split`]: the predicted cluster, `None` for the
    /// items left as noise (each of them is a part of its own, grouped here only for reading).
    pub label: Option<usize>,
    pub items: Vec<String>,
}

/// A predicted cluster that holds several true identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Merge {
    pub cluster: usize,
    pub size: usize,
    /// Items not of the cluster's largest identity: how many would have to move out.
    pub stray: usize,
    /// Largest identity first.
    pub identities: Vec<Part>,
}

/// A true identity spread over several predicted clusters, or partly left as noise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    pub identity: usize,
    pub size: usize,
    /// Items outside the identity's largest cluster: how many would have to join it.
    pub stray: usize,
    /// Largest cluster first; the noise part (if any) last.
    pub parts: Vec<Part>,
}

/// Adjusted Rand index between two labellings, noise treated as one more label: 1.0 for the
/// same partition, about 0 for unrelated ones. Compares two clusterings of the same items.
pub fn adjusted_rand(a: &[Option<usize>], b: &[Option<usize>]) -> f64 {
    let key = |l: &Option<usize>| l.map_or(0, |x| x + 1);
    let mut joint: HashMap<(usize, usize), f64> = HashMap::new();
    let (mut ra, mut rb): (HashMap<usize, f64>, HashMap<usize, f64>) = Default::default();
    for (x, y) in a.iter().zip(b) {
        *joint.entry((key(x), key(y))).or_default() += 1.0;
        *ra.entry(key(x)).or_default() += 1.0;
        *rb.entry(key(y)).or_default() += 1.0;
    }
    let pairs = |v: f64| v * (v - 1.0) / 2.0;
    let index: f64 = joint.values().map(|&v| pairs(v)).sum();
    let sa: f64 = ra.values().map(|&v| pairs(v)).sum();
    let sb: f64 = rb.values().map(|&v| pairs(v)).sum();
    let expected = sa * sb / pairs(a.len() as f64);
    let max = (sa + sb) / 2.0;
    if max == expected {
        1.0
    } else {
        (index - expected) / (max - expected)
    }
}

/// Scores `predicted` against `truth`, one entry each per item.
///
/// Degenerate cases are given the value that says "nothing went wrong on this side": with no
/// predicted pair (everything noise or singletons) pairwise precision is 1.0, with no true pair
/// pairwise recall is 1.0, and an empty input scores 1.0 everywhere. An F score is 0.0 when both
/// its precision and recall are 0.0.
///
/// # Panics
/// When `truth` and `predicted` differ in length: that is a caller bug, not a data problem.
pub fn score(truth: &[usize], predicted: &[Option<usize>]) -> Scores {
    assert_eq!(
        truth.len(),
        predicted.len(),
        "truth and predicted must have one label per item"
    );
    let n = truth.len();
    let table = Contingency::new(truth, predicted);

    // Pairs: a group of size m holds m(m-1)/2 of them.
    let pairs = |m: u64| m * m.saturating_sub(1) / 2;
    let together_both: u64 = table.cells.values().map(|&c| pairs(c)).sum();
    let together_pred: u64 = table.pred_sizes.iter().map(|&c| pairs(c)).sum();
    let together_true: u64 = table.true_sizes.iter().map(|&c| pairs(c)).sum();
    let ratio = |num: u64, den: u64| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    let pairwise_precision = ratio(together_both, together_pred);
    let pairwise_recall = ratio(together_both, together_true);

    // BCubed: the c items of one cell each have precision c / |cluster| and recall
    // c / |identity|, so the cell adds c² / |cluster| and c² / |identity| to the sums.
    let (mut pre_sum, mut rec_sum) = (0.0, 0.0);
    for (&(t, p), &c) in &table.cells {
        let c = c as f64;
        pre_sum += c * c / table.pred_sizes[p] as f64;
        rec_sum += c * c / table.true_sizes[t] as f64;
    }
    let (bcubed_precision, bcubed_recall) = if n == 0 {
        (1.0, 1.0)
    } else {
        (pre_sum / n as f64, rec_sum / n as f64)
    };

    Scores {
        pairwise_precision,
        pairwise_recall,
        pairwise_f: f_score(pairwise_precision, pairwise_recall),
        bcubed_precision,
        bcubed_recall,
        bcubed_f: f_score(bcubed_precision, bcubed_recall),
        people_true: table.true_sizes.len(),
        people_found: table.real_clusters,
    }
}

/// Harmonic mean of precision and recall; 0.0 when both are 0.0.
pub fn f_score(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// The `k` predicted clusters that mix the most identities, most stray items first (then most
/// identities, then the larger cluster, then the lower cluster id, so the order is stable).
/// `names` names each item (its file, say) for the report.
///
/// # Panics
/// When the three slices differ in length.
pub fn worst_merges(
    truth: &[usize],
    predicted: &[Option<usize>],
    names: &[String],
    k: usize,
) -> Vec<Merge> {
    check_lengths(truth, predicted, names);
    // cluster -> identity -> items, ordered so ties break the same way every run.
    let mut clusters: BTreeMap<usize, BTreeMap<usize, Vec<String>>> = BTreeMap::new();
    for ((&t, p), name) in truth.iter().zip(predicted).zip(names) {
        if let Some(p) = p {
            clusters
                .entry(*p)
                .or_default()
                .entry(t)
                .or_default()
                .push(name.clone());
        }
    }
    let mut merges: Vec<Merge> = clusters
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(cluster, ids)| {
            let mut identities: Vec<Part> = ids
                .into_iter()
                .map(|(t, items)| Part {
                    label: Some(t),
                    items,
                })
                .collect();
            // Stable sort: equal-sized identities stay in label order.
            identities.sort_by_key(|part| std::cmp::Reverse(part.items.len()));
            let size: usize = identities.iter().map(|part| part.items.len()).sum();
            let stray = size - identities[0].items.len();
            Merge {
                cluster,
                size,
                stray,
                identities,
            }
        })
        .collect();
    merges.sort_by(|a, b| {
        (b.stray, b.identities.len(), b.size)
            .cmp(&(a.stray, a.identities.len(), a.size))
            .then(a.cluster.cmp(&b.cluster))
    });
    merges.truncate(k);
    merges
}

/// The `k` true identities spread the most: over several predicted clusters, or partly (or
/// wholly) left as noise, most stray items first (then most parts, then the larger identity,
/// then the lower identity). A noise item is a part of its own, as in [`score`].
///
/// # Panics
/// When the three slices differ in length.
pub fn worst_splits(
    truth: &[usize],
    predicted: &[Option<usize>],
    names: &[String],
    k: usize,
) -> Vec<Split> {
    check_lengths(truth, predicted, names);
    // identity -> (cluster -> items, noise items)
    type Spread = (BTreeMap<usize, Vec<String>>, Vec<String>);
    let mut identities: BTreeMap<usize, Spread> = BTreeMap::new();
    for ((&t, p), name) in truth.iter().zip(predicted).zip(names) {
        let (clusters, noise) = identities.entry(t).or_default();
        match p {
            Some(p) => clusters.entry(*p).or_default().push(name.clone()),
            None => noise.push(name.clone()),
        }
    }
    let mut splits: Vec<(usize, Split)> = identities
        .into_iter()
        .filter_map(|(identity, (clusters, noise))| {
            let fragments = clusters.len() + noise.len();
            if fragments < 2 {
                return None;
            }
            let mut parts: Vec<Part> = clusters
                .into_iter()
                .map(|(p, items)| Part {
                    label: Some(p),
                    items,
                })
                .collect();
            parts.sort_by_key(|part| std::cmp::Reverse(part.items.len()));
            // A noise item is a part of one, so the largest part is a cluster unless there is none.
            let largest = parts.first().map_or(1, |part| part.items.len());
            let size = parts.iter().map(|part| part.items.len()).sum::<usize>() + noise.len();
            if !noise.is_empty() {
                parts.push(Part {
                    label: None,
                    items: noise,
                });
            }
            let split = Split {
                identity,
                size,
                stray: size - largest,
                parts,
            };
            Some((fragments, split))
        })
        .collect();
    splits.sort_by(|(fa, a), (fb, b)| {
        (b.stray, fb, b.size)
            .cmp(&(a.stray, fa, a.size))
            .then(a.identity.cmp(&b.identity))
    });
    splits.truncate(k);
    splits.into_iter().map(|(_, split)| split).collect()
}

/// Why one identity's photos stayed unknown, counted per reason, so a user sees which threshold
/// to move. A photo counts as its largest face, as in [`score`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Unknowns {
    pub identity: String,
    pub photos: usize,
    /// Photos given a person by the attachment step (not by clustering).
    pub attached: usize,
    pub unknown: usize,
    pub no_face_found: usize,
    /// Left as noise with no person to compare with.
    pub noise: usize,
    pub below_threshold: usize,
    pub below_margin: usize,
    /// The nearest person was already in the photo, rejected or excluded.
    pub other: usize,
    /// Each unknown or attached photo with what happened to its face.
    pub faces: Vec<(String, Option<Outcome>)>,
}

/// One [`Unknowns`] per identity (in identity order). `outcomes[i]` is what the attachment
/// step did with item `i`'s face, `None` when the photo had no face.
///
/// # Panics
/// When the slices differ in length.
pub fn unknowns_by_identity(
    truth: &[usize],
    predicted: &[Option<usize>],
    outcomes: &[Option<Outcome>],
    names: &[String],
    identities: &[String],
) -> Vec<Unknowns> {
    check_lengths(truth, predicted, names);
    assert_eq!(truth.len(), outcomes.len(), "one outcome per item");
    let mut out: Vec<Unknowns> = identities
        .iter()
        .map(|identity| Unknowns {
            identity: identity.clone(),
            ..Unknowns::default()
        })
        .collect();
    for (((&t, p), outcome), name) in truth.iter().zip(predicted).zip(outcomes).zip(names) {
        let u = &mut out[t];
        u.photos += 1;
        if matches!(outcome, Some(Outcome::Attached { .. })) && p.is_some() {
            u.attached += 1;
            u.faces.push((name.clone(), *outcome));
        }
        if p.is_some() {
            continue;
        }
        u.unknown += 1;
        match outcome {
            None => u.no_face_found += 1,
            Some(Outcome::NoPerson) => u.noise += 1,
            Some(Outcome::BelowThreshold { .. }) => u.below_threshold += 1,
            Some(Outcome::BelowMargin { .. }) => u.below_margin += 1,
            Some(_) => u.other += 1,
        }
        u.faces.push((name.clone(), *outcome));
    }
    out
}

/// The lines `eval` prints for [`unknowns_by_identity`]: one per identity, then one per unknown
/// face with the figures to compare with the thresholds.
pub fn unknowns_text(unknowns: &[Unknowns]) -> Vec<String> {
    let mut lines = vec![
        "unknown per identity (photos: attached after clustering / unknown = no face found + noise + below threshold + below margin + other)".to_string(),
    ];
    for u in unknowns {
        lines.push(format!(
            "  {}: {} photos, {} attached, {} unknown = {} + {} + {} + {} + {}",
            u.identity,
            u.photos,
            u.attached,
            u.unknown,
            u.no_face_found,
            u.noise,
            u.below_threshold,
            u.below_margin,
            u.other
        ));
        for (name, outcome) in &u.faces {
            let why = match outcome {
                None => "no face found".to_string(),
                Some(Outcome::Attached { person, similarity, runner_up }) => format!(
                    "attached to person {person} (similarity {similarity:.3}, runner-up {runner_up:.3})"
                ),
                Some(Outcome::NoPerson) => "noise, no person to compare with".to_string(),
                Some(Outcome::BelowThreshold { person, similarity, threshold }) => format!(
                    "nearest person {person} at {similarity:.3}, below the threshold {threshold:.2}"
                ),
                Some(Outcome::BelowMargin { person, similarity, runner_up, margin }) => format!(
                    "nearest person {person} at {similarity:.3}, runner-up {runner_up:.3}: margin below {margin:.2}"
                ),
                Some(Outcome::PersonInPhoto { person, .. }) => {
                    format!("nearest person {person} is already in the photo")
                }
                Some(Outcome::Rejected { person }) => format!("rejected from person {person}"),
                Some(Outcome::Excluded { person }) => format!("nearest person {person} is excluded"),
                Some(Outcome::Assigned) => "assigned, then dropped".to_string(),
            };
            lines.push(format!("    {name}: {why}"));
        }
    }
    lines
}

fn check_lengths(truth: &[usize], predicted: &[Option<usize>], names: &[String]) {
    assert!(
        truth.len() == predicted.len() && truth.len() == names.len(),
        "truth, predicted and names must have one entry per item"
    );
}

/// Counts per (identity, predicted cluster) cell and per margin, with labels renumbered
/// densely and every noise item given a cluster of its own. Built in one pass: O(n) time and
/// O(identities + clusters + cells) space, so no n² pair loop is ever needed.
struct Contingency {
    /// (dense identity, dense cluster) -> items in both.
    cells: HashMap<(usize, usize), u64>,
    true_sizes: Vec<u64>,
    pred_sizes: Vec<u64>,
    /// Predicted clusters that are not noise singletons.
    real_clusters: usize,
}

impl Contingency {
    fn new(truth: &[usize], predicted: &[Option<usize>]) -> Self {
        let mut true_ids: HashMap<usize, usize> = HashMap::new();
        let mut pred_ids: HashMap<usize, usize> = HashMap::new();
        let mut true_sizes: Vec<u64> = Vec::new();
        let mut pred_sizes: Vec<u64> = Vec::new();
        let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
        for (&t, p) in truth.iter().zip(predicted) {
            let t = *true_ids.entry(t).or_insert_with(|| {
                true_sizes.push(0);
                true_sizes.len() - 1
            });
            let p = match p {
                Some(p) => *pred_ids.entry(*p).or_insert_with(|| {
                    pred_sizes.push(0);
                    pred_sizes.len() - 1
                }),
                None => {
                    pred_sizes.push(0);
                    pred_sizes.len() - 1
                }
            };
            true_sizes[t] += 1;
            pred_sizes[p] += 1;
            *cells.entry((t, p)).or_insert(0) += 1;
        }
        Self {
            cells,
            true_sizes,
            pred_sizes,
            real_clusters: pred_ids.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn assert_scores(s: &Scores, pairwise: (f64, f64, f64), bcubed: (f64, f64, f64)) {
        let got = [
            s.pairwise_precision,
            s.pairwise_recall,
            s.pairwise_f,
            s.bcubed_precision,
            s.bcubed_recall,
            s.bcubed_f,
        ];
        let want = [
            pairwise.0, pairwise.1, pairwise.2, bcubed.0, bcubed.1, bcubed.2,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!(close(*g, w), "got {got:?}, want {want:?}");
        }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p{i}")).collect()
    }

    #[test]
    fn perfect_clustering_scores_one_whatever_the_label_values() {
        let truth = [0, 0, 0, 1, 1, 2];
        // Cluster ids need not match identity ids, only the grouping counts.
        let predicted = [Some(7), Some(7), Some(7), Some(3), Some(3), Some(9)];
        let s = score(&truth, &predicted);
        assert_scores(&s, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0));
        assert_eq!((s.people_true, s.people_found), (3, 3));
    }

    #[test]
    fn everything_in_one_cluster() {
        // truth {a,a,a}{b,b}: 3 + 1 = 4 true pairs; one cluster of 5: 10 predicted pairs.
        // Pairwise P = 4/10, R = 4/4, F = 2*0.4/1.4 = 4/7.
        // BCubed P: the a items 3/5 each, the b items 2/5 each: (3*3/5 + 2*2/5)/5 = 13/25; R = 1.
        // BCubed F = 2*(13/25)/(38/25) = 26/38 = 13/19.
        let truth = [0, 0, 0, 1, 1];
        let predicted = [Some(0); 5];
        let s = score(&truth, &predicted);
        assert_scores(&s, (0.4, 1.0, 4.0 / 7.0), (13.0 / 25.0, 1.0, 13.0 / 19.0));
        assert_eq!((s.people_true, s.people_found), (2, 1));
    }

    #[test]
    fn everything_noise() {
        // Every item its own cluster: no predicted pair (precision 1 by convention), none of
        // the 4 true pairs found. BCubed P = 1; R: a items 1/3 each, b items 1/2 each:
        // (3*1/3 + 2*1/2)/5 = 2/5; F = 2*0.4/1.4 = 4/7.
        let truth = [0, 0, 0, 1, 1];
        let predicted = [None; 5];
        let s = score(&truth, &predicted);
        assert_scores(&s, (1.0, 0.0, 0.0), (1.0, 0.4, 4.0 / 7.0));
        assert_eq!((s.people_true, s.people_found), (2, 0));
    }

    #[test]
    fn noise_items_do_not_pair_with_each_other() {
        // Two noise items of one identity are two singletons, not one cluster of two.
        let s = score(&[0, 0], &[None, None]);
        assert!(close(s.pairwise_recall, 0.0));
        let s = score(&[0, 0], &[Some(1), Some(1)]);
        assert!(close(s.pairwise_recall, 1.0));
    }

    #[test]
    fn textbook_example() {
        // Items:      0  1  2  3  4  5  6  7  8  9
        // truth:      A  A  A  A  B  B  B  C  C  C
        // predicted:  1  1  1  2  2  2  2  2  -  3     (- = noise)
        //
        // Contingency (rows truth, columns cluster 1, 2, 3, noise item 8):
        //   A: 3 1 0 0   (|A| = 4)
        //   B: 0 3 0 0   (|B| = 3)
        //   C: 0 1 1 1   (|C| = 3)
        //   cluster sizes 3, 5, 1, 1
        // Pairwise: together in both = C(3,2) + C(3,2) = 3 + 3 = 6 (every other cell is 0 or 1).
        //   predicted pairs = C(3,2) + C(5,2) = 3 + 10 = 13; true pairs = 6 + 3 + 3 = 12.
        //   P = 6/13, R = 6/12 = 1/2, F = 2*(6/13)(1/2)/(6/13 + 1/2) = (6/13)/(25/26) = 12/25.
        // BCubed precision, per item: 0-2: 3/3; 3: 1/5; 4-6: 3/5; 7: 1/5; 8: 1; 9: 1.
        //   sum = 3 + 0.2 + 1.8 + 0.2 + 1 + 1 = 7.2 -> P = 0.72.
        // BCubed recall, per item: 0-2: 3/4; 3: 1/4; 4-6: 3/3; 7, 8, 9: 1/3 each.
        //   sum = 2.25 + 0.25 + 3 + 1 = 6.5 -> R = 0.65.
        //   F = 2*0.72*0.65/1.37 = 0.936/1.37.
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let predicted = [
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
            None,
            Some(3),
        ];
        let s = score(&truth, &predicted);
        assert_scores(
            &s,
            (6.0 / 13.0, 0.5, 12.0 / 25.0),
            (0.72, 0.65, 0.936 / 1.37),
        );
        assert_eq!((s.people_true, s.people_found), (3, 3));

        let merges = worst_merges(&truth, &predicted, &names(10), 5);
        // Only cluster 2 mixes identities: B x3, A x1, C x1 -> 2 strays.
        assert_eq!(merges.len(), 1);
        assert_eq!(
            (merges[0].cluster, merges[0].size, merges[0].stray),
            (2, 5, 2)
        );
        let labels: Vec<_> = merges[0].identities.iter().map(|p| p.label).collect();
        assert_eq!(labels, [Some(1), Some(0), Some(2)]);
        assert_eq!(merges[0].identities[0].items, ["p4", "p5", "p6"]);

        let splits = worst_splits(&truth, &predicted, &names(10), 5);
        // C is in 3 parts (cluster 2, noise, cluster 3): 2 strays; A in 2 parts: 1 stray;
        // B is whole and not listed.
        let summary: Vec<_> = splits
            .iter()
            .map(|s| (s.identity, s.size, s.stray))
            .collect();
        assert_eq!(summary, [(2, 3, 2), (0, 4, 1)]);
        let c_parts: Vec<_> = splits[0]
            .parts
            .iter()
            .map(|p| (p.label, p.items.clone()))
            .collect();
        assert_eq!(
            c_parts,
            [
                (Some(2), vec!["p7".to_string()]),
                (Some(3), vec!["p9".to_string()]),
                (None, vec!["p8".to_string()]),
            ]
        );
        assert_eq!(worst_splits(&truth, &predicted, &names(10), 1).len(), 1);
    }

    #[test]
    fn merges_are_ordered_most_mixed_first() {
        // Cluster 0: A A B (1 stray); cluster 1: C C D D E (3 strays); cluster 2: F F (pure).
        let truth = [0, 0, 1, 2, 2, 3, 3, 4, 5, 5];
        let p = |c| Some(c);
        let predicted = [p(0), p(0), p(0), p(1), p(1), p(1), p(1), p(1), p(2), p(2)];
        let merges = worst_merges(&truth, &predicted, &names(10), 10);
        let summary: Vec<_> = merges
            .iter()
            .map(|m| (m.cluster, m.stray, m.identities.len()))
            .collect();
        assert_eq!(summary, [(1, 3, 3), (0, 1, 2)]);
        assert!(worst_merges(&truth, &predicted, &names(10), 0).is_empty());
    }

    #[test]
    fn an_identity_left_wholly_as_noise_is_a_split() {
        let truth = [0, 0, 0];
        let predicted = [None, None, None];
        let splits = worst_splits(&truth, &predicted, &names(3), 5);
        assert_eq!(splits.len(), 1);
        // Three parts of one item: two of them would have to join the third.
        assert_eq!((splits[0].size, splits[0].stray), (3, 2));
        assert_eq!(splits[0].parts.len(), 1);
        assert_eq!(splits[0].parts[0].label, None);
        // A single noise item of a one-photo identity is not a split.
        assert!(worst_splits(&[0], &[None], &names(1), 5).is_empty());
    }

    #[test]
    fn unknown_photos_are_counted_by_reason() {
        let truth = [0, 0, 0, 0, 1, 1];
        let predicted = [Some(1), Some(1), None, None, None, Some(2)];
        let below = Outcome::BelowThreshold {
            person: 1,
            similarity: 0.4,
            threshold: 0.5,
        };
        let attached = Outcome::Attached {
            person: 1,
            similarity: 0.6,
            runner_up: 0.1,
        };
        let outcomes = [
            Some(Outcome::Assigned),
            Some(attached),
            Some(below),
            None,
            Some(Outcome::NoPerson),
            Some(Outcome::Assigned),
        ];
        let ids = ["a".to_string(), "b".to_string()];
        let u = unknowns_by_identity(&truth, &predicted, &outcomes, &names(6), &ids);
        let counts: Vec<_> = u
            .iter()
            .map(|u| {
                (
                    u.photos,
                    u.attached,
                    u.unknown,
                    u.no_face_found,
                    u.noise,
                    u.below_threshold,
                )
            })
            .collect();
        assert_eq!(counts, [(4, 1, 2, 1, 0, 1), (2, 0, 1, 0, 1, 0)]);
        assert_eq!(u[0].faces.len(), 3);
        let text = unknowns_text(&u).join("\n");
        assert!(
            text.contains("a: 4 photos, 1 attached, 2 unknown = 1 + 0 + 1 + 0 + 0"),
            "{text}"
        );
        assert!(text.contains("below the threshold 0.50"), "{text}");
    }

    #[test]
    fn empty_input_is_vacuously_perfect() {
        let s = score(&[], &[]);
        assert_scores(&s, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0));
        assert_eq!((s.people_true, s.people_found), (0, 0));
    }

    #[test]
    #[should_panic(expected = "one label per item")]
    fn mismatched_lengths_are_a_caller_bug() {
        score(&[0, 1], &[None]);
    }

    #[test]
    fn large_input_runs_in_linear_time() {
        // 200k items would be 2e10 pairs for a quadratic loop; the contingency table is instant.
        let n = 200_000;
        let truth: Vec<usize> = (0..n).map(|i| i % 1000).collect();
        let predicted: Vec<Option<usize>> = (0..n).map(|i| Some(i % 1000)).collect();
        let s = score(&truth, &predicted);
        assert!(close(s.pairwise_f, 1.0) && close(s.bcubed_f, 1.0));
    }
}
