//! [`PageDecoder`] and [`DecodedBatch`]: a page's bytes in, an Arrow
//! `RecordBatch` with each row's key hash and API offset out. The decoder
//! first streams the bytes (`seed.rs`); a page it cannot prove it reads
//! exactly like the `Value` path (type errors, lists in lists, odd
//! envelopes, invalid JSON) is decoded again by [`decode_values`], the
//! `Value` path (parse, extract, `BatchBuilder`), which then owns the result
//! or the error: the two can only differ where the streaming walk skipped a
//! subtree no column reads (see the README's "Decoding"). It does not
//! de-duplicate (the hashes are for `state::Dedup`) nor write files.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde::de::DeserializeSeed;
use serde_json::Value;

use super::error::DecodeError;
use super::scan;
use super::seed::{Page, RecordSeed};
use super::stage::{Builders, Stage};
use super::trie::Trie;
use crate::fetch::extract_records;
use crate::job::RecordsAt;
use crate::schema::{BatchBuilder, Column, FieldPath, Room, TypeErrors, arrow_schema};

/// Which path decoded a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodePath {
    /// Bytes straight to builders by the hand-written scanner (`scan.rs`).
    Scanned,
    /// Bytes straight to builders by the serde walk (`seed.rs`), for pages
    /// the scanner handed over (repeated or escaped keys...).
    Streamed,
    /// `serde_json::Value` records (the streaming walk handed the page over).
    Values,
}

/// One page's records as columns.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedBatch {
    pub batch: RecordBatch,
    /// With a key: each row's key hash (`state::hash_text` of the key's
    /// compact JSON text), `None` for a row whose key is null or missing.
    pub key_hashes: Option<Vec<Option<u64>>>,
    /// The API offset of the first row; row `i` is at `first_offset + i`.
    pub first_offset: u64,
    /// The envelope's `count`, if it sent one.
    pub count: Option<u64>,
    pub path: DecodePath,
}

impl DecodedBatch {
    /// The API offset of row `row`.
    pub fn offset(&self, row: usize) -> u64 {
        self.first_offset.saturating_add(row as u64)
    }

    /// Rows `start..start + len` of the batch: the batch itself (its
    /// arrays shared) when that is all of it, else a slice. A slice
    /// allocates a new array per column; most pages go whole.
    pub fn rows(&self, start: usize, len: usize) -> RecordBatch {
        if start == 0 && len == self.batch.num_rows() {
            self.batch.clone()
        } else {
            self.batch.slice(start, len)
        }
    }
}

/// Room made in a batch's builders: at least a small page's, at most a
/// large chunk of JSON Lines' worth (the builders grow past it).
const ROWS_HINT_MIN: usize = 16;
const ROWS_HINT_MAX: usize = 4096;

/// The decoder of one snapshot's pages.
#[derive(Debug)]
pub struct PageDecoder {
    columns: Vec<Column>,
    key: Option<FieldPath>,
    trie: Trie,
    schema: SchemaRef,
    at: RecordsAt,
    /// Rows of the last batch decoded: room made in the next one's builders.
    rows: AtomicUsize,
    /// Per output column, what it held in the last batch decoded (list
    /// items, text bytes): room made in the next one's builders too.
    rooms: Mutex<Vec<Room>>,
}

impl PageDecoder {
    /// `key`: the dedup key's path (`[query] key`), read as one more column.
    pub fn new(columns: &[Column], key: Option<&str>, at: RecordsAt) -> PageDecoder {
        let key = key.map(FieldPath::parse);
        PageDecoder {
            columns: columns.to_vec(),
            trie: Trie::compile(columns, key.as_ref()),
            key,
            schema: arrow_schema(columns),
            at,
            rows: AtomicUsize::new(ROWS_HINT_MIN),
            rooms: Mutex::new(Vec::new()),
        }
    }

    fn rows_hint(&self) -> usize {
        self.rows.load(Ordering::Relaxed).clamp(ROWS_HINT_MIN, ROWS_HINT_MAX)
    }

