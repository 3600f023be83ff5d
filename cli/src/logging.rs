//! The agent's and the sidecar's logging: plain lines, or with `-log-json`
//! (`log_json = true`) one JSON object per line in hclog's shape, as
//! Consul writes them: `{"@level":"info","@message":"...","@module":"...",
//! "@timestamp":"..."}` plus the event's fields.

use std::fmt;

use serde_json::Map;
use serde_json::Value;
use tessera_server::monitor::Fields;
use tracing::Event;
use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::FormatEvent;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber. `level` is Consul's (TRACE, DEBUG, INFO,
/// WARN, ERR; any case). The agent also feeds `/v1/agent/monitor`
/// (`monitor`), whose requests may ask for more than `level`: so the level
/// filters this output only, not the process.
pub fn init(level: &str, json: bool, monitor: bool) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let directive = check_level(level)?;
    // Our crates log at the chosen level; dependencies only warn and above
    // unless tracing is asked for.
    let filter = if directive == "trace" {
        "trace".to_string()
    } else {
        format!(
            "warn,tessera={directive},tessera_server={directive},tessera_proxy={directive},openraft={}",
            if directive == "debug" { "info" } else { "warn" }
        )
    };
    let output = tracing_subscriber::fmt::layer();
    let output = match json {
        true => output.event_format(JsonLines).boxed(),
        false => {
            use std::io::IsTerminal;
            output.with_target(false).with_ansi(std::io::stdout().is_terminal()).boxed()
        }
    };
    let monitor = monitor.then(tessera_server::monitor::layer);
    tracing_subscriber::registry()
        .with(output.with_filter(tracing_subscriber::EnvFilter::new(filter)))
        .with(monitor)
        .try_init()
        .map_err(|e| e.to_string())
}

/// The tracing level `level` names.
pub fn check_level(level: &str) -> Result<&'static str, String> {
    match level.to_ascii_lowercase().as_str() {
        "trace" => Ok("trace"),
        "debug" => Ok("debug"),
        "info" => Ok("info"),
        "warn" => Ok("warn"),
        "err" | "error" => Ok("error"),
        _ => Err(format!("Invalid log level: {level}. Valid log levels are: [TRACE DEBUG INFO WARN ERR]")),
    }
}

/// hclog's JSON line format.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut timestamp = String::new();
        tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = Map::new();
        line.insert("@level".into(), Value::from(level_name(meta.level())));
        line.insert("@message".into(), fields.0.remove("message").unwrap_or(Value::from("")));
        line.insert("@module".into(), Value::from(meta.target()));
        line.insert("@timestamp".into(), Value::from(timestamp));
        line.extend(fields.0);
        writeln!(writer, "{}", Value::Object(line))
    }
}

fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::TRACE => "trace",
        tracing::Level::DEBUG => "debug",
        tracing::Level::INFO => "info",
        tracing::Level::WARN => "warn",
        tracing::Level::ERROR => "error",
    }
}
