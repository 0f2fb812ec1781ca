//! The entry points: read a job file, run phase one (`read.rs`) and phase two
//! (`validate.rs`), and return the resolved [`Job`] or every problem at once.
//! It loads the job's schema file, if it names one, and reports its problems
//! with the job's. It does not expand command-line paths (`paths.rs`).

use std::path::Path;

use super::error::LoadError;
use super::model::Job;
use super::read::read;
use super::validate::validate;

/// How a job file is loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `run --sandbox`: credentials are not read from the file or the
    /// environment (no `${VAR}` error for them); the sandbox's are used.
    pub sandbox: bool,
}

/// Loads and validates the job file at `path`, reading `${VAR}` and
/// `ORGSYNC_BASE_URL` from the process environment.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Job, LoadError> {
    load_with_env(path, opts, &|name| std::env::var(name).ok())
}

/// Like [`load`], with the environment given as a function (tests, embedding).
pub fn load_with_env(path: &Path, opts: &LoadOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<Job, LoadError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| LoadError::whole(path, format!("cannot read job file: {e}")))?;
    let mut problems = Vec::new();
    let mut job = read(&text, opts.sandbox, env, &mut problems)
        .and_then(|raw| validate(&raw, path, opts.sandbox, env, &mut problems));
    let mut schema_error = None;
    if let Some(job) = job.as_mut()
        && let Some(schema_path) = job.output.schema.clone()
    {
        match crate::schema::load_schema(&schema_path, &job.query.fields) {
            Ok(schema) => {
                if job.query.fields.is_empty() {
                    job.query.fields = schema.paths();
                    if let Some(key) = &job.query.key
                        && !job.query.fields.contains(key)
                    {
                        problems.push(super::error::Problem::near(
                            None,
                            format!("[query] key {key:?} is not a column path of the schema; add a column for it"),
                        ));
                    }
                }
                job.schema = Some(schema);
            }
            Err(e) => schema_error = Some(e),
        }
    }
    match job {
        Some(job) if problems.is_empty() && schema_error.is_none() => {
            tracing::debug!(job = %job.name, file = %path.display(), "job file loaded");
            Ok(job)
        }
        _ => {
            if problems.is_empty() && schema_error.is_none() {
                problems.push(super::error::Problem::near(None, "invalid job file"));
            }
            let mut error = LoadError::sorted(path, problems);
            error.schema = schema_error;
            Err(error)
        }
    }
}
