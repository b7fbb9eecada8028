//! The review page's HTTP side on 127.0.0.1 ([`http`] is the transport): the page (embedded in
//! the binary, no external asset), its JSON API and the faces' stored thumbnails, answered by
//! the one thread that owns the store; the guards run on each head first. Every request
//! needs the random token (query `t` or header `X-Review-Token`) and a Host of
//! `127.0.0.1:PORT` or `localhost:PORT` (against DNS rebinding); a change needs POST with the
//! token in the header and, when the browser sends one, a local Origin.

use std::{
    convert::Infallible,
    net::TcpListener,
    sync::{mpsc, Arc},
    time::Duration,
};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::{body::Body, body::Bytes, body::Incoming, header::HeaderValue, http::request::Parts};
use hyper::{service::service_fn, Request, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{
    apply::Organize,
    http::{self, Answer},
    model, Action, Review,
};

const PAGE: &str = include_str!("page.html");

/// The page's own script and styles are inline; nothing else may load or be reached.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Most items one API page returns.
const MAX_PAGE: usize = 500;

/// A request body (an action) is read within this size and time.
const MAX_BODY: usize = 1 << 20;
const BODY_TIME: Duration = Duration::from_secs(10);

/// Whom a request must come from.
#[derive(Debug, Clone)]
pub struct Guard {
    pub port: u16,
    pub token: String,
}

/// Why a request is refused: status and reason.
type Refusal = (StatusCode, &'static str);

impl Guard {
    /// A guard with a fresh 128-bit token from the operating system's generator.
    pub fn new(port: u16) -> std::io::Result<Self> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Guard { port, token })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?t={}", self.port, self.token)
    }

    fn host_ok(&self, host: Option<&str>) -> bool {
        let p = self.port;
        host.is_some_and(|h| h == format!("127.0.0.1:{p}") || h == format!("localhost:{p}"))
    }

    fn origin_ok(&self, origin: Option<&str>) -> bool {
        let p = self.port;
        origin.is_none_or(|o| {
            o == format!("http://127.0.0.1:{p}") || o == format!("http://localhost:{p}")
        })
    }

    /// Checks Host, token, method and Origin; `Ok` when the request may go on.
    pub fn check(
        &self,
        method: &str,
        host: Option<&str>,
        origin: Option<&str>,
        header_token: Option<&str>,
        query_token: Option<&str>,
        changes: bool,
    ) -> Result<(), Refusal> {
        if !self.host_ok(host) {
            return Err((
                StatusCode::FORBIDDEN,
                "this page answers only to 127.0.0.1 or localhost with its port",
            ));
        }
        let token = if changes {
            header_token
        } else {
            header_token.or(query_token)
        };
        if !token.is_some_and(|t| constant_time_eq(t.as_bytes(), self.token.as_bytes())) {
            return Err((
                StatusCode::FORBIDDEN,
                "missing or wrong token: open the address `review` printed",
            ));
        }
        if changes && method != "POST" {
            return Err((StatusCode::METHOD_NOT_ALLOWED, "changes need POST"));
        }
        if changes && !self.origin_ok(origin) {
            return Err((
                StatusCode::FORBIDDEN,
                "a change must come from the review page itself",
            ));
        }
        Ok(())
    }

    /// [`Guard::check`] on a request's head, before its body is read.
    fn admit(&self, head: &Parts) -> Result<(), Refusal> {
        let header = |name| head.headers.get(name).and_then(|v| v.to_str().ok());
        let path = head.uri.path();
        self.check(
            head.method.as_str(),
            header("Host"),
            header("Origin"),
            header("X-Review-Token"),
            query(head.uri.query().unwrap_or(""), "t").as_deref(),
            path.starts_with("/api/") && !matches!(path, "/api/view" | "/api/faces"),
        )
    }
}

/// Compares without stopping at the first difference, so timing says nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Binds 127.0.0.1:`port` (0: a free one).
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

