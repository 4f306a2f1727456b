//! Logging, set up once at start. Text for people, JSON for log collectors; the filter follows RUST_LOG.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&settings.filter)
        .map_err(|e| anyhow::anyhow!("RUST_LOG {:?} is not a valid log filter: {e}", settings.filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(settings.format == LogFormat::Text && colours_wanted());
    let result = match settings.format {
        LogFormat::Text => builder.try_init(),
        // Every enclosing span, not just the innermost: a line logged by the database layer then still
        // names the handler and the request id, so a collector can group a request's lines.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("setting up logging: {e}"))
}

/// Colours only for a person at a terminal: a file, a pipe or a log collector would keep the escape codes
/// as text. NO_COLOR (https://no-color.org) turns them off everywhere.
fn colours_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}
