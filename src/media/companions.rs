//! Companion files: what belongs to a photo and travels with it (issue #34). XMP sidecars
//! (`photo.xmp`, Lightroom's; `photo.jpg.xmp`, darktable's and digiKam's), Apple's edits
//! (`IMG_0001.AAE`, and `IMG_O0001.AAE` for the original's), Google Takeout's metadata
//! (`photo.jpg.json`, `photo.jpg.supplemental-metadata.json` and the names Takeout cuts short)
//! and a Live Photo's video (`IMG_0001.MOV` beside `IMG_0001.HEIC`).
//!
//! [`pair`] is pure: from the scan's photos and its other files (paths) to each photo's
//! companions and the companion-like files whose photo is not there (orphans: they stay where
//! they are). A companion is in its photo's folder; names are compared case-insensitively. A
//! sidecar of a video that is not a Live Photo's (an `.AAE` of a slow-motion clip, a Takeout
//! JSON of a video) stays with its video: neither paired nor an orphan.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
};

use serde::Serialize;

use crate::media::scan::{PhotoRef, PHOTO_EXTENSIONS, RAW_EXTENSIONS};

/// What a companion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An XMP sidecar: `photo.xmp` or `photo.jpg.xmp`.
    Xmp,
    /// Apple's edits: `IMG_0001.AAE`, or `IMG_O0001.AAE` for the original's.
    Aae,
    /// Google Takeout's metadata: `photo.jpg.json`, `photo.jpg.supplemental-metadata.json`.
    TakeoutJson,
    /// The video half of a Live Photo: `IMG_0001.MOV` beside `IMG_0001.HEIC`.
    LiveVideo,
}

/// How a companion's name is made from its photo's, so that it can follow the photo to another
/// name in OUT ([`name_beside`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameForm {
    /// The photo's whole name, then this: `IMG_1.jpg` + `.xmp`.
    AfterName(String),
    /// The photo's name without its extension, then this: `IMG_1` + `.MOV`.
    AfterStem(String),
    /// Apple's edits of an original: the photo's stem with an `O` after its last `_`, then
    /// this: `IMG_O0001` + `.AAE` for `IMG_0001.HEIC`.
    AppleOriginal(String),
}

/// One companion of a photo: the index of its file in `others`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    pub file: usize,
    pub kind: Kind,
    pub form: NameForm,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pairing {
    /// Per photo (index in `photos`), its companions in the order of `others`.
    pub of_photo: Vec<Vec<Paired>>,
    /// Sidecars (XMP, AAE, a media file's Takeout JSON) whose photo is not in their folder, or
    /// could be one of several (a Takeout name cut short): indices in `others`.
    pub orphans: Vec<usize>,
}

/// Video extensions (lower case): a `.mov` or `.mp4` with a photo's stem is its Live Photo
/// video; any other video keeps its own sidecars.
const VIDEO_EXTENSIONS: &[&str] = &[
    "mov", "mp4", "m4v", "3gp", "mkv", "avi", "webm", "mts", "m2ts", "mpg", "mpeg", "wmv",
];
const LIVE_VIDEO_EXTENSIONS: &[&str] = &["mov", "mp4"];

/// What Takeout's newer exports put between a file's name and `.json`; cut short (to any
/// prefix, down to `.`) when the name would be too long.
const TAKEOUT_SUFFIX: &str = ".supplemental-metadata";
/// Takeout cuts a JSON's name before `.json` to this many characters: a name this long may be
/// the start of a longer photo name.
const TAKEOUT_CLIPPED_CHARS: usize = 46;

/// `a.b.jpg` -> (`a.b`, `jpg`); a name without a dot (or only a leading one): (name, "").
fn split(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    }
}

fn name_of(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()
}

fn folder_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

fn is_raw(path: &Path) -> bool {
    let ext = name_of(path).map_or("", |n| split(n).1);
    RAW_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
}

fn is_media_extension(ext: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    PHOTO_EXTENSIONS.contains(&ext.as_str()) || VIDEO_EXTENSIONS.contains(&ext.as_str())
}

/// `IMG_O0001` -> `IMG_0001`: the stem of the photo whose original Apple's `.AAE` describes.
fn apple_original_of(stem: &str) -> Option<String> {
    let i = stem.rfind('_')?;
    let rest = &stem[i + 1..];
    let digits = rest.strip_prefix(['O', 'o'])?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{}{digits}", &stem[..=i]))
}

/// `photo(1)` -> (`photo`, `(1)`): the counter Takeout adds to a repeated name.
fn split_counter(s: &str) -> Option<(&str, &str)> {
    let open = s.strip_suffix(')')?.rfind('(')?;
    let digits = &s[open + 1..s.len() - 1];
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (&s[..open], &s[open..]))
}

