//! photo_organizer sorts a photo library into one folder per person. The organize pipeline
//! ([`pipeline`]) is a chain of stage functions, each from one plain type to the next: scan the
//! library and decode its photos ([`media`]), find, check, align and embed faces ([`faces`],
//! on a backend [`pipeline::backend`] chooses), group the faces into people with stable ids and
//! names ([`people`]), then plan, write and report the output folder ([`output`]: never
//! overwriting, never writing outside OUT, never touching the source unless `--move`).
//! [`app`] dispatches to one module per command ([`commands`]); [`setup`] fetches and checks the
//! runtime and models; [`cache`] keeps analyses and people between runs; [`config`] is the
//! validated configuration; [`review`] serves the local review page; [`util`] holds what every
//! folder uses.
//!
//! Dependencies run one way (scripts/check-layout.py fails on a circle):
//! `commands` -> `pipeline` -> `config` -> the domains (`output` -> `people` -> `faces` ->
//! `media`, and `setup`) -> `cache`, `util`, the backends.

pub mod app;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod faces;
pub mod media;
pub mod output;
pub mod people;
pub mod pipeline;
pub mod review;
pub mod setup;
pub mod util;
