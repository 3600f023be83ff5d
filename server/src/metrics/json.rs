//! Consul's `/v1/agent/metrics` JSON (go-metrics' `MetricsSummary`: a
//! Timestamp, Gauges, Points, Counters and Samples) built from the text
//! exposition, so both formats show one set of values.
//!
//! Consul's values cover its last 10-second interval; these are totals
//! since the agent started, and each `Rate` is per second over that time.
//! Counters count one per event, so their Min, Max and Mean are 1. A
//! sample's Min, Max and Stddev are estimated from its histogram buckets
//! (bucket bounds and midpoints): the exposition keeps no single values.

use std::collections::BTreeMap;
use std::collections::HashMap;

use serde_json::json;
use serde_json::Value;

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A family: its `# TYPE` line and the sample lines under it.
#[derive(Debug, Default)]
pub(crate) struct Family {
    pub name: String,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// The families of an exposition, in order; lines that do not parse are
/// skipped (the exposition is our own, so there are none).
pub(crate) fn parse(text: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            families.push(Family { name: name.into(), kind: kind.into(), samples: Vec::new() });
        } else if !line.starts_with('#') && !line.is_empty() {
            if let (Some(family), Some(sample)) = (families.last_mut(), parse_sample(line)) {
                family.samples.push(sample);
            }
        }
    }
    families
}

pub(crate) fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.trim_start().split(' ').next()?;
    Some(Sample { name, labels, value: parse_value(value)? })
}

/// `a="x",b="y\"z"}` and what follows the closing brace.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after_key) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after_key.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim_start_matches(',').to_string(), value));
        text = &after_key[end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// The whole answer. `names` maps exposed family names to Consul's dotted
/// ones; `uptime` is in seconds.
pub(crate) fn summary(exposition: &str, names: &HashMap<String, String>, uptime: f64) -> Value {
    let (mut gauges, mut counters, mut samples) = (Vec::new(), Vec::new(), Vec::new());
    for family in parse(exposition) {
        let name = names.get(&family.name).cloned().unwrap_or_else(|| family.name.clone());
        match family.kind.as_str() {
            "counter" => counters.extend(family.samples.iter().map(|s| counter(&name, s, uptime))),
            "histogram" => samples.extend(histograms(&family).iter().map(|h| h.to_json(&name, uptime))),
            _ => gauges.extend(family.samples.iter().map(|s| gauge(&name, s))),
        }
    }
    for list in [&mut gauges, &mut counters, &mut samples] {
        list.sort_by_key(|v| (v["Name"].to_string(), v["Labels"].to_string()));
    }
    json!({"Timestamp": timestamp(), "Gauges": gauges, "Points": [], "Counters": counters, "Samples": samples})
}

/// Now, as Go prints a UTC time: `2026-01-02 15:04:05 +0000 UTC`.
fn timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    format!("{:04}-{:02}-{:02} {h:02}:{m:02}:{s:02} +0000 UTC", t.year(), u8::from(t.month()), t.day())
}

fn labels(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().filter(|(k, _)| k != "le").map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// JSON has no infinities or NaN: those show as 0.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn gauge(name: &str, sample: &Sample) -> Value {
    json!({"Name": name, "Value": finite(sample.value), "Labels": labels(&sample.labels)})
}

fn counter(name: &str, sample: &Sample, uptime: f64) -> Value {
    let n = finite(sample.value);
    let one = if n > 0.0 { 1.0 } else { 0.0 };
    json!({"Name": name, "Count": n as u64, "Rate": n / uptime, "Sum": n, "Min": one, "Max": one,
        "Mean": one, "Stddev": 0.0, "Labels": labels(&sample.labels)})
}

