//! Log lines for `/v1/agent/monitor`: a tracing layer that hands each
//! event, formatted as hclog does (plain and JSON), to the requests
//! streaming logs. Each request asks for a level of its own, which may be
//! more verbose than the agent's `log_level`; the layer's filter follows
//! the most verbose request and turns itself off when none is open, so no
//! event is formatted for nobody.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::OnceLock;

use serde_json::Map;
use serde_json::Value;
use tokio::sync::broadcast;
use tracing::field::Field;
use tracing::field::Visit;
use tracing::Event;
use tracing::Level;
use tracing::Metadata;
use tracing::Subscriber;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::Layer;

/// Lines a slow reader may fall behind by before lines are dropped for it.
const BACKLOG: usize = 1024;

/// One event, formatted both ways.
#[derive(Debug)]
pub struct LogLine {
    pub level: Level,
    pub plain: String,
    pub json: String,
}

pub struct LogHub {
    lines: broadcast::Sender<Arc<LogLine>>,
    /// Open requests per level, TRACE first (tracing's order, most verbose
    /// last, is reversed here so index 0 is the most verbose).
    open: [AtomicUsize; 5],
}

const LEVELS: [Level; 5] = [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR];

fn slot(level: Level) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(2)
}

/// The process's one hub: tracing's dispatcher is process-wide too.
pub fn hub() -> &'static LogHub {
    static HUB: OnceLock<LogHub> = OnceLock::new();
    HUB.get_or_init(|| LogHub { lines: broadcast::channel(BACKLOG).0, open: Default::default() })
}

/// An open monitor request: its lines, at its level and above.
pub struct Subscription {
    pub lines: broadcast::Receiver<Arc<LogLine>>,
    pub level: Level,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        hub().open[slot(self.level)].fetch_sub(1, Ordering::SeqCst);
        tracing::callsite::rebuild_interest_cache();
    }
}

impl LogHub {
    pub fn subscribe(&self, level: Level) -> Subscription {
        let lines = self.lines.subscribe();
        self.open[slot(level)].fetch_add(1, Ordering::SeqCst);
        // Callsites cached as disabled must be asked again.
        tracing::callsite::rebuild_interest_cache();
        Subscription { lines, level }
    }

    /// The most verbose level any open request wants; None when none is open.
    fn most_verbose(&self) -> Option<Level> {
        LEVELS.iter().zip(&self.open).find(|(_, n)| n.load(Ordering::Relaxed) > 0).map(|(l, _)| *l)
    }
}

/// Consul's level names for `?loglevel=` (any case; `err` for error).
pub fn parse_level(name: &str) -> Option<Level> {
    match name.to_ascii_lowercase().as_str() {
        "trace" => Some(Level::TRACE),
        "debug" => Some(Level::DEBUG),
        "info" => Some(Level::INFO),
        "warn" => Some(Level::WARN),
        "err" | "error" => Some(Level::ERROR),
        _ => None,
    }
}

/// The layer to install beside the agent's own output, with its filter.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    MonitorLayer.with_filter(MonitorFilter)
}

struct MonitorLayer;

impl<S: Subscriber> Layer<S> for MonitorLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let hub = hub();
        if hub.lines.receiver_count() == 0 {
            return;
        }
        let _ = hub.lines.send(Arc::new(format_event(event)));
    }
}

/// Tessera's crates at the requested level; dependencies at warn and above
/// unless trace is asked for (as the agent's own output).
struct MonitorFilter;

impl<S> Filter<S> for MonitorFilter {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        let Some(most) = hub().most_verbose() else { return false };
        let ours = meta.target().starts_with("tessera");
        let level = if ours || most == Level::TRACE { most } else { Level::WARN.min(most) };
        *meta.level() <= level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(hub().most_verbose().map_or(LevelFilter::OFF, LevelFilter::from_level))
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// hclog's two shapes: `2026-12-01T11:19:20.123Z [INFO]  module: message: key=value`
/// and `{"@level":"info","@message":...,"@module":...,"@timestamp":...,key:value}`.
pub fn format_event(event: &Event<'_>) -> LogLine {
    let meta = event.metadata();
    let mut fields = Fields(Map::new());
    event.record(&mut fields);
    let message = fields.0.remove("message").and_then(|m| m.as_str().map(str::to_string)).unwrap_or_default();
    let timestamp = timestamp();
    let mut plain = format!("{timestamp} [{:<5}] {}: {message}", meta.level(), meta.target());
    for (key, value) in &fields.0 {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        let _ = write!(plain, ": {key}={text}");
    }
    let mut line = Map::new();
    line.insert("@level".into(), Value::from(level_name(meta.level())));
    line.insert("@message".into(), Value::from(message));
    line.insert("@module".into(), Value::from(meta.target()));
    line.insert("@timestamp".into(), Value::from(timestamp));
    line.extend(fields.0);
    LogLine { level: *meta.level(), plain, json: Value::Object(line).to_string() }
}

/// An event's fields as JSON values, by name.
pub struct Fields(pub Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}
