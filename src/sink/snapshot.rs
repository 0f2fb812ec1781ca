//! One snapshot being written: the hidden temporary folder beside the
//! target, its part files (cut every `rows_per_file` records by
//! `rotation.rs`, opened here in [`Rotate::open_part`]), fsync of every file,
//! `_manifest.json`, `_SUCCESS`, and the publish by rename (SPEC section 6).
//! A writer that is dropped without `finish` removes its temporary folder,
//! so a failed run leaves nothing behind, unless the run has checkpointed
//! into it ([`SnapshotWriter::set_keep_on_drop`]): then the finished parts and
//! the checkpoint files stay for `run --resume`, which reopens the folder
//! with [`SnapshotWriter::resume`]. That holds for failures while
//! publishing too: before `_SUCCESS` the folder is checked against the
//! manifest (exactly its parts, with their sizes), and a failed check,
//! `_SUCCESS` or rename puts the checkpoint files back. What a checkpoint holds is the state
//! module's business; this file only knows the checkpoint files' names (they
//! are removed before publishing). Encoding lives in the encoders; the
//! exit-2 pre-check and the rename dance in `target.rs`.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::compress::PartSink;
use super::error::SinkError;
use super::fault;
use super::manifest::{Manifest, PartFile};
use super::rotation::{self, OpenPart, Rotate, Rotation, part_name};
use super::target::{publish, remove_any, sibling, split_target, sync_dir};
use crate::job::{Compression, Format};
use crate::schema::{Column, OnTypeError};
use crate::state::{CHECKPOINT_FILE, CHECKPOINT_FILES, KEYS_FILE};

/// The manifest's file name inside a snapshot.
pub const MANIFEST_FILE: &str = "_manifest.json";
/// The marker written last inside a snapshot.
pub const SUCCESS_FILE: &str = "_SUCCESS";

/// What a checkpointed run had finished: the parts a resumed writer keeps.
#[derive(Debug, Clone, Default)]
pub struct FinishedParts {
    pub files: Vec<PartFile>,
    /// Records in `files`.
    pub records: u64,
    /// Values written as null in `files`, per column.
    pub type_errors: BTreeMap<String, u64>,
    /// Cells written as null in `files`, per column.
    pub null_counts: BTreeMap<String, u64>,
}

/// How to write the parts of one snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    pub format: Format,
    /// None | Gzip | Zstd for csv/jsonl; None | Snappy | Gzip | Zstd for parquet.
    pub compression: Compression,
    pub rows_per_file: u64,
    pub columns: Vec<Column>,
    /// What a value that does not fit its column leads to (the schema's
    /// `on_type_error`; `Fail` without a schema file).
    pub on_type_error: OnTypeError,
}

