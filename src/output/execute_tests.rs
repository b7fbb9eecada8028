//! Tests of [`super`]: copies, links and moves on real files in temporary folders.

use super::*;
use crate::{media::companions::Kind, output::plan::CopyOp, util::progress::Silent};

#[test]
fn copies_then_counts_identical_as_present_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.jpg");
    fs::write(&src, b"photo bytes").unwrap();
    let out = dir.path().join("out");
    let plan = Plan {
        ops: vec![CopyOp {
            src: src.clone(),
            dst: "person_001/a.jpg".into(),
            photo: 0,
            companion: None,
            kind: None,
        }],
    };
    let first = execute(
        &plan,
        &out,
        Transfer::Copy,
        &Silent,
        &AtomicBool::new(false),
    );
    assert_eq!(
        (first.copied, first.already_present, first.failed),
        (1, 0, 0)
    );
    assert_eq!(
        fs::read(out.join("person_001/a.jpg")).unwrap(),
        b"photo bytes"
    );

    let second = execute(
        &plan,
        &out,
        Transfer::Copy,
        &Silent,
        &AtomicBool::new(false),
    );
    assert_eq!((second.copied, second.already_present), (0, 1));

    fs::write(out.join("person_001/a.jpg"), b"someone else's file").unwrap();
    let third = execute(
        &plan,
        &out,
        Transfer::Copy,
        &Silent,
        &AtomicBool::new(false),
    );
    assert_eq!(third.failed, 1);
    assert!(
        matches!(&third.outcomes[0], Some(OpOutcome::Failed(m)) if m.contains("not overwritten"))
    );
    assert_eq!(
        fs::read(out.join("person_001/a.jpg")).unwrap(),
        b"someone else's file"
    );
    // The source is untouched and no temporary file is left behind.
    assert_eq!(fs::read(&src).unwrap(), b"photo bytes");
    let leftovers: Vec<_> = fs::read_dir(out.join("person_001"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

static NEVER: AtomicBool = AtomicBool::new(false);

fn partials_under(out: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(PARTIAL_SUFFIX))
        .map(|e| e.into_path())
        .collect()
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap())
}

/// Copies `ops` (source, destination, photo) into `out` with `made`'s early copies.
fn copy_with_early(ops: &[(&Path, &str, usize)], out: &Path, made: &MadeEarly) -> ExecReport {
    let ops = ops
        .iter()
        .map(|&(src, dst, photo)| CopyOp {
            src: src.to_path_buf(),
            dst: dst.into(),
            photo,
            companion: None,
            kind: None,
        })
        .collect();
    let stop = AtomicBool::new(false);
    execute_with(
        &Plan { ops },
        out,
        Transfer::Copy,
        &Silent,
        &stop,
        Some(made),
    )
}

#[cfg(unix)]
#[test]
fn early_copies_are_linked_into_place_once_and_other_folders_get_their_own_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
    fs::write(&a, b"photo a").unwrap();
    fs::write(&b, b"photo b").unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let missing = dir.path().join("gone.jpg");
    let made = EarlyCopies::start(&out, vec![a.clone(), missing, b.clone()], &NEVER).finish_all();
    assert_eq!(
        made.len(),
        2,
        "the missing source is skipped, the others copied"
    );
    let early_a = inode(&lock(&made.0)[&a].tmp);
    let report = copy_with_early(
        &[(&a, "x/a.jpg", 0), (&a, "y/a.jpg", 0), (&b, "z/b.jpg", 1)],
        &out,
        &made,
    );
    assert_eq!((report.copied, report.failed), (3, 0));
    assert_eq!(fs::read(out.join("x/a.jpg")).unwrap(), b"photo a");
    assert_eq!(fs::read(out.join("y/a.jpg")).unwrap(), b"photo a");
    assert_eq!(fs::read(out.join("z/b.jpg")).unwrap(), b"photo b");
    assert_eq!(
        inode(&out.join("x/a.jpg")),
        early_a,
        "the early copy was used"
    );
    assert_ne!(
        inode(&out.join("y/a.jpg")),
        early_a,
        "a second folder has its own copy"
    );
    assert!(made.is_empty());
    assert_eq!(partials_under(&out), Vec::<PathBuf>::new());
    assert_eq!(fs::read(&a).unwrap(), b"photo a");
}

