//! The organize pipeline, one stage a file, in the order they run. Each stage is a function
//! from the previous stage's value to the next; `commands::organize` calls them in turn and
//! `commands::eval` calls the first five.
//!
//! | stage | function | gives |
//! | --- | --- | --- |
//! | 1 scan | [`library::scan_library`] | [`library::Library`]: the photos (and `--known` ones), each with its companion files |
//! | 2 hash | [`hash::hash`], [`hash::hash_companions`] | [`hash::Hashes`]: each photo's sha256 (cached by size and mtime); [`hash::CompanionHashes`] |
//! | 2b early copies | [`crate::output::execute::EarlyCopies`] (new photos, while they are analysed) | copies waiting in OUT |
//! | 3 analyse | [`analyse::analyse`] (cache hits, then [`workers`]: decode pool + inference) | [`analyse::Analyses`] |
//! | 4 cluster | [`cluster::gather_faces`], [`cluster::cluster_faces`] | [`cluster::Faces`], labels |
//! | 5 identify | [`identify::identify_people`] | [`identify::People`]: stable ids, names, folders |
//! | 6 plan | [`place::place`] | [`place::Placement`]: every copy, pure ([`crate::output::plan`]) |
//! | 7 execute | [`crate::output::execute::execute`] | `ExecReport`: what reached the disk |
//! | 7b sidecars | [`sidecars::write_sidecars`] (not called yet: needs `--no-xmp`, issue #35) | `<placed>.xmp` beside each placed photo |
//! | 8 report | [`record`] | summary, `manifest.json`, `report.html` |

pub mod library;

pub mod hash;

pub mod analyse;
pub mod workers;

pub mod cluster;

pub mod identify;

pub mod place;

pub mod record;
pub mod sidecars;

/// Which face backend runs (from the configuration), for the analyse stage and `bench`.
pub mod backend;
/// Entry points for the fuzz targets in `fuzz/`: decoding, RAW previews, cache rows, XMP.
pub mod fuzzing;
