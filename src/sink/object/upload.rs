//! One part file streamed into the bucket: a `Write` sink with a bounded
//! buffer that becomes one multipart-upload part each time it fills
//! ([`PART_BYTES`]), so a part of any size needs about that much memory.
//! The buffer is made of 64 KiB blocks ([`BLOCK_BYTES`]), sent as they are
//! (no copy into one 5 MiB allocation): one 5 MiB allocation per part made
//! glibc raise its mmap threshold once the first was freed, after which
//! each freed buffer stayed in the heap, so peak RSS over a local target
//! grew with the part's size (+3.3 MiB at 2 MB, +10.3 MiB at 20 MB, one
//! part); blocks below the threshold are reused from one buffer to the next.
//! Finishing completes the upload; dropping it unfinished aborts it, so no
//! multipart upload of a failed run stays open. Hashing and counting stay
//! in `PartSink`, which wraps this.

use std::io::{self, Write};

use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayloadMut};

use super::store::{Bucket, block, scrub};

/// Bytes buffered before they go up as one multipart part (S3's minimum
/// part size, except for the last part).
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// The blocks a buffer is made of: below glibc's default mmap threshold
/// (128 KiB), so they come from (and go back to) the heap.
pub const BLOCK_BYTES: usize = 64 * 1024;

fn new_buffer() -> PutPayloadMut {
    PutPayloadMut::new().with_block_size(BLOCK_BYTES)
}

/// A multipart upload in progress.
pub struct ObjectPart {
    upload: Option<Box<dyn MultipartUpload>>,
    buf: PutPayloadMut,
    parts: u64,
    url: String,
}

fn io_err(url: &str, what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(scrub(&format!("{what} {url}: {e}")))
}

impl ObjectPart {
    /// Starts the multipart upload of `key`.
    pub fn start(bucket: &Bucket, key: &str) -> io::Result<ObjectPart> {
        let url = format!("s3://{}/{key}", bucket.url.bucket);
        let store = bucket.store.clone();
        let path = ObjectPath::from(key);
        let upload = block(async move { store.put_multipart(&path).await })
            .map_err(io::Error::other)?
            .map_err(|e| io_err(&url, "cannot start the upload of", e))?;
        Ok(ObjectPart {
            upload: Some(upload),
            buf: new_buffer(),
            parts: 0,
            url,
        })
    }

    /// Sends the buffer as the next part and waits for it.
    fn send(&mut self) -> io::Result<()> {
        let Some(upload) = self.upload.as_mut() else {
            return Err(io::Error::other(format!(
                "the upload of {} was already finished",
                self.url
            )));
        };
        let payload = std::mem::replace(&mut self.buf, new_buffer()).freeze();
        let part = upload.put_part(payload);
        block(part)
            .map_err(io::Error::other)?
            .map_err(|e| io_err(&self.url, "cannot upload a part of", e))?;
        self.parts = self.parts.saturating_add(1);
        tracing::debug!(url = %self.url, part = self.parts, "uploaded a multipart part");
        Ok(())
    }

    /// Uploads what is buffered and completes the upload: the object exists now.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.buf.is_empty() || self.parts == 0 {
            self.send()?;
        }
        let Some(mut upload) = self.upload.take() else {
            return Ok(());
        };
        match block(async move {
            match upload.complete().await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = upload.abort().await;
                    Err(e)
                }
            }
        }) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_err(&self.url, "cannot complete the upload of", e)),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl Write for ObjectPart {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // At most a block at a time: a larger slice would get a block of
        // its own size.
        let room = PART_BYTES.saturating_sub(self.buf.content_length());
        let take = room.min(data.len()).min(BLOCK_BYTES);
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.content_length() >= PART_BYTES {
            self.send()?;
        }
        Ok(take)
    }

    /// Nothing to flush early: parts go up when full (S3 wants 5 MiB parts).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectPart {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            let url = self.url.clone();
            match block(async move { upload.abort().await }) {
                Ok(Ok(())) => tracing::info!(url = %url, "aborted the unfinished upload"),
                Ok(Err(e)) => tracing::warn!(url = %url, error = %scrub(&e.to_string()),
                    "could not abort the unfinished upload; a bucket lifecycle rule \
                     (AbortIncompleteMultipartUpload) removes it"),
                Err(e) => tracing::warn!(url = %url, error = %e, "could not abort the unfinished upload"),
            }
        }
    }
}
