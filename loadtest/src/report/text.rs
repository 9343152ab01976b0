//! The report as a text table, for a terminal and for `report.txt`.

use std::fmt::Write;

use crate::report::Report;

/// Renders the report as aligned text.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    producer(&mut out, report);
    if report.run.subscribed {
        latency(&mut out, report);
    }
    scenarios(&mut out, report);
    if report.run.subscribed {
        recall(&mut out, report);
        precision(&mut out, report);
        unmatched(&mut out, report);
    }
    detector(&mut out, report);
    out
}

fn producer(out: &mut String, report: &Report) {
    let run = &report.run;
    let _ = writeln!(
        out,
        "load run {}: {} ({} records planned at {} ev/s)",
        run.started_at,
        run.ended,
        thousands(run.planned_records),
        thousands(run.target_rate.round() as u64)
    );
    let _ = writeln!(
        out,
        "  sent      {} records in {:.1} s: {} ev/s achieved; {} late (over 50 ms); \
         send lag p99 {:.1} ms, max {:.1} ms",
        thousands(run.records_sent),
        run.send_secs,
        thousands(run.achieved_rate.round() as u64),
        thousands(run.late_sends),
        run.send_lag_p99_ms,
        run.send_lag_max_ms
    );
    let _ = writeln!(
        out,
        "  acked     {} ({} failed)",
        thousands(run.records_acked),
        thousands(run.records_failed)
    );
    let _ = writeln!(
        out,
        "  world     {} to {}: a world day per {:.1} s, {:.0}x the wall clock",
        run.world_start, run.world_end, run.day_length_secs, run.speedup
    );
    let alerts = if !run.subscribed {
        "not collected (no --grpc): no latency, recall or precision".to_string()
    } else {
        let mut text =
            format!("{} alerts, {} versions", thousands(run.alerts), thousands(run.alert_versions));
        if run.unreadable_alerts > 0 {
            let _ = write!(text, "; {} unreadable, skipped", thousands(run.unreadable_alerts));
        }
        if let Some(error) = &run.subscription_error {
            let _ = write!(text, "; subscription failed: {error}");
        }
        text
    };
    let _ = writeln!(out, "  alerts    {alerts}\n");
}

fn latency(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "latency: alert version received - scheduled send of the record that completed it"
    );
    match &report.latency {
        Some(p) => {
            let _ = writeln!(
                out,
                "  {} samples: p50 {} | p90 {} | p99 {} | p99.9 {} | max {}  (mean {})",
                thousands(p.samples),
                ms(p.p50_ms),
                ms(p.p90_ms),
                ms(p.p99_ms),
                ms(p.p999_ms),
                ms(p.max_ms),
                ms(p.mean_ms)
            );
        }
        None => {
            let _ = writeln!(out, "  no samples");
        }
    }
    let _ = writeln!(
        out,
        "  {} versions without a sample (they added no evidence, or records the run did not \
         follow)\n",
        thousands(report.latency_unsampled_versions)
    );
}

fn scenarios(out: &mut String, report: &Report) {
    if report.scenarios.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<3} {:<21} {:<6} {:>8} {:>7} {:>8} {:>9} {:>9}  rules",
        "#", "scenario", "attack", "sent at", "alerts", "alert at", "detect", "world"
    );
    for scenario in &report.scenarios {
        let attack = if scenario.malicious { "yes" } else { "no" };
        let sent = match (scenario.first_send_secs, scenario.complete) {
            (Some(at), true) => format!("{at:.1}s"),
            (Some(at), false) => format!("{at:.1}s*"),
            (None, _) => "-".to_string(),
        };
        let first_alert = scenario.first_alert_secs.map_or("-".into(), |s| format!("{s:.1}s"));
        let detect = scenario.time_to_detect_secs.map_or("-".into(), |s| format!("{s:.2}s"));
        let world = scenario.world_minutes_to_detect.map_or("-".into(), |m| format!("{m:.1}min"));
        let _ = writeln!(
            out,
            "{:<3} {:<21} {:<6} {:>8} {:>7} {:>8} {:>9} {:>9}  {}",
            scenario.index,
            scenario.scenario,
            attack,
            sent,
            scenario.alerts.len(),
            first_alert,
            detect,
            world,
            scenario.rules.join(", ")
        );
    }
    let incomplete = report.scenarios.iter().any(|s| !s.complete);
    let note = if incomplete { "; * not every record sent" } else { "" };
    let _ = writeln!(
        out,
        "  detect: first alert's arrival - scheduled send of the scenario's first record; \
         world: world time from the scenario's first event to the first alert's latest \
         evidence{note}\n"
    );
}

