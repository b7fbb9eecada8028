//! `photo_organizer review` against slow, greedy and malformed local clients, spoken to over raw
//! TCP: a head dribbled a byte a second is cut off while the page answers others, 10 MB
//! requests are refused without the server's memory growing by them, 200 connections at once
//! leave it answering, and requests it does not understand get 400. Every wait has a timeout,
//! so a hung server fails a test instead of hanging it.

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use crate::{
    review::{serve, Served},
    util::*,
};

/// Longest wait for any answer: far above the server's own limits (10 s).
const PATIENCE: Duration = Duration::from_secs(20);
const TEN_MB: usize = 10 << 20;

fn served() -> (TestDir, Served) {
    let t = TestDir::new();
    t.add("obama.jpg", "face_recognition/obama.jpg");
    assert_eq!(organize(&t, &[]).status.code(), Some(0));
    let s = serve(&t);
    (t, s)
}

fn connect(s: &Served) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.set_write_timeout(Some(PATIENCE)).unwrap();
    c
}

fn host(s: &Served) -> String {
    format!("127.0.0.1:{}", s.port)
}

/// The status of the answer on `c`, or `None` when the server closed it without one. A timeout
/// fails the test: the server must answer or close.
fn status(c: &mut TcpStream) -> Option<u16> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no answer and no close within {PATIENCE:?}")
            }
            Err(_) => break,
        }
        if reply.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let line = String::from_utf8_lossy(&reply);
    line.split(' ').nth(1).and_then(|code| code.parse().ok())
}

/// The page itself, fetched as a browser would (on a connection of its own).
fn page(s: &Served) -> Option<u16> {
    let mut c = connect(s);
    let req = format!(
        "GET /?t={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.token,
        host(s)
    );
    c.write_all(req.as_bytes()).ok()?;
    status(&mut c)
}

fn rss_kib(s: &Served) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_client_dribbling_its_head_a_byte_a_second_holds_up_nobody_and_is_cut_off() {
    let (_t, s) = served();
    let head = format!(
        "GET /?t={} HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
        s.token,
        host(&s)
    );
    let mut slow = connect(&s);
    slow.write_all(head.as_bytes()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let dribbler = thread::spawn(move || {
        let started = Instant::now();
        // 60 bytes at one a second, unless the server closes the connection first.
        for _ in 0..60 {
            if slow.write_all(b"a").is_err() {
                return Some(started.elapsed());
            }
            match slow.read(&mut [0u8; 1024]) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // Closed, reset, or answered (408) and closed.
                _ => return Some(started.elapsed()),
            }
        }
        None
    });
    thread::sleep(Duration::from_secs(2));
    for _ in 0..3 {
        assert_eq!(
            page(&s),
            Some(200),
            "the page answers while a head dribbles in"
        );
        thread::sleep(Duration::from_secs(1));
    }
    let cut = dribbler.join().unwrap();
    assert!(
        cut.is_some(),
        "a head still unfinished after 60 s was never cut off"
    );
    assert_eq!(page(&s), Some(200));
}

#[test]
fn ten_mb_requests_are_refused_and_the_server_does_not_grow_by_them() {
    let (_t, s) = served();
    let (host, token) = (host(&s), s.token.clone());
    assert_eq!(page(&s), Some(200));
    let before = rss_kib(&s);

    // A head of 10 MB: refused (431) once past its 16 KiB, or cut off.
    let mut c = connect(&s);
    let _ = c.write_all(format!("GET /?t={token} HTTP/1.1\r\nHost: {host}\r\nX-Big: ").as_bytes());
    let _ = c.write_all(&vec![b'a'; TEN_MB]);
    assert!(matches!(status(&mut c), Some(431) | None));

    // A body announced as 10 MB: refused from its head, before any of it is sent, with the
    // token (413) or without (403).
    let action = "POST /api/action HTTP/1.1\r\nContent-Type: application/json\r\n";
    let announced = format!("{action}Host: {host}\r\nContent-Length: {TEN_MB}\r\n");
    let mut c = connect(&s);
    c.write_all(format!("{announced}X-Review-Token: {token}\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(status(&mut c), Some(413));
    let mut c = connect(&s);
    c.write_all(format!("{announced}\r\n").as_bytes()).unwrap();
    assert_eq!(status(&mut c), Some(403));

    // 10 MB sent chunked (no length known beforehand): refused past 1 MiB, or cut off.
    let mut c = connect(&s);
    let head = format!(
        "{action}Host: {host}\r\nX-Review-Token: {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let _ = c.write_all(head.as_bytes());
    let chunk = [
        format!("{:x}\r\n", 64 << 10).into_bytes(),
        vec![b' '; 64 << 10],
    ]
    .concat();
    for _ in 0..TEN_MB / (64 << 10) {
        if c.write_all(&chunk)
            .and_then(|()| c.write_all(b"\r\n"))
            .is_err()
        {
            break;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n");
    assert!(matches!(status(&mut c), Some(413) | None));

    let after = rss_kib(&s);
    eprintln!(
        "review's resident memory: {before} KiB before the 10 MB requests, {after} KiB after"
    );
    assert!(
        after < before + 4096,
        "the server grew from {before} KiB to {after} KiB after refusing 10 MB requests"
    );
    assert_eq!(page(&s), Some(200), "the page still answers");
}

#[test]
fn two_hundred_connections_at_once_are_each_served_and_leave_the_page_answering() {
    let (_t, s) = served();
    let mut all: Vec<TcpStream> = (0..200).map(|_| connect(&s)).collect();
    let view = format!(
        "GET /api/view?t={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.token,
        host(&s)
    );
    // Half ask for the view; the other half say nothing and stay open.
    for c in all.iter_mut().step_by(2) {
        c.write_all(view.as_bytes()).unwrap();
    }
    assert_eq!(
        page(&s),
        Some(200),
        "the page answers with 200 connections open"
    );
    for (i, c) in all.iter_mut().enumerate().step_by(2) {
        assert_eq!(status(c), Some(200), "connection {i}");
    }
    assert_eq!(page(&s), Some(200));
}

#[test]
fn requests_it_does_not_understand_get_400_and_the_connection_closed() {
    let (_t, s) = served();
    let host = host(&s);
    let post = format!(
        "POST /api/action HTTP/1.1\r\nHost: {host}\r\nX-Review-Token: {}\r\n",
        s.token
    );
    let not_understood = [
        "NONSENSE\r\n\r\n".to_string(),
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nBad Header: x\r\n\r\n"),
        // Two lengths (a request smuggling attempt) and a coding other than chunked.
        format!("{post}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{{}}"),
        format!("{post}Transfer-Encoding: gzip\r\n\r\n"),
    ];
    for req in &not_understood {
        let mut c = connect(&s);
        c.write_all(req.as_bytes()).unwrap();
        assert_eq!(status(&mut c), Some(400), "{req:?}");
    }
    assert_eq!(page(&s), Some(200));
}
