//! [`Plan`] -> files on disk. Each copy is written to a temporary name in its destination folder
//! (or, for a new photo's first copy, in OUT while it is analysed: [`EarlyCopies`]), synced, and
//! then linked into place with a call that fails if the name exists, so an existing file is
//! never replaced and an interrupted run leaves no half-written photo under a real name. A
//! destination that already holds the same bytes counts as already present. The source is only
//! ever read, except with `--move`: a photo's sources (the photo's and its companions') are
//! removed only once every copy of each is in place and verified by size and sha256 as a
//! regular file (not a link) on another inode than its source, and their folders are synced;
//! the companions' go first and the photo's last, so no companion is left without its photo. Folders are created inside the output directory without
//! following links: a link found on a destination's path fails that photo, naming the link.

use std::{
    collections::HashMap,
    fs::{self, File},
    io::{self, Read},
    ops::Range,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::SystemTime,
};

use serde::Serialize;

use crate::{
    output::plan::{CopyOp, Plan, Transfer},
    setup::fetch::file_digest,
    util::progress::ProgressSink,
    util::safe_fs::{create_dirs_inside, create_temp_in, sync_dir},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpOutcome {
    Copied,
    AlreadyPresent,
    Failed(String),
}

#[derive(Debug, Default, Serialize)]
pub struct ExecReport {
    pub copied: usize,
    pub already_present: usize,
    pub failed: usize,
    /// Sources removed by `--move` (photos and their companions).
    pub moved: usize,
    /// One entry per plan op, in plan order: its outcome, or `None` if a stop came first.
    #[serde(skip)]
    pub outcomes: Vec<Option<OpOutcome>>,
}

/// Photos placed at once. Each copy is synced to disk before it is linked into place, so a
/// copy mostly waits on the disk: several in flight keep it busy (349 copies: 0.25 s one at a
/// time).
const PHOTOS_AT_ONCE: usize = 4;

/// Carries out `plan`; stops between photos once `stop` is set (the ops not done get no
/// outcome).
pub fn execute(
    plan: &Plan,
    out_root: &Path,
    transfer: Transfer,
    progress: &dyn ProgressSink,
    stop: &AtomicBool,
) -> ExecReport {
    execute_with(plan, out_root, transfer, progress, stop, None)
}

/// [`execute`], placing a photo's first copy from `early`'s copy of it where there is one
/// (copies only).
pub fn execute_with(
    plan: &Plan,
    out_root: &Path,
    transfer: Transfer,
    progress: &dyn ProgressSink,
    stop: &AtomicBool,
    early: Option<&MadeEarly>,
) -> ExecReport {
    let mut report = ExecReport {
        outcomes: vec![None; plan.ops.len()],
        ..ExecReport::default()
    };
    progress.start("copy", Some(plan.ops.len() as u64));
    // Ops of one photo are consecutive in a plan; a moved source goes only after all of them.
    let mut photos: Vec<Range<usize>> = Vec::new();
    for (k, op) in plan.ops.iter().enumerate() {
        match photos.last_mut() {
            Some(last) if plan.ops[last.start].photo == op.photo => last.end = k + 1,
            _ => photos.push(k..k + 1),
        }
    }
    let next = AtomicUsize::new(0);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..PHOTOS_AT_ONCE.min(photos.len()) {
            let (done_tx, next, photos) = (done_tx.clone(), &next, &photos);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(range) = photos.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let placed = place_photo(&plan.ops[range.clone()], out_root, transfer, early);
                    if done_tx.send((range.clone(), placed)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for (range, (outcomes, removal)) in done_rx {
            for outcome in &outcomes {
                match outcome {
                    OpOutcome::Copied => report.copied += 1,
                    OpOutcome::AlreadyPresent => report.already_present += 1,
                    OpOutcome::Failed(_) => report.failed += 1,
                }
            }
            progress.advance(range.len() as u64);
            for (slot, outcome) in report.outcomes[range.clone()].iter_mut().zip(outcomes) {
                *slot = Some(outcome);
            }
            if let Some(Removal { files, error }) = removal {
                report.moved += files;
                if let Some(e) = error {
                    report.failed += 1;
                    let src = plan.ops[range.start].src.display();
                    progress.message(&format!("kept {src}: {e}"));
                }
            }
        }
    });
    progress.finish();
    report
}

/// What `--move` did with a photo's sources.
struct Removal {
    /// Sources removed: the photo's and its companions'.
    files: usize,
    /// Why the rest were kept.
    error: Option<io::Error>,
}

/// Places the ops of one photo (the photo's, then its companions'); with `--move`, then
/// removes the sources if every copy is in place (`Some` says how that went).
fn place_photo(
    group: &[CopyOp],
    out_root: &Path,
    transfer: Transfer,
    early: Option<&MadeEarly>,
) -> (Vec<OpOutcome>, Option<Removal>) {
    let mut dsts: Vec<PathBuf> = Vec::new();
    let mut early = early
        .filter(|_| transfer == Transfer::Copy)
        .and_then(|e| e.take(&group[0].src));
    let outcomes: Vec<OpOutcome> = group
        .iter()
        .map(|op| {
            place_one(
                &op.src,
                out_root,
                &op.dst,
                transfer,
                early.take(),
                &mut dsts,
            )
            .unwrap_or_else(|e| OpOutcome::Failed(format!("{}: {e}", op.dst.display())))
        })
        .collect();
    let all_placed = outcomes.iter().all(|o| !matches!(o, OpOutcome::Failed(_)));
    let removed = (transfer == Transfer::Move && all_placed && dsts.len() == group.len())
        .then(|| remove_sources(group, &dsts));
    (outcomes, removed)
}

/// With `--move`, once every op of a photo is in place (`dsts[k]` is where `group[k]` went):
/// verifies the copies of every source first, so none is removed unless all can be, then
/// removes the companions' sources and the photo's last: a run killed in between leaves the
/// photo, never a companion without it.
fn remove_sources(group: &[CopyOp], dsts: &[PathBuf]) -> Removal {
    let mut sources: Vec<(&Path, Vec<PathBuf>)> = Vec::new();
    for (op, dst) in group.iter().zip(dsts) {
        match sources.iter_mut().find(|(src, _)| *src == op.src) {
            Some((_, copies)) => copies.push(dst.clone()),
            None => sources.push((&op.src, vec![dst.clone()])),
        }
    }
    // The photo's ops come first in a group: its source goes last.
    sources.rotate_left(1);
    // The message starts with the photo's path: say which companion it is about.
    let named = |src: &Path, e: io::Error| {
        if src == group[0].src {
            e
        } else {
            io::Error::new(e.kind(), format!("its companion {}: {e}", src.display()))
        }
    };
    for (src, copies) in &sources {
        if let Err(e) = verify_copies(src, copies) {
            return Removal {
                files: 0,
                error: Some(named(src, e)),
            };
        }
    }
    let mut files = 0;
    for (src, _) in &sources {
        if let Err(e) = fs::remove_file(src) {
            return Removal {
                files,
                error: Some(named(src, e)),
            };
        }
        files += 1;
    }
    Removal { files, error: None }
}

/// Places one op at `out_root/rel`, creating its folders inside `out_root` without following
/// any link found there, from `early` if it is given; pushes the destination's path onto `dsts`
/// once it is in place.
fn place_one(
    src: &Path,
    out_root: &Path,
    rel: &Path,
    transfer: Transfer,
    early: Option<EarlyCopy>,
    dsts: &mut Vec<PathBuf>,
) -> io::Result<OpOutcome> {
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::other("a destination needs a file name"))?;
    let dir = create_dirs_inside(out_root, rel.parent().unwrap_or(Path::new("")))?;
    let dst = dir.join(name);
    let outcome = match transfer {
        Transfer::Copy | Transfer::Move => match early {
            Some(copy) => place_early(src, &dst, copy)?,
            None => place(src, &dst, transfer)?,
        },
        Transfer::Hardlink => link(src, &dst, transfer, |s, d| fs::hard_link(s, d))?,
        Transfer::Symlink => link(src, &dst, transfer, symlink)?,
    };
    if !matches!(outcome, OpOutcome::Failed(_)) {
        dsts.push(dst);
    }
    Ok(outcome)
}