#[test]
fn early_copies_of_changed_sources_or_taken_names_are_not_used_and_leftovers_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.jpg"),
        dir.path().join("b.jpg"),
        dir.path().join("c.jpg"),
    );
    for p in [&a, &b, &c] {
        fs::write(p, b"old bytes").unwrap();
    }
    let out = dir.path().join("out");
    fs::create_dir_all(out.join("x")).unwrap();
    let made = EarlyCopies::start(&out, vec![a.clone(), b.clone(), c.clone()], &NEVER).finish_all();
    assert_eq!(made.len(), 3);
    fs::write(&a, b"edited since, longer").unwrap();
    fs::write(out.join("x/b.jpg"), b"someone else's").unwrap();
    let report = copy_with_early(&[(&a, "x/a.jpg", 0), (&b, "x/b.jpg", 1)], &out, &made);
    assert_eq!((report.copied, report.failed), (1, 1));
    assert_eq!(
        fs::read(out.join("x/a.jpg")).unwrap(),
        b"edited since, longer"
    );
    assert_eq!(fs::read(out.join("x/b.jpg")).unwrap(), b"someone else's");
    assert_eq!(made.len(), 1, "c's copy is not used");
    assert_eq!(partials_under(&out).len(), 1);
    drop(made);
    assert_eq!(partials_under(&out), Vec::<PathBuf>::new());
}

#[test]
fn early_copies_stop_when_interrupted_and_remove_what_they_made_when_dropped() {
    static STOPPED: AtomicBool = AtomicBool::new(true);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jpg");
    fs::write(&a, b"photo").unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    assert!(EarlyCopies::start(&out, vec![a.clone()], &STOPPED)
        .finish()
        .is_empty());
    let unfinished = EarlyCopies::start(&out, vec![a.clone()], &NEVER);
    drop(unfinished);
    assert_eq!(partials_under(&out), Vec::<PathBuf>::new());
    assert_eq!(fs::read(&a).unwrap(), b"photo");
}

fn two_folder_plan(src: &Path) -> Plan {
    let op = |dst: &str| CopyOp {
        src: src.to_path_buf(),
        dst: dst.into(),
        photo: 0,
        companion: None,
        kind: None,
    };
    Plan {
        ops: vec![op("a/p.jpg"), op("b/p.jpg")],
    }
}

#[test]
fn many_photos_at_once_keep_plan_order_and_move_each_source_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut ops = Vec::new();
    for photo in 0..23 {
        let src = dir.path().join(format!("p{photo}.jpg"));
        fs::write(&src, format!("pixels of {photo}")).unwrap();
        // Photos with one, two or three destinations, as people give them.
        for person in 0..1 + photo % 3 {
            ops.push(CopyOp {
                src: src.clone(),
                dst: format!("person_{person}/p{photo}.jpg").into(),
                photo,
                companion: None,
                kind: None,
            });
        }
    }
    let plan = Plan { ops };
    let out = dir.path().join("out");
    let never = AtomicBool::new(false);
    let r = execute(&plan, &out, Transfer::Move, &Silent, &never);
    assert_eq!((r.copied, r.failed, r.moved), (plan.ops.len(), 0, 23));
    assert_eq!(r.outcomes, vec![Some(OpOutcome::Copied); plan.ops.len()]);
    for op in &plan.ops {
        let want = format!("pixels of {}", op.photo);
        assert_eq!(fs::read_to_string(out.join(&op.dst)).unwrap(), want);
        assert!(!op.src.exists(), "moved: {}", op.src.display());
    }
}

#[test]
fn stale_partials_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("p")).unwrap();
    fs::write(
        dir.path().join(format!("p/.123-0{PARTIAL_SUFFIX}")),
        b"half",
    )
    .unwrap();
    fs::write(dir.path().join("p/keep.jpg"), b"photo").unwrap();
    fs::write(dir.path().join(".hidden-but-mine"), b"x").unwrap();
    assert_eq!(remove_stale_partials(dir.path()), 1);
    assert!(dir.path().join("p/keep.jpg").exists());
    assert!(dir.path().join(".hidden-but-mine").exists());
}

#[test]
fn a_set_stop_flag_copies_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("p.jpg");
    fs::write(&src, b"pixels").unwrap();
    let r = execute(
        &two_folder_plan(&src),
        &dir.path().join("out"),
        Transfer::Copy,
        &Silent,
        &AtomicBool::new(true),
    );
    assert!(r.outcomes.iter().all(Option::is_none));
    assert!(!dir.path().join("out").exists());
}

