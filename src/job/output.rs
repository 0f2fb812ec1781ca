//! Phase two for [output]: format, path template (only known placeholders),
//! `s3://bucket/prefix` or a local path (any other scheme is refused),
//! compression allowed for the format, rows per file (1..=10^9),
//! on_count_mismatch, and the schema file
//! (resolved against the job file's folder and required to be a file; it is
//! not parsed here, that is the schema loader's job).

use std::path::{Path, PathBuf};

use super::check::Check;
use super::file::{self, RawOutput};
use super::model::{Compression, Format, OnCountMismatch, Output};
use crate::diagnostics::did_you_mean;

/// The most rows one part file may hold (a billion).
const MAX_ROWS_PER_FILE: i64 = 1_000_000_000;

/// Placeholders an output path may use.
const PLACEHOLDERS: [&str; 4] = ["job", "date", "time", "run_id"];

/// The schema file, resolved against the job file's folder; it must be a file.
pub(crate) fn schema(raw: &RawOutput, dir: &Path, c: &mut Check<'_>) -> Option<Option<PathBuf>> {
    let Some(s) = &raw.schema else {
        return Some(None);
    };
    let rel = c.non_empty(s, "schema in [output]")?;
    let path = dir.join(rel);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Some(Some(path)),
        Ok(_) => {
            c.push(
                Some(s.line),
                format!("schema {} in [output] is not a file", path.display()),
            );
            None
        }
        Err(e) => {
            c.push(
                Some(s.line),
                format!("schema file {} in [output] cannot be read: {e}", path.display()),
            );
            None
        }
    }
}

/// Every `{...}` in the path must be a known placeholder.
fn check_placeholders(path: &str) -> Result<(), String> {
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("has a \"{\" without \"}\"".to_string());
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "uses unknown placeholder {{{name}}}: use {{job}}, {{date}}, {{time}} or {{run_id}}{}",
                did_you_mean(name, &PLACEHOLDERS)
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("has a \"}\" without \"{\"".to_string());
    }
    Ok(())
}

pub(crate) fn output(raw: &RawOutput, schema: Option<Option<PathBuf>>, c: &mut Check<'_>) -> Option<Output> {
    let format = match &raw.format {
        None => Some(Format::Parquet),
        Some(f) => c.choice(
            f,
            "format in [output]",
            &[
                (file::default_format(), Format::Parquet),
                ("csv", Format::Csv),
                ("jsonl", Format::Jsonl),
            ],
        ),
    };
    let path = match &raw.path {
        None => Some(file::default_output_path().to_string()),
        Some(p) => c.non_empty(p, "path in [output]").and_then(|s| {
            match check_placeholders(s).and_then(|()| crate::sink::object::check_template(s)) {
                Ok(()) => Some(s.to_string()),
                Err(why) => {
                    c.push(Some(p.line), format!("path in [output] {why}"));
                    None
                }
            }
        }),
    };
    let compression = format.and_then(|format| {
        let Some(v) = &raw.compression else {
            return Some(match format {
                Format::Parquet => Compression::Zstd,
                Format::Csv | Format::Jsonl => Compression::None,
            });
        };
        let allowed: &[(&str, Compression)] = match format {
            Format::Parquet => &[
                ("zstd", Compression::Zstd),
                ("snappy", Compression::Snappy),
                ("gzip", Compression::Gzip),
                ("none", Compression::None),
            ],
            Format::Csv | Format::Jsonl => &[
                ("none", Compression::None),
                ("gzip", Compression::Gzip),
                ("zstd", Compression::Zstd),
            ],
        };
        let label = format!("compression in [output] (format {})", format.extension());
        c.choice(v, &label, allowed)
    });
    let rows = c.int(
        &raw.rows_per_file,
        file::default_rows_per_file(),
        "rows_per_file in [output]",
        1,
        MAX_ROWS_PER_FILE,
        "",
    );
    let on_count_mismatch = match &raw.on_count_mismatch {
        None => Some(OnCountMismatch::Warn),
        Some(v) => c.choice(
            v,
            "on_count_mismatch in [output]",
            &[
                (file::default_on_count_mismatch(), OnCountMismatch::Warn),
                ("fail", OnCountMismatch::Fail),
            ],
        ),
    };
    Some(Output {
        format: format?,
        path: path?,
        schema: schema?,
        compression: compression?,
        rows_per_file: rows.unsigned_abs(),
        on_count_mismatch: on_count_mismatch?,
    })
}
