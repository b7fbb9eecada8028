//! Command-line conventions through the real binary: closed choices with suggestions,
//! completions and the man page, `--version`, `-q`, `--exclude`, doctor's exit code, the
//! settings file's places, `people`'s table and `setup --json`.

use std::{fs, path::Path, process::Output};

use serde_json::Value;

use crate::util::*;

fn run(t: &TestDir, args: &[&str]) -> Output {
    command(t).args(args).output().expect("run photo_organizer")
}

fn obama_library() -> TestDir {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("biden.jpg", "face_recognition/biden.jpg");
    t
}

fn manifest_sources(t: &TestDir) -> Vec<String> {
    let mut sources: Vec<String> = t.manifest()["photos"]
        .as_array()
        .expect("photos")
        .iter()
        .map(|p| p["source"].as_str().unwrap().to_string())
        .collect();
    sources.sort();
    sources
}

#[test]
fn a_typo_in_a_closed_choice_suggests_the_right_value() {
    let t = TestDir::new();
    let out = run(&t, &["-s", ".", "-o", "x", "--face-backend", "yunett"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("a similar value exists: 'yunet'"), "{err}");
    assert!(
        err.contains("possible values: yunet, insightface, yolov8, tract, facenet"),
        "{err}"
    );

    let out = run(&t, &["-s", ".", "-o", "x", "--execution-provider", "cdua"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a similar value exists: 'cuda'"),
        "{}",
        stderr(&out)
    );

    let out = run(&t, &["eval", ".", "--face-backend", "tarct"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a similar value exists: 'tract'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_lists_the_possible_values() {
    let t = TestDir::new();
    // Wrapped to the terminal's width: compare words.
    let words = |o: Output| stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(run(&t, &["-h"]));
    assert!(
        help.contains("[possible values: yunet, insightface, yolov8, tract, facenet]"),
        "{help}"
    );
    assert!(
        help.contains(
            "[possible values: auto, cpu, cuda, tensorrt, rocm, openvino, coreml, directml]"
        ),
        "{help}"
    );
    // --help explains each value.
    let long = words(run(&t, &["--help"]));
    assert!(
        long.contains("tract: yunet's models on the pure-Rust"),
        "{long}"
    );
}

#[test]
fn the_scrfd_alias_still_means_insightface() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    let out = organize(&t, &["--face-backend", "scrfd", "--json", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[cfg(not(feature = "facenet"))]
#[test]
fn facenet_is_a_choice_whose_error_names_the_fix_when_not_compiled() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["--face-backend", "facenet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("not compiled into this build"), "{err}");
    assert!(err.contains("--features facenet"), "{err}");
}

#[test]
fn completions_cover_the_subcommands_in_each_shell() {
    let t = TestDir::new();
    let bash = run(&t, &["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let bash = stdout(&bash);
    assert!(bash.contains("_photo_organizer()"), "{bash}");
    for sub in [
        "setup",
        "people",
        "eval",
        "bench",
        "doctor",
        "completions",
        "man",
    ] {
        assert!(bash.contains(sub), "{sub} missing from:\n{bash}");
    }
    assert!(bash.contains("--face-backend"));
    assert!(stdout(&run(&t, &["completions", "zsh"])).starts_with("#compdef photo_organizer"));
    assert!(stdout(&run(&t, &["completions", "fish"])).contains("complete -c photo_organizer"));
    let out = run(&t, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("possible values"), "{}", stderr(&out));
}

#[test]
fn man_prints_a_roff_page() {
    let t = TestDir::new();
    let out = run(&t, &["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(page.contains(".TH photo_organizer 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    assert!(page.contains("\\-\\-face\\-backend"), "{page}");
    assert!(page.contains("completions"), "{page}");
}

fn compiled(names: &[(&str, bool)]) -> String {
    let on: Vec<&str> = names.iter().filter(|(_, c)| *c).map(|(n, _)| *n).collect();
    format!("backends: {}", on.join(", "))
}

const FEATURES: [(&str, bool); 3] = [
    ("onnx", cfg!(feature = "onnx")),
    ("tract", cfg!(feature = "tract")),
    ("facenet", cfg!(feature = "facenet")),
];

#[test]
fn version_names_the_compiled_backends_and_with_v_the_runtime() {
    let t = TestDir::new();
    for flag in ["--version", "-V"] {
        let out = command(&t)
            .env_remove("ORT_DYLIB_PATH")
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("photo_organizer {}\n", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        assert!(text.contains(&compiled(&FEATURES)), "{text}");
        assert!(!text.contains("onnx runtime:"), "{text}");
        if !cfg!(feature = "facenet") {
            assert!(text.contains("not compiled: facenet"), "{text}");
        }
    }
    let runtime = t.cache().join("runtime");
    for args in [["-v", "--version"], ["--version", "-v"]] {
        let out = command(&t)
            .env_remove("ORT_DYLIB_PATH")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        let line = text
            .lines()
            .find(|l| l.starts_with("onnx runtime: "))
            .unwrap_or_else(|| panic!("no runtime line in:\n{text}"));
        assert!(
            line.contains(&runtime.display().to_string()),
            "{line} (expected under {})",
            runtime.display()
        );
        if cfg!(feature = "onnx") {
            assert!(line.contains("version 1.31.1"), "{line}");
        }
    }
}

#[test]
fn version_with_v_says_when_no_runtime_is_found() {
    let t = TestDir::new();
    let empty = t.dir.path().join("empty-cache");
    fs::create_dir_all(&empty).unwrap();
    let out = command(&t)
        .env("PHOTO_ORGANIZER_CACHE", &empty)
        .env(
            "ORT_DYLIB_PATH",
            t.dir.path().join("nowhere/libonnxruntime.so"),
        )
        .env("LD_LIBRARY_PATH", "")
        .args(["-v", "--version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("onnx runtime: not found"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn quiet_prints_nothing_but_still_writes_out() {
    let t = obama_library();
    let out = organize(&t, &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
    assert!(t.out().join("manifest.json").is_file());
    assert_obama_is_one_person(&t);

    let out = organize(&t, &["--quiet", "--json"]);
    assert_eq!(
        summary(&out)["photos"],
        4,
        "--json is still printed with -q"
    );
}

#[test]
fn quiet_still_names_each_photo_that_failed() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .write("broken.jpg", b"not a jpeg");
    let out = organize(&t, &["-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("broken.jpg"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn quiet_conflicts_with_verbose() {
    let t = TestDir::new();
    let out = run(&t, &["-q", "-v", "doctor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exclude_leaves_matching_photos_out_of_the_run() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("trip/obama2.jpg", "face_recognition/obama2.jpg")
        .add("private/deep/obama3.jpg", "face_recognition/obama3.jpg")
        .add("trip/32bit.png", "face_recognition/32bit.png")
        .add("biden.jpg", "face_recognition/biden.jpg");
    let out = organize(&t, &["--exclude", "*.png", "--exclude", "private/**"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        manifest_sources(&t),
        vec!["biden.jpg", "obama.jpg", "trip/obama2.jpg"]
    );
    let copied: Vec<String> = t.folders().into_values().flatten().collect();
    assert!(
        !copied.iter().any(|n| n == "obama3.jpg" || n == "32bit.png"),
        "{copied:?}"
    );

    let out = command(&t)
        .arg("-s")
        .arg(t.library())
        .arg("-o")
        .arg(t.out())
        .args(["--exclude", "a[b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid --exclude \"a[b\""),
        "{}",
        stderr(&out)
    );
}

/// A cache with the models but no runtime library.
fn models_only_cache(t: &TestDir) -> std::path::PathBuf {
    let cache = t.dir.path().join("models-only");
    fs::create_dir_all(&cache).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(t.cache().join("models"), cache.join("models")).unwrap();
    cache
}

#[test]
fn doctor_exits_0_when_the_default_pipeline_can_run() {
    let t = TestDir::new();
    let out = command(&t)
        .env_remove("ORT_DYLIB_PATH")
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("[ok] default pipeline (yunet + sface): can run"),
        "{}",
        stdout(&out)
    );
    let quiet = run(&t, &["doctor", "-q"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stdout(&quiet), "");
}

#[test]
fn doctor_exits_1_when_the_default_models_are_missing() {
    let t = TestDir::new();
    let empty = t.dir.path().join("empty-cache");
    fs::create_dir_all(&empty).unwrap();
    let out = command(&t)
        .env("PHOTO_ORGANIZER_CACHE", &empty)
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[--] default pipeline (yunet + sface): cannot run: yunet-2023mar")
            || text.contains("[--] default pipeline (yunet + sface): cannot run:"),
        "{text}"
    );
    let json = command(&t)
        .env("PHOTO_ORGANIZER_CACHE", &empty)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let checks: Value = serde_json::from_slice(&json.stdout).unwrap();
    let last = checks.as_array().unwrap().last().unwrap();
    assert_eq!(last["ok"], false, "{last}");
}

#[test]
fn doctor_without_a_runtime_depends_on_the_tract_fallback() {
    let t = TestDir::new();
    let cache = models_only_cache(&t);
    let out = command(&t)
        .env("PHOTO_ORGANIZER_CACHE", &cache)
        .env(
            "ORT_DYLIB_PATH",
            t.dir.path().join("nowhere/libonnxruntime.so"),
        )
        .env("LD_LIBRARY_PATH", "")
        .arg("doctor")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("[--] ONNX Runtime library"), "{text}");
    if cfg!(feature = "tract") {
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("can run on tract"), "{text}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{text}");
    }
}

/// Runs organize on one photo with the given settings-file environment.
fn organize_with(t: &TestDir, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = command(t);
    cmd.arg("-s").arg(t.library()).arg("-o").arg(t.out());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .args(["--dry-run", "--json"])
        .output()
        .unwrap()
}

#[test]
fn the_default_settings_file_is_read_and_explicit_ones_win() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    let xdg = t.dir.path().join("xdg");
    let default = xdg.join("photo_organizer/config.toml");
    fs::create_dir_all(default.parent().unwrap()).unwrap();
    let write = |name: &str, text: &str| {
        let p = t.dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    };
    let broken = "[recognition\nexecution_provider = ";
    let cpu = write("cpu.toml", "[recognition]\nexecution_provider = \"cpu\"\n");
    let bad_value = "[cuda]\ncudnn_conv_algo_search = \"fastest\"\n";

    // No file at all is fine.
    let out = organize_with(&t, &[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The default file is read: a bad value in it is reported, naming the file.
    fs::write(&default, broken).unwrap();
    let out = organize_with(&t, &[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("invalid config file {}", default.display())),
        "{}",
        stderr(&out)
    );
    fs::write(&default, bad_value).unwrap();
    let out = organize_with(&t, &[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cudnn_conv_algo_search"),
        "{}",
        stderr(&out)
    );

    // PHOTO_ORGANIZER_CONFIG wins over the default file.
    let out = organize_with(
        &t,
        &[("XDG_CONFIG_HOME", &xdg), ("PHOTO_ORGANIZER_CONFIG", &cpu)],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // --config wins over both.
    let env_broken = write("env.toml", broken);
    let out = organize_with(
        &t,
        &[
            ("XDG_CONFIG_HOME", &xdg),
            ("PHOTO_ORGANIZER_CONFIG", &env_broken),
        ],
        &["--config", cpu.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = organize_with(&t, &[("PHOTO_ORGANIZER_CONFIG", &env_broken)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "invalid PHOTO_ORGANIZER_CONFIG {}",
            env_broken.display()
        )),
        "{}",
        stderr(&out)
    );

    // A file PHOTO_ORGANIZER_CONFIG names must exist.
    let gone = t.dir.path().join("gone.toml");
    let out = organize_with(&t, &[("PHOTO_ORGANIZER_CONFIG", &gone)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read PHOTO_ORGANIZER_CONFIG"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_default_settings_file_selects_the_provider() {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    let xdg = t.dir.path().join("xdg");
    fs::create_dir_all(xdg.join("photo_organizer")).unwrap();
    fs::write(
        xdg.join("photo_organizer/config.toml"),
        "[recognition]\nexecution_provider = \"cdua\"\n",
    )
    .unwrap();
    let out = organize_with(&t, &[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("execution_provider = \"cdua\""), "{err}");
    assert!(err.contains("cuda"), "{err}");
    // A flag overriding the value does not excuse a bad file.
    let out = organize_with(
        &t,
        &[("XDG_CONFIG_HOME", &xdg)],
        &["--execution-provider", "cpu"],
    );
    assert_eq!(out.status.code(), Some(2), "the file is still validated");

    // Its value takes effect (this machine's ONNX Runtime has no CUDA, as in devices.rs), and
    // a flag wins over it.
    fs::write(
        xdg.join("photo_organizer/config.toml"),
        "[recognition]\nexecution_provider = \"cuda\"\n",
    )
    .unwrap();
    let out = organize_with(&t, &[("XDG_CONFIG_HOME", &xdg)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("device cuda unavailable"),
        "{}",
        stderr(&out)
    );
    let out = organize_with(
        &t,
        &[("XDG_CONFIG_HOME", &xdg)],
        &["--execution-provider", "cpu"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn people_prints_aligned_columns_under_a_header() {
    let t = obama_library();
    assert_eq!(organize(&t, &[]).status.code(), Some(0));
    let id = t
        .folders()
        .keys()
        .find(|f| f.starts_with("person_"))
        .cloned()
        .unwrap();
    let id: u32 = id.trim_start_matches("person_").parse().unwrap();
    let out = command(&t)
        .args(["people", "-o"])
        .arg(t.out())
        .args(["name", &id.to_string(), "Barack Obama"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let list = command(&t)
        .args(["people", "-o"])
        .arg(t.out())
        .output()
        .unwrap();
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let text = stdout(&list);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME", "FOLDER", "FACES", "SAMPLE"]
    );
    let json = command(&t)
        .args(["people", "-o"])
        .arg(t.out())
        .arg("--json")
        .output()
        .unwrap();
    let people: Value = serde_json::from_slice(&json.stdout).unwrap();
    let people = people.as_array().unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), people.len(), "{text}");
    let col = |name: &str| header.find(name).unwrap();
    for (row, person) in rows.iter().zip(people) {
        let name = person["name"].as_str().unwrap_or("-");
        assert_eq!(&row[col("NAME")..col("NAME") + name.len()], name, "{text}");
        let folder = person["folder"].as_str().unwrap();
        assert_eq!(
            &row[col("FOLDER")..col("FOLDER") + folder.len()],
            folder,
            "{text}"
        );
        // Numbers end under the end of their header.
        let faces = person["faces"].to_string();
        let end = col("FACES") + "FACES".len();
        assert_eq!(&row[end - faces.len()..end], faces, "{text}");
        let sample = person["sample"].as_str().unwrap();
        assert_eq!(&row[col("SAMPLE")..], sample, "{text}");
    }
    assert!(rows.iter().any(|r| r.contains("Barack Obama")), "{text}");
}

#[test]
fn setup_json_lists_each_file_with_its_state() {
    let t = TestDir::new();
    let out = run(&t, &["setup", "--check", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files: Value = serde_json::from_slice(&out.stdout).expect("setup --json is JSON");
    let files = files.as_array().unwrap();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        assert_eq!(f["state"], "present", "{f}");
        let path = Path::new(f["path"].as_str().unwrap());
        assert_eq!(f["bytes"], fs::metadata(path).unwrap().len(), "{f}");
        assert!(f["id"].is_string());
    }
    assert!(files.iter().any(|f| f["role"] == "runtime"), "{files:?}");

    let empty = t.dir.path().join("empty-cache");
    fs::create_dir_all(&empty).unwrap();
    let out = command(&t)
        .env("PHOTO_ORGANIZER_CACHE", &empty)
        .args(["setup", "--check", "--json", "--all"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let files: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = files.as_array().unwrap();
    assert!(
        files.len() > 3,
        "--all lists the optional models too: {files:?}"
    );
    for f in files {
        assert_eq!(f["state"], "missing", "{f}");
        assert_eq!(f["bytes"], Value::Null, "{f}");
    }
}
