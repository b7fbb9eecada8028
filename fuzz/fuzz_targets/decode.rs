//! Fuzzes what a hostile file reaches before any model runs: format sniffing, EXIF parsing,
//! decoding under the size caps, orientation, the detector-sized copy and the detector's
//! letterboxed input tensor (`photo_organizer::pipeline::fuzzing::decode`). Any panic or crash here is a
//! bug: bad photos must become errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| photo_organizer::pipeline::fuzzing::decode(data));
