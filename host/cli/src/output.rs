//! What the CLI prints: transitions, logs, a spinner while waiting, and tracing.
//!
//! Everything printed passes through here, for two reasons. Text that comes from a
//! runtime, a run or a server (runtime names, field errors, plan errors, transition
//! reasons, log lines, outputs) is untrusted: an escape sequence in it would reach the
//! terminal (`ESC]0;` retitles the window, `ESC[2J` clears it) and a newline would forge
//! a line of the CLI's own, so every such string goes through [`escape_controls`] at the
//! point of printing. And stdout may close under the CLI (`runplane plan … | head`):
//! [`outln!`] then stops writing instead of panicking as `println!` does, and
//! [`stdout_closed`] tells a command that nobody is reading any more.
//!
//! stdout carries the run's own story: one line per transition, the run's stdout lines
//! and its outputs, so `runplane run … > log` keeps exactly what happened. stderr
//! carries everything else: the run's stderr lines (where the process wrote them), the
//! spinner, warnings and the host's tracing. A transition line is `HH:MM:SS FROM → TO
//! reason`, states padded to the longest name (`COMPLETED`) so that the reasons line
//! up in a column whatever the states.

use std::borrow::Cow;
use std::io::{self, Write as _};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use runplane_model::{OutputStream, RunState};
use runplane_service::ServiceEvent;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::sync::watch;

/// Control characters (C0 but tab, DEL, C1) as `\u{..}`; newlines kept for multi-line
/// bodies. One implementation with the engine's boundary, which escapes the same way.
pub(crate) use runplane_model::text::escape_controls;

/// [`escape_controls`] of a single value: its newlines escaped too.
pub(crate) fn line(text: &str) -> Cow<'_, str> {
    escape_controls(text, false)
}

/// `println!` that survives a closed stdout: see [`print_stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// `eprintln!` that survives a closed stderr (its errors are dropped: there is nowhere
/// left to report them).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::print_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use errln;

/// Set once stdout cannot be written any more; [`stdout_closed`] waits for it.
fn closed() -> &'static watch::Sender<bool> {
    static CLOSED: OnceLock<watch::Sender<bool>> = OnceLock::new();
    CLOSED.get_or_init(|| watch::channel(false).0)
}

/// Writes `text` to stdout and flushes it, so followed output shows as it comes. Once
/// a write fails (the reader went away: `EPIPE`), nothing more is written and
/// [`stdout_closed`] resolves; a broken pipe is the reader's choice and is not reported,
/// any other failure is, once, on stderr.
pub(crate) fn print_stdout(text: std::fmt::Arguments<'_>) {
    if is_stdout_closed() {
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() != io::ErrorKind::BrokenPipe {
            print_stderr(format_args!("warning: cannot write to stdout: {error}\n"));
        }
        closed().send_replace(true);
    }
}

/// Writes `text` to stderr, dropping a failure.
pub(crate) fn print_stderr(text: std::fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(text);
}

/// Whether stdout was found closed.
pub(crate) fn is_stdout_closed() -> bool {
    *closed().borrow()
}

/// Resolves once stdout was found closed: a command following a run stops then, as a
/// program killed by `SIGPIPE` would, but through its normal path.
pub(crate) async fn stdout_closed() {
    let mut closed = closed().subscribe();
    let _ = closed.wait_for(|closed| *closed).await;
}

/// Logs go to stderr; `-v` shows info, `-vv` debug; `RUST_LOG` overrides. Warnings only
/// by default: the host's info lines (a runtime loaded, a watch started) would
/// otherwise interleave with the run's output.
pub(crate) fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| OneLine(io::stderr()))
        .init();
}

/// A writer for tracing (stderr), one event per line. The formatter escapes terminal
/// escapes inside field values itself, but not newlines or carriage returns, with which a
/// value (an error carrying a runtime's message) could forge another line: those, and
/// the other C0 controls but the formatter's own `ESC` colours and tabs, are escaped
/// here. The formatter writes each event with one `write_all`, ending in its newline.
struct OneLine<W>(W);

impl<W: io::Write> io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let forged = |b: &u8| b.is_ascii_control() && !matches!(b, b'\x1b' | b'\t');
        if !body.iter().any(forged) {
            return self.0.write_all(buf).map(|()| buf.len());
        }
        let mut escaped = Vec::with_capacity(buf.len() + 16);
        for byte in body {
            if forged(byte) {
                escaped.extend_from_slice(format!("\\u{{{byte:x}}}").as_bytes());
            } else {
                escaped.push(*byte);
            }
        }
        escaped.extend_from_slice(end);
        self.0.write_all(&escaped).map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Prints a run's events as they come, with a spinner on a terminal in between.
pub(crate) struct Follower {
    /// Drawn on stderr, its message the run's current state. Every line is printed
    /// through [`ProgressBar::suspend`], which clears the spinner first and redraws it
    /// after, so a frame never ends up in the middle of a line.
    spinner: ProgressBar,
}

