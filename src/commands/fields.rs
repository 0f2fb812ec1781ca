//! `orgsync fields [JOB] [--sandbox] [--database DB] [--search TEXT] [--json]`:
//! fetch the API's fields catalog with the job's credentials (or the
//! sandbox's) and print it as a table (path, type, filterable, returnable,
//! permission) or, with `--json`, as the catalog's own entries.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use crate::catalog::{Catalog, Entry, catalog_url, fetch_catalog};
use crate::cli::{FieldsArgs, SingleJobArgs};
use crate::exit::{Exit, ExitStatus};
use crate::job::{
    Api, Auth, ClientAuth, Compression, Format, Job, OnCountMismatch, Output, Query, RateLimit, RecordsAt, Retry,
};
use crate::secret::Secret;

use super::{open_single_job, point_at_sandbox, report_error, start_sandbox};

/// A job for `fields --sandbox` without a job file: the sandbox's
/// credentials and the defaults of a job file.
fn sandbox_job(sandbox: &crate::sandbox::Sandbox) -> Job {
    let base: reqwest::Url = sandbox.base_url().parse().expect("the sandbox's URL parses");
    let mut job = Job {
        name: "fields".into(),
        description: None,
        source: "--sandbox".into(),
        api: Api {
            base_url: base.clone(),
            path: "/api/v3/organizations/".into(),
            timeout: Duration::from_secs(30),
            records: RecordsAt::Auto,
        },
        auth: Auth::ClientCredentials {
            token_url: base.clone(),
            client_id: crate::sandbox::CLIENT_ID.into(),
            client_secret: Secret::new(crate::sandbox::CLIENT_SECRET),
            scope: Some("vainu:api".into()),
            client_auth: ClientAuth::Body,
        },
        query: Query {
            database: "FI".into(),
            fields: Vec::new(),
            filter: serde_json::json!({"?ALL": []}),
            list: None,
            max_offset: None,
            order: None,
            page_size: 100,
            key: None,
            extra: Default::default(),
            check_fields: true,
            mode: Default::default(),
        },
        incremental: None,
        export: Default::default(),
        rate_limit: RateLimit {
            requests_per_second: 5.0,
            burst: NonZeroU32::MIN,
            concurrency: NonZeroUsize::MIN,
        },
        retry: Retry {
            max_attempts: 3,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
        },
        output: Output {
            format: Format::Csv,
            path: String::new(),
            schema: None,
            compression: Compression::None,
            rows_per_file: 1,
            on_count_mismatch: OnCountMismatch::Warn,
        },
        schema: None,
    };
    point_at_sandbox(&mut job, sandbox);
    job
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn type_text(e: &Entry) -> String {
    match (&e.kind, &e.item_kind) {
        (Some(k), Some(i)) => format!("{k}<{i}>"),
        (Some(k), None) => k.clone(),
        (None, _) => "-".into(),
    }
}

/// The entries `--database` and `--search` keep, in catalog order.
fn selected<'a>(catalog: &'a Catalog, database: Option<&str>, search: Option<&str>) -> Vec<&'a Entry> {
    let search = search.map(str::to_lowercase);
    catalog
        .entries()
        .iter()
        .filter(|e| database.is_none_or(|db| e.in_database(db)))
        .filter(|e| {
            search.as_deref().is_none_or(|s| {
                e.path.to_lowercase().contains(s) || e.name.as_deref().is_some_and(|n| n.to_lowercase().contains(s))
            })
        })
        .collect()
}

/// The table: a header, then one aligned row per entry.
fn table(entries: &[&Entry]) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.path.clone(),
                type_text(e),
                yes_no(e.filterable()).into(),
                yes_no(e.returnable()).into(),
                if e.permissions.is_empty() {
                    "-".into()
                } else {
                    e.permissions.join(",")
                },
            ]
        })
        .collect();
    let header = ["PATH", "TYPE", "FILTERABLE", "RETURNABLE", "PERMISSION"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |r: &[String; 5]| {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        cells.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(line));
    out.join("\n")
}

pub async fn fields(args: FieldsArgs) -> Exit {
    let (job, _sandbox) = match &args.job {
        Some(path) => {
            let single = SingleJobArgs {
                job: path.clone(),
                sandbox: args.sandbox,
            };
            match open_single_job(&single).await {
                Some(opened) => opened,
                None => return Exit::Invalid,
            }
        }
        None => {
            let Some(sandbox) = start_sandbox().await else {
                return Exit::Failed;
            };
            (sandbox_job(&sandbox), Some(sandbox))
        }
    };
    if let Some(db) = &args.database
        && !crate::sandbox::DATABASES.contains(&db.as_str())
    {
        report_error(
            None,
            &format!("--database {db} is not one of {}", crate::sandbox::DATABASES.join(", ")),
        );
        return Exit::Invalid;
    }
    let result = async {
        let session = crate::run::Session::connect(&job).await?;
        Ok::<_, crate::run::RunError>(fetch_catalog(&session.client, &catalog_url(&job)).await?)
    }
    .await;
    let catalog = match result {
        Ok(c) => c,
        Err(e) => {
            report_error(args.job.as_deref(), &e);
            return e.exit();
        }
    };
    let entries = selected(&catalog, args.database.as_deref(), args.search.as_deref());
    if args.json {
        let raw: Vec<&serde_json::Value> = entries.iter().map(|e| &e.raw).collect();
        println!("{}", serde_json::to_string_pretty(&raw).expect("JSON values serialize"));
    } else {
        println!("{}", table(&entries));
    }
    Exit::Ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse_catalog;
    use serde_json::json;

    #[test]
    fn table_and_selection() {
        let body = json!([
            {"api": {"v3": {"path": "business_id"}}, "names": {"translations": {"en": "Business ID"}},
             "application_availability": ["filter", "export"], "meta_data": {"type": "string"}, "databases": ["FI", "SE"]},
            {"api": {"v3": {"path": "contacts.email"}}, "application_availability": ["export"],
             "requires_permission": ["contacts"], "meta_data": {"type": "array", "item_type": "string"}, "databases": ["FI"]},
        ]);
        let c = parse_catalog(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            table(&selected(&c, None, None)),
            "PATH            TYPE           FILTERABLE  RETURNABLE  PERMISSION\n\
             business_id     string         yes         yes         -\n\
             contacts.email  array<string>  no          yes         contacts"
        );
        let paths = |db, s| selected(&c, db, s).iter().map(|e| e.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(Some("SE"), None), ["business_id"]);
        assert_eq!(paths(None, Some("BUSINESS id")), ["business_id"]);
        assert_eq!(paths(None, Some("mail")), ["contacts.email"]);
        assert!(paths(Some("NO"), None).is_empty());
    }
}
