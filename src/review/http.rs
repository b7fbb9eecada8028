//! The review page's HTTP/1.1 transport: hyper on a tokio thread of its own parses requests,
//! keeps connections alive and bounds each head in size (16 KiB, or 431) and time (10 s from
//! the connection's last answer, or closed); the service it is given answers each request.

use std::{convert::Infallible, net::TcpListener, sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{
    body::Bytes, body::Incoming, server::conn::http1, service::Service, Request, Response,
};
use hyper_util::rt::{TokioIo, TokioTimer};

const MAX_HEAD: usize = 16 << 10;
const HEAD_TIME: Duration = Duration::from_secs(10);
/// Connections open at once; more wait in the kernel's queue until one closes.
const MAX_CONNECTIONS: usize = 512;

pub type Answer = Response<Full<Bytes>>;

/// Serves `listener` on a thread of its own, each request answered by `service` there.
pub fn spawn<S>(listener: TcpListener, service: S) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Answer, Error = Infallible, Future: Send>,
    S: Clone + Send + 'static,
{
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(async { tokio::net::TcpListener::from_std(listener) })?;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEAD_TIME);
    http.max_buf_size(2 * MAX_HEAD).max_header_size(MAX_HEAD);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    std::thread::spawn(move || {
        runtime.block_on(async move {
            while let Ok(slot) = slots.clone().acquire_owned().await {
                // Out of file descriptors: wait for connections to close rather than spin.
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let connection = http.serve_connection(TokioIo::new(stream), service.clone());
                tokio::spawn(async move { (connection.await, drop(slot)) });
            }
        })
    });
    Ok(())
}
