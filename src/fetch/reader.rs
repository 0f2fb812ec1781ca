//! What a page task does with a 2xx body: the seam through which a run
//! decodes each page once, in the page's own task, instead of the pager
//! checking it and the run decoding it again. A [`PageReader`] answers the
//! page's [`Shape`] (records, envelope `count`, why a count was ignored)
//! with whatever it made of the body, or the reason the body is not a
//! records body (the client retries it like a 5xx, as for
//! [`check_page`]). `fetch` knows only this trait: the run implements it
//! with its `PageDecoder` (`run/read.rs`), so `fetch` imports neither
//! `decode` nor `run`. A pager whose [`ReaderSlot`] is empty (no decoder
//! yet, or none at all: `schema infer`) checks bodies with [`check_page`].
//! It does not decide retries beyond that verdict, nor write anything.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::shape::{Shape, check_page};
use crate::job::RecordsAt;

/// Reads a page body in the page's task.
pub trait PageReader: Send + Sync + 'static {
    /// What the reader made of the body, handed out with the page.
    type Output: Send + 'static;

    /// The body's shape and what was read from it; `Err(reason)` exactly
    /// when [`check_page`] would refuse the body (it is then retried). The
    /// shape must be [`check_page`]'s for every body it accepts.
    fn read(&self, body: &Bytes, offset: u64) -> Result<(Shape, Self::Output), String>;
}

/// The reader of a pager that reads nothing: the body is only checked
/// ([`check_page`], records where `api.records` says).
#[derive(Debug, Clone)]
pub struct CheckOnly(pub RecordsAt);

impl PageReader for CheckOnly {
    type Output = ();

    fn read(&self, body: &Bytes, _offset: u64) -> Result<(Shape, ()), String> {
        check_page(body, &self.0).map(|shape| (shape, ()))
    }
}

/// Where a run puts its reader once it has one (its columns are known at
/// the first page at the latest). Shared by every pager of the run and by
/// their page tasks: a body that arrives after the reader is set is read by
/// it, one that arrived before is only checked.
pub struct ReaderSlot<R> {
    reader: OnceLock<R>,
}

impl<R: PageReader> ReaderSlot<R> {
    pub fn new() -> Arc<ReaderSlot<R>> {
        Arc::new(ReaderSlot {
            reader: OnceLock::new(),
        })
    }

    /// Sets the reader; a second call keeps the first one (`false`).
    pub fn set(&self, reader: R) -> bool {
        self.reader.set(reader).is_ok()
    }

    pub fn get(&self) -> Option<&R> {
        self.reader.get()
    }

    /// Reads `body` with the reader if it is set (`Some` output), else
    /// checks it with [`check_page`] (`None`).
    pub fn read(&self, body: &Bytes, offset: u64, at: &RecordsAt) -> Result<(Shape, Option<R::Output>), String> {
        match self.reader.get() {
            Some(reader) => reader.read(body, offset).map(|(shape, out)| (shape, Some(out))),
            None => check_page(body, at).map(|shape| (shape, None)),
        }
    }
}

impl<R> std::fmt::Debug for ReaderSlot<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderSlot")
            .field("set", &self.reader.get().is_some())
            .finish()
    }
}
