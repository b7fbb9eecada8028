//! Tests of [`super`] on the real libheif `photo_organizer setup` fetched and real HEIC photos
//! (scripts/fetch-test-photos.sh: pillow-heif's test images).

use std::path::PathBuf;

use super::*;
use crate::{
    media::decode::{decode_bytes, DecodeError, DecodeLimits},
    setup::models::Manifest,
};

fn photo(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/testdata/heic")
        .join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/fetch-test-photos.sh`",
        p.display()
    );
    p
}

fn libheif() -> &'static Libheif {
    static LIB: OnceLock<Libheif> = OnceLock::new();
    LIB.get_or_init(|| {
        let cache = po_backend_api::setup_cache_dir();
        let files: Vec<PathBuf> = Manifest::builtin()
            .heif_libraries()
            .map(|a| a.path_in(&cache))
            .collect();
        Libheif::load(&files).unwrap_or_else(|e| panic!("{e} (scripts/test.sh runs setup)"))
    })
}

fn decode(name: &str) -> Result<DecodedImage, DecodeError> {
    libheif().decode(
        &std::fs::read(photo(name)).unwrap(),
        &DecodeLimits::default(),
    )
}

#[test]
fn the_fetched_libheif_decodes_hevc_but_not_av1() {
    assert_eq!(libheif().version(), "1.23.0");
    assert_eq!(libheif().decoders(), (true, false));
}

#[test]
fn iphone_and_xiaomi_photos_decode_with_their_size_and_exif_date() {
    let pug = decode("pug.heic").unwrap();
    assert_eq!(pug.rgb.dimensions(), (4032, 3024));
    assert_eq!(pug.exif.date_taken.as_deref(), Some("2023-02-21T14:33:08"));
    assert_eq!(pug.exif.camera.as_deref(), Some("Apple iPhone 13 Pro"));
    let xiaomi = decode("xiaomi.heic").unwrap();
    assert_eq!(xiaomi.rgb.dimensions(), (2592, 1944));
    assert_eq!(
        xiaomi.exif.date_taken.as_deref(),
        Some("2023-04-27T19:44:18")
    );
    // Not a blank buffer: a real photo has many distinct colours.
    let mut colours: Vec<[u8; 3]> = pug.rgb.pixels().step_by(97).map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 1000, "{} colours", colours.len());
}

/// arrow.heic is stored sideways with irot (and EXIF Orientation 6, which says the same): the
/// arrow must point up, rotated once, not twice.
#[test]
fn irot_is_applied_once_and_exif_orientation_not_again() {
    let arrow = decode("arrow.heic").unwrap();
    assert_eq!(arrow.exif.orientation, 6, "the stored tag is kept");
    let (w, h) = arrow.rgb.dimensions();
    assert_eq!((w, h), (3024, 4032), "portrait, as the photo was taken");
    // The ink (dark pixels): the tip is the topmost ink, at the middle; the base of the arrow
    // is wide and low.
    let dark = |x: u32, y: u32| arrow.rgb.get_pixel(x, y).0.iter().all(|&c| c < 80);
    let ink_rows: Vec<(u32, Vec<u32>)> = (0..h)
        .step_by(8)
        .map(|y| (y, (0..w).step_by(4).filter(|&x| dark(x, y)).collect()))
        .filter(|(_, xs): &(u32, Vec<u32>)| !xs.is_empty())
        .collect();
    let (top_y, top_xs) = &ink_rows[0];
    let top_x = top_xs.iter().sum::<u32>() / top_xs.len() as u32;
    assert!(*top_y < h / 5, "tip at y = {top_y} of {h}");
    assert!(
        (w * 2 / 5..w * 3 / 5).contains(&top_x),
        "tip at x = {top_x} of {w}"
    );
    let (bottom_y, _) = ink_rows.last().unwrap();
    assert!(*bottom_y > h / 2, "base at y = {bottom_y} of {h}");
}

/// pillow-heif's truncated.heic holds two images; the second one's data is cut off, the
/// primary one is whole.
#[test]
fn the_primary_image_of_a_multi_image_file_is_the_one_decoded() {
    assert_eq!(decode("truncated.heic").unwrap().rgb.dimensions(), (16, 16));
}

#[test]
fn truncated_and_corrupt_files_are_errors_that_say_so() {
    let err = decode("corrupted.heic")
        .err()
        .expect("corrupted.heic decoded");
    assert!(
        matches!(err, DecodeError::Heif(HeifError::Corrupt { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("corrupt or truncated"), "{err}");
    let pug = std::fs::read(photo("pug.heic")).unwrap();
    let err = libheif()
        .decode(&pug[..pug.len() / 2], &DecodeLimits::default())
        .err()
        .expect("half a file");
    assert!(
        matches!(err, DecodeError::Heif(HeifError::Corrupt { .. })),
        "{err}"
    );
}

#[test]
fn pixel_bombs_are_refused_from_the_header() {
    let limits = DecodeLimits {
        max_pixels: 4032 * 3024 - 1,
        ..DecodeLimits::default()
    };
    let pug = std::fs::read(photo("pug.heic")).unwrap();
    assert!(matches!(
        libheif().decode(&pug, &limits),
        Err(DecodeError::TooManyPixels {
            width: 4032,
            height: 3024,
            ..
        })
    ));
}

#[test]
fn without_libheif_a_heif_photo_is_an_error_naming_setup() {
    // No test calls `install`: the process has no libheif configured.
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    let err = decode_bytes(&heic, &DecodeLimits::default()).err().unwrap();
    assert!(matches!(err, DecodeError::Heif(HeifError::NotConfigured)));
    assert!(
        err.to_string().contains("run `photo_organizer setup`"),
        "{err}"
    );
    let missing = Libheif::load(&[PathBuf::from("/nonexistent/libheif.so")]).unwrap_err();
    assert!(matches!(missing, HeifError::Missing { .. }));
    assert!(
        missing.to_string().contains("/nonexistent/libheif.so"),
        "{missing}"
    );
}

#[test]
fn header_dimensions_come_from_the_largest_ispe() {
    assert_eq!(header_dimensions(&photo("pug.heic")), Some((4032, 3024)));
    assert_eq!(header_dimensions(&photo("xiaomi.heic")), Some((2592, 1944)));
    // ispe is the stored (unrotated) size; the cost is the same either way.
    let (w, h) = header_dimensions(&photo("arrow.heic")).unwrap();
    assert_eq!(u64::from(w) * u64::from(h), 3024 * 4032);
    let dir = tempfile::tempdir().unwrap();
    let jpeg = dir.path().join("a.jpg");
    std::fs::write(&jpeg, b"\xFF\xD8\xFF not heif").unwrap();
    assert_eq!(header_dimensions(&jpeg), None);
}

#[test]
fn exif_items_are_found_after_their_offset() {
    let tiff = b"MM\0*\0\0\0\x08".to_vec();
    let mut item = vec![0, 0, 0, 0];
    item.extend(&tiff);
    assert_eq!(tiff_of_exif_item(&item), Some(tiff.clone()));
    let mut item = vec![0, 0, 0, 6];
    item.extend(b"Exif\0\0");
    item.extend(&tiff);
    assert_eq!(tiff_of_exif_item(&item), Some(tiff.clone()));
    assert_eq!(tiff_of_exif_item(&[0, 0, 0xFF, 0xFF, 1]), None);
    assert_eq!(tiff_of_exif_item(&[0, 0]), None);
}