fn recall(out: &mut String, report: &Report) {
    if report.recall.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<21} {:<6} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "scenario", "attack", "injected", "complete", "detected", "recall", "alerts"
    );
    for row in &report.recall {
        let recall = row.recall.map_or("-".into(), percent);
        let _ = writeln!(
            out,
            "{:<21} {:<6} {:>8} {:>8} {:>8} {:>7} {:>7}",
            row.scenario,
            if row.malicious { "yes" } else { "no" },
            row.injected,
            row.complete,
            row.detected,
            recall,
            row.alerts
        );
    }
    let _ = writeln!(
        out,
        "  alerts on an attack are true positives; on a benign look-alike, false positives\n"
    );
}

fn precision(out: &mut String, report: &Report) {
    if report.precision.iter().all(|row| row.alerts == 0) {
        return;
    }
    let _ = writeln!(
        out,
        "{:<33} {:>6} {:>6} {:>7} {:>9} {:>9}",
        "rule", "alerts", "attack", "benign", "unmatched", "precision"
    );
    for row in &report.precision {
        let _ = writeln!(
            out,
            "{:<33} {:>6} {:>6} {:>7} {:>9} {:>9}",
            row.rule_id,
            row.alerts,
            row.true_positive,
            row.false_positive_benign,
            row.false_positive_unmatched,
            row.precision.map_or("-".into(), percent)
        );
    }
    let _ = writeln!(out);
}

fn unmatched(out: &mut String, report: &Report) {
    if report.unmatched_alerts.is_empty() {
        return;
    }
    let _ = writeln!(out, "alerts matching no scenario:");
    for alert in &report.unmatched_alerts {
        let _ = writeln!(
            out,
            "  {:.1}s {} {} {}: {}",
            alert.received_secs, alert.rule_id, alert.id, alert.actor_id, alert.summary
        );
    }
    let _ = writeln!(out);
}

fn detector(out: &mut String, report: &Report) {
    let d = &report.detector;
    let sampled = d.backlog_max.is_some()
        || d.lag_max.is_some()
        || d.cpu_mean_percent.is_some()
        || d.rss_peak_mib.is_some();
    if !sampled {
        let _ = writeln!(out, "detector: not sampled (no --metrics or --detector-pid)");
        return;
    }
    let figure = |value: Option<f64>, unit: &str| match value {
        Some(value) => format!("{value:.1}{unit}"),
        None => "-".to_string(),
    };
    let count = |value: Option<u64>| value.map_or("-".into(), thousands);
    let _ = writeln!(
        out,
        "detector ({} samples): backlog max {}, at end {}; consumer lag max {}, mean {}, at end \
         {}; caught up {} after the last send",
        d.samples,
        count(d.backlog_max),
        count(d.backlog_final),
        count(d.lag_max),
        figure(d.lag_mean, ""),
        count(d.lag_final),
        figure(d.caught_up_after_secs, " s"),
    );
    let _ = writeln!(
        out,
        "  evaluated {} ev/s while sending; CPU mean {}, peak {}; RSS mean {}, peak {}{}",
        d.consumed_rate.map_or("-".into(), |r| thousands(r.round() as u64)),
        figure(d.cpu_mean_percent, "%"),
        figure(d.cpu_peak_percent, "%"),
        figure(d.rss_mean_mib, " MiB"),
        figure(d.rss_peak_mib, " MiB"),
        if d.exited { "; THE DETECTOR EXITED DURING THE RUN" } else { "" }
    );
}

fn ms(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.1} s", value / 1_000.0)
    } else if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