/// The value of `key` in a query string, percent-decoded (`+` as a space; a malformed escape
/// is kept as it is).
fn query(q: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: impl Into<Bytes>,
) -> Answer {
    let headers = [
        ("content-type", content_type),
        ("cache-control", cache),
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ];
    let mut answer = Answer::new(Full::new(body.into()));
    *answer.status_mut() = status;
    for (name, value) in headers {
        answer
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    answer
}

fn respond_json(status: StatusCode, value: &Value) -> Answer {
    let body = serde_json::to_vec(value).unwrap_or_default();
    respond(status, "application/json", "no-store", body)
}

/// A request, its body read, and where its answer goes.
type Job = (Request<Bytes>, oneshot::Sender<Answer>);

/// Answers requests until the process is stopped: the transport's thread checks each with
/// `guard` before reading its body, and this thread, the store's only owner, answers it.
/// "Apply" runs `organize` (the command's own run, passed in so that this page does not depend
/// on the commands above it).
pub fn serve(
    listener: TcpListener,
    guard: &Guard,
    review: &mut Review,
    organize: Organize,
) -> std::io::Result<()> {
    let (jobs, incoming) = mpsc::channel();
    let guard = Arc::new(guard.clone());
    http::spawn(
        listener,
        service_fn(move |req| read(req, guard.clone(), jobs.clone())),
    )?;
    for (req, reply) in incoming {
        // A client that went away is no error of ours.
        let _ = reply.send(answer(&req, review, organize));
    }
    Ok(())
}

/// On the transport's thread: the guards on the head, then the body, bounded, then the answer
/// from the store's thread.
async fn read(
    req: Request<Incoming>,
    guard: Arc<Guard>,
    jobs: mpsc::Sender<Job>,
) -> Result<Answer, Infallible> {
    let refuse = |status, why: &'static str| {
        Ok(respond(
            status,
            "text/plain; charset=utf-8",
            "no-store",
            why,
        ))
    };
    let (head, body) = req.into_parts();
    if let Err((status, why)) = guard.admit(&head) {
        return refuse(status, why);
    }
    let too_large = || refuse(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 1 MiB");
    // A length announced too large is refused before any of the body is read.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return too_large();
    }
    let body = Limited::new(body, MAX_BODY).collect();
    let body = match tokio::time::timeout(BODY_TIME, body).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => return too_large(),
        Ok(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "the body was cut short"),
        Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, "the body took over 10 s"),
    };
    let (reply, answer) = oneshot::channel();
    let _ = jobs.send((Request::from_parts(head, body), reply));
    match answer.await {
        Ok(answer) => Ok(answer),
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "the page is stopping"),
    }
}

fn answer(req: &Request<Bytes>, review: &mut Review, organize: Organize) -> Answer {
    let q = req.uri().query().unwrap_or("");
    match req.uri().path() {
        "/" => respond(StatusCode::OK, "text/html; charset=utf-8", "no-store", PAGE),
        "/thumb" => {
            let thumb = query(q, "f")
                .and_then(|f| model::parse_face_id(&f))
                .map(|k| review.thumb(&k));
            match thumb {
                Some(Ok(Some(jpeg))) => respond(
                    StatusCode::OK,
                    "image/jpeg",
                    // A face's key is its photo's content hash: its thumbnail never changes.
                    "private, max-age=31536000, immutable",
                    jpeg,
                ),
                Some(Err(e)) => respond_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"error": format!("{e:#}")}),
                ),
                _ => respond(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "no-store",
                    "no such face",
                ),
            }
        }
        "/api/view" => respond_json(StatusCode::OK, &view_json(review, q)),
        "/api/faces" => match faces_json(review, q) {
            Some(body) => respond_json(StatusCode::OK, &body),
            None => respond_json(
                StatusCode::NOT_FOUND,
                &json!({"error": "no such person or group"}),
            ),
        },
        "/api/action" => {
            let action = serde_json::from_slice::<Action>(req.body()).map_err(|e| e.to_string());
            match action.map(|a| review.act(&a).map_err(|e| format!("{e:#}"))) {
                Ok(Ok(message)) => {
                    respond_json(StatusCode::OK, &json!({"ok": true, "message": message}))
                }
                Ok(Err(why)) | Err(why) => {
                    respond_json(StatusCode::BAD_REQUEST, &json!({"error": why}))
                }
            }
        }
        "/api/apply" => {
            let applied = super::apply::apply(&review.out, &review.cache_dir, organize);
            let reloaded = review.reload();
            match (applied, reloaded) {
                (Ok(a), Ok(())) => respond_json(StatusCode::OK, &json!({"ok": true, "applied": a})),
                (Err(e), _) => respond_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"error": format!("{e:#}")}),
                ),
                (_, Err(e)) => respond_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"error": format!("{e:#}")}),
                ),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "no-store", "not found"),
    }
}

