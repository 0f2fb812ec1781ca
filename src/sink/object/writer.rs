//! One snapshot written into a bucket, for stores without rename (SPEC
//! section 6, "Object stores"): each part is streamed with a multipart
//! upload under a name carrying the run id (`part-<run_id>-00000.parquet`),
//! so it can never collide with a part of the snapshot already there; then
//! `_manifest-<run_id>.json`; then every listed part is checked (present,
//! with its size); then `_SUCCESS` last, which names that manifest, created
//! only if absent (`If-None-Match: *`) or, with `--overwrite`, replaced
//! only if it is still the one seen before the run (`If-Match: <etag>`).
//! Only after that are the replaced snapshot's files removed. A writer
//! dropped before publishing aborts its open upload and removes the
//! objects it created, except the parts a checkpoint lists
//! ([`ObjectSnapshotWriter::keep_finished`]) until it starts publishing;
//! it never touches another run's objects. A resumed writer takes the
//! finished parts over ([`ObjectSnapshotWriter::resume`]). The checkpoint
//! itself is the run's (`run/object.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::{Bucket, block, store_error};
use super::upload::ObjectPart;
use crate::decode::DecodedBatch;
use crate::job::Format;
use crate::schema::TypeErrors;
use crate::sink::snapshot::rows;
use crate::sink::{
    Manifest, PartEncoder, PartFile, PartSink, Published, SUCCESS_FILE, SinkError, SnapshotOptions, check_supported,
    compression_name, fault_at, open_encoder, schema_with_nulls,
};

/// What `_SUCCESS` holds in a bucket: the manifest readers must read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessMarker {
    pub manifest: String,
    pub run_id: String,
}

/// The snapshot found at the target before the run (`--overwrite` only).
#[derive(Debug, Clone)]
pub struct Existing {
    e_tag: Option<String>,
    version: Option<String>,
    marker: Option<SuccessMarker>,
}

/// The manifest name of run `run_id`.
pub fn manifest_name(run_id: &str) -> String {
    format!("_manifest-{run_id}.json")
}

