//! The download of a finished export fed into the snapshot (`Feed`):
//! the link fetched without the Authorization header (again on a dropped
//! connection, with `Range` where the store allows, and after polling
//! again for a fresh link when it expired), its lines cut into batches,
//! decoded, de-duplicated and written, parts checkpointed with the
//! export's progress. A child of `export.rs`, which owns the rest of
//! export mode.

use std::time::Instant;

use reqwest::Url;
use serde_json::Value;

use super::{Open, Plan, open, run_stats, wait};
use crate::catalog::Catalog;
use crate::decode::{DecodeError, PageDecoder};
use crate::fetch::{
    self, ApiClient, Downloader, ExportError, Lines, Phase, PollAnswer, Refused, RetryPolicy, mask_link,
};
use crate::job::Job;
use crate::progress::Progress;
use crate::run::{PageRows, RunError};
use crate::schema::{OnTypeError, TypeErrors};
use crate::sink::{SnapshotWriter, Stats};
use crate::state::{self, ExportMark};

/// Lines of a download decoded and written as one batch after the first
/// (`Feed::batch_full`): about 0.5 MB of text at the sandbox's 522 bytes a
/// record, within the decoder's room hints (`decode::ROWS_HINT_MAX`).
const EXPORT_BATCH_LINES: usize = 1024;

/// Bytes of text that end a batch after the first sooner than
/// [`EXPORT_BATCH_LINES`] (long records: the batch's memory stays bounded).
const EXPORT_BATCH_BYTES: usize = 1 << 20;

/// How a download attempt ended early.
enum Cut {
    /// Worth another attempt (a connection dropped mid-stream).
    Transient(String),
    Fatal(RunError),
}

impl From<RunError> for Cut {
    fn from(e: RunError) -> Cut {
        Cut::Fatal(e)
    }
}

/// The download, fed into the snapshot.
pub(super) struct Feed<'a> {
    pub(super) job: &'a Job,
    pub(super) plan: &'a Plan,
    pub(super) client: &'a ApiClient,
    pub(super) catalog: Option<&'a Catalog>,
    pub(super) expected: Option<u64>,
    pub(super) clock: Instant,
    pub(super) earlier: &'a Stats,
    pub(super) snapshot: Option<Open>,
    /// Lines read but not yet written (at most `page_size`), each ending in
    /// a newline, and the byte offset after each.
    pub(super) pending: Vec<u8>,
    pub(super) pending_ends: Vec<u64>,
    /// The line number in the download (from 1) of each pending line, for
    /// the error naming a line that is not a JSON object.
    pub(super) pending_lines: Vec<u64>,
    /// The page decoder, compiled at the first batch.
    pub(super) decoder: Option<PageDecoder>,
    /// Records of the export written (or dropped as duplicates) so far.
    pub(super) seen: u64,
    /// Plain downloads: the byte offset of record `seen` (where a `Range` resumes).
    pub(super) bytes: Option<u64>,
    pub(super) mark: ExportMark,
    pub(super) max_records: Option<u64>,
    pub(super) progress: Progress,
    pub(super) requests: u64,
    pub(super) gzip: Option<bool>,
}

