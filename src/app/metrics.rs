//! Request metrics in the Prometheus text format, with no metrics crate: a counter per
//! (method, route, status) and a latency histogram per (method, route).
//!
//! Routes are the matched route templates (`/api/orders/{order_id}/events`), never raw
//! paths, and unmatched requests share one label, so a scanner cannot grow the label set
//! without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Route label for requests no route matched.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Default)]
struct Histogram {
    /// Requests at or below each bound of [`BUCKETS`] (cumulative, as Prometheus wants).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
}

/// The server's request metrics; cheap to update from every request.
#[derive(Debug, Default)]
pub struct Metrics {
    // One short critical section per request; contention is negligible at this scale.
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let h = inner
            .latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        for (bound, n) in BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        h.count += 1;
        h.sum_seconds += seconds;
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP caspers_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE caspers_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "caspers_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP caspers_http_request_duration_seconds HTTP request latency by method and route.\n",
        );
        out.push_str("# TYPE caspers_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &inner.latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (bound, n) in BUCKETS.iter().zip(h.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "caspers_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "caspers_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "caspers_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "caspers_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("GET", "/api/summary", 200, Duration::from_millis(3));
        m.record("GET", "/api/summary", 200, Duration::from_millis(30));
        m.record("GET", UNMATCHED, 404, Duration::from_micros(10));
        let text = m.render();
        assert!(text.contains(
            "caspers_http_requests_total{method=\"GET\",route=\"/api/summary\",status=\"200\"} 2\n"
        ));
        assert!(text.contains(
            "caspers_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"
        ));
        let bucket = |le: &str| {
            format!("caspers_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/api/summary\",le=\"{le}\"}} ")
        };
        assert!(text.contains(&(bucket("0.001") + "0\n")));
        assert!(text.contains(&(bucket("0.005") + "1\n")));
        assert!(text.contains(&(bucket("0.05") + "2\n")));
        assert!(text.contains(&(bucket("+Inf") + "2\n")));
        assert!(text.contains(
            "caspers_http_request_duration_seconds_count{method=\"GET\",route=\"/api/summary\"} 2\n"
        ));
    }
}
