//! Cluster labels -> stable people. A run's clusters are matched to the people of earlier runs
//! by the faces they share, so a person keeps its id (and folder) as photos are added; clusters
//! holding faces from `--known DIR/<Name>/` take that name; the rest get new ids. Faces the user
//! rejected from a person never go back to it, and a face that was someone's last run keeps that
//! person if this run's clustering leaves it unassigned. Pure: the store is read and written by
//! the caller.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::cache::FaceKey;

/// What earlier runs and the user decided for one output directory.
#[derive(Debug, Default, Clone)]
pub struct PeopleState {
    pub assignments: HashMap<FaceKey, u32>,
    pub names: BTreeMap<u32, Option<String>>,
    pub rejections: HashSet<(FaceKey, u32)>,
}

/// The outcome: a person id (or none) per face, and every person's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Identities {
    pub person_of_face: Vec<Option<u32>>,
    pub names: BTreeMap<u32, Option<String>>,
}

/// `faces[i]` has cluster `labels[i]` and, for faces of `--known` photos, a given name.
pub fn identify(
    faces: &[FaceKey],
    labels: &[Option<usize>],
    known: &HashMap<usize, String>,
    state: &PeopleState,
) -> Identities {
    let mut names = state.names.clone();
    let mut next_id = names
        .keys()
        .chain(state.assignments.values())
        .max()
        .map_or(1, |m| m + 1);
    let id_named = |names: &BTreeMap<u32, Option<String>>, wanted: &str| {
        names
            .iter()
            .find(|(_, n)| n.as_deref() == Some(wanted))
            .map(|(id, _)| *id)
    };

    // Members of each cluster, clusters in label order (largest first: see cluster::renumber).
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        if let Some(l) = l {
            members.entry(*l).or_default().push(i);
        }
    }
    let mut person_of_cluster: HashMap<usize, u32> = HashMap::new();
    for (&cluster, faces_in) in &members {
        // A known name wins; then the earlier person sharing the most faces (lowest id on ties).
        let mut name_votes: BTreeMap<&str, usize> = BTreeMap::new();
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for &f in faces_in {
            if let Some(n) = known.get(&f) {
                *name_votes.entry(n.as_str()).or_default() += 1;
            }
            if let Some(p) = state.assignments.get(&faces[f]) {
                *votes.entry(*p).or_default() += 1;
            }
        }
        let id = if let Some(top) = name_votes.values().max().copied() {
            let name = name_votes
                .iter()
                .find(|(_, c)| **c == top)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default();
            match id_named(&names, &name) {
                Some(id) => id,
                None => {
                    let id = next_id;
                    next_id += 1;
                    names.insert(id, Some(name));
                    id
                }
            }
        } else if let Some(top) = votes.values().max().copied() {
            *votes
                .iter()
                .find(|(_, c)| **c == top)
                .map(|(p, _)| p)
                .unwrap_or(&0)
        } else {
            let id = next_id;
            next_id += 1;
            id
        };
        names.entry(id).or_insert(None);
        person_of_cluster.insert(cluster, id);
    }

    let person_of_face = faces
        .iter()
        .zip(labels)
        .map(|(key, label)| {
            let person = match label {
                Some(l) => person_of_cluster.get(l).copied(),
                None => state.assignments.get(key).copied(),
            };
            person.filter(|p| !state.rejections.contains(&(key.clone(), *p)))
        })
        .collect();
    Identities {
        person_of_face,
        names,
    }
}

/// Two faces in one photo are two people: where several faces of one photo got the same person,
/// only the one nearest that person's mean embedding keeps it.
pub fn one_face_per_person_per_photo(
    person_of_face: &mut [Option<u32>],
    photo_of_face: &[usize],
    embeddings: &[&[f32]],
) {
    let mut sums: HashMap<u32, Vec<f32>> = HashMap::new();
    for (p, e) in person_of_face.iter().zip(embeddings) {
        if let Some(p) = p {
            let sum = sums.entry(*p).or_insert_with(|| vec![0.0; e.len()]);
            sum.iter_mut().zip(e.iter()).for_each(|(s, x)| *s += x);
        }
    }
    let affinity = |face: usize, p: u32| -> f32 {
        sums[&p]
            .iter()
            .zip(embeddings[face])
            .map(|(s, x)| s * x)
            .sum()
    };
    let mut best: HashMap<(usize, u32), usize> = HashMap::new();
    for (face, p) in person_of_face.iter().enumerate() {
        if let Some(p) = p {
            let key = (photo_of_face[face], *p);
            match best.get(&key) {
                Some(&other) if affinity(other, *p) >= affinity(face, *p) => {}
                _ => {
                    best.insert(key, face);
                }
            }
        }
    }
    for (face, p) in person_of_face.iter_mut().enumerate() {
        if let Some(pp) = *p {
            if best[&(photo_of_face[face], pp)] != face {
                *p = None;
            }
        }
    }
}

