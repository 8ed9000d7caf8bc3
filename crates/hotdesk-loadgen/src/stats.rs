//! Counting outcomes and latencies, and printing them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::RunArgs;
use crate::em::{Op, Outcome};
use crate::target::Target;

/// Outcomes of a set of requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub success: u64,
    /// EM failure code -> count.
    pub em_failure: BTreeMap<u32, u64>,
    /// HTTP status -> count.
    pub http_error: BTreeMap<u16, u64>,
    /// Kind ("timeout", "connect", "other") -> count.
    pub transport_error: BTreeMap<&'static str, u64>,
    pub unexpected: u64,
}

impl Tally {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Success => self.success += 1,
            Outcome::EmFailure(code) => *self.em_failure.entry(*code).or_default() += 1,
            Outcome::Http(status) => *self.http_error.entry(*status).or_default() += 1,
            Outcome::Unexpected => self.unexpected += 1,
        }
    }

    pub fn add_transport(&mut self, kind: &'static str) {
        *self.transport_error.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.success += other.success;
        self.unexpected += other.unexpected;
        for (k, v) in &other.em_failure {
            *self.em_failure.entry(*k).or_default() += v;
        }
        for (k, v) in &other.http_error {
            *self.http_error.entry(*k).or_default() += v;
        }
        for (k, v) in &other.transport_error {
            *self.transport_error.entry(*k).or_default() += v;
        }
    }

    pub fn total(&self) -> u64 {
        self.success
            + self.unexpected
            + self.em_failure.values().sum::<u64>()
            + self.http_error.values().sum::<u64>()
            + self.transport_error.values().sum::<u64>()
    }
}

/// One operation's outcomes and the latencies (microseconds) of those that got an HTTP answer.
#[derive(Clone, Debug, Default)]
pub struct OpStats {
    pub tally: Tally,
    pub latencies_us: Vec<u64>,
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `q` of the values
/// at or below it. `None` for no values.
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

/// p50, p90, p99 and max of sorted values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

pub fn summarize(sorted: &[u64]) -> Option<Summary> {
    Some(Summary {
        p50: percentile(sorted, 0.50)?,
        p90: percentile(sorted, 0.90)?,
        p99: percentile(sorted, 0.99)?,
        max: *sorted.last()?,
    })
}

pub struct Report {
    pub elapsed: Duration,
    /// Why sending stopped: "duration" or "requests".
    pub stopped_by: &'static str,
    /// Indexed by `Op::index`; latencies sorted.
    pub ops: [OpStats; 3],
    /// All latencies, sorted.
    pub all_latencies_us: Vec<u64>,
    pub tally: Tally,
    /// The first example of each kind of trouble, for stderr.
    pub samples: BTreeMap<String, String>,
}

impl Report {
    pub fn new(elapsed: Duration, stopped_by: &'static str, mut ops: [OpStats; 3]) -> Report {
        let mut tally = Tally::default();
        let mut all = Vec::new();
        for s in &mut ops {
            s.latencies_us.sort_unstable();
            tally.merge(&s.tally);
            all.extend_from_slice(&s.latencies_us);
        }
        all.sort_unstable();
        Report {
            elapsed,
            stopped_by,
            ops,
            all_latencies_us: all,
            tally,
            samples: BTreeMap::new(),
        }
    }