/// A snapshot published at `path`, with the manifest written into it.
#[derive(Debug, Clone)]
pub struct Published {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// Writes one snapshot into a hidden temporary folder, then publishes it.
pub struct SnapshotWriter {
    target: PathBuf,
    parent: PathBuf,
    tmp: PathBuf,
    old: PathBuf,
    opts: SnapshotOptions,
    /// The open part, records, type errors and nulls (`rotation.rs`).
    parts: Rotation,
    /// The temporary folder is ours to remove on drop.
    armed: bool,
    /// Dropping leaves the temporary folder (a checkpoint points at it).
    keep_on_drop: bool,
}

/// The folders of a snapshot at `target`: its parent, the hidden
/// temporary folder, the aside folder of `--overwrite`.
struct Folders {
    parent: PathBuf,
    tmp: PathBuf,
    old: PathBuf,
}

/// Checks the options (see [`Rotation::new`]) and names the folders of a
/// snapshot at `target`.
fn folders(target: &Path, opts: &SnapshotOptions) -> Result<(Rotation, Folders), SinkError> {
    let parts = Rotation::new(opts)?;
    let (parent, name) = split_target(target)?;
    let tmp = sibling(&parent, &name, "orgsync-tmp");
    let old = sibling(&parent, &name, "orgsync-old");
    Ok((parts, Folders { parent, tmp, old }))
}

/// A checkpoint file taken out of the folder while it is published.
enum Taken {
    /// Read into memory and removed.
    Bytes(&'static str, Vec<u8>),
    /// Renamed to this path beside the folder.
    Aside(&'static str, PathBuf),
}

impl SnapshotWriter {
    /// Creates the hidden temporary folder beside `target`:
    /// `<parent>/.<target file name>.orgsync-tmp/` (removing a leftover one
    /// with a warning), creating `<parent>` if needed. Does not touch `target`.
    pub fn create(target: &Path, opts: SnapshotOptions) -> Result<SnapshotWriter, SinkError> {
        let (parts, Folders { parent, tmp, old }) = folders(target, &opts)?;
        fs::create_dir_all(&parent).map_err(SinkError::io(&parent))?;
        if fs::symlink_metadata(&tmp).is_ok() {
            if tmp.join(CHECKPOINT_FILE).exists() {
                tracing::warn!(
                    path = %tmp.display(),
                    "dropped the checkpoint of an interrupted run left in this temporary folder; this run \
                     starts over. Next time, run with --resume to continue an interrupted run"
                );
            } else {
                tracing::warn!(path = %tmp.display(), "removing a leftover temporary folder from an earlier run");
            }
            remove_any(&tmp).map_err(SinkError::io(&tmp))?;
        }
        fs::create_dir(&tmp).map_err(SinkError::io(&tmp))?;
        // A keys file a publish moved aside and never removed (killed then).
        let mut aside = tmp.clone().into_os_string();
        aside.push(".");
        aside.push(KEYS_FILE);
        let _ = fs::remove_file(aside);
        let folders = Folders { parent, tmp, old };
        Ok(SnapshotWriter::assemble(target, opts, parts, folders, false))
    }

    /// A writer of the folders `f`.
    fn assemble(
        target: &Path,
        opts: SnapshotOptions,
        parts: Rotation,
        f: Folders,
        keep_on_drop: bool,
    ) -> SnapshotWriter {
        SnapshotWriter {
            target: target.to_path_buf(),
            parent: f.parent,
            tmp: f.tmp,
            old: f.old,
            opts,
            parts,
            armed: true,
            keep_on_drop,
        }
    }

    /// Reopens the temporary folder of an interrupted run of `target`:
    /// keeps the finished parts (the caller has verified them) and the
    /// checkpoint files, removes everything else (the part that was being
    /// written, a manifest), and continues numbering after the finished
    /// parts. Dropping it keeps the folder (see [`Self::set_keep_on_drop`]).
    pub fn resume(target: &Path, opts: SnapshotOptions, done: FinishedParts) -> Result<SnapshotWriter, SinkError> {
        let (mut parts, f) = folders(target, &opts)?;
        let tmp = &f.tmp;
        for entry in fs::read_dir(tmp).map_err(SinkError::io(&tmp))? {
            let entry = entry.map_err(SinkError::io(&tmp))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            let keep = CHECKPOINT_FILES.contains(&file.as_str()) || done.files.iter().any(|f| f.name == file);
            if !keep {
                tracing::info!(file = %file, "discarding a part the interrupted run had not finished");
                remove_any(&entry.path()).map_err(SinkError::io(entry.path()))?;
            }
        }
        sync_dir(tmp)?;
        parts.take_over(done);
        Ok(SnapshotWriter::assemble(target, opts, parts, f, true))
    }

    /// Whether dropping the writer (or the run failing) leaves the temporary
    /// folder in place. A run sets it once a checkpoint refers to the folder.
    pub fn set_keep_on_drop(&mut self, keep: bool) {
        self.keep_on_drop = keep;
    }

    /// The finished (closed, fsynced) part files so far, in order.
    pub fn files(&self) -> &[PartFile] {
        self.parts.files()
    }

    /// How many more records the current part takes before it is full
    /// (`rows_per_file` when no part is open).
    pub fn room(&self) -> u64 {
        self.parts.room()
    }

    /// Closes the current part now (fsynced, listed in [`Self::files`]);
    /// the next record starts a new one. Nothing open: nothing happens.
    pub fn close_part(&mut self) -> Result<(), SinkError> {
        rotation::close_open(self)
    }

    /// The hidden folder the snapshot is written into.
    pub fn temp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Appends records (one API page, in order) to the current part file,
    /// starting a new part every `rows_per_file` records. A type error names
    /// the record's index in the snapshot; [`Self::write_at`] names its API
    /// offset.
    pub fn write(&mut self, records: &[Value]) -> Result<(), SinkError> {
        self.write_at(records, self.parts.records())
    }

    /// [`Self::write`] for records at consecutive API offsets from `first`:
    /// a value that does not fit its column is reported (error or
    /// `on_type_error = "null"` warning) with its record's API offset.
    pub fn write_at(&mut self, records: &[Value], first: u64) -> Result<(), SinkError> {
        rotation::write_at(self, records, first)
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.parts.records()
    }

    /// Values written as null because they did not fit, per column, so far
    /// (including the parts a resumed writer took over).
    pub fn type_errors(&self) -> BTreeMap<String, u64> {
        self.parts.type_errors()
    }

    /// Cells written as null, per column name (every column, zeros
    /// included), so far (including the parts a resumed writer took over).
    pub fn null_counts(&self) -> BTreeMap<String, u64> {
        self.parts.null_counts(&self.opts.columns)
    }

    /// Closes the last part (an empty run still writes one part file),
    /// fsyncs every file, fills the manifest's `files`, `records`,
    /// `finished_at` (RFC 3339 UTC, now), `format`, `compression`,
    /// `type_errors` and `schema`, and writes `_manifest.json`; then takes
    /// the checkpoint files out, checks that the folder holds exactly the
    /// parts the manifest lists with their sizes (else
    /// [`SinkError::Incomplete`]), writes `_SUCCESS`, fsyncs the folder and
    /// publishes it at the target with one rename (see `target.rs` for
    /// `overwrite`). A failure anywhere here is like a failure mid-run: a
    /// writer that has checkpointed keeps its folder with the finished parts
    /// and the checkpoint files (put back), so `run --resume` can finish;
    /// one that has not removes it.
    pub fn finish(mut self, mut manifest: Manifest, overwrite: bool) -> Result<Published, SinkError> {
        self.seal(&mut manifest)?;
        let saved = self.take_checkpoint()?;
        let result = self
            .check_complete(&manifest)
            .and_then(|()| write_file(&self.tmp.join(SUCCESS_FILE), b""))
            .and_then(|()| sync_dir(&self.tmp))
            .and_then(|()| fault::at("publish").map_err(SinkError::io(&self.target)))
            .and_then(|()| publish(&self.tmp, &self.target, &self.old, &self.parent, overwrite));
        if let Err(e) = result {
            self.give_back(saved);
            return Err(e);
        }
        self.drop_taken(saved);
        self.armed = false;
        tracing::info!(
            path = %self.target.display(),
            records = self.parts.records(),
            files = self.parts.files().len(),
            "snapshot published"
        );
        fault::at("published").map_err(SinkError::io(&self.target))?;
        Ok(Published {
            path: self.target.clone(),
            manifest,
        })
    }

    /// Removes the temporary folder.
    pub fn abort(mut self) {
        self.keep_on_drop = false;
        self.cleanup();
    }

    /// Leaves the temporary folder as it is (the part being written stays
    /// unfinished; a resumed run discards it) and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep_on_drop = true;
        self.tmp.clone()
    }

    fn seal(&mut self, manifest: &mut Manifest) -> Result<(), SinkError> {
        rotation::close_last(self)?;
        fault::at("manifest").map_err(SinkError::io(self.tmp.join(MANIFEST_FILE)))?;
        self.parts.describe(manifest, &self.opts);
        write_manifest(&self.tmp, manifest)
    }

    /// Removes the checkpoint files (never published) from the folder so a
    /// failed publish can put them back: the checkpoint as bytes, the keys
    /// file (8 bytes a de-duplication key: 40 MB at 5M records) renamed
    /// aside beside the folder instead of read into memory.
    fn take_checkpoint(&self) -> Result<Vec<Taken>, SinkError> {
        let mut saved = Vec::new();
        for name in CHECKPOINT_FILES {
            let path = self.tmp.join(name);
            if name == KEYS_FILE {
                let aside = self.aside(name);
                match fs::rename(&path, &aside) {
                    Ok(()) => saved.push(Taken::Aside(name, aside)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        self.give_back(saved);
                        return Err(SinkError::io(&path)(e));
                    }
                }
                continue;
            }
            match fs::read(&path) {
                Ok(bytes) => saved.push(Taken::Bytes(name, bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.give_back(saved);
                    return Err(SinkError::io(&path)(e));
                }
            }
        }
        for taken in &saved {
            let Taken::Bytes(name, _) = taken else { continue };
            let path = self.tmp.join(name);
            if let Err(e) = fs::remove_file(&path) {
                self.give_back(saved);
                return Err(SinkError::io(&path)(e));
            }
        }
        Ok(saved)
    }

    /// Where a checkpoint file waits during the publish:
    /// `<parent>/.<target>.orgsync-tmp.<file>` (same file system, never
    /// inside the published folder).
    fn aside(&self, name: &str) -> PathBuf {
        let mut path = self.tmp.clone().into_os_string();
        path.push(".");
        path.push(name);
        PathBuf::from(path)
    }

    /// After a successful publish: the files moved aside are not needed.
    fn drop_taken(&self, saved: Vec<Taken>) {
        for taken in saved {
            if let Taken::Aside(_, aside) = taken
                && let Err(e) = fs::remove_file(&aside)
            {
                tracing::warn!(path = %aside.display(), error = %e, "cannot remove the published run's keys file");
            }
        }
    }

    /// After a failed publish: removes `_SUCCESS` and writes the checkpoint
    /// files back, so the folder is again what `run --resume` continues.
    fn give_back(&self, saved: Vec<Taken>) {
        if !self.keep_on_drop {
            for taken in saved {
                if let Taken::Aside(_, aside) = taken {
                    let _ = fs::remove_file(aside);
                }
            }
            return;
        }
        let _ = fs::remove_file(self.tmp.join(SUCCESS_FILE));
        for taken in saved {
            let (path, put_back) = match taken {
                Taken::Bytes(name, bytes) => {
                    let path = self.tmp.join(name);
                    let _ = fs::remove_file(&path);
                    let r = write_file(&path, &bytes).map_err(|e| e.to_string());
                    (path, r)
                }
                Taken::Aside(name, aside) => {
                    let path = self.tmp.join(name);
                    let r = fs::rename(&aside, &path).map_err(|e| e.to_string());
                    (path, r)
                }
            };
            if let Err(e) = put_back {
                tracing::error!(path = %path.display(), error = %e,
                    "could not put the checkpoint back after the failed publish; --resume will start over");
            }
        }
    }

    /// The folder holds exactly the part files the manifest lists, each with
    /// its recorded size, and the manifest: nothing missing, nothing else.
    fn check_complete(&self, manifest: &Manifest) -> Result<(), SinkError> {
        let mut listed: BTreeMap<&str, u64> = manifest.files.iter().map(|f| (f.name.as_str(), f.bytes)).collect();
        let mut problems = Vec::new();
        for entry in fs::read_dir(&self.tmp).map_err(SinkError::io(&self.tmp))? {
            let entry = entry.map_err(SinkError::io(&self.tmp))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == MANIFEST_FILE {
                continue;
            }
            match listed.remove(name.as_str()) {
                Some(bytes) => {
                    let len = entry.metadata().map_err(SinkError::io(entry.path()))?.len();
                    if len != bytes {
                        problems.push(format!("{name} has {len} bytes, the manifest says {bytes}"));
                    }
                }
                None => problems.push(format!("{name} is not in the manifest")),
            }
        }
        problems.extend(listed.keys().map(|name| format!("{name} is missing")));
        match problems.is_empty() {
            true => Ok(()),
            false => Err(SinkError::Incomplete {
                path: self.tmp.clone(),
                problems: problems.join("; "),
            }),
        }
    }

    fn cleanup(&mut self) {
        self.parts.discard();
        if self.armed && !self.keep_on_drop {
            self.armed = false;
            if let Err(e) = fs::remove_dir_all(&self.tmp)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %self.tmp.display(), error = %e, "could not remove the temporary folder");
            }
        }
    }
}

impl Rotate for SnapshotWriter {
    fn rotation(&mut self) -> &mut Rotation {
        &mut self.parts
    }

    /// The one place a part file is created: `part-NNNNN.<ext>` in the
    /// temporary folder.
    fn open_part(&mut self, index: usize) -> Result<OpenPart, SinkError> {
        let name = part_name(&self.opts, "part-", index);
        let sink = PartSink::create(&self.tmp.join(&name))?;
        OpenPart::start(name, &self.opts, sink)
    }

    fn finish_part(&mut self, part: OpenPart) -> Result<PartFile, SinkError> {
        let file = part.finish()?;
        tracing::info!(file = %file.name, records = file.records, bytes = file.bytes, "part written");
        Ok(file)
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Writes `_manifest.json` (pretty JSON and a final newline) into `dir`, fsynced.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), SinkError> {
    let path = dir.join(MANIFEST_FILE);
    let mut text = serde_json::to_vec_pretty(manifest).map_err(|source| SinkError::Manifest {
        path: path.clone(),
        source,
    })?;
    text.push(b'\n');
    write_file(&path, &text)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(SinkError::io(path))?;
    file.write_all(bytes).map_err(SinkError::io(path))?;
    file.sync_all().map_err(SinkError::io(path))
}

#[path = "snapshot_rows.rs"]
pub(crate) mod rows;

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "snapshot_check_tests.rs"]
mod check_tests;
