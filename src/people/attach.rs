//! The second step after clustering and identification: a face the clustering left unknown
//! (HDBSCAN noise) joins the person whose faces are nearest to it, but only when that person is
//! clearly nearer than any other (a threshold *and* a margin over the runner-up), with stricter
//! values for doubtful faces (small, turned or in the background: what [`crate::faces::analyse::good_enough_to_seed`] looks
//! at). Immich attaches a face to the nearest person within its distance, Ente is stricter for
//! doubtful faces, PhotoPrism attaches low-quality faces after clustering; the margin is what
//! keeps a face between two look-alikes unknown.
//!
//! Only faces that already had a person are evidence, so the result does not depend on the
//! order faces are looked at and never chains through faces attached here. A person still
//! appears at most once per photo, a rejected (face, person) pair is never made, and excluded
//! people (hidden ones) are never a target, though they still count as the runner-up. Pure:
//! it takes and returns plain vectors, and [`Outcome`] says why each face ended where it did
//! (shown by `eval`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::cache::{FaceKey, StoredAnalysis};

/// How close a face must be to a person to join it after clustering. Similarities are cosine
/// (the embeddings are unit vectors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttachParams {
    /// A person's similarity to a face is the mean of its `nearest_k` most similar faces (all
    /// of them for a smaller person), so one odd face of a person cannot pull strangers in.
    pub nearest_k: usize,
    /// Faces of people looked at per unknown face; people not among them are bounded by the
    /// least similar one, which keeps the margin test exact without comparing every face.
    pub candidates: usize,
    pub min_similarity: f32,
    /// Best person's similarity minus the runner-up's.
    pub min_margin: f32,
    /// The same two for doubtful faces.
    pub doubtful_min_similarity: f32,
    pub doubtful_min_margin: f32,
}

/// SFace cosine similarity: the same person measures 0.5 and more on the evaluation sets,
/// different people at most 0.436 (../shared/MODELS.md). The threshold sits in that gap, and a
/// doubtful face must clear the clustering's own merge distance (0.95 = cosine 0.549) by a little
/// more; the margins ask the runner-up to be clearly behind (docs/QUALITY.md has the check).
pub const DEFAULT_ATTACH: AttachParams = AttachParams {
    nearest_k: 2,
    candidates: 32,
    min_similarity: 0.50,
    min_margin: 0.10,
    doubtful_min_similarity: 0.58,
    doubtful_min_margin: 0.15,
};

impl Default for AttachParams {
    fn default() -> Self {
        DEFAULT_ATTACH
    }
}

/// What happened to one face in this step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It already had a person (from clustering or an earlier run); untouched.
    Assigned,
    /// It joined `person`.
    Attached {
        person: u32,
        similarity: f32,
        runner_up: f32,
    },
    /// There was no person to compare it with.
    NoPerson,
    /// The nearest person was not similar enough.
    BelowThreshold {
        person: u32,
        similarity: f32,
        threshold: f32,
    },
    /// The nearest person was similar enough but another was too close behind.
    BelowMargin {
        person: u32,
        similarity: f32,
        runner_up: f32,
        margin: f32,
    },
    /// The nearest person is already in this photo (through another face).
    PersonInPhoto { person: u32, similarity: f32 },
    /// The user said this face is not the nearest person.
    Rejected { person: u32 },
    /// The nearest person is excluded (hidden).
    Excluded { person: u32 },
}

/// The faces of one run, index-aligned.
#[derive(Debug, Clone, Copy)]
pub struct Faces<'a> {
    /// Unit vectors.
    pub embeddings: &'a [&'a [f32]],
    /// The photo each face is in.
    pub photo: &'a [usize],
    /// Faces that may not start a person (`!good_enough_to_seed`): stricter thresholds.
    pub doubtful: &'a [bool],
}

/// `faces[i]` is face `face_keys[i].1` of photo `face_owner[i]`: whether it is doubtful (may
/// not start a person, see [`crate::faces::analyse::good_enough_to_seed`]).
pub fn doubtful_faces(
    analyses: &HashMap<usize, StoredAnalysis>,
    face_owner: &[usize],
    face_keys: &[FaceKey],
) -> Vec<bool> {
    face_owner
        .iter()
        .zip(face_keys)
        .map(|(o, k)| !crate::faces::analyse::good_enough_to_seed(&analyses[o], k.1 as usize))
        .collect()
}

