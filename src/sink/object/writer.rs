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
use crate::sink::rotation::{self, OpenPart, Rotate, Rotation, part_name};
use crate::sink::{Manifest, PartFile, PartSink, Published, SUCCESS_FILE, SinkError, SnapshotOptions, fault_at};

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

/// Streams one snapshot into a bucket, then publishes it.
pub struct ObjectSnapshotWriter {
    bucket: Bucket,
    run_id: String,
    opts: SnapshotOptions,
    existing: Option<Existing>,
    /// The open part, records, type errors and nulls (`sink/rotation.rs`).
    parts: Rotation,
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
        Ok(ObjectSnapshotWriter {
            parts: Rotation::new(&opts)?,
            bucket,
            run_id: run_id.to_string(),
            opts,
            existing,
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
        w.parts.take_over(done);
        Ok(w)
    }

    /// How many more records the current part takes before it is full
    /// (`rows_per_file` when no part is open).
    pub fn room(&self) -> u64 {
        self.parts.room()
    }

    /// Closes the open part, if any: its upload completes.
    pub fn close_part(&mut self) -> Result<(), SinkError> {
        rotation::close_open(self)
    }

    /// The finished (uploaded) parts so far, in order.
    pub fn files(&self) -> &[PartFile] {
        self.parts.files()
    }

    /// A checkpoint lists the finished parts now: a failure from here on
    /// keeps them in the bucket for `--resume` (the rest is still removed).
    pub fn keep_finished(&mut self) {
        let files = self.parts.files();
        self.created.retain(|name| !files.iter().any(|f| &f.name == name));
    }

    pub(crate) fn url(&self) -> String {
        self.bucket.url.to_string()
    }

    /// Appends records, starting a new part every `rows_per_file` records.
    /// A type error names the record's index in the snapshot;
    /// [`Self::write_at`] names its API offset.
    pub fn write(&mut self, records: &[Value]) -> Result<(), SinkError> {
        self.write_at(records, self.parts.records())
    }

    /// [`Self::write`] for records at consecutive API offsets from `first`:
    /// a value that does not fit its column is reported (error or
    /// `on_type_error = "null"` warning) with its record's API offset.
    pub fn write_at(&mut self, records: &[Value], first: u64) -> Result<(), SinkError> {
        rotation::write_at(self, records, first)
    }

    /// Appends decoded rows (`crate::decode`, already typed and
    /// de-duplicated), starting a new part every `rows_per_file` records,
    /// as [`Self::write_at`] does with records; each column's nulls are
    /// counted from the Arrow arrays.
    pub fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        rotation::write_rows(self, decoded)
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.parts.records()
    }

    /// Values written as null because they did not fit, per column.
    pub fn type_errors(&self) -> BTreeMap<String, u64> {
        self.parts.type_errors()
    }

    /// Records where each column is null, per column.
    pub fn null_counts(&self) -> BTreeMap<String, u64> {
        self.parts.null_counts(&self.opts.columns)
    }

    /// Closes the last part (an empty run still writes one), writes the
    /// manifest, checks every listed part, then creates `_SUCCESS`; after
    /// that removes the replaced snapshot's files. Any failure before
    /// `_SUCCESS` removes what this run created and nothing else.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<Published, SinkError> {
        rotation::close_last(&mut self)?;
        // A failure from here on removes every part of this run, those a
        // checkpoint listed too (the run drops that checkpoint): a run that
        // lost the race or could not publish leaves nothing behind.
        for f in self.parts.files() {
            if !self.created.contains(&f.name) {
                self.created.push(f.name.clone());
            }
        }
        let url = self.url();
        fault_at("manifest").map_err(SinkError::io(&url))?;
        self.parts.describe(&mut manifest, &self.opts);
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
        tracing::info!(url = %url, records = self.parts.records(), files = self.parts.files().len(), "snapshot published");
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
        for f in self.parts.files() {
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
        let keep: BTreeSet<&str> = self.parts.files().iter().map(|f| f.name.as_str()).collect();
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
}

impl Rotate for ObjectSnapshotWriter {
    fn rotation(&mut self) -> &mut Rotation {
        &mut self.parts
    }

    /// The one place a part's upload starts: `part-<run_id>-NNNNN.<ext>`
    /// under the target.
    fn open_part(&mut self, index: usize) -> Result<OpenPart, SinkError> {
        let name = part_name(&self.opts, &format!("part-{}-", self.run_id), index);
        let key = self.bucket.url.key(&name);
        let url = format!("{}/{name}", self.url());
        let upload = ObjectPart::start(&self.bucket, &key).map_err(SinkError::io(&url))?;
        let sink = PartSink::object(upload, &url);
        OpenPart::start(name, &self.opts, sink)
    }

    fn finish_part(&mut self, part: OpenPart) -> Result<PartFile, SinkError> {
        // Listed as created before the upload completes, so a failure to
        // complete still removes whatever the store made of it.
        self.created.push(part.name.clone());
        let file = part.finish()?;
        tracing::info!(file = %file.name, records = file.records, bytes = file.bytes, "part uploaded");
        Ok(file)
    }
}

impl Drop for ObjectSnapshotWriter {
    fn drop(&mut self) {
        // The open part's upload is aborted as it drops.
        self.parts.discard();
        if !self.published && !self.created.is_empty() {
            let created = std::mem::take(&mut self.created);
            tracing::info!(url = %self.url(), files = created.len(), "removing this run's unpublished files");
            self.delete(created.iter().map(String::as_str), "removed an unpublished file");
        }
    }
}
