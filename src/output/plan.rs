//! Faces' people -> [`Plan`]: every destination decided before anything is written. A photo goes
//! to each person in it, to `_no_faces` or to `_unknown`, and its companions (sidecars, edits, a
//! Live Photo's video) go beside it in each of its folders; names that collide in one folder
//! (a photo's, or one of its companions') keep the first (by library path) as is and give the
//! others a suffix from their library path's hash, which their companions' names follow, so no
//! copy ever replaces another. Pure: no I/O; `--dry-run` prints it.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::media::companions::{name_beside, Kind, NameForm};

/// How a photo reaches its folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transfer {
    Copy,
    Move,
    Hardlink,
    Symlink,
}

pub const NO_FACES_DIR: &str = "_no_faces";
pub const UNKNOWN_DIR: &str = "_unknown";

/// Where one photo belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// A person, by stable id.
    Person(u32),
    NoFaces,
    Unknown,
}

impl Destination {
    /// The folder under OUT; a person missing from `folders` gets `person_NNN`.
    pub fn folder(self, folders: &BTreeMap<u32, String>) -> String {
        match self {
            Destination::Person(p) => folders
                .get(&p)
                .cloned()
                .unwrap_or_else(|| crate::people::identity::folder_name(p, None)),
            Destination::NoFaces => NO_FACES_DIR.into(),
            Destination::Unknown => UNKNOWN_DIR.into(),
        }
    }
}

/// Folder used with `--by-year` when neither EXIF nor the file says when a photo was taken.
pub const UNKNOWN_YEAR_DIR: &str = "unknown-year";

/// A photo to place: where it is and where it belongs.
#[derive(Debug, Clone)]
pub struct PlacedPhoto {
    pub src: PathBuf,
    pub rel_path: PathBuf,
    pub destinations: Vec<Destination>,
    /// Year taken, for `--by-year`.
    pub year: Option<i32>,
    /// Files that go wherever the photo goes.
    pub companions: Vec<PlacedCompanion>,
}

/// A companion file of a photo: where it is, and how its name follows the photo's.
#[derive(Debug, Clone)]
pub struct PlacedCompanion {
    pub src: PathBuf,
    pub kind: Kind,
    pub form: NameForm,
}

/// Options that shape the folder tree.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Folder of each person id.
    pub folders: BTreeMap<u32, String>,
    /// Sub-folder per year taken inside each folder.
    pub by_year: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOp {
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub src: PathBuf,
    /// Relative to the output directory.
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub dst: PathBuf,
    /// Index of the photo in the input.
    #[serde(skip)]
    pub photo: usize,
    /// `Some(k)`: this op places the photo's k-th companion, not the photo.
    #[serde(skip)]
    pub companion: Option<usize>,
    /// What the companion is (`--dry-run --json`: `"companion": "xmp"`); absent for a photo.
    #[serde(rename = "companion", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Plan {
    pub ops: Vec<CopyOp>,
}

/// The destinations of a photo from the person of each of its faces (`None`: nobody).
pub fn destinations(face_people: &[Option<u32>]) -> Vec<Destination> {
    if face_people.is_empty() {
        return vec![Destination::NoFaces];
    }
    let mut people: Vec<Destination> = face_people
        .iter()
        .flatten()
        .map(|&p| Destination::Person(p))
        .collect();
    people.sort();
    people.dedup();
    if people.is_empty() {
        vec![Destination::Unknown]
    } else {
        people
    }
}

/// Longest file name most file systems take, in bytes.
const MAX_NAME_BYTES: usize = 255;

