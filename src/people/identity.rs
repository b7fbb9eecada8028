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
    /// People the user hid: they keep their faces and id, get no folder, and no face is
    /// attached to them after clustering.
    pub hidden: HashSet<u32>,
    /// Faces the user gave to a person (`people split`): theirs whatever the clustering says.
    pub pins: HashMap<FaceKey, u32>,
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
            let person = match (state.pins.get(key), label) {
                (Some(pinned), _) => Some(*pinned),
                (None, Some(l)) => person_of_cluster.get(l).copied(),
                (None, None) => state.assignments.get(key).copied(),
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

/// Longest folder name made from a person's name, in bytes (cut at a character boundary).
pub const MAX_FOLDER_NAME_BYTES: usize = 100;

/// Names of files the tool keeps at the top of the output directory; no person may be called so.
pub const RESERVED_NAMES: &[&str] = &["manifest.json", "report.html", "people.json"];

/// Unicode format characters (general category Cf, Unicode 15.1): invisible, and some (U+202E)
/// make a name display as something else.
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Why a name cannot be given to a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a person's name cannot be empty (or only invisible characters)")]
    Empty,
    #[error(
        "{0:?} is reserved: the output directory keeps a file of that name; choose another name"
    )]
    Reserved(String),
    #[error("{0:?} starts with `{1}`: folders starting with `_` or `.` are the tool's own or hidden; choose another name")]
    LeadingMark(String, char),
    #[error("the name is {0} bytes long; at most {max} (it becomes a folder name): choose a shorter one", max = MAX_FOLDER_NAME_BYTES)]
    TooLong(usize),
}

/// A name as given to `people name`, checked: control and format characters (Unicode Cc, Cf)
/// removed, surrounding space trimmed; refused when empty, reserved, starting with `_` or `.`,
/// or longer than [`MAX_FOLDER_NAME_BYTES`]. Path separators are kept in the name and replaced in
/// its folder ([`folder_name`]).
pub fn check_name(name: &str) -> Result<String, NameError> {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(NameError::Empty);
    }
    if cleaned == ".."
        || RESERVED_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(cleaned))
    {
        return Err(NameError::Reserved(cleaned.to_string()));
    }
    if let Some(c @ ('_' | '.')) = cleaned.chars().next() {
        return Err(NameError::LeadingMark(cleaned.to_string(), c));
    }
    if cleaned.len() > MAX_FOLDER_NAME_BYTES {
        return Err(NameError::TooLong(cleaned.len()));
    }
    Ok(cleaned.to_string())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Two people become one: the kept person's name, else the other's. Two different names need
/// `force` (then the kept person's wins).
pub fn merged_name(
    keep: (u32, Option<&str>),
    other: (u32, Option<&str>),
    force: bool,
) -> Result<Option<String>, MergeConflict> {
    match (keep.1, other.1) {
        (Some(a), Some(b)) if a != b && !force => Err(MergeConflict {
            keep: keep.0,
            keep_name: a.to_string(),
            other: other.0,
            other_name: b.to_string(),
        }),
        (Some(a), _) => Ok(Some(a.to_string())),
        (None, b) => Ok(b.map(str::to_string)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("person {keep} is {keep_name:?} and person {other} is {other_name:?}; pass --force to merge them under {keep_name:?}, or rename one first (`people name`)")]
pub struct MergeConflict {
    pub keep: u32,
    pub keep_name: String,
    pub other: u32,
    pub other_name: String,
}

/// A person's folder: their name made safe for any file system (separators and reserved
/// characters replaced, control and format characters dropped, at most
/// [`MAX_FOLDER_NAME_BYTES`]), else `person_NNN`.
pub fn folder_name(id: u32, name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| !is_format_char(*c))
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect::<String>();
    let cleaned = cleaned
        .trim()
        .trim_start_matches(['.', '_'])
        .trim_end_matches('.');
    let cleaned = cut_at_char_boundary(cleaned, MAX_FOLDER_NAME_BYTES)
        .trim_end_matches('.')
        .trim_end();
    let reserved = RESERVED_NAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(cleaned));
    if cleaned.is_empty() || reserved {
        format!("person_{id:03}")
    } else {
        cleaned.to_string()
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
    fn a_pinned_face_keeps_its_person_whatever_the_clustering_says() {
        let mut state = PeopleState::default();
        for f in ["a", "b", "c"] {
            state.assignments.insert(key(f), 1);
        }
        state.names.insert(1, Some("Ada".into()));
        state.names.insert(2, None);
        state.pins.insert(key("c"), 2);
        state.rejections.insert((key("c"), 1));
        let faces = [key("a"), key("b"), key("c")];
        let ids = identify(
            &faces,
            &[Some(0), Some(0), Some(0)],
            &HashMap::new(),
            &state,
        );
        assert_eq!(ids.person_of_face, vec![Some(1), Some(1), Some(2)]);
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
        assert_eq!(folder_name(4, Some("manifest.json")), "person_004");
        assert_eq!(folder_name(4, Some("Ada\u{202E}gpj.exe")), "Adagpj.exe");
        let long = "é".repeat(80);
        let cut = folder_name(4, Some(&long));
        assert_eq!(cut.len(), 100);
        assert!(long.starts_with(&cut));
        let f = folder_names(&names);
        assert_eq!(f[&1], "Alex");
        assert_eq!(f[&2], "alex (2)");
        assert_eq!(f[&3], "person_003");
    }

    #[test]
    fn names_are_checked_with_the_reason() {
        assert_eq!(check_name("  Ada\u{202E}\u{7}  ").unwrap(), "Ada");
        assert_eq!(check_name("AC/DC").unwrap(), "AC/DC");
        assert_eq!(check_name("\u{200B}"), Err(NameError::Empty));
        for reserved in ["manifest.json", "Report.HTML", "people.json", ".."] {
            assert!(
                matches!(check_name(reserved), Err(NameError::Reserved(_))),
                "{reserved}"
            );
        }
        assert!(matches!(
            check_name("_x"),
            Err(NameError::LeadingMark(_, '_'))
        ));
        assert!(matches!(
            check_name(".x"),
            Err(NameError::LeadingMark(_, '.'))
        ));
        assert_eq!(check_name(&"a".repeat(101)), Err(NameError::TooLong(101)));
        assert!(check_name(&"a".repeat(100)).is_ok());
    }

    #[test]
    fn merging_keeps_one_name() {
        assert_eq!(
            merged_name((1, None), (2, Some("Bo")), false),
            Ok(Some("Bo".into()))
        );
        assert_eq!(
            merged_name((1, Some("Al")), (2, None), false),
            Ok(Some("Al".into()))
        );
        assert_eq!(
            merged_name((1, Some("Al")), (2, Some("Al")), false),
            Ok(Some("Al".into()))
        );
        assert!(merged_name((1, Some("Al")), (2, Some("Bo")), false).is_err());
        assert_eq!(
            merged_name((1, Some("Al")), (2, Some("Bo")), true),
            Ok(Some("Al".into()))
        );
        assert_eq!(merged_name((1, None), (2, None), false), Ok(None));
    }
}
