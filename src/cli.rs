//! The command line (SPEC section 2): clap definitions only. What each
//! command does lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "orgsync",
    version,
    about = "Export Vainu organization data into CSV, Parquet and JSON Lines snapshots"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More detail: -v for each page and request, -vv for everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run job files (a DIR means every *.toml in it).
    Run(RunArgs),
    /// Check job and schema files; no network. Every problem at once.
    Validate {
        #[arg(required = true, value_name = "JOB|DIR")]
        jobs: Vec<PathBuf>,
        /// Also check every field path against the API's fields catalog
        /// (authenticates; one catalog request per API).
        #[arg(long)]
        online: bool,
    },
    /// Print the API's fields catalog: path, type, filterable, returnable, permission.
    Fields(FieldsArgs),
    /// Get a token and print its type, scope and lifetime (never the token).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Print how many records match the job's query (count endpoint).
    Count(SingleJobArgs),
    /// Schema files.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Serve the simulated Vainu API on 127.0.0.1 until Ctrl-C.
    Sandbox(SandboxArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Get a token and print its type, scope and lifetime.
    Check(SingleJobArgs),
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print a schema file inferred from sampled records of the job's query.
    Infer {
        #[command(flatten)]
        job: SingleJobArgs,
        /// How many records to sample (from the start of the result).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        sample: u64,
    },
}

#[derive(Debug, Args)]
pub struct SingleJobArgs {
    #[arg(value_name = "JOB")]
    pub job: PathBuf,
    /// Use the built-in sandbox API instead of the job's base_url.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Args)]
pub struct FieldsArgs {
    /// A job file, for the API's address and credentials (optional with --sandbox).
    #[arg(value_name = "JOB", required_unless_present = "sandbox")]
    pub job: Option<PathBuf>,
    /// Use the built-in sandbox API instead of the job's base_url.
    #[arg(long)]
    pub sandbox: bool,
    /// Only fields served for this database (FI, SE, NO, DK, NL).
    #[arg(long, value_name = "DB")]
    pub database: Option<String>,
    /// Only fields whose path or English name contains TEXT (any case).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Print the catalog's entries as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(required = true, value_name = "JOB|DIR")]
    pub jobs: Vec<PathBuf>,
    /// Start the built-in simulated API in-process and point the jobs at it.
    #[arg(long)]
    pub sandbox: bool,
    /// Root for relative output and state paths.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// Folder (or s3://bucket/prefix) for the state files, checkpoints and locks
    /// [default: <out-dir>/.orgsync/state].
    #[arg(long, value_name = "DIR|URL", env = "ORGSYNC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Stop after N records (trying a job out).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_records: Option<u64>,
    /// Validate, authenticate, count; fetch and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace an existing snapshot at the same path.
    #[arg(long)]
    pub overwrite: bool,
    /// Continue an interrupted run from its checkpoint (without one: a fresh run).
    #[arg(long)]
    pub resume: bool,
    /// Stop at the first failed job (default: run the rest, report all).
    #[arg(long)]
    pub fail_fast: bool,
    /// Progress bar on stderr: auto = only when stderr is a terminal.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Organizations per database.
    #[arg(long, default_value_t = 1000)]
    pub records: u64,
    /// Seed of the data set: same seed, same records.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Server rate limit in requests/s (429 + Retry-After above it).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Fraction of organizations requests answered with a 5xx.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// After N organizations requests, answer every further one with 503.
    #[arg(long, value_name = "N")]
    pub fail_after: Option<u64>,
    /// Latency added to every API answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Access token lifetime.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Shape of organizations answers.
    #[arg(long, value_enum, default_value_t = EnvelopeArg::Bare)]
    pub envelope: EnvelopeArg,
    /// Answer every Nth organizations request with a 429 (see --retry-after).
    #[arg(long, value_name = "N")]
    pub throttle_every: Option<u64>,
    /// The raw Retry-After text of --throttle-every's 429s (any text: `1e20`, `-3`, a date).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub retry_after: Option<String>,
    /// Raw JSON put as `expires_in` into token answers (`1e30`, `"soon"`, `null`; empty: left out).
    #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
    pub expires_in_json: Option<String>,
    /// Answer the page at this offset one record short.
    #[arg(long, value_name = "OFFSET")]
    pub short_page_at: Option<u64>,
    /// Answer the first N organizations requests 200 with an HTML maintenance page.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub html_first: u64,
    /// Answer every organizations request for this offset 200 with the HTML page.
    #[arg(long, value_name = "OFFSET")]
    pub html_at_offset: Option<u64>,
    /// Replace the first record of every page at this offset by the JSON string "damaged".
    #[arg(long, value_name = "OFFSET")]
    pub non_object_record_at: Option<u64>,
    /// Answer the fields catalog with 404 (an API without one).
    #[arg(long)]
    pub no_catalog: bool,
    /// Answer organizations requests with an offset past N with 400 naming the offset.
    #[arg(long, value_name = "N")]
    pub max_offset: Option<u64>,
    #[command(flatten)]
    pub export: SandboxExportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvelopeArg {
    /// A bare JSON array.
    Bare,
    /// `{"result": [...], "count": N, "next": ...}`.
    Result,
    /// `{"results": [...], "count": N, "next": ...}`.
    Results,
}

/// The sandbox's async export knobs.
#[derive(Debug, Args)]
pub struct SandboxExportArgs {
    /// Seconds from an export's creation to its end state (accepted, then process).
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub export_secs: f64,
    /// End every export in this failure state instead of `completed`.
    #[arg(long, value_enum, value_name = "STATE")]
    pub export_fail: Option<ExportFailArg>,
    /// Serve export downloads gzip-compressed.
    #[arg(long)]
    pub export_gzip: bool,
    /// Answer an export's `link` as an absolute URL (default: a path under /api).
    #[arg(long)]
    pub export_absolute_link: bool,
    /// Lifetime of a download link; an expired one answers 403 (poll again for a fresh one).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub export_link_ttl_secs: u64,
    /// Hand out the first N download links already expired.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub export_expired_links: u64,
    /// Throttle export downloads to this many bytes per second.
    #[arg(long, value_name = "N")]
    pub export_download_bytes_per_sec: Option<u64>,
    /// Ignore `Range` on export downloads (always 200 with the whole file).
    #[arg(long)]
    pub export_no_range: bool,
    /// Drop the connection after N bytes of the first export download.
    #[arg(long, value_name = "N")]
    pub export_cut_after_bytes: Option<u64>,
    /// Line N (from 1) of every export's file is a JSON string, not an object (a damaged export).
    #[arg(long, value_name = "N")]
    pub export_bad_line: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFailArg {
    Failure,
    Stopped,
    PartialFailureComplete,
    PartialFailureIncomplete,
}
