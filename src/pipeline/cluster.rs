//! Stage 4: every face of every analysed item in one table ([`Faces`]), then HDBSCAN over
//! their embeddings ([`crate::people::cluster`]), where only faces good enough to seed a person form
//! groups and the others may join one.

use std::collections::HashMap;

use anyhow::Context;

use crate::{
    cache::FaceKey,
    config::OrganizeConfig,
    faces::analyse::good_enough_to_seed,
    people::cluster::{cluster_gated, ClusterParams},
    util::progress::ProgressSink,
};

use super::{analyse::Analyses, hash::Hashes, library::Library};

/// Every face, in item order; index `f` of each vector is face `f`.
pub struct Faces {
    /// (photo sha256, face index in the photo).
    pub keys: Vec<FaceKey>,
    /// The item each face is in.
    pub owner: Vec<usize>,
    pub embeddings: Vec<Vec<f32>>,
    /// Face -> the name a `--known` photo gives it (its largest face only).
    pub known: HashMap<usize, String>,
}

impl Faces {
    pub fn vectors(&self) -> Vec<&[f32]> {
        self.embeddings.iter().map(Vec::as_slice).collect()
    }
}

pub fn gather_faces(library: &Library, hashes: &Hashes, analyses: &Analyses) -> Faces {
    let mut faces = Faces {
        keys: Vec::new(),
        owner: Vec::new(),
        embeddings: Vec::new(),
        known: HashMap::new(),
    };
    for (i, h) in hashes.iter().enumerate() {
        let (Ok(sha), Some(a)) = (h, analyses.of_item.get(&i)) else {
            continue;
        };
        // A known photo names only its largest face.
        let largest = a
            .faces
            .iter()
            .enumerate()
            .max_by(|x, y| (x.1.bbox[2] - x.1.bbox[0]).total_cmp(&(y.1.bbox[2] - y.1.bbox[0])))
            .map(|(f, _)| f);
        // A pet's face is kept in the analysis (and the manifest) but is nobody.
        for (f, face) in a.faces.iter().enumerate().filter(|(_, face)| !face.animal) {
            if let (Some(name), Some(l)) = (&library.items[i].known_name, largest) {
                if l == f {
                    faces.known.insert(faces.embeddings.len(), name.clone());
                }
            }
            faces.keys.push((sha.clone(), f as u32));
            faces.owner.push(i);
            faces.embeddings.push(face.embedding.clone());
        }
    }
    faces
}

/// Per face: its cluster, or `None` for noise.
pub fn cluster_faces(
    faces: &Faces,
    analyses: &Analyses,
    c: &OrganizeConfig,
    progress: &dyn ProgressSink,
) -> anyhow::Result<Vec<Option<usize>>> {
    progress.start("cluster", Some(faces.embeddings.len() as u64));
    let good: Vec<bool> = faces
        .owner
        .iter()
        .zip(&faces.keys)
        .map(|(o, k)| good_enough_to_seed(&analyses.of_item[o], k.1 as usize))
        .collect();
    let labels = cluster_gated(
        &faces.embeddings,
        &good,
        ClusterParams {
            min_cluster_size: c.min_cluster_size,
            merge_distance: c.merge_distance,
            ..ClusterParams::default()
        },
    )
    .context("clustering failed")?;
    progress.advance(faces.embeddings.len() as u64);
    progress.finish();
    Ok(labels)
}
