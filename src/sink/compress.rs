//! The bottom of every part file's writer stack: [`PartSink`], the file
//! itself, counting and sha256-hashing the bytes as they go to disk (so the
//! manifest never re-reads a part), and [`Compressed`], the none/gzip/zstd
//! layer CSV and JSON Lines put on top of it. Knows nothing of records or
//! formats; buffering is the encoder's job. A part can also be streamed
//! into a bucket instead of a file (`object/upload.rs`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::error::SinkError;
use super::object::ObjectPart;
use crate::job::Compression;

/// zstd level for CSV / JSON Lines parts. Measured (`make bench`, zstd
/// level study, a 100k-record CSV part): level 1 writes 19.7% of the input
/// for 0.065 CPU-s per 100k records, level 3 19.3% for 0.103 s, level 6
/// 16.8% for 0.277 s. Level 3 costs 60% more compression CPU for 2% less
/// output, so level 1.
const ZSTD_LEVEL: i32 = 1;

/// One part file being written: counts and hashes every byte that reaches it.
pub struct PartSink {
    file: Out,
    path: PathBuf,
    bytes: u64,
    hasher: Sha256,
}

/// Where a part's bytes go: a local file, or a multipart upload.
enum Out {
    File(File),
    Object(ObjectPart),
}

impl Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            Out::Object(o) => o.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            Out::Object(o) => o.flush(),
        }
    }
}

/// What a finished, fsynced part file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSummary {
    pub path: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
    /// sha256 of the bytes on disk, lowercase hex.
    pub sha256: String,
}

impl PartSink {
    /// Creates `path`, which must not exist yet.
    pub fn create(path: &Path) -> Result<PartSink, SinkError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(SinkError::io(path))?;
        Ok(PartSink::from_file(file, path))
    }

    /// Wraps an already open file (tests use `/dev/full`).
    pub fn from_file(file: File, path: &Path) -> PartSink {
        PartSink {
            file: Out::File(file),
            path: path.to_path_buf(),
            bytes: 0,
            hasher: Sha256::new(),
        }
    }

    /// A part streamed into a bucket; `url` names it in errors.
    pub fn object(part: ObjectPart, url: &str) -> PartSink {
        PartSink {
            file: Out::Object(part),
            path: PathBuf::from(url),
            bytes: 0,
            hasher: Sha256::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes and fsyncs the file, and returns its size and hash.
    /// A streamed part completes its upload instead.
    pub fn finish(mut self) -> Result<SinkSummary, SinkError> {
        self.file.flush().map_err(SinkError::io(&self.path))?;
        match self.file {
            Out::File(f) => f.sync_all().map_err(SinkError::io(&self.path))?,
            Out::Object(o) => o.finish().map_err(SinkError::io(&self.path))?,
        }
        Ok(SinkSummary {
            sha256: hex(&self.hasher.finalize()),
            bytes: self.bytes,
            path: self.path,
        })
    }
}

impl Write for PartSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// The compression layer of a CSV / JSON Lines part.
pub enum Compressed {
    Plain(PartSink),
    Gzip(GzEncoder<PartSink>),
    Zstd(zstd::Encoder<'static, PartSink>),
}

impl Compressed {
    /// Wraps `sink` in `compression`; Snappy is Parquet-only and refused.
    pub fn new(sink: PartSink, compression: Compression, format: &'static str) -> Result<Compressed, SinkError> {
        Ok(match compression {
            Compression::None => Compressed::Plain(sink),
            Compression::Gzip => Compressed::Gzip(GzEncoder::new(sink, flate2::Compression::default())),
            Compression::Zstd => {
                let path = sink.path().to_path_buf();
                Compressed::Zstd(zstd::Encoder::new(sink, ZSTD_LEVEL).map_err(SinkError::io(path))?)
            }
            Compression::Snappy => {
                return Err(SinkError::Unsupported {
                    format,
                    compression: Some("snappy"),
                });
            }
        })
    }

    /// Writes the compressed stream's trailer and hands back the file.
    pub fn finish(self) -> io::Result<PartSink> {
        match self {
            Compressed::Plain(mut sink) => {
                sink.flush()?;
                Ok(sink)
            }
            Compressed::Gzip(gz) => gz.finish(),
            Compressed::Zstd(z) => z.finish(),
        }
    }
}

impl Write for Compressed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressed::Plain(w) => w.write(buf),
            Compressed::Gzip(w) => w.write(buf),
            Compressed::Zstd(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Compressed::Plain(w) => w.write_all(buf),
            Compressed::Gzip(w) => w.write_all(buf),
            Compressed::Zstd(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressed::Plain(w) => w.flush(),
            Compressed::Gzip(w) => w.flush(),
            Compressed::Zstd(w) => w.flush(),
        }
    }
}

/// The name the manifest uses for a compression.
pub fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
        Compression::Snappy => "snappy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn sink_counts_and_hashes_what_reaches_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let mut sink = PartSink::create(&path).unwrap();
        sink.write_all(b"hello ").unwrap();
        sink.write_all(b"world").unwrap();
        let summary = sink.finish().unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(summary.bytes, on_disk.len() as u64);
        assert_eq!(summary.sha256, sha(&on_disk));
        assert_eq!(
            summary.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }

    #[test]
    fn create_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        std::fs::write(&path, b"x").unwrap();
        let err = PartSink::create(&path).err().unwrap();
        assert!(matches!(err, SinkError::Io { path: p, .. } if p == path));
    }

    #[test]
    fn compressed_round_trips_and_counts_compressed_bytes() {
        let text = "business_id,name\nFI1,\"Äkäs, Oy\"\n".repeat(500);
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            let mut w = Compressed::new(PartSink::create(&path).unwrap(), compression, "csv").unwrap();
            w.write_all(text.as_bytes()).unwrap();
            let summary = w.finish().unwrap().finish().unwrap();
            let raw = std::fs::read(&path).unwrap();
            assert_eq!(summary.bytes, raw.len() as u64, "{compression:?}");
            assert_eq!(summary.sha256, sha(&raw), "{compression:?}");
            let mut back = String::new();
            match compression {
                Compression::None => back = String::from_utf8(raw).unwrap(),
                Compression::Gzip => {
                    flate2::read::GzDecoder::new(&raw[..])
                        .read_to_string(&mut back)
                        .unwrap();
                }
                _ => back = String::from_utf8(zstd::decode_all(&raw[..]).unwrap()).unwrap(),
            };
            assert_eq!(back, text, "{compression:?}");
            if compression != Compression::None {
                assert!(
                    summary.bytes < text.len() as u64 / 4,
                    "{compression:?} did not compress"
                );
            }
        }
    }

    #[test]
    fn snappy_is_refused_for_text_formats() {
        let dir = tempfile::tempdir().unwrap();
        let sink = PartSink::create(&dir.path().join("p")).unwrap();
        let err = Compressed::new(sink, Compression::Snappy, "jsonl").err().unwrap();
        assert!(matches!(
            err,
            SinkError::Unsupported {
                format: "jsonl",
                compression: Some("snappy")
            }
        ));
    }
}
