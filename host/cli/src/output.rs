//! What the CLI prints: transitions, logs, a spinner while waiting, and tracing.
//!
//! stdout carries the run's own story: one line per transition, the run's stdout lines
//! and its outputs, so `runplane run … > log` keeps exactly what happened. stderr
//! carries everything else: the run's stderr lines (where the process wrote them), the
//! spinner, warnings and the host's tracing. A transition line is `HH:MM:SS FROM → TO
//! reason`, states padded to the longest name (`COMPLETED`) so that the reasons line
//! up in a column whatever the states.

use std::io::Write as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use runplane_model::{OutputStream, RunState};
use runplane_service::ServiceEvent;
use time::OffsetDateTime;
use time::macros::format_description;

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
        .with_writer(std::io::stderr)
        .init();
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
        self.spinner
            .suspend(|| println!("{} {:<21} {what}", clock(at), RunState::Created));
    }

    /// Prints one event above the spinner: a transition with its reason, a log line on
    /// the stream the process wrote it to, each output as `output NAME = VALUE`.
    /// `Planned` (for metrics) and `Finished` (the caller's cue to stop) print nothing.
    pub(crate) fn show(&self, event: &ServiceEvent) {
        self.spinner.suspend(|| match event {
            ServiceEvent::Transition { transition, .. } => println!(
                "{} {:<9} → {:<9} {}",
                clock(transition.at),
                transition.from,
                transition.to,
                transition.reason.as_deref().unwrap_or_default()
            ),
            ServiceEvent::Log { line, .. } => match line.stream {
                OutputStream::Stdout => println!("{}", line.line),
                OutputStream::Stderr => eprintln!("{}", line.line),
            },
            ServiceEvent::Outputs { outputs, .. } => {
                for (name, value) in outputs {
                    println!("output {name} = {value}");
                }
            }
            ServiceEvent::Planned { .. } | ServiceEvent::Finished { .. } => {}
        });
        let _ = std::io::stdout().flush();
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
