//! Just enough HTTP/1.1 for the review page, on std's `TcpListener`: each connection gets a
//! thread that reads its requests (head at most 16 KiB, body at most 1 MiB, by
//! Content-Length) and hands each to the one thread that owns the store, which answers it; an
//! idle or slow connection (a browser's speculative one) therefore holds up nobody.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::Duration,
};

const MAX_HEAD: usize = 16 << 10;
const MAX_BODY: usize = 1 << 20;
/// A connection that says nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(30);

/// One request as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (case-insensitive), if sent once or more (the first).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection before sending one.
pub fn read_request(r: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = r
            .by_ref()
            .take((MAX_HEAD + 1 - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let line = &head[before..];
        // Blank lines before a request are allowed (RFC 9112 2.2); a blank line after it ends it.
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = String::from_utf8(head)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "head is not UTF-8"))?;
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(_version)) = (first.next(), first.next(), first.next())
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    if req.header("Transfer-Encoding").is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "chunked bodies are not taken",
        ));
    }
    let length: usize = match req.header("Content-Length") {
        Some(v) => v
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    req.body = vec![0; length];
    r.read_exact(&mut req.body)?;
    Ok(Some(req))
}

/// Writes `resp`; `keep_alive` says whether the connection stays open for another request.
pub fn write_response(w: &mut impl Write, resp: &Response, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        resp.status,
        reason(resp.status),
        resp.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&resp.body)?;
    w.flush()
}

/// A request and where its answer goes.
pub type Job = (Request, mpsc::Sender<Response>);

fn connection(stream: TcpStream, jobs: mpsc::Sender<Job>) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(req)) => req,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let resp = Response {
                    status: 400,
                    headers: vec![("Content-Type", "text/plain".into())],
                    body: e.to_string().into_bytes(),
                };
                return write_response(&mut writer, &resp, false);
            }
            Err(e) => return Err(e),
        };
        let keep_alive = !req
            .header("Connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let (tx, rx) = mpsc::channel();
        if jobs.send((req, tx)).is_err() {
            return Ok(());
        }
        let Ok(resp) = rx.recv() else { return Ok(()) };
        write_response(&mut writer, &resp, keep_alive)?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Accepts connections on `listener` (each read on its own thread) and yields their requests,
/// one at a time, to the caller's thread.
pub fn requests(listener: TcpListener) -> mpsc::Receiver<Job> {
    let (jobs, incoming) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let jobs = jobs.clone();
            std::thread::spawn(move || {
                // A client that goes away is no error of ours.
                let _ = connection(stream, jobs);
            });
        }
    });
    incoming
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_a_body_is_read_and_the_next_one_after_it() {
        let raw = b"\r\nPOST /api/action HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\nhost: x\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let first = read_request(&mut r).unwrap().unwrap();
        assert_eq!(first.method, "POST");
        assert_eq!(first.target, "/api/action");
        assert_eq!(first.header("host"), Some("127.0.0.1:1"));
        assert_eq!(first.body, b"body");
        let second = read_request(&mut r).unwrap().unwrap();
        assert_eq!(
            (second.method.as_str(), second.header("Host")),
            ("GET", Some("x"))
        );
        assert_eq!(read_request(&mut r).unwrap(), None);
    }

    #[test]
    fn oversized_or_chunked_requests_are_refused() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let e = read_request(&mut BufReader::new(big.as_bytes())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(read_request(&mut BufReader::new(&chunked[..])).is_err());
        let long = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(read_request(&mut BufReader::new(long.as_bytes())).is_err());
    }
}