    fn rooms(&self) -> Vec<Room> {
        // A poisoned lock only loses a hint.
        self.rooms.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A response body: a bare array, or an envelope (`api.records`).
    /// `first_offset`: the API offset of its first record.
    pub fn decode_page(
        &self,
        bytes: &[u8],
        first_offset: u64,
        errors: &mut TypeErrors,
    ) -> Result<DecodedBatch, DecodeError> {
        // The scanner reads the bytes as they came: it checks UTF-8 as it
        // goes (`json::utf8`), and any page it refuses goes the slower ways.
        let mut out = Builders::new(&self.trie, self.rows_hint(), &self.rooms());
        if let Ok(count) = scan::page(&self.trie, bytes, &self.at, &mut out) {
            debug_assert!(std::str::from_utf8(bytes).is_ok());
            return self.streamed(out, first_offset, count, DecodePath::Scanned);
        }
        let mut out = Builders::new(&self.trie, self.rows_hint(), &self.rooms());
        let mut st = Stage::new(self.trie.targets.len());
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let streamed = Page {
            trie: &self.trie,
            st: &mut st,
            out: &mut out,
            at: &self.at,
        }
        .deserialize(&mut de)
        .and_then(|count| de.end().map(|()| count));
        match streamed {
            Ok(count) => self.streamed(out, first_offset, count, DecodePath::Streamed),
            Err(_) => {
                let body: Value = serde_json::from_slice(bytes).map_err(|source| DecodeError::Json { source })?;
                let page = extract_records(body, &self.at).map_err(DecodeError::Shape)?;
                let mut decoded = decode_values(&self.columns, self.key.as_ref(), &page.records, first_offset, errors)?;
                decoded.count = page.count;
                Ok(decoded)
            }
        }
    }

    /// A JSON Lines stream: one record per line (`\n`, an optional `\r`
    /// before it); blank lines are skipped.
    pub fn decode_lines(
        &self,
        bytes: &[u8],
        first_offset: u64,
        errors: &mut TypeErrors,
    ) -> Result<DecodedBatch, DecodeError> {
        let mut out = Builders::new(&self.trie, self.rows_hint(), &self.rooms());
        if scan::lines(&self.trie, lines(bytes).map(|(_, line)| line), &mut out).is_ok() {
            // Blank lines are ASCII; the scanner checked the others.
            debug_assert!(std::str::from_utf8(bytes).is_ok());
            return self.streamed(out, first_offset, None, DecodePath::Scanned);
        }
        let mut out = Builders::new(&self.trie, self.rows_hint(), &self.rooms());
        let mut st = Stage::new(self.trie.targets.len());
        let mut streamed = true;
        for (_, line) in lines(bytes) {
            let mut de = serde_json::Deserializer::from_slice(line);
            let seed = RecordSeed {
                trie: &self.trie,
                st: &mut st,
                out: &mut out,
            };
            if seed.deserialize(&mut de).and_then(|()| de.end()).is_err() {
                streamed = false;
                break;
            }
        }
        if streamed {
            return self.streamed(out, first_offset, None, DecodePath::Streamed);
        }
        let records = line_values(bytes)?;
        decode_values(&self.columns, self.key.as_ref(), &records, first_offset, errors)
    }

    fn streamed(
        &self,
        out: Builders,
        first_offset: u64,
        count: Option<u64>,
        path: DecodePath,
    ) -> Result<DecodedBatch, DecodeError> {
        self.rows.store(out.rows, Ordering::Relaxed);
        if let Ok(mut rooms) = self.rooms.lock() {
            *rooms = out.rooms();
        }
        let (batch, keys) = out.finish(self.schema.clone())?;
        Ok(DecodedBatch {
            batch,
            key_hashes: self.key.as_ref().map(|_| keys),
            first_offset,
            count,
            path,
        })
    }
}

/// The records of a JSON Lines stream as `serde_json::Value`s: each
/// non-blank line one JSON object (else the error names the line, from 1).
pub fn line_values(bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
    lines(bytes)
        .map(|(n, line)| match serde_json::from_slice::<Value>(line) {
            Ok(record) if record.is_object() => Ok(record),
            Ok(_) => Err(DecodeError::NotObject { line: n }),
            Err(source) => Err(DecodeError::Line { line: n, source }),
        })
        .collect()
}

/// The non-blank lines of a JSON Lines stream with their numbers (from 1).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    // As `bytes.split(|b| *b == b'\n')`, with the newline found sixteen
    // bytes at a time instead of byte by byte.
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let text = rest?;
        match crate::json::find::byte_from(text, b'\n', 0) {
            Some(at) => {
                rest = text.get(at + 1..);
                text.get(..at)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
    .enumerate()
    .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
    .filter(|(_, line)| !line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')))
}

/// The `Value` path: records -> `BatchBuilder` (under `errors`' policy),
/// and the key hashes as `state::Dedup` computes them. The reference the
/// streaming decoder is tested against, and its fallback.
pub fn decode_values(
    columns: &[Column],
    key: Option<&FieldPath>,
    records: &[Value],
    first_offset: u64,
    errors: &mut TypeErrors,
) -> Result<DecodedBatch, DecodeError> {
    let mut builder = BatchBuilder::new(columns);
    let mut hashes = Vec::new();
    let mut text = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let offset = first_offset.saturating_add(i as u64);
        builder.append(record, offset, errors).map_err(DecodeError::Type)?;
        if let Some(key) = key {
            let value = key.extract(record);
            hashes.push(if value.is_null() {
                None
            } else {
                text.clear();
                // Writing to a Vec cannot fail.
                let _ = value.write_json(&mut text);
                Some(crate::state::hash_text(&text))
            });
        }
    }
    Ok(DecodedBatch {
        batch: builder.finish()?,
        key_hashes: key.map(|_| hashes),
        first_offset,
        count: None,
        path: DecodePath::Values,
    })
}
