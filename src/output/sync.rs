//! Keeps OUT showing the people as they are now. The ledger (`OUT/.photo_organizer-ledger.json`,
//! written atomically with the manifest) records every file this tool placed in OUT: path,
//! mode, source, the bytes' sha256, size, inode and mtime. Before a run's plan is executed,
//! [`reconcile`] compares the ledger with the plan: a placement the plan no longer wants at its
//! path moves to where the plan now wants the same file (a renamed person, a merge, a
//! rejection), or is removed when nothing wants it; with `--move` placements are originals and
//! are never removed. Companions (sidecars, edits, Live Photo videos) are placements like their
//! photos, so they move and go with them. A file the tool did not place, or one changed since it placed it, is never
//! touched: it is reported as left in place with the reason.

use std::{
    collections::{HashMap, HashSet},
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    output::execute::{ExecReport, OpOutcome},
    output::plan::{Plan, Transfer},
    util::safe_fs::write_atomic,
};

/// The ledger's file name in OUT (a dot-file: never a person's folder, never planned).
pub const LEDGER_NAME: &str = ".photo_organizer-ledger.json";
const LEDGER_SCHEMA: u32 = 1;

/// One file this tool placed in OUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to OUT. (A name that is not UTF-8 is written lossily, so it never matches on
    /// the next run and its file is left alone: safe, not synced.)
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub path: PathBuf,
    pub mode: Transfer,
    /// The library file it came from (gone after `--move`).
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub source: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Of the file in OUT (for a symbolic link: of the link itself).
    pub inode: u64,
    pub mtime_ns: i128,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub schema: u32,
    pub entries: Vec<Entry>,
}

/// Why a placement is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftInPlace {
    #[serde(serialize_with = "crate::util::paths::lossy")]
    pub path: PathBuf,
    pub reason: String,
}

/// What a re-run does to OUT before placing this run's plan.
#[derive(Debug, Default, Serialize)]
pub struct SyncPlan {
    /// Placements moved within OUT: (from, to), relative to OUT.
    #[serde(serialize_with = "lossy_pairs")]
    pub moves: Vec<(PathBuf, PathBuf)>,
    /// Placements no destination wants any more (copies and links whose source is still in
    /// the library).
    #[serde(serialize_with = "crate::util::paths::lossy_vec")]
    pub removals: Vec<PathBuf>,
    pub left_in_place: Vec<LeftInPlace>,
    /// Entries that stay in the ledger without being planned: originals placed by `--move`,
    /// and placements the user changed (reported on every run until removed).
    #[serde(skip)]
    pub kept: Vec<Entry>,
}

fn lossy_pairs<S: serde::Serializer>(
    pairs: &[(PathBuf, PathBuf)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        pairs.iter().map(
            |(a, b)| serde_json::json!({"from": a.to_string_lossy(), "to": b.to_string_lossy()}),
        ),
    )
}

/// What [`apply`] did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    pub moved_in_out: usize,
    pub removed: usize,
    pub left_in_place: Vec<LeftInPlace>,
}

pub fn ledger_path(out: &Path) -> PathBuf {
    out.join(LEDGER_NAME)
}

/// The ledger of OUT; empty when there is none. A ledger that cannot be read is set aside
/// (renamed) with a warning, and the run treats OUT's files as not its own: nothing is moved
/// or removed, so a damaged ledger can never cost a photo.
pub fn load(out: &Path) -> (Ledger, Option<String>) {
    let path = ledger_path(out);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(_) => return (Ledger::default(), None),
    };
    match serde_json::from_slice::<Ledger>(&text) {
        Ok(l) if l.schema == LEDGER_SCHEMA => (l, None),
        _ => {
            let aside = path.with_extension("json.damaged");
            let _ = fs::rename(&path, &aside);
            (
                Ledger::default(),
                Some(format!(
                    "warning: {} could not be read and was moved to {}; files already in OUT are left as they are",
                    path.display(),
                    aside.display()
                )),
            )
        }
    }
}