    pub fn requests(&self) -> u64 {
        self.tally.total()
    }

    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests() as f64 / secs
        } else {
            0.0
        }
    }

    pub fn to_text(&self, args: &RunArgs, target: &Target) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "scenario     {}", args.scenario.name());
        let _ = writeln!(
            o,
            "target       {} ({})",
            target.endpoint,
            fmt_addrs(target)
        );
        let _ = writeln!(o, "concurrency  {}", args.concurrency);
        let _ = writeln!(
            o,
            "requests     {} (stopped by {})",
            self.requests(),
            self.stopped_by
        );
        let _ = writeln!(o, "elapsed      {:.3} s", self.elapsed.as_secs_f64());
        let _ = writeln!(o, "throughput   {:.1} requests/s", self.rate());
        let _ = writeln!(
            o,
            "latency      {}",
            fmt_summary(summarize(&self.all_latencies_us))
        );
        let _ = writeln!(o, "outcomes     {}", fmt_tally(&self.tally));
        for op in Op::ALL {
            let s = &self.ops[op.index()];
            let n = s.tally.total();
            if n == 0 {
                continue;
            }
            let _ = writeln!(
                o,
                "  {:<7} {n} requests, {:.1}/s; {}; {}",
                op.name(),
                n as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
                fmt_summary(summarize(&s.latencies_us)),
                fmt_tally(&s.tally)
            );
        }
        o
    }

    pub fn to_json(&self, args: &RunArgs, target: &Target) -> String {
        let mut o = String::from("{");
        let _ = write!(
            o,
            "\"scenario\":\"{}\",\"endpoint\":\"{}\",\"concurrency\":{},\"duration_limit_s\":{},\
             \"request_limit\":{},\"stopped_by\":\"{}\",\"requests\":{},\"elapsed_s\":{:.6},\
             \"requests_per_s\":{:.3},\"latency_us\":{},\"outcomes\":{},\"operations\":{{",
            args.scenario.name(),
            json_escape(target.endpoint.as_str()),
            args.concurrency,
            args.duration,
            args.requests
                .map_or_else(|| "null".to_string(), |n| n.to_string()),
            self.stopped_by,
            self.requests(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            json_summary(summarize(&self.all_latencies_us)),
            json_tally(&self.tally),
        );
        let mut first = true;
        for op in Op::ALL {
            let s = &self.ops[op.index()];
            if s.tally.total() == 0 {
                continue;
            }
            if !first {
                o.push(',');
            }
            first = false;
            let _ = write!(
                o,
                "\"{}\":{{\"requests\":{},\"latency_us\":{},\"outcomes\":{}}}",
                op.name(),
                s.tally.total(),
                json_summary(summarize(&s.latencies_us)),
                json_tally(&s.tally)
            );
        }
        o.push_str("}}");
        o
    }
}

fn fmt_addrs(target: &Target) -> String {
    target
        .addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn fmt_summary(s: Option<Summary>) -> String {
    match s {
        Some(s) => format!(
            "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max)
        ),
        None => "no answers".to_string(),
    }
}

fn fmt_tally(t: &Tally) -> String {
    let mut parts = vec![format!("success {}", t.success)];
    for (code, n) in &t.em_failure {
        parts.push(format!("EM code {code}: {n}"));
    }
    for (status, n) in &t.http_error {
        parts.push(format!("HTTP {status}: {n}"));
    }
    for (kind, n) in &t.transport_error {
        parts.push(format!("transport {kind}: {n}"));
    }
    if t.unexpected > 0 {
        parts.push(format!("unexpected answer: {}", t.unexpected));
    }
    parts.join(", ")
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn json_summary(s: Option<Summary>) -> String {
    match s {
        Some(s) => format!(
            "{{\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{}}}",
            s.p50, s.p90, s.p99, s.max
        ),
        None => "null".to_string(),
    }
}

fn json_map<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> String {
    let body = m
        .iter()
        .map(|(k, v)| format!("\"{}\":{v}", json_escape(&k.to_string())))
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{body}}}")
}

fn json_tally(t: &Tally) -> String {
    format!(
        "{{\"success\":{},\"em_failure\":{},\"http_error\":{},\"transport_error\":{},\"unexpected\":{}}}",
        t.success,
        json_map(&t.em_failure),
        json_map(&t.http_error),
        json_map(&t.transport_error),
        t.unexpected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), Some(50));
        assert_eq!(percentile(&v, 0.90), Some(90));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[1, 2], 0.5), Some(1));
        assert_eq!(percentile(&[1, 2], 0.51), Some(2));
        assert_eq!(percentile(&[], 0.5), None);
        let s = summarize(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 1000]).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (5, 9, 1000, 1000));
    }

    #[test]
    fn tallies_count_and_merge() {
        let mut a = Tally::default();
        a.add(&Outcome::Success);
        a.add(&Outcome::EmFailure(26));
        a.add(&Outcome::EmFailure(26));
        a.add(&Outcome::Http(500));
        a.add_transport("timeout");
        let mut b = Tally::default();
        b.add(&Outcome::EmFailure(18));
        b.add(&Outcome::Unexpected);
        b.merge(&a);
        assert_eq!(b.total(), 7);
        assert_eq!(b.em_failure.get(&26), Some(&2));
        assert_eq!(
            json_tally(&b),
            "{\"success\":1,\"em_failure\":{\"18\":1,\"26\":2},\"http_error\":{\"500\":1},\
             \"transport_error\":{\"timeout\":1},\"unexpected\":1}"
        );
        assert_eq!(
            fmt_tally(&b),
            "success 1, EM code 18: 1, EM code 26: 2, HTTP 500: 1, transport timeout: 1, unexpected answer: 1"
        );
    }
}