/// One labelled histogram: its buckets (upper bound, cumulative count),
/// sum and count.
#[derive(Debug, Default)]
struct Histogram {
    labels: Vec<(String, String)>,
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

fn histograms(family: &Family) -> Vec<Histogram> {
    let mut by_labels: BTreeMap<Vec<(String, String)>, Histogram> = BTreeMap::new();
    for sample in &family.samples {
        let mut key = sample.labels.clone();
        let le = key.iter().position(|(k, _)| k == "le").map(|i| key.remove(i).1);
        let h = by_labels.entry(key.clone()).or_insert_with(|| Histogram { labels: key, ..Histogram::default() });
        match sample.name.strip_prefix(family.name.as_str()) {
            Some("_bucket") => {
                h.buckets.push((le.and_then(|b| parse_value(&b)).unwrap_or(f64::INFINITY), sample.value))
            }
            Some("_sum") => h.sum = sample.value,
            Some("_count") => h.count = sample.value,
            _ => {}
        }
    }
    by_labels.into_values().collect()
}

impl Histogram {
    /// Each bucket as (lower bound, upper bound, observations in it).
    fn ranges(&self) -> Vec<(f64, f64, f64)> {
        let mut previous = (0.0, 0.0);
        let mut out = Vec::new();
        for &(upper, cumulative) in &self.buckets {
            out.push((previous.0, upper, cumulative - previous.1));
            previous = (upper, cumulative);
        }
        out
    }

    fn to_json(&self, name: &str, uptime: f64) -> Value {
        let ranges: Vec<_> = self.ranges().into_iter().filter(|(_, _, n)| *n > 0.0).collect();
        let mean = if self.count > 0.0 { self.sum / self.count } else { 0.0 };
        let midpoint = |lo: f64, hi: f64| if hi.is_finite() { (lo + hi) / 2.0 } else { lo };
        let min = ranges.first().map_or(0.0, |r| r.0);
        let max = ranges.last().map_or(0.0, |r| if r.1.is_finite() { r.1 } else { r.0 });
        let squares: f64 = ranges.iter().map(|&(lo, hi, n)| n * (midpoint(lo, hi) - mean).powi(2)).sum();
        let stddev = if self.count > 1.0 { (squares / (self.count - 1.0)).sqrt() } else { 0.0 };
        json!({"Name": name, "Count": self.count as u64, "Rate": finite(self.sum) / uptime, "Sum": finite(self.sum),
            "Min": min, "Max": max, "Mean": finite(mean), "Stddev": finite(stddev), "Labels": labels(&self.labels)})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"v \\\"q\\\"\"} 3\n\
        # HELP g G.\n# TYPE g gauge\ng 7\n\
        # HELP h H.\n# TYPE h histogram\nh_bucket{m=\"x\",le=\"1\"} 1\nh_bucket{m=\"x\",le=\"10\"} 3\n\
        h_bucket{m=\"x\",le=\"+Inf\"} 3\nh_sum{m=\"x\"} 12\nh_count{m=\"x\"} 3\n";

    #[test]
    fn lines_parse_with_escaped_label_values() {
        let sample = parse_sample("a_total{k=\"v \\\"q\\\"\",z=\"\"} 3").unwrap();
        assert_eq!(sample.labels, [("k".to_string(), "v \"q\"".to_string()), ("z".into(), "".into())]);
        assert_eq!(sample.value, 3.0);
        assert_eq!(parse_sample("b 1.5").unwrap().labels, []);
    }

    #[test]
    fn the_summary_has_consul_names_and_shapes() {
        let names: HashMap<String, String> = [("a_total", "consul.a"), ("h", "consul.h")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = summary(TEXT, &names, 2.0);
        assert_eq!(out["Counters"][0]["Name"], "consul.a");
        assert_eq!(out["Counters"][0]["Count"], 3);
        assert_eq!(out["Counters"][0]["Rate"], 1.5);
        assert_eq!(out["Counters"][0]["Labels"]["k"], "v \"q\"");
        assert_eq!(out["Gauges"][0], json!({"Name": "g", "Value": 7.0, "Labels": {}}));
        let h = &out["Samples"][0];
        assert_eq!(
            (h["Name"].as_str(), h["Count"].as_u64(), h["Sum"].as_f64()),
            (Some("consul.h"), Some(3), Some(12.0))
        );
        assert_eq!((h["Min"].as_f64(), h["Max"].as_f64(), h["Mean"].as_f64()), (Some(0.0), Some(10.0), Some(4.0)));
        assert_eq!(h["Labels"], json!({"m": "x"}));
        assert_eq!(out["Points"], json!([]));
        assert!(out["Timestamp"].as_str().unwrap().ends_with(" +0000 UTC"));
    }
}