fn number(q: &str, key: &str, default: usize) -> usize {
    query(q, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ids(review: &Review, faces: &[usize]) -> Vec<String> {
    faces
        .iter()
        .map(|&i| model::face_id(&review.faces[i].key))
        .collect()
}

/// People (all, each with a few faces), the first page of unknown groups, and counts.
fn view_json(review: &Review, q: &str) -> Value {
    let v = &review.view;
    let sample = number(q, "sample", 8).min(64);
    let offset = number(q, "groups_offset", 0);
    let limit = number(q, "groups_limit", 60).min(MAX_PAGE);
    let people: Vec<Value> = v
        .people
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "hidden": p.hidden,
                "folder": crate::people::identity::folder_name(p.id, p.name.as_deref()),
                "count": p.faces.len(),
                "sample": ids(review, &p.faces[..p.faces.len().min(sample)]),
            })
        })
        .collect();
    let groups: Vec<Value> = v
        .groups
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, g)| {
            json!({
                "index": i,
                "count": g.faces.len(),
                "sample": ids(review, &g.faces[..g.faces.len().min(sample)]),
                "suggestion": g.suggestion.as_ref().map(|s| json!({
                    "person": s.person,
                    "name": review.names.get(&s.person).cloned().flatten(),
                    "similarity": s.similarity,
                })),
            })
        })
        .collect();
    json!({
        "out": review.out,
        "faces": review.faces.len(),
        "people": people,
        "groups": groups,
        "groups_total": v.groups.len(),
        "unknown_faces": v.groups.iter().map(|g| g.faces.len()).sum::<usize>(),
        "animals": v.animals.len(),
        "note": review.restore_note,
    })
}

/// One page of the faces of a person (`person=ID`), a group (`group=N`) or the animals.
fn faces_json(review: &Review, q: &str) -> Option<Value> {
    let v = &review.view;
    let faces: &[usize] = if let Some(id) = query(q, "person").and_then(|p| p.parse::<u32>().ok()) {
        &v.people.iter().find(|p| p.id == id)?.faces
    } else if let Some(g) = query(q, "group").and_then(|g| g.parse::<usize>().ok()) {
        &v.groups.get(g)?.faces
    } else if query(q, "animals").is_some() {
        &v.animals
    } else {
        return None;
    };
    let offset = number(q, "offset", 0).min(faces.len());
    let limit = number(q, "limit", 200).min(MAX_PAGE);
    let end = (offset + limit).min(faces.len());
    Some(json!({
        "total": faces.len(),
        "offset": offset,
        "faces": ids(review, &faces[offset..end]),
    }))
}

/// Opens `url` in the desktop's browser; a failure is only a warning.
pub fn open_browser(url: &str) -> std::io::Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_hosts_with_the_token_pass_and_changes_need_post_from_the_page() {
        let g = Guard {
            port: 4321,
            token: "abc".into(),
        };
        let host = Some("127.0.0.1:4321");
        let (get, post) = ("GET", "POST");
        assert!(g.check(get, host, None, None, Some("abc"), false).is_ok());
        assert!(g
            .check(get, Some("localhost:4321"), None, Some("abc"), None, false)
            .is_ok());
        assert_eq!(
            g.check(get, host, None, None, None, false).unwrap_err().0,
            403
        );
        assert_eq!(
            g.check(get, host, None, None, Some("abd"), false)
                .unwrap_err()
                .0,
            403
        );
        // DNS rebinding: the right token under a foreign name is still refused.
        for foreign in [Some("evil.example:4321"), Some("127.0.0.1:80"), None] {
            assert_eq!(
                g.check(get, foreign, None, None, Some("abc"), false)
                    .unwrap_err()
                    .0,
                403
            );
        }
        // A change: POST, token in the header (not the URL), local origin.
        assert!(g
            .check(
                post,
                host,
                Some("http://127.0.0.1:4321"),
                Some("abc"),
                None,
                true
            )
            .is_ok());
        assert_eq!(
            g.check(get, host, None, Some("abc"), None, true)
                .unwrap_err()
                .0,
            405
        );
        assert_eq!(
            g.check(post, host, None, None, Some("abc"), true)
                .unwrap_err()
                .0,
            403
        );
        assert_eq!(
            g.check(
                post,
                host,
                Some("http://evil.example"),
                Some("abc"),
                None,
                true
            )
            .unwrap_err()
            .0,
            403
        );
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (Guard::new(1).unwrap(), Guard::new(1).unwrap());
        assert_eq!(a.token.len(), 32);
        assert_ne!(a.token, b.token);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(query("t=ab&f=12%3A3", "f").as_deref(), Some("12:3"));
        assert_eq!(query("f=a%2", "f").as_deref(), Some("a%2"));
        assert_eq!(query("f=%zz+x", "f").as_deref(), Some("%zz x"));
        assert_eq!(query("t=ab", "f"), None);
    }
}
