//! The proxy bench's figures, as text and as JSON.

use super::{Phase, Report};
use std::time::Duration;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(name: &str, p: &Phase) -> String {
    format!(
        "{name:<28}{:>10.0} req/s   p50 {:>6.3} ms   p99 {:>6.3} ms   conn setup {:>6.3} ms\n",
        p.per_sec(),
        ms(p.p50),
        ms(p.p99),
        ms(p.setup)
    )
}

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

    fn added_p50(&self) -> Duration {
        self.proxied_one.p50.saturating_sub(self.direct_one.p50)
    }

    fn added_p99(&self) -> Duration {
        self.proxied_one.p99.saturating_sub(self.direct_one.p99)
    }

    fn throughput_ratio(&self) -> f64 {
        self.proxied.per_sec() / self.direct.per_sec().max(1e-9)
    }

    /// Spelled out, so that a short count is not missed among the figures.
    fn mismatch(&self) -> String {
        let sent = i64::try_from(self.sent_through_proxy).unwrap_or(i64::MAX);
        match self.recorded.cmp(&sent) {
            std::cmp::Ordering::Equal => String::new(),
            std::cmp::Ordering::Less => format!(" ({} MISSING)", sent - self.recorded),
            std::cmp::Ordering::Greater => format!(" ({} MORE than sent)", self.recorded - sent),
        }
    }

    pub fn render(&self) -> String {
        let traffic = if self.tls {
            "HTTPS server answering SSM GetParameter (a CA made for the run); through the proxy: \
             CONNECT, then TLS with the proxy's CA"
        } else {
            "HTTP/1.1 server answering SSM GetParameter; through the proxy: absolute-form requests"
        };
        let mut s = format!(
            "upstream: local {traffic}; {} requests on {} keep-alive connections, then {} on one\n",
            self.proxied.requests, self.concurrency, self.proxied_one.requests
        );
        let c = self.concurrency;
        s += &row(&format!("direct ({c} conns)"), &self.direct);
        s += &row(&format!("through proxy ({c} conns)"), &self.proxied);
        s += &row("direct (1 conn)", &self.direct_one);
        s += &row("through proxy (1 conn)", &self.proxied_one);
        s += &format!(
            "added by the proxy: p50 +{:.3} ms, p99 +{:.3} ms on one connection; throughput {:.0}% \
             of direct with {c}\n",
            ms(self.added_p50()),
            ms(self.added_p99()),
            100.0 * self.throughput_ratio(),
        );
        s += &format!(
            "proxy process: {:.2} s CPU, peak RSS {:.1} MB; {} of {} proxied calls recorded{}\n",
            self.proxy_cpu.as_secs_f64(),
            self.proxy_peak_rss as f64 / 1e6,
            self.recorded,
            self.sent_through_proxy,
            self.mismatch()
        );
        if !self.proxy_said.is_empty() {
            s += &format!("the proxy said: {}\n", self.proxy_said);
        }
        s
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
