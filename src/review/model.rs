//! What the review page shows, computed from the store's faces and decisions (pure): people
//! largest first, faces nobody has grouped by similarity (largest groups first), and for a group
//! close to a named person the suggestion "is this Ada?". Rebuilt after every action.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{cache::FaceKey, people::attach::DEFAULT_ATTACH};

/// Faces nobody has join a group when their similarity to its mean is at least this: the
/// similarity from which [`crate::people::attach`] lets a face join a person (same person measures 0.5
/// and more with SFace, different people at most 0.436).
pub const GROUP_MIN_SIMILARITY: f32 = DEFAULT_ATTACH.min_similarity;

/// A group is suggested for a named person when the group's mean is this similar to the
/// person's: attach's threshold less its margin, so the faces attach found too doubtful to
/// join on their own are asked about, and nothing further away.
pub const SUGGEST_MIN_SIMILARITY: f32 = DEFAULT_ATTACH.min_similarity - DEFAULT_ATTACH.min_margin;

/// One face of OUT's photos, with whom the store says it belongs to now.
#[derive(Debug, Clone)]
pub struct Face {
    pub key: FaceKey,
    pub embedding: Vec<f32>,
    /// The pet check's verdict: never anyone's.
    pub animal: bool,
    pub person: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: u32,
    pub name: Option<String>,
    pub hidden: bool,
    /// Indices into the faces, in the order they were given.
    pub faces: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub person: u32,
    pub similarity: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub faces: Vec<usize>,
    pub suggestion: Option<Suggestion>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Largest first, then by id; hidden people last.
    pub people: Vec<Person>,
    /// Faces of nobody, grouped; largest first.
    pub groups: Vec<Group>,
    /// Faces the pet check says are not a person's.
    pub animals: Vec<usize>,
}

/// `faces` as people, groups and suggestions. `names` holds every person of the collection,
/// `rejections` the (face, person) pairs the user refused: a group holding any face rejected
/// from a person is never suggested for them.
pub fn build(
    faces: &[Face],
    names: &BTreeMap<u32, Option<String>>,
    hidden: &HashSet<u32>,
    rejections: &HashSet<(FaceKey, u32)>,
) -> View {
    let mut of_person: BTreeMap<u32, Vec<usize>> = names.keys().map(|&id| (id, vec![])).collect();
    let mut nobody = Vec::new();
    let mut animals = Vec::new();
    for (i, f) in faces.iter().enumerate() {
        match f.person {
            Some(p) => of_person.entry(p).or_default().push(i),
            None if f.animal => animals.push(i),
            None => nobody.push(i),
        }
    }
    let mut people: Vec<Person> = of_person
        .into_iter()
        .map(|(id, faces)| Person {
            id,
            name: names.get(&id).cloned().flatten(),
            hidden: hidden.contains(&id),
            faces,
        })
        .collect();
    people.sort_by_key(|p| (p.hidden, std::cmp::Reverse(p.faces.len()), p.id));

    let embedding = |i: usize| faces[i].embedding.as_slice();
    let centroids: Vec<(u32, Vec<f32>)> = people
        .iter()
        .filter(|p| p.name.is_some() && !p.hidden && !p.faces.is_empty())
        .map(|p| (p.id, unit_mean(p.faces.iter().map(|&i| embedding(i)))))
        .collect();
    let mut groups: Vec<Group> = group_by_similarity(&nobody, &embedding)
        .into_iter()
        .map(|members| {
            let mean = unit_mean(members.iter().map(|&i| embedding(i)));
            let refused: HashSet<u32> = members
                .iter()
                .flat_map(|&i| {
                    centroids
                        .iter()
                        .map(|(p, _)| *p)
                        .filter(move |p| rejections.contains(&(faces[i].key.clone(), *p)))
                })
                .collect();
            let suggestion = centroids
                .iter()
                .filter(|(p, _)| !refused.contains(p))
                .map(|(p, c)| Suggestion {
                    person: *p,
                    similarity: dot(&mean, c),
                })
                .filter(|s| s.similarity >= SUGGEST_MIN_SIMILARITY)
                .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
            Group {
                faces: members,
                suggestion,
            }
        })
        .collect();
    groups.sort_by_key(|g| (std::cmp::Reverse(g.faces.len()), g.faces[0]));
    View {
        people,
        groups,
        animals,
    }
}