/// Gives each unknown face in `person_of_face` the person it clearly belongs to, and returns
/// one [`Outcome`] per face. `rejected(face, person)` is true for pairs the user refused.
///
/// # Panics
/// When the slices of `faces` and `person_of_face` differ in length (a caller bug).
pub fn attach_unknown_faces(
    person_of_face: &mut [Option<u32>],
    faces: Faces<'_>,
    rejected: impl Fn(usize, u32) -> bool,
    excluded: &HashSet<u32>,
    params: &AttachParams,
) -> Vec<Outcome> {
    let n = person_of_face.len();
    assert!(
        faces.embeddings.len() == n && faces.photo.len() == n && faces.doubtful.len() == n,
        "one embedding, photo and quality flag per face"
    );
    let base: Vec<usize> = (0..n).filter(|&i| person_of_face[i].is_some()).collect();
    let queries: Vec<usize> = (0..n).filter(|&i| person_of_face[i].is_none()).collect();
    let mut outcomes = vec![Outcome::Assigned; n];
    if queries.is_empty() {
        return outcomes;
    }
    if base.is_empty() {
        for &q in &queries {
            outcomes[q] = Outcome::NoPerson;
        }
        return outcomes;
    }
    let mut size: HashMap<u32, usize> = HashMap::new();
    let mut in_photo: HashSet<(usize, u32)> = HashSet::new();
    for &b in &base {
        let p = person_of_face[b].unwrap_or_default();
        *size.entry(p).or_default() += 1;
        in_photo.insert((faces.photo[b], p));
    }
    let vectors =
        |ids: &[usize]| -> Vec<&[f32]> { ids.iter().map(|&i| faces.embeddings[i]).collect() };
    let k = params.candidates.max(params.nearest_k).max(1);
    let nearest = crate::people::cluster::nearest_among(&vectors(&queries), &vectors(&base), k);

    // (similarity, face) of every face that may join, decided after all are scored so that two
    // faces of one photo wanting one person go the more similar way.
    let mut wanted: Vec<(f32, usize, u32)> = Vec::new();
    for (&q, list) in queries.iter().zip(&nearest) {
        let sims: Vec<(f32, u32)> = list
            .iter()
            .map(|&(_, j)| {
                let b = base[j as usize];
                (
                    dot(faces.embeddings[q], faces.embeddings[b]),
                    person_of_face[b].unwrap_or_default(),
                )
            })
            .collect();
        // Faces outside a full list are no more similar than its last one.
        let bound = (list.len() == k && base.len() > k)
            .then(|| sims.iter().map(|s| s.0).fold(f32::INFINITY, f32::min));
        let ranked = rank_people(&sims, &size, params.nearest_k, bound);
        let Some(&(similarity, person, complete)) = ranked.first() else {
            outcomes[q] = Outcome::NoPerson;
            continue;
        };
        let runner_up = ranked
            .get(1)
            .map(|r| r.0)
            .into_iter()
            .chain(bound)
            .fold(-1.0f32, f32::max);
        let (threshold, margin) = if faces.doubtful[q] {
            (params.doubtful_min_similarity, params.doubtful_min_margin)
        } else {
            (params.min_similarity, params.min_margin)
        };
        outcomes[q] = if excluded.contains(&person) {
            Outcome::Excluded { person }
        } else if rejected(q, person) {
            Outcome::Rejected { person }
        } else if !complete || similarity < threshold {
            Outcome::BelowThreshold {
                person,
                similarity,
                threshold,
            }
        } else if similarity - runner_up < margin {
            Outcome::BelowMargin {
                person,
                similarity,
                runner_up,
                margin,
            }
        } else {
            wanted.push((similarity, q, person));
            Outcome::Attached {
                person,
                similarity,
                runner_up,
            }
        };
    }
    wanted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (similarity, q, person) in wanted {
        if in_photo.insert((faces.photo[q], person)) {
            person_of_face[q] = Some(person);
        } else {
            outcomes[q] = Outcome::PersonInPhoto { person, similarity };
        }
    }
    outcomes
}