/// The exit-2 pre-check: a `_SUCCESS` at the target is an existing
/// snapshot, refused unless `overwrite`; with it, what the run will replace.
pub fn check_object_target(bucket: &Bucket, overwrite: bool) -> Result<Option<Existing>, SinkError> {
    let url = bucket.url.to_string();
    let store = bucket.store.clone();
    let key = ObjectPath::from(bucket.url.key(SUCCESS_FILE));
    let got = block(async move {
        match store.get(&key).await {
            Ok(r) => {
                let meta = r.meta.clone();
                r.bytes().await.map(|b| Some((meta, b)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .map_err(|e| store_error(&url, "cannot check the target", e))?
    .map_err(|e| store_error(&url, "cannot check the target", e))?;
    match got {
        None => Ok(None),
        Some(_) if !overwrite => Err(SinkError::TargetExists {
            path: PathBuf::from(url),
        }),
        Some((meta, body)) => Ok(Some(Existing {
            e_tag: meta.e_tag,
            version: meta.version,
            marker: serde_json::from_slice(&body).ok(),
        })),
    }
}

struct OpenPart {
    name: String,
    records: u64,
    encoder: Box<dyn PartEncoder>,
}

/// Streams one snapshot into a bucket, then publishes it.
pub struct ObjectSnapshotWriter {
    bucket: Bucket,
    run_id: String,
    opts: SnapshotOptions,
    existing: Option<Existing>,
    current: Option<OpenPart>,
    files: Vec<PartFile>,
    records: u64,
    type_errors: TypeErrors,
    /// Counts of the parts a resumed writer took over.
    earlier_type_errors: BTreeMap<String, u64>,
    earlier_null_counts: BTreeMap<String, u64>,
    /// Nulls per column of decoded rows (`write_rows`), counted from the arrays.
    row_nulls: Vec<u64>,
    /// Keys this run created: removed again unless it publishes.
    created: Vec<String>,
    published: bool,
}

impl ObjectSnapshotWriter {
    /// A writer for `bucket`'s target; `existing` is what
    /// [`check_object_target`] found there (replaced on publish).
    pub fn create(
        bucket: Bucket,
        run_id: &str,
        opts: SnapshotOptions,
        existing: Option<Existing>,
    ) -> Result<ObjectSnapshotWriter, SinkError> {
        check_supported(opts.format, opts.compression)?;
        if opts.rows_per_file == 0 {
            return Err(SinkError::BadRowsPerFile { rows_per_file: 0 });
        }
        Ok(ObjectSnapshotWriter {
            type_errors: TypeErrors::new(opts.on_type_error),
            bucket,
            run_id: run_id.to_string(),
            opts,
            existing,
            current: None,
            files: Vec::new(),
            records: 0,
            earlier_type_errors: BTreeMap::new(),
            earlier_null_counts: BTreeMap::new(),
            row_nulls: Vec::new(),
            created: Vec::new(),
            published: false,
        })
    }

    /// A writer that continues an interrupted run of `run_id`: `done` are
    /// the parts its checkpoint lists (already in the bucket: check them
    /// with [`Self::check_complete`]); the next part is numbered after them.
    pub fn resume(
        bucket: Bucket,
        run_id: &str,
        opts: SnapshotOptions,
        existing: Option<Existing>,
        done: crate::sink::FinishedParts,
    ) -> Result<ObjectSnapshotWriter, SinkError> {
        let mut w = ObjectSnapshotWriter::create(bucket, run_id, opts, existing)?;
        w.files = done.files;
        w.records = done.records;
        w.earlier_type_errors = done.type_errors;
        w.earlier_null_counts = done.null_counts;
        Ok(w)
    }

    /// How many more records the current part takes before it is full
    /// (`rows_per_file` when no part is open).
    pub fn room(&self) -> u64 {
        match &self.current {
            Some(part) => self.opts.rows_per_file.saturating_sub(part.records),
            None => self.opts.rows_per_file,
        }
    }

    /// Closes the open part, if any: its upload completes.
    pub fn close_part(&mut self) -> Result<(), SinkError> {
        match self.current.take() {
            Some(part) => self.close(part),
            None => Ok(()),
        }
    }

    /// The finished (uploaded) parts so far, in order.
    pub fn files(&self) -> &[PartFile] {
        &self.files
    }

    /// A checkpoint lists the finished parts now: a failure from here on
    /// keeps them in the bucket for `--resume` (the rest is still removed).
    pub fn keep_finished(&mut self) {
        let files = &self.files;
        self.created.retain(|name| !files.iter().any(|f| &f.name == name));
    }

    pub(crate) fn url(&self) -> String {
        self.bucket.url.to_string()
    }

    /// Appends records, starting a new part every `rows_per_file` records.
    /// A type error names the record's index in the snapshot;
    /// [`Self::write_at`] names its API offset.
    pub fn write(&mut self, records: &[Value]) -> Result<(), SinkError> {
        self.write_at(records, self.records)
    }

    /// [`Self::write`] for records at consecutive API offsets from `first`:
    /// a value that does not fit its column is reported (error or
    /// `on_type_error = "null"` warning) with its record's API offset.
    pub fn write_at(&mut self, records: &[Value], first: u64) -> Result<(), SinkError> {
        let mut first = first;
        let mut rest = records;
        while !rest.is_empty() {
            let part = match self.current.take() {
                Some(part) if part.records < self.opts.rows_per_file => self.current.insert(part),
                full => {
                    if let Some(part) = full {
                        self.close(part)?;
                    }
                    let part = self.open()?;
                    self.current.insert(part)
                }
            };
            let room = self.opts.rows_per_file.saturating_sub(part.records);
            let take = usize::try_from(room).map_or(rest.len(), |room| room.min(rest.len()));
            let (now, later) = rest.split_at(take);
            part.encoder.write(now, first, &mut self.type_errors)?;
            part.records = part.records.saturating_add(take as u64);
            self.records = self.records.saturating_add(take as u64);
            first = first.saturating_add(take as u64);
            rest = later;
        }
        Ok(())
    }

    /// Appends decoded rows (`crate::decode`, already typed and
    /// de-duplicated), starting a new part every `rows_per_file` records,
    /// as [`Self::write_at`] does with records; each column's nulls are
    /// counted from the Arrow arrays.
    pub fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        let total = decoded.batch.num_rows();
        let mut start = 0;
        while start < total {
            let rows_per_file = self.opts.rows_per_file;
            let part = self.part_with_room()?;
            let room = rows_per_file.saturating_sub(part.records);
            let take = usize::try_from(room).map_or(total - start, |room| room.min(total - start));
            let piece = rows::piece(decoded, start, take);
            part.encoder.write_batch(&piece)?;
            part.records = part.records.saturating_add(take as u64);
            rows::count_nulls(&mut self.row_nulls, &piece.batch);
            self.records = self.records.saturating_add(take as u64);
            start += take;
        }
        Ok(())
    }

    /// The open part if it has room, else a new one (the full one closed).
    fn part_with_room(&mut self) -> Result<&mut OpenPart, SinkError> {
        let part = match self.current.take() {
            Some(part) if part.records < self.opts.rows_per_file => part,
            full => {
                if let Some(part) = full {
                    self.close(part)?;
                }
                self.open()?
            }
        };
        Ok(self.current.insert(part))
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Values written as null because they did not fit, per column.
    pub fn type_errors(&self) -> BTreeMap<String, u64> {
        let mut all = self.earlier_type_errors.clone();
        for (column, n) in self.type_errors.counts() {
            let sum = all.entry(column.clone()).or_insert(0);
            *sum = sum.saturating_add(*n);
        }
        all
    }

    /// Records where each column is null, per column.
    pub fn null_counts(&self) -> BTreeMap<String, u64> {
        let earlier = self.earlier_null_counts.iter().chain(self.type_errors.null_counts());
        rows::null_counts(&self.opts.columns, earlier, &self.row_nulls)
    }

    /// Closes the last part (an empty run still writes one), writes the
    /// manifest, checks every listed part, then creates `_SUCCESS`; after
    /// that removes the replaced snapshot's files. Any failure before
    /// `_SUCCESS` removes what this run created and nothing else.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<Published, SinkError> {
        if let Some(part) = self.current.take() {
            self.close(part)?;
        }
        if self.files.is_empty() {
            let part = self.open()?;
            self.close(part)?;
        }
        // A failure from here on removes every part of this run, those a
        // checkpoint listed too (the run drops that checkpoint): a run that
        // lost the race or could not publish leaves nothing behind.
        for f in &self.files {
            if !self.created.contains(&f.name) {
                self.created.push(f.name.clone());
            }
        }
        let url = self.url();
        fault_at("manifest").map_err(SinkError::io(&url))?;
        manifest.files = self.files.clone();
        manifest.records = self.records;
        manifest.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        manifest.format = self.opts.format.extension().to_string();
        manifest.compression = compression_name(self.opts.compression).to_string();
        manifest.schema = schema_with_nulls(&self.opts.columns, &self.null_counts());
        manifest.type_errors = self.type_errors();
        let name = manifest_name(&self.run_id);
        let mut text = serde_json::to_vec_pretty(&manifest).map_err(|source| SinkError::Manifest {
            path: PathBuf::from(format!("{url}/{name}")),
            source,
        })?;
        text.push(b'\n');
        self.put(&name, text, PutMode::Create)?;
        self.check_complete()?;
        fault_at("publish").map_err(SinkError::io(&url))?;
        let marker = SuccessMarker {
            manifest: name,
            run_id: self.run_id.clone(),
        };
        let body = serde_json::to_vec(&marker).map_err(|source| SinkError::Manifest {
            path: PathBuf::from(format!("{url}/{SUCCESS_FILE}")),
            source,
        })?;
        let mode = match &self.existing {
            None => PutMode::Create,
            Some(Existing { e_tag: None, .. }) => {
                tracing::warn!(url = %url, "the store gave no ETag for the old _SUCCESS; replacing it unconditionally");
                PutMode::Overwrite
            }
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: e.e_tag.clone(),
                version: e.version.clone(),
            }),
        };
        match self.put_raw(SUCCESS_FILE, body, mode) {
            Ok(()) => {}
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                return Err(SinkError::Raced { url });
            }
            Err(e) => return Err(store_error(format!("{url}/{SUCCESS_FILE}"), "cannot write", e)),
        }
        self.published = true;
        tracing::info!(url = %url, records = self.records, files = self.files.len(), "snapshot published");
        self.remove_replaced();
        fault_at("published").map_err(SinkError::io(&url))?;
        Ok(Published {
            path: PathBuf::from(url),
            manifest,
        })
    }

    fn put_raw(&mut self, name: &str, body: Vec<u8>, mode: PutMode) -> Result<(), object_store::Error> {
        let store = self.bucket.store.clone();
        let key = ObjectPath::from(self.bucket.url.key(name));
        let opts = PutOptions::from(mode);
        block(async move { store.put_opts(&key, PutPayload::from(body), opts).await })
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: e.into(),
            })?
            .map(|_| ())
    }

    fn put(&mut self, name: &str, body: Vec<u8>, mode: PutMode) -> Result<(), SinkError> {
        let url = format!("{}/{name}", self.url());
        self.put_raw(name, body, mode)
            .map_err(|e| store_error(&url, "cannot write", e))?;
        self.created.push(name.to_string());
        Ok(())
    }

    /// Every part the manifest lists is in the bucket with its size.
    pub fn check_complete(&self) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        for f in &self.files {
            let store = self.bucket.store.clone();
            let key = ObjectPath::from(self.bucket.url.key(&f.name));
            let url = format!("{}/{}", self.url(), f.name);
            match block(async move { store.head(&key).await }).map_err(|e| store_error(&url, "cannot check", e))? {
                Ok(meta) if meta.size == f.bytes => {}
                Ok(meta) => problems.push(format!(
                    "{} has {} bytes, the manifest says {}",
                    f.name, meta.size, f.bytes
                )),
                Err(object_store::Error::NotFound { .. }) => problems.push(format!("{} is missing", f.name)),
                Err(e) => return Err(store_error(&url, "cannot check", e)),
            }
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(SinkError::Incomplete {
                path: PathBuf::from(self.url()),
                problems: problems.join("; "),
            }),
        }
    }

    /// After publishing over an older snapshot: removes the files its
    /// manifest listed and that manifest. Failures are warnings (the new
    /// snapshot is published; readers never read unlisted files).
    fn remove_replaced(&self) {
        let Some(Existing { marker: Some(old), .. }) = &self.existing else {
            if self.existing.is_some() {
                tracing::warn!(url = %self.url(), "the replaced _SUCCESS named no manifest; its files were left in place");
            }
            return;
        };
        let store = self.bucket.store.clone();
        let key = ObjectPath::from(self.bucket.url.key(&old.manifest));
        let old_manifest = block(async move {
            let r = store.get(&key).await?;
            r.bytes().await
        });
        let files: Vec<String> = match old_manifest {
            Ok(Ok(bytes)) => match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(m) => m.files.into_iter().map(|f| f.name).collect(),
                Err(e) => {
                    tracing::warn!(manifest = %old.manifest, error = %e, "cannot read the replaced manifest; its files were left in place");
                    return;
                }
            },
            Ok(Err(e)) => {
                tracing::warn!(manifest = %old.manifest, error = %super::store::scrub(&e.to_string()),
                    "cannot read the replaced manifest; its files were left in place");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the replaced manifest");
                return;
            }
        };
        let keep: BTreeSet<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
        let names = files
            .iter()
            .map(String::as_str)
            .filter(|n| !keep.contains(n))
            .chain([old.manifest.as_str()]);
        self.delete(names, "removed a file of the replaced snapshot");
    }

    /// Deletes `names` under the target (best effort, logged).
    fn delete<'a>(&self, names: impl Iterator<Item = &'a str>, done: &'static str) {
        for name in names {
            let store = self.bucket.store.clone();
            let key = ObjectPath::from(self.bucket.url.key(name));
            match block(async move { store.delete(&key).await }) {
                Ok(Ok(())) => tracing::debug!(file = %name, "{done}"),
                Ok(Err(e)) => {
                    tracing::warn!(file = %name, error = %super::store::scrub(&e.to_string()), "could not remove")
                }
                Err(e) => tracing::warn!(file = %name, error = %e, "could not remove"),
            }
        }
    }

    fn open(&self) -> Result<OpenPart, SinkError> {
        let suffix = match self.opts.format {
            Format::Parquet => "",
            Format::Csv | Format::Jsonl => self.opts.compression.suffix(),
        };
        let name = format!(
            "part-{}-{:05}.{}{suffix}",
            self.run_id,
            self.files.len(),
            self.opts.format.extension()
        );
        let key = self.bucket.url.key(&name);
        let url = format!("{}/{name}", self.url());
        let upload = ObjectPart::start(&self.bucket, &key).map_err(SinkError::io(&url))?;
        let sink = PartSink::object(upload, &url);
        let encoder = open_encoder(self.opts.format, self.opts.compression, &self.opts.columns, sink)?;
        Ok(OpenPart {
            name,
            records: 0,
            encoder,
        })
    }

    fn close(&mut self, part: OpenPart) -> Result<(), SinkError> {
        // Listed as created before the upload completes, so a failure to
        // complete still removes whatever the store made of it.
        self.created.push(part.name.clone());
        let summary = part.encoder.finish()?;
        tracing::info!(file = %part.name, records = part.records, bytes = summary.bytes, "part uploaded");
        self.files.push(PartFile {
            name: part.name,
            records: part.records,
            bytes: summary.bytes,
            sha256: summary.sha256,
        });
        Ok(())
    }
}

impl Drop for ObjectSnapshotWriter {
    fn drop(&mut self) {
        // The open part's upload is aborted as it drops.
        self.current = None;
        if !self.published && !self.created.is_empty() {
            let created = std::mem::take(&mut self.created);
            tracing::info!(url = %self.url(), files = created.len(), "removing this run's unpublished files");
            self.delete(created.iter().map(String::as_str), "removed an unpublished file");
        }
    }
}
