//! A minimal DevTools-protocol client: starts Debian's `chromium` headless on a fresh profile,
//! opens one page and drives it (evaluate JavaScript, press keys, take a screenshot). The
//! review tests use it; scripts/test.sh installs chromium when it is missing.

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// The chromium binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on PATH. Never a
/// silent skip: without it the browser tests fail and say how to install it.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return p.into();
    }
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("chromium is not installed: the review page's tests drive it headless. Install Debian's `chromium` (scripts/test.sh does: apt-get install -y chromium) or set CHROMIUM=/path/to/chromium");
}

impl Browser {
    /// Starts chromium headless and attaches to a new blank page.
    pub fn start() -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Read "DevTools listening on ws://..." and keep draining stderr after it.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium did not print its DevTools address within 60 s");
        let (ws, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = b.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = b.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        // A page in the background draws no frames, so lazy images would never load.
        b.call("Page.bringToFront", json!({}));
        b
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let reply = self.ws.read().expect("DevTools connection");
            let Ok(text) = reply.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(s))
    }

    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Evaluates `js` in the page (awaiting a promise) and returns its value.
    pub fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{js}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluates `js` until it is true (the page works asynchronously); panics after `secs`.
    pub fn wait_for(&mut self, js: &str, secs: u64) {
        let start = Instant::now();
        while self.eval(js) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "waited {secs} s for `{js}`; the page: {}",
                self.eval("JSON.stringify({url: location.href, ready: document.readyState, status: document.getElementById('status') && document.getElementById('status').textContent, view: typeof view !== 'undefined' && view !== null, images: [...document.images].map(i => [i.complete, i.naturalWidth, performance.getEntriesByName(i.src).length])})")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `js` is true and the page has no request in flight (`window.pending`).
    pub fn wait_idle(&mut self, js: &str, secs: u64) {
        self.wait_for(&format!("({js}) && window.pending === 0"), secs);
    }

    /// Types one key as a user would (keydown, char, keyup).
    pub fn press(&mut self, key: &str) {
        for kind in ["keyDown", "char", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "text": key}),
            );
        }
    }

    /// A PNG of the page as it is now.
    pub fn screenshot(&mut self, full_page: bool) -> Vec<u8> {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": full_page}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