/// People by similarity to one face, most similar first (ties: lower id): (mean of the person's
/// `nearest_k` most similar faces, person, whether all of those were among `sims`). `sims` are
/// (similarity, person) of the face's candidates; a person with fewer of them than it needs is
/// filled up with `bound` (the most any face outside the list can have), so its score is an upper
/// bound: right for a runner-up, and `complete` is false so such a person is never joined.
fn rank_people(
    sims: &[(f32, u32)],
    size: &HashMap<u32, usize>,
    nearest_k: usize,
    bound: Option<f32>,
) -> Vec<(f32, u32, bool)> {
    let mut by_person: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
    for &(s, p) in sims {
        by_person.entry(p).or_default().push(s);
    }
    let mut ranked: Vec<(f32, u32, bool)> = by_person
        .into_iter()
        .map(|(p, mut s)| {
            s.sort_by(|a, b| b.total_cmp(a));
            let need = nearest_k.clamp(1, size.get(&p).copied().unwrap_or(1).max(1));
            let seen = s.len().min(need);
            let missing = need - seen;
            let sum: f32 = s[..seen].iter().sum::<f32>() + missing as f32 * bound.unwrap_or(0.0);
            (sum / need as f32, p, missing == 0 || bound.is_none())
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector at cosine `c` to axis 0, in the plane of axes 0 and `axis`.
    fn at(c: f32, axis: usize) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        v[0] = c;
        v[axis] = (1.0 - c * c).sqrt();
        v
    }

    struct Case {
        vectors: Vec<Vec<f32>>,
        people: Vec<Option<u32>>,
        photo: Vec<usize>,
        doubtful: Vec<bool>,
    }

    impl Case {
        fn new() -> Self {
            Self {
                vectors: Vec::new(),
                people: Vec::new(),
                photo: Vec::new(),
                doubtful: Vec::new(),
            }
        }

        fn face(mut self, v: Vec<f32>, person: Option<u32>) -> Self {
            let photo = self.photo.len();
            self.vectors.push(v);
            self.people.push(person);
            self.photo.push(photo);
            self.doubtful.push(false);
            self
        }

        fn run_with(
            &mut self,
            rejected: impl Fn(usize, u32) -> bool,
            excluded: &HashSet<u32>,
        ) -> Vec<Outcome> {
            let refs: Vec<&[f32]> = self.vectors.iter().map(Vec::as_slice).collect();
            let faces = Faces {
                embeddings: &refs,
                photo: &self.photo,
                doubtful: &self.doubtful,
            };
            attach_unknown_faces(&mut self.people, faces, rejected, excluded, &DEFAULT_ATTACH)
        }

        fn run(&mut self) -> Vec<Outcome> {
            self.run_with(|_, _| false, &HashSet::new())
        }
    }

    /// Person 1 around axis 0; the unknown face (last) at cosine about `c` to it; person 2 on
    /// axis 7 is at cosine 0 to everything else.
    fn one_person_and_a_stranger(c: f32) -> Case {
        Case::new()
            .face(at(1.0, 1), Some(1))
            .face(at(0.98, 1), Some(1))
            .face(at(0.0, 7), Some(2))
            .face(at(0.0, 7), Some(2))
            .face(at(c, 2), None)
    }

    #[test]
    fn a_face_clearly_nearest_one_person_joins_it() {
        let mut case = one_person_and_a_stranger(0.7);
        let out = case.run();
        assert_eq!(case.people[4], Some(1), "{out:?}");
        assert!(matches!(out[4], Outcome::Attached { person: 1, .. }));
        assert_eq!(&out[..4], &[Outcome::Assigned; 4]);
    }

    #[test]
    fn a_face_below_the_threshold_stays_unknown() {
        let mut case = one_person_and_a_stranger(0.45);
        let out = case.run();
        assert_eq!(case.people[4], None);
        assert!(
            matches!(out[4], Outcome::BelowThreshold { person: 1, .. }),
            "{out:?}"
        );
    }

    #[test]
    fn a_face_between_two_people_stays_unknown_however_close() {
        // Person 1 on axis 0, person 2 at cosine 0.6 to person 1: a face halfway is similar
        // to both (about 0.89), well above the threshold, but not clearly nearer either.
        let p2 = at(0.6, 1);
        let half: Vec<f32> = at(1.0, 1).iter().zip(&p2).map(|(a, b)| a + b).collect();
        let norm = half.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut case = Case::new()
            .face(at(1.0, 1), Some(1))
            .face(at(1.0, 1), Some(1))
            .face(p2.clone(), Some(2))
            .face(p2, Some(2))
            .face(half.iter().map(|x| x / norm).collect(), None);
        let out = case.run();
        assert_eq!(case.people[4], None);
        match out[4] {
            Outcome::BelowMargin {
                similarity,
                runner_up,
                ..
            } => assert!(similarity > 0.85 && runner_up > 0.85, "{out:?}"),
            other => panic!("expected BelowMargin, got {other:?}"),
        }
    }

    #[test]
    fn doubtful_faces_need_more() {
        // 0.55 clears the threshold for a good face, not for a doubtful one.
        let mut good = one_person_and_a_stranger(0.55);
        good.run();
        assert_eq!(good.people[4], Some(1));
        let mut doubtful = one_person_and_a_stranger(0.55);
        doubtful.doubtful[4] = true;
        let out = doubtful.run();
        assert_eq!(doubtful.people[4], None);
        assert!(
            matches!(out[4], Outcome::BelowThreshold { threshold, .. } if threshold > 0.55),
            "{out:?}"
        );
    }

    #[test]
    fn a_rejected_pair_is_never_made_and_excluded_people_are_never_joined() {
        let mut case = one_person_and_a_stranger(0.8);
        let out = case.run_with(|face, person| face == 4 && person == 1, &HashSet::new());
        assert_eq!(case.people[4], None);
        assert_eq!(out[4], Outcome::Rejected { person: 1 });

        let mut case = one_person_and_a_stranger(0.8);
        let out = case.run_with(|_, _| false, &HashSet::from([1]));
        assert_eq!(case.people[4], None, "joined the other person instead");
        assert_eq!(out[4], Outcome::Excluded { person: 1 });
    }

    #[test]
    fn a_person_is_never_given_two_faces_of_one_photo() {
        // Faces 4 and 5 are in the photo of face 0, which already is person 1; face 6 and 7
        // share a photo of their own, and only the more similar one joins.
        let mut case = one_person_and_a_stranger(0.8)
            .face(at(0.9, 2), None)
            .face(at(0.85, 2), None)
            .face(at(0.75, 2), None);
        case.photo[4] = 0;
        case.photo[5] = 0;
        case.photo[7] = case.photo[6];
        let out = case.run();
        assert_eq!(&case.people[4..], &[None, None, Some(1), None], "{out:?}");
        assert!(matches!(out[4], Outcome::PersonInPhoto { person: 1, .. }));
        assert!(matches!(out[7], Outcome::PersonInPhoto { person: 1, .. }));
        let mut seen = HashSet::new();
        for (p, photo) in case.people.iter().zip(&case.photo) {
            if let Some(p) = p {
                assert!(
                    seen.insert((*photo, *p)),
                    "person {p} twice in photo {photo}"
                );
            }
        }
    }

    #[test]
    fn attached_faces_are_not_evidence_for_later_ones() {
        // Face 4 joins person 1 (0.69); face 5 is at 0.93 to face 4 but under 0.4 to person 1's
        // own faces: chaining through face 4 would take it, the rule does not.
        let mut case = one_person_and_a_stranger(0.7).face(at(0.4, 2), None);
        let out = case.run();
        assert_eq!(case.people[4], Some(1), "{out:?}");
        assert_eq!(case.people[5], None, "{out:?}");
        assert!(matches!(out[5], Outcome::BelowThreshold { person: 1, .. }));
    }

    #[test]
    fn people_outside_the_candidate_list_still_bound_the_margin() {
        // 40 faces of person 1 at cosine 0.9 fill the list; person 2 (0.85) is outside it. The
        // bound (0.9) stands in for person 2, so the margin fails, as it would with the full list.
        let mut case = Case::new();
        for _ in 0..40 {
            case = case.face(at(0.9, 1), Some(1));
        }
        case = case.face(at(0.85, 2), Some(2)).face(at(1.0, 1), None);
        let out = case.run();
        assert_eq!(case.people[41], None);
        assert!(
            matches!(out[41], Outcome::BelowMargin { person: 1, .. }),
            "{out:?}"
        );
    }

    #[test]
    fn nothing_to_join_and_nothing_unknown() {
        let mut case = Case::new().face(at(1.0, 1), None);
        assert_eq!(case.run(), vec![Outcome::NoPerson]);
        let mut case = Case::new().face(at(1.0, 1), Some(3));
        assert_eq!(case.run(), vec![Outcome::Assigned]);
    }
}
