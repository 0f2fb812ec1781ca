//! One job in `mode = "export"`: one async export instead of pages. The
//! export is the checkpoint's or the export file's (`--resume`), or a new
//! one, recorded at once in `<job>.export.json`; its link is polled every
//! `[export] poll_secs` (rate gated, retried, state and progress on the bar
//! and in the log) until `completed`, a failure state (exit 1, nothing
//! published) or `max_wait_secs` (exit 1; `--resume` keeps waiting); then
//! its download is streamed without the Authorization header, decoded
//! into the same snapshot as pages mode (schema inferred from the first
//! `page_size` records, `key` de-duplication, parts, checkpoints whose
//! `next_offset` counts the export's records), resumed with `Range` where
//! the store allows, else downloaded again skipping what is written; an
//! expired link is replaced by polling again. The completeness check,
//! manifest, publishing and state are `job.rs`'s. A child of `job.rs`.

use std::sync::Arc;
use std::time::Instant;

use reqwest::Url;
use serde_json::Value;

use super::{Open, Plan, close_last_part, completeness, open, progress, publish, reopen, run_stats};
use crate::catalog::Catalog;
use crate::decode::{DecodeError, PageDecoder};
use crate::fetch::{
    self, ApiClient, Downloader, ExportError, Lines, Phase, PollAnswer, Refused, RetryPolicy, mask_link,
};
use crate::job::Job;
use crate::progress::Progress;
use crate::run::{JobOutcome, PageRows, RunError, RunOptions};
use crate::schema::{OnTypeError, TypeErrors};
use crate::sink::{ManifestExport, SnapshotWriter, Stats};
use crate::state::{self, ExportFile, ExportMark};

/// Lines of a download decoded and written as one batch after the first
/// (`Feed::batch_full`): about 0.5 MB of text at the sandbox's 522 bytes a
/// record, within the decoder's room hints (`decode::ROWS_HINT_MAX`).
const EXPORT_BATCH_LINES: usize = 1024;

/// Bytes of text that end a batch after the first sooner than
/// [`EXPORT_BATCH_LINES`] (long records: the batch's memory stays bounded).
const EXPORT_BATCH_BYTES: usize = 1 << 20;

/// What a run has once it is connected.
pub(super) struct Connected<'a> {
    pub client: Arc<ApiClient>,
    pub catalog: Option<&'a Catalog>,
    pub expected: Option<u64>,
}

pub(super) async fn run(
    job: &Job,
    options: &RunOptions,
    plan: &mut Plan,
    connected: Connected<'_>,
    clock: Instant,
) -> Result<JobOutcome, RunError> {
    let Connected {
        client,
        catalog,
        expected,
    } = connected;
    let earlier = plan
        .resumed
        .as_ref()
        .map(|r| r.checkpoint.stats.clone())
        .unwrap_or_default();
    let progress = progress(job, options, expected);
    let mark = the_export(job, options, plan, &client).await?;
    let poll_url = fetch::join_link(&job.api.base_url, &mark.link).map_err(|reason| ExportError::BadLink {
        url: fetch::async_endpoint(job).to_string(),
        link: mask_link(&mark.link),
        reason,
    })?;
    let done = match wait(&client, job, &poll_url, &mark.id, &progress).await {
        Err(e @ ExportError::Failed { .. }) => {
            // The export is dead: a resume must create a new one.
            ExportFile::remove(&plan.state_dir, &job.name)?;
            plan.mirror(&job.name)?;
            return Err(e.into());
        }
        other => other?,
    };
    let (seen, bytes) = match plan.resumed.as_ref() {
        Some(r) => (
            r.checkpoint.next_offset,
            r.checkpoint.export.as_ref().and_then(|m| m.bytes),
        ),
        None => (0, None),
    };
    let snapshot = match plan.resumed.take() {
        Some(resumed) => {
            progress.resumed(seen);
            Some(reopen(job, plan, resumed, expected)?)
        }
        None => None,
    };
    let mut feed = Feed {
        job,
        plan,
        client: &client,
        catalog,
        expected,
        clock,
        earlier: &earlier,
        snapshot,
        pending: Vec::new(),
        pending_ends: Vec::new(),
        pending_lines: Vec::new(),
        decoder: None,
        seen,
        bytes,
        mark,
        max_records: options.max_records,
        progress,
        requests: 0,
        gzip: None,
    };
    if let Err(e) = feed.download(&poll_url, &done).await {
        if matches!(e, RunError::Export(ExportError::Failed { .. })) {
            // Failed on a poll for a fresh link: the export is dead.
            ExportFile::remove(&feed.plan.state_dir, &job.name)?;
            feed.plan.mirror(&job.name)?;
        }
        return Err(e);
    }
    let Feed {
        snapshot,
        seen,
        mark,
        requests,
        gzip,
        bytes,
        progress,
        ..
    } = feed;
    drop(progress);
    let mut snapshot = match snapshot {
        Some(s) => s,
        None => open(job, plan, &[], catalog, expected)?,
    };
    let stats = run_stats(&client, clock, &earlier);
    let duplicates = snapshot.dedup.as_ref().map_or(0, state::Dedup::dropped);
    completeness(job, options, expected, snapshot.writer.records(), duplicates)?;
    snapshot
        .checkpointer
        .set_export(Some(ExportMark { bytes, ..mark.clone() }));
    close_last_part(&mut snapshot, seen, stats.clone())?;
    plan.sync(&job.name)?;
    plan.check_locks()?;
    plan.export = Some(ManifestExport {
        id: mark.id.clone(),
        duration_secs: done.duration,
        download_compression: if gzip == Some(true) { "gzip" } else { "none" }.to_string(),
        download_requests: requests,
    });
    let outcome = publish(job, options, plan, snapshot, expected, stats, clock)?;
    let removed = ExportFile::remove(&plan.state_dir, &job.name).and_then(|()| plan.mirror(&job.name));
    if let Err(e) = removed {
        tracing::warn!(error = %e, "the snapshot is published but the export file could not be removed");
    }
    Ok(outcome)
}

