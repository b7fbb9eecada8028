//! Finding and reading what is in the library. Takes LIBRARY's path and the limits from the
//! configuration; hands on [`scan::PhotoRef`]s (what is there) and
//! [`decode::DecodedImage`]s (8-bit RGB, EXIF orientation applied) or a
//! [`decode::DecodeError`] naming the cause, to the face stage ([`crate::faces`]).
//!
//! | file | owns |
//! | --- | --- |
//! | [`scan`] | walking LIBRARY: which files are photos, excludes, symlink loops |
//! | [`companions`] | which other files belong to a photo (sidecars, edits, Live Photo videos) |
//! | [`decode`] | bytes -> RGB under size caps and `catch_unwind`; RAW previews |
//! | [`decoded`] | what every decoder gives and its errors; sniffing a HEIF file |
//! | [`jpeg_scaled`], [`jpeg_crop`] | libjpeg-turbo decodes at 1/2, 1/4, 1/8 and of one region |
//! | [`heif`] | HEIC/HEIF through libheif, loaded at run time |
//! | [`exif`] | orientation, date taken, camera |
//! | [`budget`] | the memory budget decoded photos in flight share |
//! | [`takeout`] | the names in a Google Takeout export's JSONs |
//! | [`xmp`], [`xmp_tree`] | names and face regions other tools left in XMP (embedded or sidecar) |
//! | [`video`] | videos through FFmpeg (a separate program): find it, probe, sample frames |
//!
//! Depends on [`crate::util`] only (and [`crate::setup`] in tests, for libheif's files).

pub mod budget;
pub mod companions;
pub mod decode;
pub mod decoded;
pub mod exif;
pub mod heif;
pub mod jpeg_crop;
pub mod jpeg_scaled;
pub mod scan;
pub mod takeout;
pub mod video;
pub mod xmp;
pub mod xmp_tree;

/// Longest side of the image handed to the detector; YuNet's input is 640x640. Here, not in
/// [`crate::faces`], because the JPEG decoder picks its scale by it ([`jpeg_scaled`]).
pub const DETECT_MAX_SIDE: u32 = 640;
/// When the first pass finds nobody in a large photo, a second pass looks at tiles of it
/// scaled to at most this long side, so faces of 30-40 px in a 12 MP photo are still found.
pub const TILED_MAX_SIDE: u32 = 1920;