/// Something a sidecar can belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Photo(usize),
    /// A Live Photo's video, companion of `photo`, with its extension as spelled (`MOV`).
    LiveVideo {
        photo: usize,
        ext: String,
    },
    /// A video that is no photo's: its sidecars stay with it.
    Video,
}

/// One folder's photos and videos, as sidecars look for them.
#[derive(Default)]
struct Folder {
    /// Lower-case stem -> photos with it.
    photo_stems: HashMap<String, Vec<usize>>,
    /// Lower-case stems of videos that are no photo's.
    video_stems: HashSet<String>,
    /// (counter, lower-case name) -> owners. Each photo and video is here by its name with no
    /// counter, and a name like `photo(1).jpg` also as (`(1)`, `photo.jpg`): Takeout names its
    /// JSON `photo.jpg(1).json`.
    names: BTreeMap<(String, String), Vec<Owner>>,
}

impl Folder {
    fn add_name(&mut self, name: &str, owner: Owner) {
        let lower = name.to_lowercase();
        let (stem, ext) = split(&lower);
        if let Some((base, counter)) = split_counter(stem) {
            let key = (counter.to_string(), format!("{base}.{ext}"));
            self.names.entry(key).or_default().push(owner.clone());
        }
        self.names
            .entry((String::new(), lower))
            .or_default()
            .push(owner);
    }
}

/// The companions of `photos` among `others` (paths of files that are not photos, relative
/// or absolute like `photos`). The rules, names compared case-insensitively, in one folder:
///
/// - `.mov`/`.mp4` with a photo's stem: that photo's Live Photo video (`IMG_1.HEIC`,
///   `IMG_1.MOV`). Any other video is no photo's, and neither are its sidecars.
/// - `.xmp`: `NAME.xmp` where NAME is a photo's (or its Live Photo video's) whole name, else
///   `STEM.xmp` where STEM is a photo's stem.
/// - `.aae`: `STEM.aae`, or Apple's `IMG_O0001.aae` for the original of `IMG_0001.*`.
/// - `.json` (Google Takeout): `NAME.json`, `NAME` + any start of `.supplemental-metadata` +
///   `.json`, a name of 46 or more characters that a photo's name (+ that suffix) starts with
///   (Takeout cuts names there; the shortest such name wins, so `photo.jpg` over
///   `photo-edited.jpg`; two of one length: an orphan), each also with Takeout's counter:
///   `photo.jpg(1).json` for `photo(1).jpg`. A `.json` whose name names no photo or video
///   (an album's `metadata.json`) is not a sidecar at all.
///
/// Where several photos share a stem (`IMG_1.CR2` and `IMG_1.JPG`), a stem's companion goes to
/// one: a RAW file first (Lightroom's `IMG_1.xmp` is the RAW's), then the first in `photos`.
pub fn pair(photos: &[&Path], others: &[&Path]) -> Pairing {
    let mut folders: HashMap<&Path, Folder> = HashMap::new();
    for (i, p) in photos.iter().enumerate() {
        if let Some(name) = name_of(p) {
            let folder = folders.entry(folder_of(p)).or_default();
            let stem = split(name).0.to_lowercase();
            folder.photo_stems.entry(stem).or_default().push(i);
        }
    }
    let preferred = |candidates: &[usize]| -> usize {
        *candidates
            .iter()
            .min_by_key(|&&i| (!is_raw(photos[i]), i))
            .expect("a stem names at least one photo")
    };
    let mut of_photo: Vec<Vec<Paired>> = vec![Vec::new(); photos.len()];
    // Videos first: a sidecar may belong to a Live Photo's video.
    for (j, o) in others.iter().enumerate() {
        let Some(name) = name_of(o) else { continue };
        let (stem, ext) = split(name);
        let lower_ext = ext.to_ascii_lowercase();
        if !VIDEO_EXTENSIONS.contains(&lower_ext.as_str()) {
            continue;
        }
        let folder = folders.entry(folder_of(o)).or_default();
        let live = LIVE_VIDEO_EXTENSIONS
            .contains(&lower_ext.as_str())
            .then(|| folder.photo_stems.get(&stem.to_lowercase()))
            .flatten()
            .map(|c| preferred(c));
        match live {
            Some(photo) => {
                of_photo[photo].push(Paired {
                    file: j,
                    kind: Kind::LiveVideo,
                    form: NameForm::AfterStem(name[stem.len()..].to_string()),
                });
                let ext = ext.to_string();
                folder.add_name(name, Owner::LiveVideo { photo, ext });
            }
            None => {
                folder.video_stems.insert(stem.to_lowercase());
                folder.add_name(name, Owner::Video);
            }
        }
    }
    for (i, p) in photos.iter().enumerate() {
        if let Some(name) = name_of(p) {
            folders
                .entry(folder_of(p))
                .or_default()
                .add_name(name, Owner::Photo(i));
        }
    }
    let empty = Folder::default();
    let mut orphans = Vec::new();
    for (j, o) in others.iter().enumerate() {
        let Some(name) = name_of(o) else { continue };
        let folder = folders.get(folder_of(o)).unwrap_or(&empty);
        let (kind, found) = match split(name).1.to_ascii_lowercase().as_str() {
            "xmp" => (Kind::Xmp, xmp(folder, name, &preferred)),
            "aae" => (Kind::Aae, aae(folder, name, &preferred)),
            "json" => match takeout(folder, name, &preferred) {
                Some(found) => (Kind::TakeoutJson, found),
                None => continue,
            },
            _ => continue,
        };
        match found {
            Found::Photo(photo, form) => of_photo[photo].push(Paired {
                file: j,
                kind,
                form,
            }),
            Found::Orphan => orphans.push(j),
            Found::Video => {}
        }
    }
    for companions in &mut of_photo {
        companions.sort_by_key(|c| c.file);
    }
    Pairing { of_photo, orphans }
}

