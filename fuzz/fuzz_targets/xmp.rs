//! Fuzzes the XMP reader: a sidecar or a photo carrying XMP, hostile or broken, must give
//! regions inside the photo or an error, never a panic
//! (`photo_organizer::pipeline::fuzzing::xmp`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| photo_organizer::pipeline::fuzzing::xmp(data));
