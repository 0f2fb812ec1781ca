//! [`ReadAhead`]: an open download read by its own task, a bounded number
//! of chunks ahead of the caller, so the socket keeps being read while the
//! caller decodes and writes what came before (export mode's run loop
//! would otherwise leave the connection idle during every batch it
//! writes). The caller sees the bytes `next_chunk` gives, gathered into
//! blocks of `READ_AHEAD_BYTES`, then `Ok(None)` at the end or the error
//! that ended it (after the bytes before it). Memory is bounded by
//! `READ_AHEAD_BLOCKS` blocks plus the one being gathered.
//! Dropping it stops the reader (its task is aborted, the connection
//! closed). It does not know lines, records or retries.

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::download::{Refused, next_chunk};

/// Bytes the reader gathers (from hyper's small chunks) while the caller
/// is busy with earlier blocks, before it hands them on: one hand-over per
/// this many bytes keeps the cost of crossing tasks off each chunk when
/// the caller is the bottleneck. When no block waits, a chunk goes at once.
pub const READ_AHEAD_BYTES: usize = 256 * 1024;
/// Gathered blocks waiting for the caller, at most: with the one being
/// gathered, the reader is at most about 1.25 MiB ahead.
pub const READ_AHEAD_BLOCKS: usize = 4;

pub struct ReadAhead {
    rx: mpsc::Receiver<Result<Option<Bytes>, Refused>>,
    reader: JoinHandle<()>,
    /// The reader sent its last item (the end or an error).
    ended: bool,
}

impl ReadAhead {
    /// Starts reading `response` on a task of the current runtime.
    pub fn start(mut response: reqwest::Response) -> ReadAhead {
        let (tx, rx) = mpsc::channel(READ_AHEAD_BLOCKS);
        let reader = tokio::spawn(async move {
            let mut block = BytesMut::new();
            loop {
                let next = next_chunk(&mut response).await;
                if let Ok(Some(chunk)) = &next {
                    block.extend_from_slice(chunk);
                    // Gather while blocks wait for the caller (it is busy);
                    // hand over at once when none waits (it may be waiting).
                    let caller_busy = tx.capacity() < tx.max_capacity();
                    if caller_busy && block.len() < READ_AHEAD_BYTES {
                        continue;
                    }
                }
                // A full block, or the end or an error (after what came before it).
                if !block.is_empty() && tx.send(Ok(Some(block.split().freeze()))).await.is_err() {
                    return;
                }
                if !matches!(next, Ok(Some(_))) {
                    let _ = tx.send(next).await;
                    return;
                }
            }
        });
        ReadAhead {
            rx,
            reader,
            ended: false,
        }
    }

    /// The next chunk; `Ok(None)` at the end. After the end or an error it
    /// answers `Ok(None)`.
    pub async fn next(&mut self) -> Result<Option<Bytes>, Refused> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.recv().await {
            Some(Ok(Some(chunk))) => Ok(Some(chunk)),
            Some(last) => {
                self.ended = true;
                last
            }
            // The reader stopped without a last item: it panicked.
            None => {
                self.ended = true;
                Err(Refused::Transient("the download's reader stopped unexpectedly".into()))
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-connection HTTP server that answers `head` then `body`, then
    /// (unless `close`) keeps the connection open until the client closes
    /// it; the task ends with the bytes it read after answering.
    async fn server(head: &'static str, body: &'static [u8], close: bool) -> (String, JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 4096];
            let _ = socket.read(&mut request).await.expect("request");
            socket.write_all(head.as_bytes()).await.expect("head");
            socket.write_all(body).await.expect("body");
            if close {
                return 0;
            }
            // Until the client closes the connection: read gives 0.
            let mut rest = vec![0u8; 64];
            let mut after = 0;
            while let Ok(n) = socket.read(&mut rest).await {
                if n == 0 {
                    break;
                }
                after += n;
            }
            after
        });
        (url, task)
    }

    async fn get(url: &str) -> reqwest::Response {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::get(url).await.expect("response")
    }

    /// The chunks come through in order, then the end, and the end again
    /// after it.
    #[tokio::test]
    async fn gives_the_body_then_the_end() {
        let body = b"{\"a\":1}\n{\"a\":2}\n";
        let (url, _server) = server("HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n", body, true).await;
        let response = get(&url).await;
        let mut ahead = ReadAhead::start(response);
        let mut got = Vec::new();
        while let Some(chunk) = ahead.next().await.expect("no error") {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, body);
        assert!(matches!(ahead.next().await, Ok(None)), "the end again");
    }

    /// A body cut short is the error `next_chunk` gives (transient), once.
    #[tokio::test]
    async fn a_cut_body_is_a_transient_error() {
        let (url, _server) = server("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", b"{\"a\":1}\n", true).await;
        let response = get(&url).await;
        let mut ahead = ReadAhead::start(response);
        let mut last = Ok(Some(Bytes::new()));
        while let Ok(Some(_)) = last {
            last = ahead.next().await;
        }
        assert!(matches!(last, Err(Refused::Transient(_))), "{last:?}");
        assert!(matches!(ahead.next().await, Ok(None)));
    }

    /// Dropped before the end, it stops its reader and the connection is
    /// closed (the server, waiting for more, sees it end).
    #[tokio::test]
    async fn dropping_it_closes_the_download() {
        let (url, server) = server("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", b"{\"a\":1}\n", false).await;
        let response = get(&url).await;
        let mut ahead = ReadAhead::start(response);
        assert!(matches!(ahead.next().await, Ok(Some(_))));
        drop(ahead);
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), server).await;
        assert!(matches!(closed, Ok(Ok(0))), "the connection was closed: {closed:?}");
    }
}
