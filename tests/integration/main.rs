//! One integration binary: runs the real `photo_organizer` with the real models on real photos
//! (fetched by `scripts/fetch-test-photos.sh`; `scripts/test.sh` does that and `setup` first).

mod animals;
mod attach;
mod backends;
mod browser;
mod cli;
mod companions;
mod devices;
#[cfg(feature = "facenet")]
mod facenet;
mod gpu;
mod gpu_proof;
mod heif;
mod incremental;
mod layout;
mod limits;
mod organize;
mod quality;
mod review;
mod review_hostile;
mod review_load;
mod robustness;
mod safety;
mod scaled;
mod strangers;
mod sync;
mod tract;
mod util;
mod video;
