//! Downloading an export's file from its pre-signed link: a reqwest client
//! of its own that never sends an Authorization header (an S3-style store
//! refuses a request with one) and has no whole-request timeout (a big
//! export takes long; a stalled read still times out), one GET optionally
//! from a byte offset (`Range`), its answer sorted into a stream, an
//! expired link (403/404/410: poll again for a fresh one), a transient
//! failure (retried by the run's policy) or a final one. [`Lines`] turns
//! the streamed bytes, plain or gzip (told by the magic bytes, not by
//! headers), into JSON records with the byte offset after each. Not here:
//! which link to use and when to retry (`run/export.rs`).

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};

use crate::http::{Failure, is_retryable};
use crate::http::{error_text, transport_failure};

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The download client.
pub struct Downloader {
    http: reqwest::Client,
}

/// An open download.
pub struct Opened {
    pub response: reqwest::Response,
    /// The byte the body starts at: the asked offset on a 206, 0 on a 200.
    pub from: u64,
}

/// Why a download could not be opened.
#[derive(Debug)]
pub enum Refused {
    /// 403, 404 or 410: the link expired (or the store lost it); poll for a fresh one.
    Expired(String),
    /// Worth retrying (408, 429, 5xx, a connection error).
    Transient(String),
    /// Anything else (a 400 for an Authorization header, a 416 ...).
    Final(String),
}

impl Downloader {
    /// `read_timeout` bounds each wait for bytes (Vainu's own client: 120 s).
    pub fn new(read_timeout: Duration) -> Result<Downloader, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30).min(read_timeout))
            .read_timeout(read_timeout)
            .user_agent(concat!("orgsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the download client: {e}"))?;
        Ok(Downloader { http })
    }

    /// GET `url` (no Authorization header), from byte `from` when above 0.
    pub async fn open(&self, url: &Url, from: u64) -> Result<Opened, Refused> {
        let mut request = self.http.get(url.clone());
        if from > 0 {
            request = request.header(RANGE, format!("bytes={from}-"));
        }
        let response = request.send().await.map_err(|e| transport(&e.without_url()))?;
        let status = response.status();
        if status == StatusCode::PARTIAL_CONTENT && from > 0 {
            let starts = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(content_range_start);
            return match starts {
                Some(start) if start == from => Ok(Opened { response, from }),
                other => Err(Refused::Final(format!(
                    "asked for bytes from {from}, the store answered 206 from {other:?}"
                ))),
            };
        }
        if status == StatusCode::OK {
            return Ok(Opened { response, from: 0 });
        }
        let text = match response.bytes().await {
            Ok(b) => error_text(&b),
            Err(_) => String::new(),
        };
        let reason = format!("{status}: {text}");
        Err(match status.as_u16() {
            403 | 404 | 410 => Refused::Expired(reason),
            _ if is_retryable(Failure::Status(status)) => Refused::Transient(reason),
            _ => Refused::Final(reason),
        })
    }
}

