//! What the CLI prints: transitions, logs, a spinner while waiting, and tracing.

use std::io::Write as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use runplane_control::RunEvent;
use runplane_target_local::Stream;
use time::macros::format_description;

/// Logs go to stderr; `-v` shows info, `-vv` debug; `RUST_LOG` overrides.
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

    /// Prints one event above the spinner.
    pub(crate) fn show(&self, event: &RunEvent) {
        self.spinner.suspend(|| match event {
            RunEvent::Transition(transition) => {
                let at = transition
                    .at
                    .format(format_description!("[hour]:[minute]:[second]"))
                    .unwrap_or_default();
                let reason = transition.reason.as_deref().unwrap_or_default();
                if transition.from == transition.to {
                    println!("{at} {:<21} {reason}", transition.to);
                } else {
                    println!(
                        "{at} {:<9} → {:<9} {reason}",
                        transition.from, transition.to
                    );
                }
            }
            RunEvent::Log {
                stream: Stream::Stdout,
                line,
            } => println!("{line}"),
            RunEvent::Log {
                stream: Stream::Stderr,
                line,
            } => eprintln!("{line}"),
            RunEvent::Outputs(outputs) => {
                for (name, value) in outputs {
                    println!("output {name} = {value}");
                }
            }
            RunEvent::Planned { .. } => {}
        });
        let _ = std::io::stdout().flush();
        if let RunEvent::Transition(transition) = event {
            self.spinner.set_message(transition.to.to_string());
        }
    }

    /// Removes the spinner.
    pub(crate) fn finish(&self) {
        self.spinner.finish_and_clear();
    }
}