impl Follower {
    /// A follower for run `id`; the spinner stays hidden when stderr is not a terminal.
    pub(crate) fn new(id: &str) -> Self {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("the template is valid"),
        );
        spinner.set_message(format!("run {id}"));
        spinner.enable_steady_tick(Duration::from_millis(120));
        Follower { spinner }
    }

    /// Prints the run's first line: when it was accepted, and what it is. CREATED is
    /// padded to the width of `FROM → TO` in [`show`](Self::show), so `what` sits in
    /// the column of the reasons.
    pub(crate) fn created(&self, at: OffsetDateTime, what: &str) {
        self.spinner.suspend(|| {
            outln!("{} {:<21} {}", clock(at), RunState::Created, line(what));
        });
    }

    /// Prints one event above the spinner: a transition with its reason, a log line on
    /// the stream the process wrote it to, each output as `output NAME = VALUE`.
    /// `Planned` (for metrics) and `Finished` (the caller's cue to stop) print nothing.
    pub(crate) fn show(&self, event: &ServiceEvent) {
        self.spinner.suspend(|| match event {
            ServiceEvent::Transition { transition, .. } => outln!(
                "{} {:<9} → {:<9} {}",
                clock(transition.at),
                transition.from,
                transition.to,
                line(transition.reason.as_deref().unwrap_or_default())
            ),
            ServiceEvent::Log { line: log, .. } => match log.stream {
                OutputStream::Stdout => outln!("{}", line(&log.line)),
                OutputStream::Stderr => errln!("{}", line(&log.line)),
            },
            ServiceEvent::Outputs { outputs, .. } => {
                for (name, value) in outputs {
                    print_output(name, value);
                }
            }
            ServiceEvent::Planned { .. } | ServiceEvent::Finished { .. } => {}
        });
        if let ServiceEvent::Transition { transition, .. } = event {
            self.spinner.set_message(transition.to.to_string());
        }
    }

    /// Clears the spinner for good, before the run's verdict is printed.
    pub(crate) fn finish(&self) {
        self.spinner.finish_and_clear();
    }
}

/// `13:25:11`: the time of day a transition happened, in the offset the host recorded
/// it in (UTC).
fn clock(at: OffsetDateTime) -> String {
    at.format(format_description!("[hour]:[minute]:[second]"))
        .unwrap_or_default()
}

/// Prints one output of a run: `output <name> = <value>`. A workflow's `nodes` (a JSON
/// list, rewritten as its steps go on) shows as its steps' states in the order they
/// started, `extract Succeeded, transform Running`, rather than the whole list each time.
pub(crate) fn print_output(name: &str, value: &str) {
    let steps = (name == "nodes").then(|| steps(value)).flatten();
    match steps {
        Some(steps) => outln!("output nodes: {}", line(&steps)),
        None => outln!("output {} = {}", line(name), line(value)),
    }
}

/// `<step> <state>, …` of the `Pod` nodes of a workflow's `nodes` output.
fn steps(nodes: &str) -> Option<String> {
    let nodes: Vec<serde_json::Value> = serde_json::from_str(nodes).ok()?;
    let steps: Vec<String> = nodes
        .iter()
        .filter(|node| node["type"] == "Pod")
        .map(|node| {
            format!(
                "{} {}",
                node["display_name"].as_str().unwrap_or("?"),
                node["state"].as_str().unwrap_or("?")
            )
        })
        .collect();
    (!steps.is_empty()).then(|| steps.join(", "))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn a_workflows_nodes_show_as_its_steps_states() {
        let nodes = r#"[{"type": "DAG", "display_name": "etl", "state": "Running"},
            {"type": "Pod", "display_name": "extract", "state": "Succeeded"},
            {"type": "Pod", "display_name": "load", "state": "Running"}]"#;
        assert_eq!(
            steps(nodes).as_deref(),
            Some("extract Succeeded, load Running")
        );
        assert_eq!(steps("[]"), None, "no step yet: the list as it is");
        assert_eq!(steps("not a list"), None);
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_not_copied() {
        assert!(matches!(
            escape_controls("plain é ✓ \\u{1b}", false),
            Cow::Borrowed(_)
        ));
        let rows = [
            // An OSC title, a screen clear, a bell, a C1 CSI, DEL.
            ("a\u{1b}]0;pwned\u{7}b", "a\\u{1b}]0;pwned\\u{7}b"),
            ("\u{1b}[2J\u{9b}31m\u{7f}", "\\u{1b}[2J\\u{9b}31m\\u{7f}"),
            // A forged line, a carriage return over the line, a tab kept.
            (
                "ok\n13:25:11 RUNNING   → COMPLETED exit code 0",
                "ok\\u{a}13:25:11 RUNNING   → COMPLETED exit code 0",
            ),
            (
                "progress 10%\rprogress 20%",
                "progress 10%\\u{d}progress 20%",
            ),
            ("name\tvalue", "name\tvalue"),
        ];
        for (text, escaped) in rows {
            assert_eq!(escape_controls(text, false), escaped, "{text:?}");
            assert_eq!(line(text), escaped, "{text:?}");
        }
        assert_eq!(
            escape_controls("one\ntwo\r\n\u{1b}[1mthree\n", true),
            "one\ntwo\\u{d}\n\\u{1b}[1mthree\n"
        );
    }

    /// What tracing writes for an event whose message carries a newline, a carriage
    /// return and a vertical tab: one line, its own colour codes untouched.
    #[test]
    fn a_tracing_event_stays_one_line() {
        let mut written = OneLine(Vec::new());
        let event = b"\x1b[33m WARN\x1b[0m bad\nINFO forged\r\x0b\tend\n";
        assert_eq!(written.write(event).unwrap(), event.len());
        let plain = b"INFO fine\n";
        assert_eq!(written.write(plain).unwrap(), plain.len());
        assert_eq!(
            String::from_utf8(written.0).unwrap(),
            "\u{1b}[33m WARN\u{1b}[0m bad\\u{a}INFO forged\\u{d}\\u{b}\tend\nINFO fine\n"
        );
    }
}