/// A file's identity as the ledger records it: (size, inode, mtime in ns).
fn identity(m: &fs::Metadata) -> (u64, u64, i128) {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0;
    let mtime_ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    (m.len(), inode, mtime_ns)
}

/// What became of a placement since the tool made it.
enum State {
    Unchanged,
    Gone,
    Changed(&'static str),
}

fn state(out: &Path, e: &Entry) -> State {
    let at = out.join(&e.path);
    let Ok(meta) = fs::symlink_metadata(&at) else {
        return State::Gone;
    };
    if e.mode == Transfer::Symlink {
        return match fs::read_link(&at) {
            Ok(target) if target == e.source => State::Unchanged,
            _ => State::Changed("changed since it was placed (no longer the link it made)"),
        };
    }
    if !meta.file_type().is_file() {
        return State::Changed("changed since it was placed (no longer a regular file)");
    }
    if identity(&meta) == (e.size, e.inode, e.mtime_ns) {
        State::Unchanged
    } else {
        State::Changed("changed since it was placed")
    }
}

/// Whether a file placed in `placed` mode is what a run in `now` mode would place: copies and
/// moved originals are both independent regular files; links only match links of their kind.
fn compatible(placed: Transfer, now: Transfer) -> bool {
    let independent = |t| matches!(t, Transfer::Copy | Transfer::Move);
    placed == now || (independent(placed) && independent(now))
}

/// One planned placement, as the reconciliation sees it.
pub struct Wanted<'a> {
    pub dst: &'a Path,
    /// The library file it is made from.
    pub src: &'a Path,
    pub sha256: &'a str,
}

/// Compares the ledger with this run's plan. `library_sha` gives the sha256 of each library
/// file this run read (by path): a copy is removed only while its source is still in the
/// library with the same bytes. Reads OUT (what is there), changes nothing.
pub fn reconcile(
    out: &Path,
    ledger: &Ledger,
    wanted: &[Wanted],
    transfer: Transfer,
    library_sha: &HashMap<&Path, &str>,
) -> SyncPlan {
    let mut sync = SyncPlan::default();
    let wanted_at: HashMap<&Path, &str> = wanted.iter().map(|w| (w.dst, w.sha256)).collect();
    // Entries planned again in the same form need nothing: the executor finds them present.
    let stale: Vec<&Entry> = ledger
        .entries
        .iter()
        .filter(|e| {
            wanted_at.get(e.path.as_path()) != Some(&e.sha256.as_str())
                || !compatible(e.mode, transfer)
        })
        .collect();
    // Wanted destinations not yet on disk, by content: where a stale placement can move.
    // Only the contents of stale entries are looked up, so an unchanged OUT costs no stat.
    let stale_shas: HashSet<&str> = stale.iter().map(|e| e.sha256.as_str()).collect();
    let mut free: HashMap<&str, Vec<(&Path, &Path)>> = HashMap::new();
    for w in wanted.iter().filter(|w| stale_shas.contains(w.sha256)) {
        if fs::symlink_metadata(out.join(w.dst)).is_err() {
            free.entry(w.sha256).or_default().push((w.dst, w.src));
        }
    }
    let mut taken: HashSet<&Path> = HashSet::new();
    for e in stale {
        match state(out, e) {
            State::Unchanged => {}
            State::Gone => continue,
            State::Changed(why) => {
                sync.left_in_place.push(LeftInPlace {
                    path: e.path.clone(),
                    reason: why.into(),
                });
                // Still listed on later runs, until the user removes it.
                sync.kept.push(e.clone());
                continue;
            }
        }
        // Two companions may hold the same bytes (two identical `.AAE` edits): each moves to
        // where its own source is wanted if it can; a link always, since it points there.
        let target = compatible(e.mode, transfer)
            .then(|| free.get(e.sha256.as_str()))
            .flatten()
            .and_then(|dsts| {
                let open = || dsts.iter().filter(|(d, _)| !taken.contains(d));
                let own = open().find(|(_, src)| *src == e.source);
                own.or_else(|| open().next().filter(|_| e.mode != Transfer::Symlink))
                    .map(|(d, _)| *d)
            });
        if let Some(to) = target {
            taken.insert(to);
            sync.moves.push((e.path.clone(), to.to_path_buf()));
            continue;
        }
        let source_kept = match e.mode {
            Transfer::Move => false,
            Transfer::Symlink => true,
            Transfer::Hardlink => e.source.exists(),
            Transfer::Copy => library_sha.get(e.source.as_path()) == Some(&e.sha256.as_str()),
        };
        if source_kept {
            sync.removals.push(e.path.clone());
        } else {
            sync.left_in_place.push(LeftInPlace {
                path: e.path.clone(),
                reason: if e.mode == Transfer::Move {
                    "an original placed by --move; never removed".into()
                } else {
                    "its source left the library or changed; this may be the only copy".into()
                },
            });
            sync.kept.push(e.clone());
        }
    }
    sync
}

