//! The progress bar on stderr (indicatif): records, pages, rate, and an ETA
//! when the total is known. Shown on a terminal, or always, or never, as
//! the command line says. Log lines written while a bar is up go through
//! [`LogWriter`], which lifts the bar, writes the line, and redraws it, so
//! the two never interleave. It does not decide what to log.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

/// The bar of the job that is running, if one is shown.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A job's progress; a no-op when no bar is shown.
pub struct Progress {
    bar: Option<ProgressBar>,
    pages: u64,
}

impl Progress {
    /// A hidden progress: nothing drawn.
    pub fn hidden() -> Progress {
        Progress { bar: None, pages: 0 }
    }

    /// A bar for job `name`; `total` records when the count is known.
    /// `force` draws even when stderr is not a terminal.
    pub fn start(name: &str, total: Option<u64>, force: bool) -> Progress {
        let target = if force {
            ProgressDrawTarget::term_like_with_hz(Box::new(Stderr), 10)
        } else {
            ProgressDrawTarget::stderr_with_hz(10)
        };
        let template = match total {
            Some(_) => "{prefix} [{bar:30}] {human_pos}/{human_len} records, {msg}, {rate} records/s, ETA {eta}",
            None => "{prefix} {spinner} {human_pos} records, {msg}, {rate} records/s, {elapsed}",
        };
        let style = ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> ")
            .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            });
        let bar = ProgressBar::with_draw_target(total, target).with_style(style);
        bar.set_prefix(name.to_string());
        bar.set_message("0 pages");
        bar.enable_steady_tick(Duration::from_millis(200));
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        Progress {
            bar: Some(bar),
            pages: 0,
        }
    }

    /// Records of a resumed run that are already in finished parts.
    pub fn resumed(&self, records: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(records);
            bar.reset_eta();
        }
    }

    /// A status in place of the page count (the async export's state).
    pub fn message(&self, text: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(text);
        }
    }

    /// One page written with `records` records.
    pub fn page(&mut self, records: u64) {
        self.pages += 1;
        if let Some(bar) = &self.bar {
            bar.inc(records);
            bar.set_message(format!("{} pages", self.pages));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

/// stderr as a terminal indicatif draws to whether or not it is one
/// (`--progress always`).
#[derive(Debug)]
struct Stderr;

impl Stderr {
    fn emit(&self, s: &str) -> io::Result<()> {
        let mut err = io::stderr().lock();
        err.write_all(s.as_bytes())?;
        err.flush()
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        120
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}A"))
        } else {
            Ok(())
        }
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}B"))
        } else {
            Ok(())
        }
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}C"))
        } else {
            Ok(())
        }
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}D"))
        } else {
            Ok(())
        }
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.emit(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.emit(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.emit("\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// stderr for log lines: lifts the progress bar around each write.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}
