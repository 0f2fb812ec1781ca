//! Expanding the job paths given on the command line: a directory means
//! every `*.toml` directly in it (not recursively), sorted by file name; a
//! file is taken as is. It does not read or parse the files.

use std::path::PathBuf;

use super::error::LoadError;

/// A DIR means every `*.toml` directly in it, sorted by name; a file is taken as is;
/// a path that does not exist is an error; a DIR with no *.toml is an error.
pub fn expand_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for arg in args {
        let meta = std::fs::metadata(arg).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::whole(arg, "no such job file or directory"),
            _ => LoadError::whole(arg, format!("cannot read: {e}")),
        })?;
        if !meta.is_dir() {
            out.push(arg.clone());
            continue;
        }
        let entries =
            std::fs::read_dir(arg).map_err(|e| LoadError::whole(arg, format!("cannot list directory: {e}")))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::whole(arg, format!("cannot list directory: {e}")))?;
            let path = entry.path();
            let is_toml = path.extension().is_some_and(|ext| ext == "toml");
            if is_toml && path.is_file() {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(LoadError::whole(arg, "directory contains no *.toml job files"));
        }
        found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_expands_to_sorted_toml_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.toml", "a.toml", "notes.txt", "c.toml.bak"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        std::fs::create_dir(dir.path().join("queries")).expect("mkdir");
        std::fs::create_dir(dir.path().join("dir.toml")).expect("mkdir");
        std::fs::write(dir.path().join("queries/q.toml"), "").expect("write");
        let single = dir.path().join("notes.txt");

        let got = expand_paths(&[dir.path().to_path_buf(), single.clone()]).expect("expands");
        assert_eq!(got, vec![dir.path().join("a.toml"), dir.path().join("b.toml"), single]);
    }

    #[test]
    fn missing_path_and_empty_dir_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.toml");
        let err = expand_paths(std::slice::from_ref(&missing)).expect_err("missing");
        assert_eq!(err.file, missing);
        assert!(err.to_string().contains("no such job file or directory"));

        let err = expand_paths(&[dir.path().to_path_buf()]).expect_err("empty dir");
        assert!(err.to_string().ends_with(": directory contains no *.toml job files"));
    }
}