impl Feed<'_> {
    fn url(&self, link: &str) -> Result<Url, RunError> {
        Url::parse(link)
            .or_else(|_| self.job.api.base_url.join(link))
            .map_err(|e| {
                ExportError::Download {
                    id: self.mark.id.clone(),
                    url: mask_link(link),
                    reason: format!("the download link is not a URL: {e}"),
                }
                .into()
            })
    }

    fn failed(&self, link: &str, reason: String) -> RunError {
        ExportError::Download {
            id: self.mark.id.clone(),
            url: mask_link(link),
            reason,
        }
        .into()
    }

    fn done(&self) -> bool {
        self.max_records
            .is_some_and(|m| self.seen.saturating_add(self.pending_ends.len() as u64) >= m)
    }

    pub(super) async fn download(&mut self, poll_url: &Url, completed: &PollAnswer) -> Result<(), RunError> {
        let Phase::Completed { download_link } = &completed.phase else {
            unreachable!("wait returns a completed answer")
        };
        let mut link = download_link.clone();
        let downloader = Downloader::new(self.job.api.timeout).map_err(RunError::Setup)?;
        let policy = RetryPolicy::from(&self.job.retry);
        let mut backoff = policy.start();
        let mut refreshes = 0;
        loop {
            if self.done() {
                return self.flush();
            }
            let url = self.url(&link)?;
            let from = self.bytes.filter(|_| self.seen > 0).unwrap_or(0);
            self.requests += 1;
            tracing::info!(export = %self.mark.id, url = %mask_link(url.as_str()), from_byte = from, skip_records = self.seen, "downloading the export");
            let reason = match downloader.open(&url, from).await {
                Ok(opened) => {
                    let before = self.seen;
                    match self.stream(opened).await {
                        Ok(()) => return Ok(()),
                        Err(Cut::Fatal(e)) => return Err(e),
                        Err(Cut::Transient(reason)) => {
                            if self.seen > before {
                                backoff = policy.start();
                            }
                            reason
                        }
                    }
                }
                Err(Refused::Expired(reason)) => {
                    refreshes += 1;
                    if refreshes > self.job.retry.max_attempts {
                        return Err(self.failed(&link, format!("{reason}, even with {refreshes} fresh links")));
                    }
                    tracing::warn!(export = %self.mark.id, reason = %reason, "the download link expired or is gone; polling the export for a fresh one");
                    let again = wait(self.client, self.job, poll_url, &self.mark.id, &self.progress).await?;
                    if let Phase::Completed { download_link } = again.phase {
                        link = download_link;
                    }
                    continue;
                }
                Err(Refused::Transient(reason)) => reason,
                Err(Refused::Final(reason)) => return Err(self.failed(&link, reason)),
            };
            let Some(wait) = backoff.next_wait(None) else {
                return Err(self.failed(&link, format!("{reason} (after {} attempts)", backoff.attempts())));
            };
            tracing::warn!(export = %self.mark.id, reason = %reason, wait_ms = wait.as_millis() as u64, "download interrupted; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Streams one open download to its end (or `--max-records`).
    async fn stream(&mut self, opened: fetch::Opened) -> Result<(), Cut> {
        let resumed = opened.from > 0;
        let mut lines = match resumed {
            true => Lines::plain_from(opened.from, self.seen),
            false => Lines::new(),
        };
        if !resumed && self.seen > 0 {
            tracing::info!(export = %self.mark.id, skip = self.seen, "the store sent the whole file: skipping the records already written");
        }
        // The export's index of the next line read.
        let mut index = if resumed { self.seen } else { 0 };
        let mut response = opened.response;
        let url = response.url().as_str().to_string();
        loop {
            let chunk = match fetch::next_chunk(&mut response).await {
                Ok(c) => c,
                Err(Refused::Final(r)) => return Err(Cut::Fatal(self.failed(&url, r))),
                Err(Refused::Transient(r) | Refused::Expired(r)) => {
                    self.flush()?;
                    return Err(Cut::Transient(r));
                }
            };
            let ended = chunk.is_none();
            let pushed = match &chunk {
                Some(bytes) => lines.push(bytes),
                None => lines.finish(),
            };
            pushed.map_err(|r| Cut::Fatal(self.failed(&url, r)))?;
            if self.gzip.is_none() {
                self.gzip = lines.gzip();
            }
            // Unchecked: the decoder walks every line anyway, and a line it
            // cannot read is checked when its batch is written (`flush`).
            // Lines before `seen` (a whole file sent again) are skipped;
            // none are taken past `--max-records`.
            let (seen, max) = (self.seen, self.max_records);
            let (pending, ends, line_nos) = (&mut self.pending, &mut self.pending_ends, &mut self.pending_lines);
            lines.drain_unchecked(|line, end, line_no| {
                let taken = seen.saturating_add(ends.len() as u64);
                if index >= taken && max.is_none_or(|m| taken < m) {
                    pending.extend_from_slice(line);
                    pending.push(b'\n');
                    ends.push(end);
                    line_nos.push(line_no);
                }
                index += 1;
            });
            if self.batch_full() {
                self.flush()?;
            }
            if ended || self.done() {
                self.flush()?;
                return Ok(());
            }
        }
    }

    /// Whether the pending lines make a batch: `page_size` lines for the
    /// first (the records a snapshot without a schema file infers its
    /// columns from), then [`EXPORT_BATCH_LINES`] lines or
    /// [`EXPORT_BATCH_BYTES`] of text (a batch's fixed costs, the builders,
    /// the key set's loop and the writer's call, spread over more rows).
    fn batch_full(&self) -> bool {
        let lines = self.pending_ends.len();
        match self.snapshot {
            None => lines >= usize::try_from(self.job.query.page_size).unwrap_or(100),
            Some(_) => lines >= EXPORT_BATCH_LINES || self.pending.len() >= EXPORT_BATCH_BYTES,
        }
    }

    /// Writes the pending lines: the snapshot opens at the first batch
    /// (columns inferred from its records without a schema file); the lines
    /// are decoded once into the snapshot's columns (a batch with a value
    /// that does not fit its column goes the `Value` way, as a page does);
    /// a part that fills up is checkpointed with the byte offset after its
    /// last record.
    fn flush(&mut self) -> Result<(), RunError> {
        if self.pending_ends.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.pending);
        let ends = std::mem::take(&mut self.pending_ends);
        let line_nos = std::mem::take(&mut self.pending_lines);
        let n = ends.len() as u64;
        let first = self.seen;
        // A line that is not a JSON object fails the run naming its line in
        // the download; checked only when a batch could not be read.
        let id = &self.mark.id;
        let bad_line = |e: RunError| bad_line(&text, &line_nos, id).unwrap_or(e);
        if self.snapshot.is_none() {
            let sample = match &self.job.schema {
                None => line_records(&text, first).map_err(bad_line)?,
                Some(_) => Vec::new(),
            };
            self.snapshot = Some(open(self.job, self.plan, &sample, self.catalog, self.expected)?);
        }
        let Some(Open {
            writer,
            checkpointer,
            dedup,
            columns,
        }) = self.snapshot.as_mut()
        else {
            unreachable!("the snapshot was opened above")
        };
        let job = self.job;
        let decoder = self
            .decoder
            .get_or_insert_with(|| PageDecoder::new(columns, job.query.key.as_deref(), job.api.records.clone()));
        let mut strict = TypeErrors::new(OnTypeError::Fail);
        let rows = match decoder.decode_lines(&text, first, &mut strict) {
            Ok(decoded) if decoded.batch.num_rows() as u64 == n => PageRows::Decoded(decoded),
            Ok(decoded) => {
                return Err(bad_line(RunError::Decode {
                    offset: first,
                    reason: format!("{} records decoded from {n} lines (a bug)", decoded.batch.num_rows()),
                }));
            }
            Err(DecodeError::Type(_)) => {
                tracing::debug!(
                    first,
                    lines = n,
                    "a value does not fit its column: these lines go the Value way"
                );
                PageRows::Values(line_records(&text, first).map_err(bad_line)?)
            }
            Err(e) => {
                return Err(bad_line(RunError::Decode {
                    offset: first,
                    reason: e.to_string(),
                }));
            }
        };
        let plain = self.gzip == Some(false);
        let (client, clock, earlier, mark, plan) = (self.client, self.clock, self.earlier, &self.mark, self.plan);
        let save = |w: &mut SnapshotWriter, next: u64, d: Option<&mut state::Dedup>| {
            let at = usize::try_from(next.saturating_sub(first + 1)).unwrap_or(usize::MAX);
            let bytes = ends.get(at).copied().filter(|_| plain);
            checkpointer.set_export(Some(ExportMark { bytes, ..mark.clone() }));
            checkpointer.save(w, next, d, run_stats(client, clock, earlier))?;
            plan.sync(&job.name)
        };
        match rows {
            PageRows::Decoded(rows) => {
                crate::run::write_decoded::<RunError, _, _>(writer, &rows, dedup.as_mut(), save)?
            }
            PageRows::Values(records) => {
                crate::run::write_page::<RunError, _>(writer, first, records, dedup.as_mut(), save)?
            }
        }
        self.seen += n;
        self.bytes = ends.last().copied().filter(|_| plain);
        self.progress.page(n);
        // The buffers go back, emptied, with their room.
        (self.pending, self.pending_ends, self.pending_lines) = (text, ends, line_nos);
        self.pending.clear();
        self.pending_ends.clear();
        self.pending_lines.clear();
        Ok(())
    }
}

/// The first line of a batch (`text`, the lines joined by newlines, and
/// their numbers in the download) that is not a JSON object, as the run's
/// error; `None` when every line is one.
fn bad_line(text: &[u8], line_nos: &[u64], id: &str) -> Option<RunError> {
    let lines = text.split(|&b| b == b'\n').filter(|line| !line.is_empty());
    lines.zip(line_nos).find_map(|(line, &no)| {
        fetch::check_line(line).err().map(|detail| {
            ExportError::BadLine {
                id: id.to_string(),
                line: no,
                detail,
            }
            .into()
        })
    })
}

/// The records of JSON Lines `text` (export index `first` onwards) as
/// `Value`s: for type inference and for batches the decoder sends the
/// `Value` way. A line that is not a JSON object is an error (the caller
/// names it with [`bad_line`]).
fn line_records(text: &[u8], first: u64) -> Result<Vec<Value>, RunError> {
    crate::decode::line_values(text).map_err(|e| RunError::Decode {
        offset: first,
        reason: e.to_string(),
    })
}