fn suffixed(name: &Path, rel_path: &Path) -> PathBuf {
    let digest = Sha256::digest(rel_path.as_os_str().as_encoded_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let stem = name.file_stem().unwrap_or_default().to_string_lossy();
    let ext = name
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    // Shorten the stem (on a character boundary) so the suffixed name still fits.
    let room = MAX_NAME_BYTES.saturating_sub(tag.len() + 1 + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    PathBuf::from(format!("{}-{tag}{ext}", &stem[..cut]))
}

pub fn plan(photos: &[PlacedPhoto], layout: &Layout) -> Plan {
    let mut order: Vec<usize> = (0..photos.len()).collect();
    order.sort_by(|&a, &b| photos[a].rel_path.cmp(&photos[b].rel_path));
    // (folder, lower-cased name) -> first library path that took it; case-insensitive so
    // that macOS and Windows file systems cannot merge two names either.
    let mut taken: HashMap<(String, String), PathBuf> = HashMap::new();
    let mut ops = Vec::new();
    for i in order {
        let photo = &photos[i];
        let name = PathBuf::from(photo.rel_path.file_name().unwrap_or_default());
        let photo_name = name.to_string_lossy();
        // The names of the photo and its companions in OUT when the photo is called `file`.
        let names_as = |file: &Path| -> Vec<String> {
            let placed = file.to_string_lossy();
            let companions = photo.companions.iter().map(|c| {
                let own = c.src.file_name().unwrap_or_default().to_string_lossy();
                name_beside(&c.form, &own, &photo_name, &placed)
            });
            std::iter::once(placed.to_string())
                .chain(companions)
                .collect()
        };
        for dest in &photo.destinations {
            let mut folder = dest.folder(&layout.folders);
            if layout.by_year {
                let year = photo
                    .year
                    .map_or_else(|| UNKNOWN_YEAR_DIR.to_string(), |y| y.to_string());
                folder = format!("{folder}/{year}");
            }
            let key = |n: &str| (folder.clone(), n.to_lowercase());
            let clashes = names_as(&name).iter().any(|n| {
                taken
                    .get(&key(n))
                    .is_some_and(|owner| *owner != photo.rel_path)
            });
            let file = if clashes {
                suffixed(&name, &photo.rel_path)
            } else {
                name.clone()
            };
            let names = names_as(&file);
            for n in &names {
                taken
                    .entry(key(n))
                    .or_insert_with(|| photo.rel_path.clone());
            }
            ops.push(CopyOp {
                src: photo.src.clone(),
                dst: Path::new(&folder).join(file),
                photo: i,
                companion: None,
                kind: None,
            });
            for (k, (c, n)) in photo.companions.iter().zip(&names[1..]).enumerate() {
                ops.push(CopyOp {
                    src: c.src.clone(),
                    dst: Path::new(&folder).join(n),
                    photo: i,
                    companion: Some(k),
                    kind: Some(c.kind),
                });
            }
        }
    }
    Plan { ops }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(rel: &str, destinations: Vec<Destination>) -> PlacedPhoto {
        PlacedPhoto {
            src: Path::new("/lib").join(rel),
            rel_path: rel.into(),
            destinations,
            year: None,
            companions: Vec::new(),
        }
    }

    fn plan_default(photos: &[PlacedPhoto]) -> Plan {
        plan(photos, &Layout::default())
    }

    #[test]
    fn named_people_and_years_shape_the_tree() {
        let mut p1 = photo(
            "a.jpg",
            vec![Destination::Person(7), Destination::Person(2)],
        );
        p1.year = Some(2009);
        let p2 = photo("b.jpg", vec![Destination::Unknown]);
        let layout = Layout {
            folders: BTreeMap::from([(7, "Ada".to_string())]),
            by_year: true,
        };
        let dsts: Vec<PathBuf> = plan(&[p1, p2], &layout)
            .ops
            .into_iter()
            .map(|o| o.dst)
            .collect();
        assert_eq!(
            dsts,
            vec![
                PathBuf::from("Ada/2009/a.jpg"),
                PathBuf::from("person_002/2009/a.jpg"),
                PathBuf::from("_unknown/unknown-year/b.jpg")
            ]
        );
    }

    #[test]
    fn destinations_from_faces() {
        assert_eq!(destinations(&[]), vec![Destination::NoFaces]);
        assert_eq!(destinations(&[None, None]), vec![Destination::Unknown]);
        assert_eq!(
            destinations(&[Some(2), None, Some(0), Some(2)]),
            vec![Destination::Person(0), Destination::Person(2)]
        );
    }

    #[test]
    fn same_names_from_different_folders_never_collide() {
        let p = plan_default(&[
            photo("b/IMG_1.jpg", vec![Destination::Person(1)]),
            photo(
                "a/IMG_1.jpg",
                vec![Destination::Person(1), Destination::Person(2)],
            ),
            photo("c/img_1.JPG", vec![Destination::Person(1)]),
        ]);
        let dsts: Vec<String> = p.ops.iter().map(|o| o.dst.display().to_string()).collect();
        // a/ sorts first and keeps the plain name in both of its folders.
        assert_eq!(dsts[0], "person_001/IMG_1.jpg");
        assert_eq!(dsts[1], "person_002/IMG_1.jpg");
        assert!(dsts[2].starts_with("person_001/IMG_1-") && dsts[2].ends_with(".jpg"));
        assert!(dsts[3].starts_with("person_001/img_1-") && dsts[3].ends_with(".JPG"));
        let mut unique = dsts.clone();
        unique.sort_by_key(|d| d.to_lowercase());
        unique.dedup_by_key(|d| d.to_lowercase());
        assert_eq!(unique.len(), dsts.len(), "{dsts:?}");
        // Stable: the same input plans the same names.
        let again = plan_default(&[
            photo("c/img_1.JPG", vec![Destination::Person(1)]),
            photo(
                "a/IMG_1.jpg",
                vec![Destination::Person(1), Destination::Person(2)],
            ),
            photo("b/IMG_1.jpg", vec![Destination::Person(1)]),
        ]);
        let mut a: Vec<_> = p.ops.iter().map(|o| (&o.src, &o.dst)).collect();
        let mut b: Vec<_> = again.ops.iter().map(|o| (&o.src, &o.dst)).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn companions_go_beside_their_photo_and_a_clash_of_theirs_renames_both() {
        let companion = |src: &str, kind, form| PlacedCompanion {
            src: Path::new("/lib").join(src),
            kind,
            form,
        };
        let stem = |s: &str| NameForm::AfterStem(s.into());
        let mut a = photo(
            "a/IMG_1.jpg",
            vec![Destination::Person(1), Destination::Person(2)],
        );
        a.companions = vec![companion("a/IMG_1.xmp", Kind::Xmp, stem(".xmp"))];
        // Another name than a's photo, but the same sidecar name in person_001.
        let mut b = photo("b/IMG_1.png", vec![Destination::Person(1)]);
        b.companions = vec![
            companion("b/IMG_1.xmp", Kind::Xmp, stem(".xmp")),
            companion(
                "b/IMG_1.png.json",
                Kind::TakeoutJson,
                NameForm::AfterName(".json".into()),
            ),
        ];
        let p = plan_default(&[b, a]);
        let dsts: Vec<String> = p.ops.iter().map(|o| o.dst.display().to_string()).collect();
        assert_eq!(
            dsts[..4],
            [
                "person_001/IMG_1.jpg",
                "person_001/IMG_1.xmp",
                "person_002/IMG_1.jpg",
                "person_002/IMG_1.xmp"
            ]
        );
        let tag = dsts[4]
            .strip_prefix("person_001/IMG_1-")
            .and_then(|t| t.strip_suffix(".png"))
            .unwrap_or_else(|| panic!("{dsts:?}"));
        assert_eq!(
            dsts[5..],
            [
                format!("person_001/IMG_1-{tag}.xmp"),
                format!("person_001/IMG_1-{tag}.png.json")
            ]
        );
        let what: Vec<(usize, Option<usize>, Option<Kind>)> = p
            .ops
            .iter()
            .map(|o| (o.photo, o.companion, o.kind))
            .collect();
        assert_eq!(what[1], (1, Some(0), Some(Kind::Xmp)));
        assert_eq!(what[6], (0, Some(1), Some(Kind::TakeoutJson)));
        assert_eq!(p.ops[6].src, Path::new("/lib/b/IMG_1.png.json"));
    }

    #[test]
    fn suffixed_long_names_still_fit() {
        let long = format!("{}.jpg", "é".repeat(125)); // 254 bytes
        let s = suffixed(Path::new(&long), Path::new("x/y"));
        let s = s.to_str().unwrap();
        assert!(s.len() <= MAX_NAME_BYTES, "{}", s.len());
        assert!(s.ends_with(".jpg") && s.starts_with("éé"));
    }

    #[test]
    fn special_folders_start_with_underscore() {
        let p = plan_default(&[
            photo("x.png", vec![Destination::NoFaces]),
            photo("y.png", vec![Destination::Unknown]),
        ]);
        assert_eq!(p.ops[0].dst, PathBuf::from("_no_faces/x.png"));
        assert_eq!(p.ops[1].dst, PathBuf::from("_unknown/y.png"));
    }
}
