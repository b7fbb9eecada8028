//! The process's exit codes and the Ctrl-C flag every long stage polls between photos.

use std::sync::atomic::{AtomicBool, Ordering};

/// Some photos could not be processed; the rest were.
pub const EXIT_WITH_ERRORS: u8 = 1;
/// Nothing (or only part) could be done: bad arguments, missing runtime or models, unwritable
/// output.
pub const EXIT_FATAL: u8 = 2;
/// Stopped by Ctrl-C (128 + SIGINT, as shells report it); what was finished is kept.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Set by Ctrl-C: stages stop between photos, the cache is flushed and the summary printed.
/// Stages take it as a `&AtomicBool`, so tests can pass their own.
pub static STOP: AtomicBool = AtomicBool::new(false);

pub fn install_interrupt_handler() {
    // Fails only if a handler is already installed (a second `run` in one process).
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user wants out now. The cache is WAL-journalled, so what it
            // committed is safe; copies in progress are temporary files cleaned by the next run.
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!("stopping after the current photo (Ctrl-C again to stop at once)");
    });
}