/// The first byte of `Content-Range: bytes N-M/L`.
pub fn content_range_start(v: &str) -> Option<u64> {
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// A transport error (its URL, a pre-signed link, dropped by the
/// callers): transient unless it is a certificate failure.
pub fn transport(e: &reqwest::Error) -> Refused {
    let failure = transport_failure(e);
    match is_retryable(Failure::Transport {
        certificate: failure.certificate,
    }) {
        true => Refused::Transient(failure.text),
        false => Refused::Final(failure.text),
    }
}

/// Streamed bytes -> JSON records, one per non-empty line.
pub struct Lines {
    /// `None` until two bytes decided it.
    gzip: Option<bool>,
    head: Vec<u8>,
    inflate: Option<flate2::write::MultiGzDecoder<Vec<u8>>>,
    /// Decoded bytes not yet split into lines.
    buf: Vec<u8>,
    /// Decoded bytes before `buf`.
    consumed: u64,
    /// Lines seen (empty ones too), for error messages.
    line_no: u64,
}

impl Lines {
    /// A stream from its first byte (plain or gzip, told by the magic bytes).
    pub fn new() -> Lines {
        Lines {
            gzip: None,
            head: Vec::new(),
            inflate: None,
            buf: Vec::new(),
            consumed: 0,
            line_no: 0,
        }
    }

    /// A plain stream resumed at byte `from` (a line boundary) after `lines` lines.
    pub fn plain_from(from: u64, lines: u64) -> Lines {
        Lines {
            gzip: Some(false),
            consumed: from,
            line_no: lines,
            ..Lines::new()
        }
    }

    /// Whether the stream is gzip, once known.
    pub fn gzip(&self) -> Option<bool> {
        self.gzip
    }

    /// Takes in the next raw bytes.
    pub fn push(&mut self, raw: &[u8]) -> Result<(), String> {
        if self.gzip.is_none() {
            self.head.extend_from_slice(raw);
            if self.head.len() < GZIP_MAGIC.len() {
                return Ok(());
            }
            let gzip = self.head.starts_with(&GZIP_MAGIC);
            self.gzip = Some(gzip);
            if gzip {
                self.inflate = Some(flate2::write::MultiGzDecoder::new(Vec::new()));
            }
            let head = std::mem::take(&mut self.head);
            return self.feed(&head);
        }
        self.feed(raw)
    }

    fn feed(&mut self, raw: &[u8]) -> Result<(), String> {
        match self.inflate.as_mut() {
            Some(d) => {
                d.write_all(raw)
                    .map_err(|e| format!("the gzip stream is damaged: {e}"))?;
                self.buf.append(d.get_mut());
            }
            None => self.buf.extend_from_slice(raw),
        }
        Ok(())
    }

    /// The stream ended: what is left is the last line.
    pub fn finish(&mut self) -> Result<(), String> {
        if self.gzip.is_none() {
            let head = std::mem::take(&mut self.head);
            self.gzip = Some(false);
            self.feed(&head)?;
        }
        if let Some(mut d) = self.inflate.take() {
            d.try_finish()
                .map_err(|e| format!("the gzip stream is cut short or damaged: {e}"))?;
            self.buf.append(d.get_mut());
        }
        if !self.buf.is_empty() && !self.buf.ends_with(b"\n") {
            self.buf.push(b'\n');
        }
        Ok(())
    }

    /// The complete non-blank lines so far, unchecked, each with the byte
    /// offset after it and its line number in the download (from 1): the
    /// reader walks each line anyway and asks [`check_line`] only about a
    /// line it could not read (export mode's decoder).
    pub fn drain_unchecked(&mut self, mut each: impl FnMut(&[u8], u64, u64)) {
        let mut start = 0;
        while let Some(at) = crate::json::find::byte_from(&self.buf, b'\n', start) {
            let line = &self.buf[start..at];
            start = at + 1;
            self.line_no += 1;
            let end = self.consumed + start as u64;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            each(line, end, self.line_no);
        }
        self.buf.drain(..start);
        self.consumed += start as u64;
    }
}

/// Whether `line` is one JSON object, without building it: the syntax
/// error, or what kind of JSON value it is instead.
pub fn check_line(line: &[u8]) -> Result<(), String> {
    use serde::Deserialize;
    // The lexer's walk is several times cheaper than serde_json's; what it
    // cannot vouch for, serde_json decides (and words the error).
    if crate::json::is_object(line) {
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_slice(line);
    serde::de::IgnoredAny::deserialize(&mut de)
        .and_then(|_| de.end())
        .map_err(|e| e.to_string())?;
    let kind = match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => return Ok(()),
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    };
    Err(format!("a JSON {kind}"))
}

impl Default for Lines {
    fn default() -> Self {
        Lines::new()
    }
}

/// The next chunk of an open download; `Ok(None)` at its end.
pub async fn next_chunk(response: &mut reqwest::Response) -> Result<Option<Bytes>, Refused> {
    response.chunk().await.map_err(|e| transport(&e.without_url()))
}

#[cfg(test)]
#[path = "download_tests.rs"]
mod tests;