/// A photo with a Live Photo video and a sidecar, to folders `a` and `b`.
fn photo_with_companions(dir: &Path) -> Plan {
    let (photo, video, xmp) = (dir.join("p.heic"), dir.join("p.mov"), dir.join("p.xmp"));
    fs::write(&photo, b"pixels").unwrap();
    fs::write(&video, b"motion").unwrap();
    fs::write(&xmp, b"edits").unwrap();
    let mut ops = Vec::new();
    for folder in ["a", "b"] {
        for (k, (src, name, kind)) in [
            (&photo, "p.heic", None),
            (&video, "p.mov", Some(Kind::LiveVideo)),
            (&xmp, "p.xmp", Some(Kind::Xmp)),
        ]
        .into_iter()
        .enumerate()
        {
            ops.push(CopyOp {
                src: src.clone(),
                dst: format!("{folder}/{name}").into(),
                photo: 0,
                companion: k.checked_sub(1),
                kind,
            });
        }
    }
    Plan { ops }
}

#[test]
fn move_takes_companions_with_their_photo_or_keeps_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    fs::create_dir_all(&lib).unwrap();
    let plan = photo_with_companions(&lib);
    let out = dir.path().join("out");
    // Another file where one copy of the sidecar goes: nothing leaves the library.
    fs::create_dir_all(out.join("b")).unwrap();
    fs::write(out.join("b/p.xmp"), b"someone else's").unwrap();
    let never = AtomicBool::new(false);
    let r = execute(&plan, &out, Transfer::Move, &Silent, &never);
    assert_eq!((r.copied, r.failed, r.moved), (5, 1, 0));
    for name in ["p.heic", "p.mov", "p.xmp"] {
        assert!(lib.join(name).exists(), "{name} left the library");
    }
    fs::remove_file(out.join("b/p.xmp")).unwrap();
    let r = execute(&plan, &out, Transfer::Move, &Silent, &never);
    assert_eq!((r.copied, r.already_present, r.moved), (1, 5, 3));
    assert_eq!(fs::read_dir(&lib).unwrap().count(), 0, "all three moved");
    for folder in ["a", "b"] {
        assert_eq!(fs::read(out.join(folder).join("p.mov")).unwrap(), b"motion");
        assert_eq!(fs::read(out.join(folder).join("p.xmp")).unwrap(), b"edits");
    }
}

#[test]
fn move_removes_the_source_only_after_every_copy_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("p.jpg");
    fs::write(&src, b"pixels").unwrap();
    let out = dir.path().join("out");
    // A different file already sits at one destination: the source must stay.
    fs::create_dir_all(out.join("b")).unwrap();
    fs::write(out.join("b/p.jpg"), b"other").unwrap();
    let r = execute(
        &two_folder_plan(&src),
        &out,
        Transfer::Move,
        &Silent,
        &AtomicBool::new(false),
    );
    assert_eq!((r.copied, r.failed, r.moved), (1, 1, 0));
    assert!(src.exists());

    fs::remove_file(out.join("b/p.jpg")).unwrap();
    let r = execute(
        &two_folder_plan(&src),
        &out,
        Transfer::Move,
        &Silent,
        &AtomicBool::new(false),
    );
    assert_eq!((r.copied, r.already_present, r.moved), (1, 1, 1));
    assert!(!src.exists());
    assert_eq!(fs::read(out.join("a/p.jpg")).unwrap(), b"pixels");
    assert_eq!(fs::read(out.join("b/p.jpg")).unwrap(), b"pixels");
}

#[cfg(unix)]
#[test]
fn links_are_idempotent_and_never_replace_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("p.jpg");
    fs::write(&src, b"pixels").unwrap();
    for (transfer, name) in [(Transfer::Hardlink, "hard"), (Transfer::Symlink, "sym")] {
        let out = dir.path().join(name);
        let plan = two_folder_plan(&src);
        let r = execute(&plan, &out, transfer, &Silent, &AtomicBool::new(false));
        assert_eq!(r.copied, 2, "{name}");
        let r = execute(&plan, &out, transfer, &Silent, &AtomicBool::new(false));
        assert_eq!(r.already_present, 2, "{name}");
        assert_eq!(fs::read(out.join("a/p.jpg")).unwrap(), b"pixels");
    }
    assert!(fs::symlink_metadata(dir.path().join("sym/a/p.jpg"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&src).unwrap(), b"pixels");
}
