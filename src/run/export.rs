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
//! manifest, publishing and state are `job.rs`'s; the download itself is
//! `export_feed.rs`'s. A child of `job.rs`.

use std::sync::Arc;
use std::time::Instant;

use reqwest::Url;

#[path = "export_feed.rs"]
mod feed;

use super::{Open, Plan, close_last_part, completeness, open, progress, publish, reopen, run_stats};
use crate::catalog::Catalog;
use crate::fetch::{self, ApiClient, ExportError, Phase, PollAnswer, mask_link};
use crate::job::Job;
use crate::progress::Progress;
use crate::run::{JobOutcome, RunError, RunOptions};
use crate::sink::ManifestExport;
use crate::state::{self, ExportFile, ExportMark};
use feed::Feed;

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