/// [`place`] from a copy made early: linked into place when its source is unchanged since
/// (size and modification time); any failure (the name taken, another file system) leaves it
/// to the usual copy. The early copy is removed either way.
fn place_early(src: &Path, dst: &Path, copy: EarlyCopy) -> io::Result<OpOutcome> {
    let unchanged = fs::metadata(src).ok().map(|m| stamp(&m)) == Some(copy.stamp);
    // hard_link fails with AlreadyExists instead of replacing, unlike rename.
    let linked = unchanged && fs::hard_link(&copy.tmp, dst).is_ok();
    drop(copy);
    if linked {
        Ok(OpOutcome::Copied)
    } else {
        place(src, dst, Transfer::Copy)
    }
}

/// What says a source is unchanged between its early copy and its placing.
fn stamp(meta: &fs::Metadata) -> (u64, Option<SystemTime>) {
    (meta.len(), meta.modified().ok())
}

/// A synced copy of a source, made before its folder was known: a temporary file in OUT,
/// removed when this is dropped (once linked into place, or not used).
pub struct EarlyCopy {
    tmp: PathBuf,
    stamp: (u64, Option<SystemTime>),
}

impl Drop for EarlyCopy {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Copies of new photos made while they are analysed, before anyone knows which folder they
/// go to: the disk writes them while the CPUs detect and embed, and placing a photo then only
/// links its first copy into place (120 12 MP photos: the copy stage took 0.6 s of a 10.4 s
/// run, mostly waiting on the disk). Each is a synced temporary file in OUT named like a copy
/// in progress, so a killed run's are removed by the next one
/// ([`remove_stale_partials`]: call it before [`EarlyCopies::start`]).
pub struct EarlyCopies {
    made: Arc<Mutex<HashMap<PathBuf, EarlyCopy>>>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl EarlyCopies {
    /// Starts copying `sources`, in order, into `out_root` on a thread of its own; stops
    /// between files once `interrupt` is set, or at the first file it cannot create in OUT.
    pub fn start(out_root: &Path, sources: Vec<PathBuf>, interrupt: &'static AtomicBool) -> Self {
        let made = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, made_w, stop_w) = (out_root.to_path_buf(), made.clone(), stop.clone());
        let worker = std::thread::spawn(move || {
            for src in sources {
                if stop_w.load(Ordering::Relaxed) || interrupt.load(Ordering::Relaxed) {
                    break;
                }
                let Ok((mut file, tmp)) = create_temp_in(&out) else {
                    break;
                };
                let before = fs::metadata(&src).map(|m| stamp(&m));
                let copied = copy_into(&src, &mut file);
                drop(file);
                let after = fs::metadata(&src).map(|m| stamp(&m));
                match (copied, before, after) {
                    (Ok(()), Ok(before), Ok(after)) if before == after => {
                        // A source listed twice keeps its last copy; the other is removed.
                        lock(&made_w).insert(src, EarlyCopy { tmp, stamp: after });
                    }
                    _ => {
                        let _ = fs::remove_file(&tmp);
                    }
                }
            }
        });
        EarlyCopies {
            made,
            stop,
            worker: Some(worker),
        }
    }

