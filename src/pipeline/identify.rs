//! Stage 5: clusters become people with stable ids. Earlier runs' assignments, names and
//! rejections (the cache) decide which id each cluster gets ([`crate::people::identity::identify`]);
//! then one face per person per photo, and faces left unknown join the person they clearly
//! belong to ([`crate::people::attach`]). Hands [`People`] to planning and the report.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{
    cache::{Cache, FaceKey},
    people::attach::{attach_unknown_faces, doubtful_faces, Outcome, DEFAULT_ATTACH},
    people::identity::{folder_names, identify, one_face_per_person_per_photo, PeopleState},
};

use super::{analyse::Analyses, cluster::Faces};

pub struct People {
    /// Per face (as in [`Faces`]): its person.
    pub person_of_face: Vec<Option<u32>>,
    pub names: BTreeMap<u32, Option<String>>,
    /// Person -> folder name in OUT.
    pub folders: BTreeMap<u32, String>,
    /// Item -> the person of each of its faces, in face order.
    pub of_item: HashMap<usize, Vec<Option<u32>>>,
    /// People the user hid: no folder; their faces count as nobody known when planning.
    pub hidden: HashSet<u32>,
    /// Per face: its person before the attachment step (what clustering and earlier runs gave).
    pub before_attach: Vec<Option<u32>>,
    /// Per face: what the attachment step did with it, and why.
    pub attach: Vec<Outcome>,
}

/// What earlier runs and the `people` commands decided for this output.
pub fn load_state(cache: &Cache, collection: &str, model_key: &str) -> anyhow::Result<PeopleState> {
    Ok(PeopleState {
        assignments: cache
            .assignments(collection, model_key)?
            .into_iter()
            .collect(),
        names: cache.people(collection)?.into_iter().collect(),
        rejections: cache.rejections(collection)?.into_iter().collect(),
        hidden: cache.hidden(collection)?.into_iter().collect(),
        pins: cache.pins(collection)?.into_iter().collect(),
    })
}

pub fn identify_people(
    faces: &Faces,
    analyses: &Analyses,
    labels: &[Option<usize>],
    state: &PeopleState,
) -> People {
    let mut ids = identify(&faces.keys, labels, &faces.known, state);
    let vectors = faces.vectors();
    one_face_per_person_per_photo(&mut ids.person_of_face, &faces.owner, &vectors);
    let before_attach = ids.person_of_face.clone();
    let doubtful = doubtful_faces(&analyses.of_item, &faces.owner, &faces.keys);
    let attach = attach_unknown_faces(
        &mut ids.person_of_face,
        crate::people::attach::Faces {
            embeddings: &vectors,
            photo: &faces.owner,
            doubtful: &doubtful,
        },
        |f, p| state.rejections.contains(&(faces.keys[f].clone(), p)),
        &state.hidden,
        &DEFAULT_ATTACH,
    );
    let mut of_item: HashMap<usize, Vec<Option<u32>>> = HashMap::new();
    // Indexed by the face's place in its photo: pets' faces are not in `faces`, so they stay
    // `None` and a photo with no one else in it has no entry (it goes where faceless ones go).
    for ((owner, key), p) in faces.owner.iter().zip(&faces.keys).zip(&ids.person_of_face) {
        let of_photo = of_item.entry(*owner).or_default();
        let at = key.1 as usize;
        if of_photo.len() <= at {
            of_photo.resize(at + 1, None);
        }
        of_photo[at] = *p;
    }
    People {
        folders: folder_names(&ids.names),
        person_of_face: ids.person_of_face,
        names: ids.names,
        of_item,
        before_attach,
        attach,
        hidden: state.hidden.clone(),
    }
}

/// Stores this run's assignments and any name a `--known` photo gave, so the next run keeps
/// the same ids.
pub fn save_people(
    cache: &mut Cache,
    collection: &str,
    model_key: &str,
    faces: &Faces,
    people: &People,
    state: &PeopleState,
) -> anyhow::Result<()> {
    let assigned: Vec<(FaceKey, u32)> = faces
        .keys
        .iter()
        .zip(&people.person_of_face)
        .filter_map(|(k, p)| p.map(|p| (k.clone(), p)))
        .collect();
    cache.save_assignments(collection, model_key, &assigned)?;
    for (id, name) in &people.names {
        if name.is_some() && state.names.get(id) != Some(name) {
            cache.set_name(collection, *id, name.as_deref())?;
        }
    }
    Ok(())
}
