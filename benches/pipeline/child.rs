//! Child processes of the bench: spawn, and reap with `wait4` so the kernel
//! hands back the child's own rusage (user+sys CPU, peak RSS). Also reads a
//! live process's CPU from `/proc/<pid>/stat` (the sandbox keeps running
//! across scenarios). Linux only; knows nothing of orgsync.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one finished child cost.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall: Duration,
    /// ru_utime + ru_stime.
    pub cpu: Duration,
    /// ru_maxrss, bytes.
    pub max_rss: u64,
    pub exit_code: i32,
}

/// Spawns `cmd` with stdout piped, waits for it with `wait4` and returns its
/// stdout and usage.
pub fn run(mut cmd: Command) -> std::io::Result<(String, Usage)> {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let usage = reap(&child, started)?;
    Ok((out, usage))
}

/// Waits for `child` with `wait4`; `started` is when it was spawned.
pub fn reap(child: &Child, started: Instant) -> std::io::Result<Usage> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let got = loop {
        // SAFETY: valid pointers to locals, pid is our unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    if got == -1 {
        return Err(std::io::Error::last_os_error());
    }
    let wall = started.elapsed();
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok(Usage {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss: (ru.ru_maxrss as u64) * 1024,
        exit_code,
    })
}

/// User+sys CPU a live process has used so far (`/proc/<pid>/stat`).
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some(Duration::from_secs_f64((utime + stime) as f64 / ticks))
}
