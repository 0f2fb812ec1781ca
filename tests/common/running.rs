//! The binary started in the background (stdout and stderr into files of
//! the workspace), for tests that act on a run while it goes: wait for its
//! checkpoint, signal it, start a second run beside it. Every wait is
//! bounded; dropping a `Running` kills the process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{SECRET, Workspace};

pub struct Running {
    pub child: Child,
    /// `<workspace>/<name>`: the run's output is `<name>.out` / `<name>.err`.
    log: PathBuf,
}

impl Running {
    pub fn start(ws: &Workspace, args: &[&str], name: &str) -> Running {
        Running::start_with_env(ws, args, name, &[])
    }

    /// [`Running::start`] with more environment variables (test knobs).
    pub fn start_with_env(ws: &Workspace, args: &[&str], name: &str, env: &[(&str, &str)]) -> Running {
        let log = ws.path().join(name);
        let out = std::fs::File::create(log.with_extension("out")).unwrap();
        let err = std::fs::File::create(log.with_extension("err")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .current_dir(ws.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VAINU_CLIENT_ID", orgsync::sandbox::CLIENT_ID)
            .env("VAINU_CLIENT_SECRET", SECRET)
            .envs(env.iter().copied())
            .args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        Running { child, log }
    }

    /// Waits until the checkpoint in `tmp` lists at least `parts` finished
    /// parts; fails if the run ends first.
    pub fn wait_for_parts(&mut self, tmp: &Path, parts: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the run ended before {parts} parts were checkpointed: {}",
                self.stderr()
            );
            let finished = checkpoint_json(tmp)
                .and_then(|c| c["files"].as_array().map(Vec::len))
                .unwrap_or(0);
            if finished >= parts {
                return;
            }
            assert!(Instant::now() < deadline, "no checkpoint in {}", tmp.display());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `kill -<name>` (TERM, INT, KILL ...).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{name}");
    }

    /// Waits (at most 30 s) for the run to end.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the run did not end: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The checkpoint in the temporary folder `tmp`, if there is one yet.
pub fn checkpoint_json(tmp: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(tmp.join("_checkpoint.json")).ok()?;
    serde_json::from_str(&text).ok()
}