/// The export to read: the interrupted run's (checkpoint, else the export
/// file when `--resume` and the request is the same), else a new one,
/// recorded before anything else happens.
async fn the_export(job: &Job, options: &RunOptions, plan: &Plan, client: &ApiClient) -> Result<ExportMark, RunError> {
    if let Some(mark) = plan.resumed.as_ref().and_then(|r| r.checkpoint.export.clone()) {
        tracing::info!(export = %mark.id, "resuming the download of the interrupted run's export");
        return Ok(mark);
    }
    if options.resume
        && let Some(file) = ExportFile::load(&plan.state_dir, &job.name)?
    {
        if file.request_sha256 == plan.body_sha {
            tracing::info!(export = %file.id, created_at = %file.created_at, "--resume: waiting for the interrupted run's export");
            return Ok(ExportMark {
                link: file.link,
                id: file.id,
                bytes: None,
            });
        }
        tracing::warn!(
            export = %file.id,
            "--resume: the request differs from the one export {} was created with (an incremental window \
             moves with the run's start); creating a new export",
            file.id
        );
    }
    let link = fetch::create_export(client, job, &plan.body).await?;
    let id = fetch::export_id(&link);
    ExportFile {
        job: job.name.clone(),
        request_sha256: plan.body_sha.clone(),
        link: link.clone(),
        id: id.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
    .save(&plan.state_dir)?;
    plan.sync(&job.name)?;
    tracing::info!(export = %id, "export created");
    Ok(ExportMark { link, id, bytes: None })
}

fn shown_progress(p: Option<f64>) -> String {
    p.map_or_else(|| "?".to_string(), |p| format!("{p:.0}%"))
}

/// Polls until the export is completed (its answer), failed, or
/// `max_wait_secs` passed.
async fn wait(
    client: &ApiClient,
    job: &Job,
    url: &Url,
    id: &str,
    progress: &Progress,
) -> Result<PollAnswer, ExportError> {
    let started = Instant::now();
    let mut last_state = String::new();
    loop {
        let answer = fetch::poll(client, url).await?;
        let shown = shown_progress(answer.progress);
        progress.message(format!("export {id} {} {shown}", answer.state));
        if answer.state != last_state {
            if !matches!(answer.state.as_str(), "accepted" | "process" | "completed") && answer.phase == Phase::Waiting
            {
                tracing::warn!(export = %id, state = %answer.state, "the export is in a state orgsync does not know; waiting on");
            }
            tracing::info!(export = %id, state = %answer.state, progress = %shown, "export state");
            last_state = answer.state.clone();
        } else {
            tracing::debug!(export = %id, state = %answer.state, progress = %shown, "export polled");
        }
        match answer.phase {
            Phase::Completed { .. } => return Ok(answer),
            Phase::Failed => {
                return Err(ExportError::Failed {
                    id: id.to_string(),
                    state: answer.state,
                    text: answer.text.unwrap_or_else(|| "(the API gave no text)".into()),
                });
            }
            Phase::Waiting => {}
        }
        let waited = started.elapsed();
        let Some(left) = job.export.max_wait.checked_sub(waited).filter(|l| !l.is_zero()) else {
            return Err(ExportError::TimedOut {
                id: id.to_string(),
                waited_secs: waited.as_secs(),
                state: answer.state,
                progress: shown,
            });
        };
        tokio::time::sleep(job.export.poll.min(left)).await;
    }
}

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
struct Feed<'a> {
    job: &'a Job,
    plan: &'a Plan,
    client: &'a ApiClient,
    catalog: Option<&'a Catalog>,
    expected: Option<u64>,
    clock: Instant,
    earlier: &'a Stats,
    snapshot: Option<Open>,
    /// Lines read but not yet written (at most `page_size`), each ending in
    /// a newline, and the byte offset after each.
    pending: Vec<u8>,
    pending_ends: Vec<u64>,
    /// The line number in the download (from 1) of each pending line, for
    /// the error naming a line that is not a JSON object.
    pending_lines: Vec<u64>,
    /// The page decoder, compiled at the first batch.
    decoder: Option<PageDecoder>,
    /// Records of the export written (or dropped as duplicates) so far.
    seen: u64,
    /// Plain downloads: the byte offset of record `seen` (where a `Range` resumes).
    bytes: Option<u64>,
    mark: ExportMark,
    max_records: Option<u64>,
    progress: Progress,
    requests: u64,
    gzip: Option<bool>,
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

    async fn download(&mut self, poll_url: &Url, completed: &PollAnswer) -> Result<(), RunError> {
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