/// Greedy grouping: each face joins the group whose running mean it is most similar to, if that
/// is at least [`GROUP_MIN_SIMILARITY`], else starts a group. Order-dependent, but the faces
/// come in the store's order, so the page is the same each time.
fn group_by_similarity<'a>(
    members: &[usize],
    embedding: &dyn Fn(usize) -> &'a [f32],
) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Vec<f32>, Vec<usize>)> = Vec::new();
    for &i in members {
        let e = embedding(i);
        let best = groups
            .iter()
            .enumerate()
            .map(|(g, (sum, _))| (g, dot(sum, e) / norm(sum).max(f32::EPSILON)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((g, s)) if s >= GROUP_MIN_SIMILARITY => {
                let (sum, faces) = &mut groups[g];
                sum.iter_mut().zip(e).for_each(|(s, x)| *s += x);
                faces.push(i);
            }
            _ => groups.push((e.to_vec(), vec![i])),
        }
    }
    groups.into_iter().map(|(_, faces)| faces).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// The mean of unit vectors, scaled back to unit length.
fn unit_mean<'a>(vectors: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    for v in vectors {
        if sum.is_empty() {
            sum = vec![0.0; v.len()];
        }
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
    }
    let n = norm(&sum).max(f32::EPSILON);
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// Face keys as the page names them: `sha256:index`.
pub fn face_id(key: &FaceKey) -> String {
    format!("{}:{}", key.0, key.1)
}

/// The inverse of [`face_id`]; `None` for anything else.
pub fn parse_face_id(id: &str) -> Option<FaceKey> {
    let (sha, idx) = id.rsplit_once(':')?;
    let ok = !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some((sha.to_string(), idx.parse().ok()?))
}

/// Where each face is, by key: for actions that name faces.
pub fn index_of(faces: &[Face]) -> HashMap<&FaceKey, usize> {
    faces.iter().enumerate().map(|(i, f)| (&f.key, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(sha: &str, e: [f32; 2], person: Option<u32>) -> Face {
        let n = (e[0] * e[0] + e[1] * e[1]).sqrt();
        Face {
            key: (sha.into(), 0),
            embedding: vec![e[0] / n, e[1] / n],
            animal: false,
            person,
        }
    }

    #[test]
    fn people_largest_first_groups_by_similarity_and_a_suggestion_for_the_near_one() {
        let faces = vec![
            face("a1", [1.0, 0.0], Some(1)),
            face("b1", [0.0, 1.0], Some(2)),
            face("b2", [0.1, 1.0], Some(2)),
            // Two unknown faces near Ada (person 1), one far from everyone named.
            face("u1", [1.0, 0.2], None),
            face("u2", [1.0, 0.1], None),
            face("u3", [-1.0, 0.0], None),
        ];
        let names = BTreeMap::from([(1, Some("Ada".to_string())), (2, None)]);
        let view = build(&faces, &names, &HashSet::new(), &HashSet::new());
        assert_eq!(
            view.people.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(view.groups.len(), 2);
        assert_eq!(view.groups[0].faces, vec![3, 4]);
        assert_eq!(
            view.groups[0].suggestion.as_ref().map(|s| s.person),
            Some(1)
        );
        // Person 2 has no name: never suggested; the far face gets no suggestion.
        assert_eq!(view.groups[1].faces, vec![5]);
        assert_eq!(view.groups[1].suggestion, None);
    }

    #[test]
    fn a_no_is_remembered_through_the_rejections() {
        let faces = vec![
            face("a1", [1.0, 0.0], Some(1)),
            face("u1", [1.0, 0.1], None),
        ];
        let names = BTreeMap::from([(1, Some("Ada".to_string()))]);
        let no = HashSet::from([(("u1".to_string(), 0), 1)]);
        let view = build(&faces, &names, &HashSet::new(), &no);
        assert_eq!(view.groups[0].suggestion, None);
    }

    #[test]
    fn face_ids_round_trip_and_junk_is_refused() {
        let key = ("ab12".to_string(), 3);
        assert_eq!(parse_face_id(&face_id(&key)), Some(key));
        for bad in ["", "ab12", ":3", "zz:1", "ab:x", "../x:1"] {
            assert_eq!(parse_face_id(bad), None, "{bad}");
        }
    }
}
