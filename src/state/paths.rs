//! Where state lives: `<out-dir>/.orgsync/state/`, with `<job>.json` (the
//! last successful run) and `<job>.checkpoint.json` (the pointer to an
//! interrupted run's checkpoint). Job names are `[a-z0-9_-]+`, so they are
//! safe file names. Reads and writes nothing.

use std::path::{Path, PathBuf};

/// `<out_dir>/.orgsync/state`.
pub fn state_dir(out_dir: &Path) -> PathBuf {
    out_dir.join(".orgsync").join("state")
}

/// `<state_dir>/<job>.json`.
pub fn last_run_path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join(format!("{job}.json"))
}

/// `<state_dir>/<job>.checkpoint.json`.
pub fn pointer_path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join(format!("{job}.checkpoint.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_table() {
        let dir = state_dir(Path::new("/data"));
        let cases = [
            (
                last_run_path(&dir, "fi_software"),
                "/data/.orgsync/state/fi_software.json",
            ),
            (
                pointer_path(&dir, "fi-bulk"),
                "/data/.orgsync/state/fi-bulk.checkpoint.json",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, PathBuf::from(want));
        }
    }
}
