//! Fuzzes the RAW preview scanner (bounded search for embedded JPEGs) and the preview's
//! decoding (`photo_organizer::pipeline::fuzzing::raw_preview`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| photo_organizer::pipeline::fuzzing::raw_preview(data));
