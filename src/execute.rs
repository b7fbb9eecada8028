//! [`Plan`] -> files on disk. Each copy is written to a temporary name in its destination folder
//! and then linked into place with a call that fails if the name exists, so an existing file is
//! never replaced and an interrupted run leaves no half-written photo under a real name. A
//! destination that already holds the same bytes counts as already present. The source is only
//! ever read.

use std::{
    fs::{self, File},
    io::{self, Read},
    path::{Path, PathBuf},
};

use serde::Serialize;

use crate::{plan::Plan, progress::ProgressSink};

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
    /// One outcome per plan op, in plan order.
    #[serde(skip)]
    pub outcomes: Vec<OpOutcome>,
}

pub fn execute(plan: &Plan, out_root: &Path, progress: &dyn ProgressSink) -> ExecReport {
    let mut report = ExecReport::default();
    progress.start("copy", Some(plan.ops.len() as u64));
    for op in &plan.ops {
        let outcome = match place(&op.src, &out_root.join(&op.dst)) {
            Ok(o) => o,
            Err(e) => OpOutcome::Failed(format!("{}: {e}", op.dst.display())),
        };
        match &outcome {
            OpOutcome::Copied => report.copied += 1,
            OpOutcome::AlreadyPresent => report.already_present += 1,
            OpOutcome::Failed(_) => report.failed += 1,
        }
        report.outcomes.push(outcome);
        progress.advance(1);
    }
    progress.finish();
    report
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

fn existing_outcome(src: &Path, dst: &Path) -> io::Result<OpOutcome> {
    Ok(if same_contents(src, dst)? {
        OpOutcome::AlreadyPresent
    } else {
        OpOutcome::Failed(format!(
            "{} already exists with different contents; not overwritten",
            dst.display()
        ))
    })
}

fn temp_name(dst: &Path) -> PathBuf {
    let name = dst.file_name().unwrap_or_default().to_string_lossy();
    dst.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Copies `src` to `dst` unless `dst` exists; never replaces an existing file.
pub fn place(src: &Path, dst: &Path) -> io::Result<OpOutcome> {
    if dst.symlink_metadata().is_ok() {
        return existing_outcome(src, dst);
    }
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_name(dst);
    let result = copy_then_link(src, &tmp, dst);
    let _ = fs::remove_file(&tmp);
    match result {
        Ok(()) => Ok(OpOutcome::Copied),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => existing_outcome(src, dst),
        Err(e) => Err(e),
    }
}

fn copy_then_link(src: &Path, tmp: &Path, dst: &Path) -> io::Result<()> {
    fs::copy(src, tmp)?;
    if let Ok(mtime) = fs::metadata(src).and_then(|m| m.modified()) {
        // Keeping the taken-at time on the copy is a courtesy; failing to is not an error.
        let _ = File::options()
            .write(true)
            .open(tmp)
            .and_then(|f| f.set_modified(mtime));
    }
    File::open(tmp)?.sync_all()?;
    // hard_link fails with AlreadyExists instead of replacing, unlike rename.
    fs::hard_link(tmp, dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{plan::CopyOp, progress::Silent};

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
            }],
        };
        let first = execute(&plan, &out, &Silent);
        assert_eq!(
            (first.copied, first.already_present, first.failed),
            (1, 0, 0)
        );
        assert_eq!(
            fs::read(out.join("person_001/a.jpg")).unwrap(),
            b"photo bytes"
        );

        let second = execute(&plan, &out, &Silent);
        assert_eq!((second.copied, second.already_present), (0, 1));

        fs::write(out.join("person_001/a.jpg"), b"someone else's file").unwrap();
        let third = execute(&plan, &out, &Silent);
        assert_eq!(third.failed, 1);
        assert!(
            matches!(&third.outcomes[0], OpOutcome::Failed(m) if m.contains("not overwritten"))
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
}