    /// Waits until every source is copied, then hands over what was made.
    #[cfg(test)]
    fn finish_all(mut self) -> MadeEarly {
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        self.finish()
    }

    /// Stops copying (the file in progress is finished) and hands over what was made.
    pub fn finish(mut self) -> MadeEarly {
        self.stop_and_take()
    }

    fn stop_and_take(&mut self) -> MadeEarly {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        MadeEarly(Mutex::new(std::mem::take(&mut *lock(&self.made))))
    }
}

impl Drop for EarlyCopies {
    /// Copies not handed over are removed.
    fn drop(&mut self) {
        drop(self.stop_and_take());
    }
}

/// The early copies made; those not used by [`execute_with`] are removed when this is dropped.
pub struct MadeEarly(Mutex<HashMap<PathBuf, EarlyCopy>>);

impl MadeEarly {
    fn take(&self, src: &Path) -> Option<EarlyCopy> {
        lock(&self.0).remove(src)
    }

    /// How many copies are left unused.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(unix)]
fn symlink(src: &Path, dst: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(src, dst)
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::other(
        "symbolic links are supported on Unix only; use --hardlink or copy",
    ))
}

/// Links `dst` to `src` with `make`, which must fail rather than replace an existing name.
fn link(
    src: &Path,
    dst: &Path,
    transfer: Transfer,
    make: impl Fn(&Path, &Path) -> io::Result<()>,
) -> io::Result<OpOutcome> {
    match make(src, dst) {
        Ok(()) => Ok(OpOutcome::Copied),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => existing_outcome(src, dst, transfer),
        Err(e) => Err(e),
    }
}

/// Whether two files are one and the same (a hard link of each other).
fn same_inode(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Whether `src` may be removed: every copy is a regular file (not a link), on another inode
/// than `src`, with the same size and sha256, and every copy's folder is synced to disk.
fn verify_copies(src: &Path, copies: &[PathBuf]) -> io::Result<()> {
    let src_meta = fs::symlink_metadata(src)?;
    if !src_meta.is_file() {
        return Err(io::Error::other(
            "the source is not a regular file; it is kept",
        ));
    }
    let want = file_digest(src)?;
    let mut dirs: Vec<&Path> = Vec::new();
    for c in copies {
        let meta = fs::symlink_metadata(c)?;
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file (a link?), so not a copy; source not removed",
                c.display()
            )));
        }
        if same_inode(&src_meta, &meta) {
            return Err(io::Error::other(format!(
                "{} is a hard link to the source, not a copy; source not removed (remove the link and re-run to copy)",
                c.display()
            )));
        }
        if file_digest(c)? != want {
            return Err(io::Error::other(format!(
                "{} does not match the source; source not removed",
                c.display()
            )));
        }
        if let Some(dir) = c.parent() {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    for dir in dirs {
        sync_dir(dir)?;
    }
    Ok(())
}

fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    if fs::metadata(a)?.len() != fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// What an existing `dst` means. A link is never followed: only a `--symlink` run's own link
/// to `src` counts as present. With `--move` only a regular file on another inode than `src`
/// with the same bytes does, since the source is removed next.
fn existing_outcome(src: &Path, dst: &Path, transfer: Transfer) -> io::Result<OpOutcome> {
    let meta = fs::symlink_metadata(dst)?;
    if meta.file_type().is_symlink() {
        if transfer == Transfer::Symlink && fs::read_link(dst)? == src {
            return Ok(OpOutcome::AlreadyPresent);
        }
        return Ok(OpOutcome::Failed(format!(
            "{} is a symbolic link, not a copy; it is not followed or replaced (remove it and re-run)",
            dst.display()
        )));
    }
    if !meta.is_file() {
        return Ok(OpOutcome::Failed(format!(
            "{} is in the way and not a file; not overwritten",
            dst.display()
        )));
    }
    if transfer == Transfer::Move && same_inode(&fs::symlink_metadata(src)?, &meta) {
        return Ok(OpOutcome::Failed(format!(
            "{} is a hard link to the source, not a copy; the source is kept (remove the link and re-run)",
            dst.display()
        )));
    }
    Ok(if same_contents(src, dst)? {
        OpOutcome::AlreadyPresent
    } else {
        OpOutcome::Failed(format!(
            "{} already exists with different contents; not overwritten",
            dst.display()
        ))
    })
}

pub use crate::util::safe_fs::PARTIAL_SUFFIX;

/// Removes copies in progress left under `out` by a killed run; call only while holding the
/// output directory's lock, when no other run can be writing there.
pub fn remove_stale_partials(out: &Path) -> usize {
    walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with('.') && n.ends_with(PARTIAL_SUFFIX))
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Copies `src` to `dst` (whose folder exists) unless `dst` exists; never replaces an existing
/// file. The bytes go to an exclusive temporary file, are synced, then linked into place.
pub fn place(src: &Path, dst: &Path, transfer: Transfer) -> io::Result<OpOutcome> {
    if dst.symlink_metadata().is_ok() {
        return existing_outcome(src, dst, transfer);
    }
    let dir = dst.parent().unwrap_or(Path::new("."));
    let (mut file, tmp) = create_temp_in(dir)?;
    let result = copy_into(src, &mut file).and_then(|()| {
        drop(file);
        // hard_link fails with AlreadyExists instead of replacing, unlike rename.
        fs::hard_link(&tmp, dst)
    });
    let _ = fs::remove_file(&tmp);
    match result {
        Ok(()) => Ok(OpOutcome::Copied),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => existing_outcome(src, dst, transfer),
        Err(e) => Err(e),
    }
}

fn copy_into(src: &Path, file: &mut File) -> io::Result<()> {
    let mut from = File::open(src)?;
    io::copy(&mut from, file)?;
    if let Ok(mtime) = from.metadata().and_then(|m| m.modified()) {
        // Keeping the taken-at time on the copy is a courtesy; failing to is not an error.
        let _ = file.set_modified(mtime);
    }
    file.sync_all()
}

#[cfg(test)]
#[path = "execute_tests.rs"]
mod tests;
