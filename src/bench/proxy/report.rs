//! The proxy bench's figures, as text and as JSON.

use super::{Phase, Report};
use crate::output::bench::ms;
use std::time::Duration;

fn phase_json(p: &Phase) -> serde_json::Value {
    serde_json::json!({
        "requests": p.requests,
        "seconds": p.wall.as_secs_f64(),
        "requests_per_second": p.per_sec(),
        "p50_ms": ms(p.p50),
        "p99_ms": ms(p.p99),
        "connection_setup_ms": ms(p.setup),
    })
}

impl Report {
    fn mode(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    pub fn added_p50(&self) -> Duration {
        self.proxied_one.p50.saturating_sub(self.direct_one.p50)
    }

    pub fn added_p99(&self) -> Duration {
        self.proxied_one.p99.saturating_sub(self.direct_one.p99)
    }

    pub fn throughput_ratio(&self) -> f64 {
        self.proxied.per_sec() / self.direct.per_sec().max(1e-9)
    }

    /// Spelled out, so that a short count is not missed among the figures.
    pub fn mismatch(&self) -> String {
        let sent = i64::try_from(self.sent_through_proxy).unwrap_or(i64::MAX);
        match self.recorded.cmp(&sent) {
            std::cmp::Ordering::Equal => String::new(),
            std::cmp::Ordering::Less => format!(" ({} MISSING)", sent - self.recorded),
            std::cmp::Ordering::Greater => format!(" ({} MORE than sent)", self.recorded - sent),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode(),
            "concurrency": self.concurrency,
            "direct": phase_json(&self.direct),
            "through_proxy": phase_json(&self.proxied),
            "direct_one_connection": phase_json(&self.direct_one),
            "through_proxy_one_connection": phase_json(&self.proxied_one),
            "added_p50_ms": ms(self.added_p50()),
            "added_p99_ms": ms(self.added_p99()),
            "throughput_ratio": self.throughput_ratio(),
            "proxy_cpu_seconds": self.proxy_cpu.as_secs_f64(),
            "proxy_peak_rss_bytes": self.proxy_peak_rss,
            "proxied_requests": self.sent_through_proxy,
            "recorded_calls": self.recorded,
            "proxy_stderr": self.proxy_said,
        })
    }
}