/// What a sidecar belongs to.
#[derive(Debug)]
enum Found {
    Photo(usize, NameForm),
    /// A video that is no photo's.
    Video,
    Orphan,
}

/// The sidecar of `owners` (those of one name) whose name is its owner's name + `suffix`:
/// a photo's first, else a Live Photo video's (its photo's stem + the video's extension +
/// `suffix`), else a video's that is no photo's.
fn owned_by(owners: &[Owner], suffix: &str, preferred: &dyn Fn(&[usize]) -> usize) -> Found {
    let photos: Vec<usize> = owners
        .iter()
        .filter_map(|o| match o {
            Owner::Photo(p) => Some(*p),
            _ => None,
        })
        .collect();
    if !photos.is_empty() {
        return Found::Photo(preferred(&photos), NameForm::AfterName(suffix.to_string()));
    }
    for o in owners {
        if let Owner::LiveVideo { photo, ext } = o {
            return Found::Photo(*photo, NameForm::AfterStem(format!(".{ext}{suffix}")));
        }
    }
    Found::Video
}

fn xmp(folder: &Folder, name: &str, preferred: &dyn Fn(&[usize]) -> usize) -> Found {
    let stem = split(name).0;
    let suffix = &name[stem.len()..];
    let lower = stem.to_lowercase();
    if let Some(owners) = folder.names.get(&(String::new(), lower.clone())) {
        return owned_by(owners, suffix, preferred);
    }
    if let Some(photos) = folder.photo_stems.get(&lower) {
        return Found::Photo(preferred(photos), NameForm::AfterStem(suffix.to_string()));
    }
    if folder.video_stems.contains(&lower) {
        return Found::Video;
    }
    Found::Orphan
}

fn aae(folder: &Folder, name: &str, preferred: &dyn Fn(&[usize]) -> usize) -> Found {
    let stem = split(name).0;
    let suffix = &name[stem.len()..];
    let lower = stem.to_lowercase();
    if let Some(photos) = folder.photo_stems.get(&lower) {
        return Found::Photo(preferred(photos), NameForm::AfterStem(suffix.to_string()));
    }
    let original = apple_original_of(&lower);
    if let Some(photos) = original.as_ref().and_then(|o| folder.photo_stems.get(o)) {
        return Found::Photo(
            preferred(photos),
            NameForm::AppleOriginal(suffix.to_string()),
        );
    }
    if folder.video_stems.contains(&lower)
        || original.is_some_and(|o| folder.video_stems.contains(&o))
    {
        return Found::Video;
    }
    Found::Orphan
}

