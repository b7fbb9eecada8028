//! Fuzzes the cache reader's face blob decoding (bbox, landmarks, embedding): damaged cache
//! content must be a miss, never a panic (`photo_organizer::pipeline::fuzzing::cache_blobs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| photo_organizer::pipeline::fuzzing::cache_blobs(data));
