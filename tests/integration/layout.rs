//! The layout check (scripts/check-layout.py, run by scripts/test.sh): the crate's own tree
//! passes, and a tree with an import circle between folders, two files that import each
//! other, or an over-long file fails with the circle named.

use std::{fs, path::Path, process::Command};

fn check(src: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-layout.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(src)
        .output()
        .expect("python3 runs scripts/check-layout.py");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn the_crates_own_tree_has_no_import_circle() {
    let (ok, said) = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(ok, "{said}");
}

#[test]
fn a_circle_between_folders_fails_and_is_named() {
    let t = tree(&[
        ("lib.rs", "pub mod media;\npub mod faces;\n"),
        ("media/mod.rs", "pub mod decode;\n"),
        ("media/decode.rs", "use crate::faces::analyse::SIZE;\n"),
        ("faces/mod.rs", "pub mod analyse;\n"),
        (
            "faces/analyse.rs",
            "use crate::{media::decode, util};\npub const SIZE: u32 = 1;\n",
        ),
    ]);
    let (ok, said) = check(t.path());
    assert!(!ok, "{said}");
    assert!(said.contains("faces <-> media"), "{said}");
    assert!(said.contains("media -> faces: media/decode.rs"), "{said}");
}

#[test]
fn two_files_that_import_each_other_fail_but_a_test_module_may_look_up() {
    let circle = tree(&[
        ("media/mod.rs", "pub mod a;\npub mod b;\n"),
        ("media/a.rs", "use super::b::X;\npub const Y: u8 = 0;\n"),
        ("media/b.rs", "pub const X: u8 = crate::media::a::Y;\n"),
    ]);
    let (ok, said) = check(circle.path());
    assert!(!ok && said.contains("media/a.rs <-> media/b.rs"), "{said}");

    let tests_only = tree(&[
        ("media/mod.rs", "pub mod a;\npub mod b;\n"),
        ("media/a.rs", "use super::b::X;\npub const Y: u8 = 0;\n"),
        (
            "media/b.rs",
            "pub const X: u8 = 1;\n#[cfg(test)]\nmod tests {\n    use crate::media::a::Y;\n}\n",
        ),
    ]);
    let (ok, said) = check(tests_only.path());
    assert!(ok, "{said}");
}

#[test]
fn a_file_over_700_lines_fails() {
    let long = "// line\n".repeat(701);
    let t = tree(&[("media/mod.rs", long.as_str())]);
    let (ok, said) = check(t.path());
    assert!(
        !ok && said.contains("media/mod.rs is over 700 lines"),
        "{said}"
    );
}