/// A Takeout JSON's owner; `None` when its name names no photo or video (not a sidecar).
fn takeout(folder: &Folder, name: &str, preferred: &dyn Fn(&[usize]) -> usize) -> Option<Found> {
    let stem = split(name).0;
    let mut forms: Vec<(&str, &str)> = vec![("", stem)];
    if let Some((base, counter)) = split_counter(stem) {
        forms.push((counter, base));
    }
    // The owner's name as the JSON spells it: whole (1), with part of `.supplemental-metadata`
    // after it (2), or its start, cut by Takeout (3). The first level with an owner wins.
    for level in 1..=3 {
        // (owners, suffix for the owner's name, the owner's name's length)
        let mut hits: Vec<(&Vec<Owner>, String, usize)> = Vec::new();
        for &(counter, s) in &forms {
            let lower = s.to_lowercase();
            let canonical = counter.is_empty();
            match level {
                1 => {
                    if let Some(owners) = folder.names.get(&(counter.into(), lower.clone())) {
                        let suffix = if canonical { &name[s.len()..] } else { ".json" };
                        hits.push((owners, suffix.to_string(), lower.len()));
                    }
                }
                2 => {
                    let cut = (1..=TAKEOUT_SUFFIX.len()).find_map(|k| {
                        let head = lower.strip_suffix(&TAKEOUT_SUFFIX[..k])?;
                        folder
                            .names
                            .get(&(counter.into(), head.to_string()))
                            .map(|o| (o, k, head.len()))
                    });
                    if let Some((owners, k, len)) = cut {
                        let suffix = if canonical && k == TAKEOUT_SUFFIX.len() {
                            name[s.len() - k..].to_string()
                        } else {
                            format!("{TAKEOUT_SUFFIX}.json")
                        };
                        hits.push((owners, suffix, len));
                    }
                }
                _ => {
                    if s.chars().count() < TAKEOUT_CLIPPED_CHARS {
                        continue;
                    }
                    let from = (counter.to_string(), lower.clone());
                    for ((c, n), owners) in folder.names.range(from..) {
                        if c != counter || !n.starts_with(&lower) {
                            break;
                        }
                        if n.len() > lower.len() {
                            hits.push((owners, ".json".to_string(), n.len()));
                        }
                    }
                }
            }
        }
        let Some(shortest) = hits.iter().map(|h| h.2).min() else {
            continue;
        };
        let mut best: Vec<_> = hits.into_iter().filter(|h| h.2 == shortest).collect();
        best.dedup_by(|a, b| std::ptr::eq(a.0, b.0));
        if level == 3 && best.len() > 1 {
            return Some(Found::Orphan);
        }
        let (owners, suffix, _) = &best[0];
        return Some(owned_by(owners, suffix, preferred));
    }
    let media_like = forms.iter().any(|&(_, s)| {
        let lower = s.to_lowercase();
        let head = (1..=TAKEOUT_SUFFIX.len())
            .find_map(|k| lower.strip_suffix(&TAKEOUT_SUFFIX[..k]))
            .unwrap_or(&lower);
        is_media_extension(split(head).1) || is_media_extension(split(&lower).1)
    });
    media_like.then_some(Found::Orphan)
}

/// A companion file found with a library photo.
#[derive(Debug, Clone)]
pub struct Companion {
    pub file: PhotoRef,
    pub kind: Kind,
    pub form: NameForm,
}

/// [`pair`] on the scan's files (by their paths relative to the library): each photo's
/// companions, in `photos`' order, and the orphans.
pub fn companions_of(
    photos: &[PhotoRef],
    others: Vec<PhotoRef>,
) -> (Vec<Vec<Companion>>, Vec<PhotoRef>) {
    let photo_paths: Vec<&Path> = photos.iter().map(|p| p.rel_path.as_path()).collect();
    let other_paths: Vec<&Path> = others.iter().map(|p| p.rel_path.as_path()).collect();
    let pairing = pair(&photo_paths, &other_paths);
    let companions = pairing
        .of_photo
        .into_iter()
        .map(|paired| {
            paired
                .into_iter()
                .map(|p| Companion {
                    file: others[p.file].clone(),
                    kind: p.kind,
                    form: p.form,
                })
                .collect()
        })
        .collect();
    let orphans = pairing
        .orphans
        .into_iter()
        .map(|j| others[j].clone())
        .collect();
    (companions, orphans)
}

/// The name of a companion called `own_name` beside its photo, once the photo called
/// `photo_name` in the library is called `placed_name` in OUT: unchanged while the photo keeps
/// its name, else built from the photo's new name as `form` says, so that other tools still
/// pair them (`photo.jpg.xmp` beside `photo-1a2b3c4d.jpg` becomes `photo-1a2b3c4d.jpg.xmp`).
pub fn name_beside(form: &NameForm, own_name: &str, photo_name: &str, placed_name: &str) -> String {
    if placed_name == photo_name {
        return own_name.to_string();
    }
    let placed_stem = split(placed_name).0;
    match form {
        NameForm::AfterName(suffix) => format!("{placed_name}{suffix}"),
        NameForm::AfterStem(suffix) => format!("{placed_stem}{suffix}"),
        NameForm::AppleOriginal(suffix) => {
            // The `O` goes after the `_` it followed in the photo's stem, when the new stem
            // still starts with the old one (it does, unless a very long name was cut).
            let old_stem = split(photo_name).0;
            match old_stem.rfind('_') {
                Some(i) if placed_stem.starts_with(&old_stem[..=i]) => {
                    format!("{}O{}{suffix}", &placed_stem[..=i], &placed_stem[i + 1..])
                }
                _ => format!("{placed_stem}_O{suffix}"),
            }
        }
    }
}

#[cfg(test)]
#[path = "companions_tests.rs"]
mod tests;
