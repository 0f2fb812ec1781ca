//! `orgsync validate`: load every job (and its schema) with no network; one
//! line per good job, one line per problem of a bad one; exit 0 or 2.
//! `--online` then checks each good job's paths against the API's fields
//! catalog (`catalog/`), with the same problem lines.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::job::{self, LoadOptions};

/// The job files of the command line (a folder: its `*.toml`); exit 2
/// after printing why when they cannot be listed.
fn job_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, Exit> {
    job::expand_paths(args).map_err(|e| {
        eprintln!("{e}");
        Exit::Invalid
    })
}

pub fn validate(args: &[PathBuf]) -> Exit {
    let paths = match job_paths(args) {
        Ok(paths) => paths,
        Err(exit) => return exit,
    };
    let mut exit = Exit::Ok;
    for path in paths {
        match job::load(&path, &LoadOptions::default()) {
            Ok(job) => println!("ok: {} ({})", path.display(), job.name),
            Err(e) => {
                println!("{e}");
                exit = Exit::Invalid;
            }
        }
    }
    exit
}

/// `validate --online`: the offline checks, then, for each job that passes
/// them, authenticate and check every path against the API's fields
/// catalog (fetched once per API base URL). Problems: exit 2, every one
/// printed. A catalog that cannot be had is an error here (the check was
/// asked for), with the exit code of the failure.
pub async fn validate_online(args: &[PathBuf]) -> Exit {
    use crate::catalog::{Catalog, CatalogError, catalog_url, check_job, fetch_catalog};
    use crate::exit::ExitStatus;

    let paths = match job_paths(args) {
        Ok(paths) => paths,
        Err(exit) => return exit,
    };
    let mut exit = Exit::Ok;
    let fail = |exit: &mut Exit, code: Exit| {
        if *exit == Exit::Ok {
            *exit = code;
        }
    };
    let mut catalogs: Vec<(String, Catalog)> = Vec::new();
    for path in paths {
        let job = match job::load(&path, &LoadOptions::default()) {
            Ok(job) => job,
            Err(e) => {
                println!("{e}");
                fail(&mut exit, Exit::Invalid);
                continue;
            }
        };
        let url = catalog_url(&job);
        let cached = catalogs.iter().position(|(u, _)| *u == url.as_str());
        let index = match cached {
            Some(i) => i,
            None => {
                let fetched = async {
                    let session = crate::run::Session::connect(&job).await?;
                    Ok::<_, crate::run::RunError>(fetch_catalog(&session.client, &url).await?)
                }
                .await;
                match fetched {
                    Ok(c) => {
                        catalogs.push((url.to_string(), c));
                        catalogs.len() - 1
                    }
                    Err(e) => {
                        super::report_error(
                            Some(&path),
                            &format!(
                                "{e}; validate --online needs the catalog (run `orgsync validate` without --online to check offline)"
                            ),
                        );
                        fail(&mut exit, e.exit());
                        continue;
                    }
                }
            }
        };
        let report = check_job(&job, &catalogs[index].1);
        if !report.warnings.is_empty() {
            println!("{}", report.render_warnings());
        }
        if report.problems.is_empty() {
            println!(
                "ok: {} ({}; fields checked against the API's catalog)",
                path.display(),
                job.name
            );
        } else {
            println!("{}", report.render_problems());
            fail(&mut exit, CatalogError::Problems(report).exit());
        }
    }
    exit
}
