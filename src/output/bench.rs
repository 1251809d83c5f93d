//! `bench`'s reports as text (`--json` prints their JSON form).

use crate::bench::drift::{start, Report as DriftReport, HISTORY_DAYS, NEXT_DAYS};
use crate::bench::mb;
use crate::bench::proxy::Phase;
use crate::bench::proxy::Report as ProxyReport;
use crate::bench::s3::{Report as S3Report, Run as S3Run};
use crate::bench::Report as ObserveReport;
use std::time::Duration;

pub fn drift(r: &DriftReport) -> String {
    let share = |n: i64, of: i64| {
        if of == 0 {
            100.0
        } else {
            100.0 * n as f64 / of as f64
        }
    };
    let mut s = format!(
        "Proposal mined from {} events of {} roles over {HISTORY_DAYS} days (from {}), replayed \
         against the next {NEXT_DAYS} days (across a month boundary):\n\
         \x20 next-week calls allowed: {} of {} ({:.1}%)\n\
         \x20 near misses denied:      {} of {} ({:.1}%)\n",
        r.history_events,
        r.roles,
        start().format("%Y-%m-%d"),
        r.next_week_allowed,
        r.next_week_calls,
        share(r.next_week_allowed, r.next_week_calls),
        r.near_misses_denied,
        r.near_misses,
        share(r.near_misses_denied, r.near_misses),
    );
    for d in &r.denied_next_week {
        s.push_str(&format!("  denied next week: {d}\n"));
    }
    for a in &r.allowed_near_misses {
        s.push_str(&format!("  near miss allowed: {a}\n"));
    }
    s
}

pub fn observe(r: &ObserveReport) -> String {
    let t = &r.trail;
    let generation = match r.generation {
        Some(d) => format!("generated in {:.1} s, not timed below", d.as_secs_f64()),
        None => "reused from an earlier run".to_string(),
    };
    let mut s = format!(
        "trail: {} events in {} files, {:.0} MB uncompressed, {:.0} MB gzipped ({generation})\n",
        t.events,
        t.files,
        mb(t.uncompressed_bytes),
        mb(t.compressed_bytes),
    );
    s += &format!(
        "decompress only ({} threads): {:>7.2} s wall {:>7.2} s CPU  {:>6.0} MB/s\n",
        r.threads,
        r.decompress.wall.as_secs_f64(),
        r.decompress.cpu.as_secs_f64(),
        r.decompress_mb_per_sec()
    );
    s += &format!(
        "gunzip + skeleton JSON parse: {:>7.2} s wall {:>7.2} s CPU  {:>6.2}x decompress\n",
        r.skeleton.wall.as_secs_f64(),
        r.skeleton.cpu.as_secs_f64(),
        r.stage_ratio(&r.skeleton)
    );
    for (name, stage) in [
        ("+ read every event:        ", &r.decode),
        ("+ map and fold (no store): ", &r.fold),
    ] {
        s += &format!(
            "{name}   {:>7.2} s wall {:>7.2} s CPU  {:>6.2}x decompress\n",
            stage.wall.as_secs_f64(),
            stage.cpu.as_secs_f64(),
            r.stage_ratio(stage)
        );
    }
    s += &format!(
        "observe:                      {:>7.2} s wall {:>7.2} s CPU  {:>6.0} MB/s  {:.0} events/s\n",
        r.observe.as_secs_f64(),
        r.observe_cpu.as_secs_f64(),
        r.observe_mb_per_sec(),
        r.events_per_sec()
    );
    s += &format!(
        "observe / decompress:         {:>7.2}x wall, {:.2}x CPU (target: at most 1.5x)\n",
        r.ratio(),
        r.cpu_ratio()
    );
    s += &format!(
        "observe / skeleton parse:     {:>7.2}x wall (target for many small files: at most 2.5x)\n",
        r.skeleton_ratio()
    );
    if r.rounds.len() > 1 {
        let ratios: Vec<String> = r
            .skeleton_ratios()
            .iter()
            .map(|x| format!("{x:.2}x"))
            .collect();
        s += &format!(
            "  medians of {} rounds; observe / skeleton parse by round: {}\n",
            r.rounds.len(),
            ratios.join(", ")
        );
    }
    s += &format!(
        "observe peak RSS:             {:>7.1} MB (target: under 100 MB for 1M events)\n",
        mb(r.observe_peak_rss)
    );
    s += &format!(
        "propose (whole fleet, JSON):  {:>7.2} s wall, {} roles\n",
        r.propose.as_secs_f64(),
        r.proposed_roles
    );
    if r.kept {
        s += &format!("trail kept in {}\n", r.dir.display());
    }
    s
}

pub fn s3(r: &S3Report) -> String {
    let t = &r.trail;
    let mut s = format!(
        "trail bucket (moto): {} objects, {} events, {:.0} MB gzipped; uploaded in {:.1} s, not \
         timed below\n",
        t.files,
        t.events,
        mb(t.compressed_bytes),
        r.upload.as_secs_f64()
    );
    let run = |name: &str, run: &S3Run| {
        format!(
            "{name:<27}{:>7.2} s  {:>7.0} objects/s  {:>6} requests  at most {} in flight\n",
            run.wall.as_secs_f64(),
            run.objects_per_sec(),
            run.relay.requests,
            run.relay.max_in_flight
        )
    };
    s += &run("observe, no delay:", &r.direct);
    s += &run(
        &format!("observe, +{} ms a request:", r.delayed.delay.as_millis()),
        &r.delayed,
    );
    s += &format!(
        "with delay / without:      {:>7.2}x (target: at most 1.5x; --s3-concurrency {}, {} cores)\n",
        r.ratio(),
        r.concurrency,
        r.cores
    );
    s
}

pub fn proxy(r: &ProxyReport) -> String {
    let traffic = if r.tls {
        "HTTPS server answering SSM GetParameter (a CA made for the run); through the proxy: \
         CONNECT, then TLS with the proxy's CA"
    } else {
        "HTTP/1.1 server answering SSM GetParameter; through the proxy: absolute-form requests"
    };
    let mut s = format!(
        "upstream: local {traffic}; {} requests on {} keep-alive connections, then {} on one\n",
        r.proxied.requests, r.concurrency, r.proxied_one.requests
    );
    let c = r.concurrency;
    s += &row(&format!("direct ({c} conns)"), &r.direct);
    s += &row(&format!("through proxy ({c} conns)"), &r.proxied);
    s += &row("direct (1 conn)", &r.direct_one);
    s += &row("through proxy (1 conn)", &r.proxied_one);
    s += &format!(
        "added by the proxy: p50 +{:.3} ms, p99 +{:.3} ms on one connection; throughput {:.0}% \
         of direct with {c}\n",
        ms(r.added_p50()),
        ms(r.added_p99()),
        100.0 * r.throughput_ratio(),
    );
    s += &format!(
        "proxy process: {:.2} s CPU, peak RSS {:.1} MB; {} of {} proxied calls recorded{}\n",
        r.proxy_cpu.as_secs_f64(),
        r.proxy_peak_rss as f64 / 1e6,
        r.recorded,
        r.sent_through_proxy,
        r.mismatch()
    );
    if !r.proxy_said.is_empty() {
        s += &format!("the proxy said: {}\n", r.proxy_said);
    }
    s
}

pub fn ms(d: Duration) -> f64 {
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