/// Moves `from` to `to` inside OUT without ever replacing a file at `to`.
/// `to`'s folder must exist (made by [`crate::util::safe_fs::create_dirs_inside`]).
fn move_no_clobber(from: &Path, to: &Path) -> io::Result<()> {
    match fs::read_link(from) {
        Ok(target) => {
            #[cfg(unix)]
            std::os::unix::fs::symlink(&target, to)?;
            #[cfg(not(unix))]
            return Err(io::Error::other(format!(
                "cannot move the link to {}",
                target.display()
            )));
        }
        // A hard link fails if `to` exists, unlike rename.
        Err(_) => fs::hard_link(from, to)?,
    }
    fs::remove_file(from)
}

/// Carries out the moves and removals (never following a link in OUT: folders on the way are
/// created by [`crate::util::safe_fs`]'s checks in the executor; here only ledger paths are touched),
/// then removes folders left empty by them.
pub fn apply(out: &Path, sync: &SyncPlan) -> SyncReport {
    let mut report = SyncReport {
        left_in_place: sync.left_in_place.clone(),
        ..SyncReport::default()
    };
    let mut emptied: Vec<PathBuf> = Vec::new();
    for (from, to) in &sync.moves {
        match crate::util::safe_fs::create_dirs_inside(out, to.parent().unwrap_or(Path::new("")))
            .map_err(io::Error::from)
            .and_then(|_| move_no_clobber(&out.join(from), &out.join(to)))
        {
            Ok(()) => {
                report.moved_in_out += 1;
                emptied.push(from.clone());
            }
            Err(e) => report.left_in_place.push(LeftInPlace {
                path: from.clone(),
                reason: format!("could not move it to {}: {e}", to.display()),
            }),
        }
    }
    for path in &sync.removals {
        match fs::remove_file(out.join(path)) {
            Ok(()) => {
                report.removed += 1;
                emptied.push(path.clone());
            }
            Err(e) => report.left_in_place.push(LeftInPlace {
                path: path.clone(),
                reason: format!("could not remove it: {e}"),
            }),
        }
    }
    for path in emptied {
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if fs::remove_dir(out.join(d)).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    report
}

/// The ledger after a run: every op that is now in place (copied or found present), and the
/// entries reconciliation kept.
pub fn record(
    out: &Path,
    plan: &Plan,
    sha_of_op: &[&str],
    exec: &ExecReport,
    transfer: Transfer,
    kept: Vec<Entry>,
) -> Ledger {
    let mut entries = kept;
    let mut seen: HashSet<PathBuf> = entries.iter().map(|e| e.path.clone()).collect();
    for ((op, sha), outcome) in plan.ops.iter().zip(sha_of_op).zip(&exec.outcomes) {
        if !matches!(
            outcome,
            Some(OpOutcome::Copied) | Some(OpOutcome::AlreadyPresent)
        ) || !seen.insert(op.dst.clone())
        {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(out.join(&op.dst)) else {
            continue;
        };
        let (size, inode, mtime_ns) = identity(&meta);
        let is_link = meta.file_type().is_symlink();
        entries.push(Entry {
            path: op.dst.clone(),
            mode: match (transfer, is_link) {
                (_, true) => Transfer::Symlink,
                (Transfer::Symlink, false) => Transfer::Copy,
                (t, false) => t,
            },
            source: op.src.clone(),
            sha256: (*sha).to_string(),
            size,
            inode,
            mtime_ns,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ledger {
        schema: LEDGER_SCHEMA,
        entries,
    }
}

pub fn save(out: &Path, ledger: &Ledger) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(ledger).map_err(io::Error::other)?;
    write_atomic(&ledger_path(out), &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(out: &Path, rel: &str, source: &Path, sha: &str, mode: Transfer) -> Entry {
        let at = out.join(rel);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        match mode {
            Transfer::Symlink => std::os::unix::fs::symlink(source, &at).unwrap(),
            _ => fs::copy(source, &at).map(|_| ()).unwrap(),
        }
        let (size, inode, mtime_ns) = identity(&fs::symlink_metadata(&at).unwrap());
        Entry {
            path: rel.into(),
            mode,
            source: source.into(),
            sha256: sha.into(),
            size,
            inode,
            mtime_ns,
        }
    }

    #[test]
    fn stale_placements_move_to_the_new_folder_or_go_and_edited_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let (lib, out) = (dir.path().join("lib"), dir.path().join("out"));
        fs::create_dir_all(&lib).unwrap();
        for n in ["a.jpg", "b.jpg", "c.jpg"] {
            fs::write(lib.join(n), n.as_bytes()).unwrap();
        }
        let a = entry(
            &out,
            "person_003/a.jpg",
            &lib.join("a.jpg"),
            "A",
            Transfer::Copy,
        );
        let b = entry(
            &out,
            "person_001/b.jpg",
            &lib.join("b.jpg"),
            "B",
            Transfer::Copy,
        );
        let c = entry(
            &out,
            "person_001/c.jpg",
            &lib.join("c.jpg"),
            "C",
            Transfer::Copy,
        );
        fs::write(out.join("person_001/c.jpg"), b"edited by the user").unwrap();
        let ledger = Ledger {
            schema: LEDGER_SCHEMA,
            entries: vec![a, b, c],
        };
        // a.jpg now belongs in person_001 (a merge); b.jpg nowhere (rejected, now _unknown
        // elsewhere under another name); c.jpg was edited.
        let wanted = [Wanted {
            dst: Path::new("person_001/a.jpg"),
            src: &lib.join("a.jpg"),
            sha256: "A",
        }];
        let (pa, pb, pc) = (lib.join("a.jpg"), lib.join("b.jpg"), lib.join("c.jpg"));
        let library: HashMap<&Path, &str> = [
            (pa.as_path(), "A"),
            (pb.as_path(), "B"),
            (pc.as_path(), "C"),
        ]
        .into();
        let sync = reconcile(&out, &ledger, &wanted, Transfer::Copy, &library);
        assert_eq!(
            sync.moves,
            vec![("person_003/a.jpg".into(), "person_001/a.jpg".into())]
        );
        assert_eq!(sync.removals, vec![PathBuf::from("person_001/b.jpg")]);
        assert_eq!(sync.left_in_place.len(), 1);
        assert_eq!(
            sync.left_in_place[0].path,
            PathBuf::from("person_001/c.jpg")
        );
        let report = apply(&out, &sync);
        assert_eq!((report.moved_in_out, report.removed), (1, 1));
        assert_eq!(fs::read(out.join("person_001/a.jpg")).unwrap(), b"a.jpg");
        assert!(!out.join("person_003").exists(), "emptied folder removed");
        assert_eq!(
            fs::read(out.join("person_001/c.jpg")).unwrap(),
            b"edited by the user"
        );
    }

    #[test]
    fn a_copy_whose_source_changed_and_a_moved_original_are_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (lib, out) = (dir.path().join("lib"), dir.path().join("out"));
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("a.jpg"), b"a").unwrap();
        fs::write(lib.join("m.jpg"), b"m").unwrap();
        let a = entry(&out, "x/a.jpg", &lib.join("a.jpg"), "A", Transfer::Copy);
        let m = entry(&out, "x/m.jpg", &lib.join("m.jpg"), "M", Transfer::Move);
        let ledger = Ledger {
            schema: LEDGER_SCHEMA,
            entries: vec![a, m],
        };
        let pa = lib.join("a.jpg");
        // The library's a.jpg now has other bytes.
        let library: HashMap<&Path, &str> = [(pa.as_path(), "A2")].into();
        let sync = reconcile(&out, &ledger, &[], Transfer::Copy, &library);
        assert!(
            sync.removals.is_empty() && sync.moves.is_empty(),
            "{sync:?}"
        );
        assert_eq!(sync.left_in_place.len(), 2);
        assert_eq!(sync.kept.len(), 2);
    }

    #[test]
    fn companions_with_the_same_bytes_each_move_to_where_their_own_source_is_wanted() {
        let dir = tempfile::tempdir().unwrap();
        let (lib, out) = (dir.path().join("lib"), dir.path().join("out"));
        fs::create_dir_all(&lib).unwrap();
        // Two photos' edits, byte for byte the same (one "auto-enhance").
        let (e1, e2) = (lib.join("IMG_1.AAE"), lib.join("IMG_2.AAE"));
        fs::write(&e1, b"enhance").unwrap();
        fs::write(&e2, b"enhance").unwrap();
        let ledger = Ledger {
            schema: LEDGER_SCHEMA,
            entries: vec![
                entry(&out, "p3/IMG_1.AAE", &e1, "E", Transfer::Symlink),
                entry(&out, "p3/IMG_2.AAE", &e2, "E", Transfer::Symlink),
            ],
        };
        // After a merge they are wanted in p1, listed the other way round.
        let wanted = [
            Wanted {
                dst: Path::new("p1/IMG_2.AAE"),
                src: &e2,
                sha256: "E",
            },
            Wanted {
                dst: Path::new("p1/IMG_1.AAE"),
                src: &e1,
                sha256: "E",
            },
        ];
        let sync = reconcile(&out, &ledger, &wanted, Transfer::Symlink, &HashMap::new());
        assert_eq!(
            sync.moves,
            vec![
                ("p3/IMG_1.AAE".into(), "p1/IMG_1.AAE".into()),
                ("p3/IMG_2.AAE".into(), "p1/IMG_2.AAE".into())
            ]
        );
        apply(&out, &sync);
        assert_eq!(fs::read_link(out.join("p1/IMG_2.AAE")).unwrap(), e2);
    }

    #[test]
    fn switching_from_links_to_copies_replaces_the_links() {
        let dir = tempfile::tempdir().unwrap();
        let (lib, out) = (dir.path().join("lib"), dir.path().join("out"));
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("a.jpg"), b"a").unwrap();
        let a = entry(&out, "p/a.jpg", &lib.join("a.jpg"), "A", Transfer::Symlink);
        let ledger = Ledger {
            schema: LEDGER_SCHEMA,
            entries: vec![a],
        };
        let wanted = [Wanted {
            dst: Path::new("p/a.jpg"),
            src: &lib.join("a.jpg"),
            sha256: "A",
        }];
        let sync = reconcile(&out, &ledger, &wanted, Transfer::Copy, &HashMap::new());
        assert_eq!(sync.removals, vec![PathBuf::from("p/a.jpg")]);
        apply(&out, &sync);
        assert!(fs::symlink_metadata(out.join("p/a.jpg")).is_err());
        assert!(lib.join("a.jpg").exists(), "the source is never touched");
    }
}
