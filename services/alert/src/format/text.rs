//! The readable text form of an alert: a header, the facts, then the timeline.
//!
//! Names and actions come from audit records, which an attacker may have written: every value is
//! printed with control characters escaped so that it can neither break the layout nor send
//! terminal escape sequences.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::{Alert, BaselineEvidence, TimelineEntry};

/// Writes the alert as a block of lines followed by a blank line.
pub(super) fn write_text(out: &mut dyn Write, alert: &Alert) -> io::Result<()> {
    let mut text = String::new();
    render(&mut text, alert);
    out.write_all(text.as_bytes())
}

fn render(text: &mut String, alert: &Alert) {
    let _ = writeln!(
        text,
        "[{}] {} ({}) v{}",
        alert.severity.as_str().to_ascii_uppercase(),
        clean(&alert.title),
        clean(&alert.rule_id),
        alert.version
    );
    let _ = writeln!(text, "  {}", clean(&alert.summary));
    let _ = writeln!(text, "  MSP:        {} (tier {})", msp(alert), tier(alert));
    let _ = writeln!(text, "  Actor:      {}", actor(alert));
    let _ = writeln!(text, "  Tenants:    {} ({})", joined(&alert.tenants), alert.tenants.len());
    let _ = writeln!(
        text,
        "  Seen:       {} to {} ({} event{}, score {:.0})",
        clean(&alert.first_seen),
        clean(&alert.last_seen),
        alert.event_count,
        if alert.event_count == 1 { "" } else { "s" },
        alert.score
    );
    let _ = writeln!(text, "  Notify by:  {}", clean(&alert.notify_by));
    if let Some(baseline) = &alert.baseline {
        let _ = writeln!(text, "  Baseline:   {}", baseline_line(baseline));
    }
    if !alert.mitre.is_empty() {
        let _ = writeln!(text, "  MITRE:      {}", joined(&alert.mitre));
    }
    let _ = writeln!(text, "  Timeline:");
    for entry in &alert.timeline {
        let _ = writeln!(text, "    {}", timeline_line(entry));
    }
    let shown = alert.timeline.len() as u64;
    if alert.event_count > shown {
        let more = alert.event_count - shown;
        let noun = if more == 1 { "event" } else { "events" };
        let _ = writeln!(text, "    ... {more} more {noun}");
    }
    text.push('\n');
}

fn msp(alert: &Alert) -> String {
    alert.msp_id.as_deref().map_or_else(|| "unattributed".to_owned(), clean)
}

fn tier(alert: &Alert) -> &'static str {
    alert.supplier_tier.map_or("unknown", |tier| tier.as_str())
}

fn actor(alert: &Alert) -> String {
    let actor = &alert.actor;
    match &actor.name {
        Some(name) => format!("{} \"{}\" ({})", clean(&actor.id), clean(name), actor.kind.as_str()),
        None => format!("{} ({})", clean(&actor.id), actor.kind.as_str()),
    }
}

fn baseline_line(baseline: &BaselineEvidence) -> String {
    let mut line = format!(
        "{} observed {}, expected {} (stddev {}",
        clean(&baseline.metric),
        number(baseline.observed),
        number(baseline.expected),
        number(baseline.stddev)
    );
    if let Some(zscore) = baseline.zscore {
        let _ = write!(line, ", z {zscore:.1}");
    }
    let _ = write!(line, ", {} h of history", baseline.history_hours);
    if let Some(peer_expected) = baseline.peer_expected {
        let _ = write!(line, ", MSP peers {}", number(peer_expected));
    }
    line.push(')');
    line
}

fn timeline_line(entry: &TimelineEntry) -> String {
    format!(
        "{}  {}  {}  {}  {}",
        clean(&entry.time),
        clean(&entry.action),
        clean(&entry.outcome),
        joined(&entry.tenants),
        clean(&entry.event_id)
    )
}

/// A number with at most two decimals and no needless trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn joined(values: &[String]) -> String {
    if values.is_empty() {
        return "-".to_owned();
    }
    values.iter().map(|value| clean(value)).collect::<Vec<_>>().join(",")
}

/// The text with control characters (escape, newline, tab, ...) and bidirectional overrides
/// escaped, so that it reads on one line exactly as it is stored.
fn clean(value: &str) -> String {
    if !value.chars().any(is_unsafe) {
        return value.to_owned();
    }
    let mut cleaned = String::with_capacity(value.len() + 8);
    for character in value.chars() {
        if is_unsafe(character) {
            cleaned.extend(character.escape_default());
        } else {
            cleaned.push(character);
        }
    }
    cleaned
}

fn is_unsafe(character: char) -> bool {
    let bidirectional = matches!(
        character,
        '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    );
    character.is_control() || bidirectional
}