/// A person's folder: their name made safe for any file system, else `person_NNN`.
pub fn folder_name(id: u32, name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect::<String>()
        .trim()
        .trim_start_matches(['.', '_'])
        .trim_end_matches('.')
        .to_string();
    if cleaned.is_empty() {
        format!("person_{id:03}")
    } else {
        cleaned
    }
}

/// Folder names for every person, unique case-insensitively (a second "Alex" gets its id).
pub fn folder_names(names: &BTreeMap<u32, Option<String>>) -> BTreeMap<u32, String> {
    let mut used: HashSet<String> = HashSet::new();
    names
        .iter()
        .map(|(&id, name)| {
            let mut folder = folder_name(id, name.as_deref());
            if !used.insert(folder.to_lowercase()) {
                folder = format!("{folder} ({id})");
                used.insert(folder.to_lowercase());
            }
            (id, folder)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> FaceKey {
        (s.to_string(), 0)
    }

    #[test]
    fn first_run_numbers_people_from_one_in_cluster_order() {
        let faces = [key("a"), key("b"), key("c"), key("d")];
        let ids = identify(
            &faces,
            &[Some(1), Some(0), Some(1), None],
            &HashMap::new(),
            &PeopleState::default(),
        );
        assert_eq!(ids.person_of_face, vec![Some(2), Some(1), Some(2), None]);
    }

    #[test]
    fn people_keep_ids_and_names_when_photos_are_added() {
        let mut state = PeopleState::default();
        state.assignments.insert(key("a"), 7);
        state.assignments.insert(key("b"), 3);
        state.names.insert(7, Some("Ada".into()));
        state.names.insert(3, None);
        // New photos: "n1" joins Ada's cluster, "n2" + "n3" form a new person.
        let faces = [key("n2"), key("n3"), key("a"), key("n1"), key("b")];
        let labels = [Some(0), Some(0), Some(1), Some(1), Some(2)];
        let ids = identify(&faces, &labels, &HashMap::new(), &state);
        assert_eq!(
            ids.person_of_face,
            vec![Some(8), Some(8), Some(7), Some(7), Some(3)]
        );
        assert_eq!(ids.names[&7].as_deref(), Some("Ada"));
    }

    #[test]
    fn rejected_faces_never_return_and_noise_keeps_its_person() {
        let mut state = PeopleState::default();
        state.assignments.insert(key("a"), 1);
        state.assignments.insert(key("b"), 1);
        state.assignments.insert(key("c"), 1);
        state.rejections.insert((key("b"), 1));
        let faces = [key("a"), key("b"), key("c")];
        let ids = identify(&faces, &[Some(0), Some(0), None], &HashMap::new(), &state);
        assert_eq!(ids.person_of_face, vec![Some(1), None, Some(1)]);
    }

    #[test]
    fn known_names_label_their_cluster() {
        let faces = [key("k"), key("x"), key("y")];
        let known = HashMap::from([(0, "Grace".to_string())]);
        let ids = identify(
            &faces,
            &[Some(0), Some(0), Some(1)],
            &known,
            &PeopleState::default(),
        );
        let grace = ids.person_of_face[0].unwrap();
        assert_eq!(ids.person_of_face[1], Some(grace));
        assert_eq!(ids.names[&grace].as_deref(), Some("Grace"));
        assert_ne!(ids.person_of_face[2], Some(grace));
    }

    #[test]
    fn a_person_appears_at_most_once_per_photo() {
        let e: Vec<Vec<f32>> = vec![
            vec![1.0, 0.0],
            vec![0.6, 0.8],
            vec![0.98, 0.2],
            vec![1.0, 0.0],
        ];
        let refs: Vec<&[f32]> = e.iter().map(Vec::as_slice).collect();
        // Faces 0 and 1 are in photo 7, both given person 3; face 1 is the worse match.
        let mut people = vec![Some(3), Some(3), Some(3), Some(4)];
        one_face_per_person_per_photo(&mut people, &[7, 7, 8, 8], &refs);
        assert_eq!(people, vec![Some(3), None, Some(3), Some(4)]);
    }

    #[test]
    fn folder_names_are_safe_and_unique() {
        assert_eq!(folder_name(4, None), "person_004");
        assert_eq!(folder_name(4, Some("../etc/passwd")), "etc_passwd");
        assert_eq!(folder_name(4, Some("_hidden")), "hidden");
        assert_eq!(folder_name(4, Some("  ")), "person_004");
        let names = BTreeMap::from([
            (1, Some("Alex".into())),
            (2, Some("alex".into())),
            (3, None),
        ]);
        let f = folder_names(&names);
        assert_eq!(f[&1], "Alex");
        assert_eq!(f[&2], "alex (2)");
        assert_eq!(f[&3], "person_003");
    }
}
