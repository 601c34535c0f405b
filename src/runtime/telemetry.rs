//! Structured logs with `tracing`: JSON for machines, text for people.
//!
//! The level comes from `--log-level` or, when that is not given, `RUST_LOG`, else `info`.
//! Secrets never reach a log line: the Mithril key is an `ApiKey` that redacts itself.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// Installs the global subscriber, writing to standard error. Call once, at start.
///
/// Besides the log lines, the subscriber counts reconciles by trigger
/// ([`super::reconcile_triggers`]) whatever the log level.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Colours only for a person at a terminal: escape codes in a log file or collector are noise.
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Text => lines.boxed(),
    };
    // A second call (tests, `demo` after `run` in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(super::reconcile_triggers::layer())
        .try_init();
}
