//! `orgsync validate`: load every job (and its schema) with no network; one
//! line per good job, one line per problem of a bad one; exit 0 or 2.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::job::{self, LoadOptions};

pub fn validate(args: &[PathBuf]) -> Exit {
    let paths = match job::expand_paths(args) {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Invalid;
        }
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
