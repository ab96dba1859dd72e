//! The scenario as text: the live view ([`frame`]), redrawn in place with [`Redraw`]; the plain
//! log for output that is not a terminal ([`PlainLog`]); and the closing [`summary`].
//!
//! Everything here returns lines; writing them is the caller's business.

use std::fmt::Write as _;
use std::time::Duration;

use resilience::{CircuitState, Metrics, TierHealth};

use super::TierId;
use super::burst::BurstReport;
use super::org;
use super::scenario::{Outcome, Report, RequestRecord, Snapshot, TierView, TimedChange};
use super::server::FaultMode;

/// How many requests the live view lists.
const RECENT_REQUESTS: usize = 8;
/// How many state changes the live view lists.
const RECENT_CHANGES: usize = 6;
/// The width of the progress bar, in characters.
const BAR_WIDTH: usize = 40;

/// Hides the cursor while the live view redraws.
pub const HIDE_CURSOR: &str = "\x1b[?25l";
/// Shows the cursor again.
pub const SHOW_CURSOR: &str = "\x1b[?25h";

/// Whether to color the text with ANSI escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Color on.
    pub color: bool,
}

#[derive(Clone, Copy)]
enum Paint {
    Green,
    Red,
    Yellow,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn paint(self, text: &str, paint: Paint) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match paint {
            Paint::Green => "32",
            Paint::Red => "1;31",
            Paint::Yellow => "33",
            Paint::Cyan => "36",
            Paint::Bold => "1",
            Paint::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn state(self, state: CircuitState, width: usize) -> String {
        let paint = match state {
            CircuitState::Closed => Paint::Green,
            CircuitState::Open | CircuitState::ForcedOpen => Paint::Red,
            CircuitState::HalfOpen | CircuitState::Disabled => Paint::Yellow,
        };
        self.paint(&format!("{:<width$}", state.as_str()), paint)
    }

    fn mode(self, mode: FaultMode, width: usize) -> String {
        let paint = match mode {
            FaultMode::Healthy => Paint::Green,
            FaultMode::Slow | FaultMode::Busy => Paint::Yellow,
            FaultMode::Failing | FaultMode::Refusing => Paint::Red,
        };
        self.paint(&format!("{:<width$}", mode.as_str()), paint)
    }
}

// ---------------------------------------------------------------------------------------------
// Live view
// ---------------------------------------------------------------------------------------------

/// The live view of `snap`: always the same number of lines (28), so that [`Redraw`] can draw
/// each frame over the last.
///
/// ```text
/// resilience · Zoho CRM demo: get_account keeps answering while its tiers fail   4.9 s
/// phase 2/4 · tier1 outage · MCP answers HTTP 503; its breaker opens and tier2 (SDK) serves
/// [████████████████░░░░░░░░░░░░░░░░░░░░░░░░]   48/120 requests · phase 18/30
///
/// tier        backend                mode      breaker    error rate  calls  retry in  health          received
/// tier1_mcp   MCP  127.0.0.1:40189   failing   open            23.1%     39     0.3 s  ✗ HTTP 503            39
/// tier2_sdk   SDK  127.0.0.1:41509   healthy   closed           0.0%     18         -  ✓ healthy 1 ms        18
/// tier3_rest  REST 127.0.0.1:41317   healthy   unused              -      -         -  ✓ healthy 1 ms         0
///
/// served by  tier1_mcp 30  ·  tier2_sdk 18  ·  tier3_rest 0  ·  all tiers failed 0  ·  total 48
///
/// recent requests
///     +4.83s  #048 ACC-0048 → tier2_sdk      1 ms  tier1 skipped (open) · tier2 ✓
///     ...
///
/// breaker state changes
///     +3.22s  tier1_mcp   closed    -> open
///     ...
/// ```
///
/// `calls` and `error rate` are the breaker's sliding window since it last closed; `received`
/// counts the account requests that reached the tier's server.
///
/// Below [`WIDE`] columns the table leaves out the backends' addresses and the requests each
/// received, to fit 80 columns.
pub fn frame(snap: &Snapshot, style: Style, width: usize) -> Vec<String> {
    let wide = width >= WIDE;
    let mut lines = Vec::new();
    let title = if wide {
        "resilience · Zoho CRM demo: get_account keeps answering while its tiers fail"
    } else {
        "resilience · Zoho CRM demo"
    };
    let title = style.paint(title, Paint::Bold);
    lines.push(format!(
        "{title}   {}",
        style.paint(&secs(snap.elapsed), Paint::Dim)
    ));
    lines.push(phase_line(snap, style));
    lines.push(progress_line(snap));
    lines.push(String::new());

    let header = if wide {
        format!(
            "{:<11} {:<22} {:<9} {:<10} {:>10} {:>6} {:>9}  {:<24} {:>8}",
            "tier",
            "backend",
            "mode",
            "breaker",
            "error rate",
            "calls",
            "retry in",
            "health",
            "received"
        )
    } else {
        format!(
            "{:<11} {:<9} {:<10} {:>10} {:>6} {:>9}  {:<18}",
            "tier", "mode", "breaker", "error rate", "calls", "retry in", "health"
        )
    };
    lines.push(style.paint(&header, Paint::Dim));
    for tier in &snap.tiers {
        lines.push(tier_line(tier, style, wide));
    }
    lines.push(String::new());

    let tally = snap.tally();
    let mut served = String::from("served by  ");
    for tier in TierId::ALL {
        let _ = write!(
            served,
            "{} {}  ·  ",
            style.paint(tier.breaker(), Paint::Cyan),
            tally.served.get(tier)
        );
    }
    let failed = format!("all tiers failed {}", tally.all_tiers_failed);
    let failed = if tally.all_tiers_failed > 0 {
        style.paint(&failed, Paint::Red)
    } else {
        failed
    };
    let _ = write!(served, "{failed}  ·  total {}", tally.issued);
    lines.push(served);
    lines.push(String::new());

    lines.push(style.paint("recent requests", Paint::Bold));
    let skip = snap.requests.len().saturating_sub(RECENT_REQUESTS);
    for record in &snap.requests[skip..] {
        let at = format!("+{:.2}s", record.at.as_secs_f64());
        lines.push(format!("  {at:>8}  {}", request_line(record, style)));
    }
    pad(&mut lines, RECENT_REQUESTS - (snap.requests.len() - skip));
    lines.push(String::new());

    let skip = snap.changes.len().saturating_sub(RECENT_CHANGES);
    let mut title = style.paint("breaker state changes", Paint::Bold);
    if skip > 0 {
        title.push_str(&style.paint(
            &format!(" (the last {RECENT_CHANGES} of {})", snap.changes.len()),
            Paint::Dim,
        ));
    }
    lines.push(title);
    for change in &snap.changes[skip..] {
        lines.push(format!("  {}", change_line(change, style)));
    }
    pad(&mut lines, RECENT_CHANGES - (snap.changes.len() - skip));
    lines
}

fn pad(lines: &mut Vec<String>, n: usize) {
    lines.extend(std::iter::repeat_n(String::new(), n));
}

fn phase_line(snap: &Snapshot, style: Style) -> String {
    if snap.finished {
        return style.paint("done: every phase played", Paint::Bold);
    }
    match snap.phase.checked_sub(1).and_then(|i| snap.plan.get(i)) {
        Some(phase) => format!(
            "{} · {}",
            style.paint(
                &format!("phase {}/{} · {}", snap.phase, snap.plan.len(), phase.name),
                Paint::Bold
            ),
            phase.story
        ),
        None => "starting the three tiers...".to_owned(),
    }
}

fn progress_line(snap: &Snapshot) -> String {
    let planned = snap.planned_requests().max(1);
    let done = snap.requests.len();
    let filled = (done.min(planned) * BAR_WIDTH) / planned;
    let bar: String = "█".repeat(filled) + &"░".repeat(BAR_WIDTH - filled);
    let mut line = format!("[{bar}] {done:>4}/{planned} requests");
    if snap.phase > 0 && !snap.finished {
        let _ = write!(
            line,
            " · phase {}/{}",
            snap.phase_requests, snap.requests_per_phase
        );
        if snap.phase_requests >= snap.requests_per_phase {
            line.push_str(", waiting for tier1 to take the traffic back");
        }
    }
    line
}

/// The lines of every frame.
pub const FRAME_HEIGHT: usize = 28;

/// The width from which the live table shows every column.
pub const WIDE: usize = 120;

fn tier_line(tier: &TierView, style: Style, wide: bool) -> String {
    let backend = format!("{:<4} {}", tier.tier.label(), tier.addr);
    let (breaker, rate, calls, retry) = match &tier.metrics {
        Some(m) => (
            style.state(m.state, 10),
            format!("{:>9.1}%", m.error_rate * 100.0),
            m.total_calls.to_string(),
            match m.time_until_retry {
                // Due: the next call through it probes.
                Some(d) if d < Duration::from_millis(50) => "due".to_owned(),
                Some(d) => secs(d),
                None => "-".to_owned(),
            },
        ),
        None => (
            style.paint(&format!("{:<10}", "unused"), Paint::Dim),
            format!("{:>10}", "-"),
            "-".to_owned(),
            "-".to_owned(),
        ),
    };
    let name = style.paint(&format!("{:<11}", tier.tier.breaker()), Paint::Cyan);
    let mode = style.mode(tier.mode, 9);
    if wide {
        format!(
            "{name} {backend:<22} {mode} {breaker} {rate} {calls:>6} {retry:>9}  {} {:>8}",
            health_cell(tier.health.as_ref(), style, 24),
            tier.received,
        )
    } else {
        format!(
            "{name} {mode} {breaker} {rate} {calls:>6} {retry:>9}  {}",
            health_cell(tier.health.as_ref(), style, 18),
        )
    }
}

fn health_cell(health: Option<&TierHealth>, style: Style, width: usize) -> String {
    let Some(health) = health.filter(|h| h.last_check.is_some()) else {
        return style.paint(&format!("{:<width$}", "not checked yet"), Paint::Dim);
    };
    if health.healthy {
        let latency = health
            .latency
            .map_or(String::new(), |d| format!(" {} ms", d.as_millis()));
        style.paint(
            &format!("{:<width$}", format!("✓ healthy{latency}")),
            Paint::Green,
        )
    } else {
        let error = health.last_error.as_deref().unwrap_or("failed");
        // "tier1_mcp: HTTP 503" -> "HTTP 503": the row already names the tier.
        let error = error.split_once(": ").map_or(error, |(_, rest)| rest);
        let text: String = format!("✗ {error}").chars().take(width).collect();
        style.paint(&format!("{text:<width$}"), Paint::Red)
    }
}

/// One request as a line: `#031 ACC-0031 → tier2_sdk   160 ms  tier1 ✗503 ✗503 ✗503 · tier2 ✓`:
/// who served it, how long it took, and each tier's calls (`skipped (open)` for a tier whose
/// breaker refused it without a call).
pub fn request_line(record: &RequestRecord, style: Style) -> String {
    let served = match &record.outcome {
        Outcome::Served(tier) => style.paint(&format!("→ {:<10}", tier.breaker()), Paint::Cyan),
        Outcome::AllTiersFailed(_) => style.paint(&format!("{:<12}", "✗ ALL FAILED"), Paint::Red),
        Outcome::Error(_) => style.paint(&format!("{:<12}", "✗ ERROR"), Paint::Red),
    };
    format!(
        "#{:03} {} {served} {:>5} ms  {}",
        record.seq,
        record.account_id,
        record.latency.as_millis(),
        route(record, style),
    )
}

/// The tiers a request went through: each call's result, or `skipped (open)` for a tier whose
/// breaker refused it without a call.
fn route(record: &RequestRecord, style: Style) -> String {
    let last = record.served_by().unwrap_or(TierId::Rest);
    let mut parts = Vec::new();
    for tier in TierId::ALL.into_iter().filter(|t| *t <= last) {
        let marks: Vec<String> = record
            .attempts
            .iter()
            .filter(|a| a.tier == tier)
            .map(|a| match &a.error {
                None => style.paint("✓", Paint::Green),
                Some(e) => style.paint(&format!("✗{}", e.trim_start_matches("HTTP ")), Paint::Red),
            })
            .collect();
        let name = format!("tier{}", tier.number());
        if marks.is_empty() {
            parts.push(format!(
                "{name} {}",
                style.paint("skipped (open)", Paint::Yellow)
            ));
        } else {
            parts.push(format!("{name} {}", marks.join(" ")));
        }
    }
    parts.join(" · ")
}

/// One state change as a line: `+3.21s  tier1_mcp   closed -> open`.
pub fn change_line(change: &TimedChange, style: Style) -> String {
    format!(
        "{:>8}  {}  {:<9} -> {}",
        format!("+{:.2}s", change.since_start.as_secs_f64()),
        style.paint(&format!("{:<10}", change.breaker()), Paint::Cyan),
        change.change.old_state.as_str(),
        style.state(change.change.new_state, 9),
    )
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// Redrawing in place
// ---------------------------------------------------------------------------------------------

/// Draws each frame over the last one with ANSI escapes: the cursor goes back up to the
/// frame's first line, every line is rewritten and cleared to its end.
///
/// Needs a terminal taller than the frame (about 30 lines) so that the frame never scrolls.
///
/// ```
/// use resilience_examples::zoho::view::Redraw;
///
/// let mut redraw = Redraw::new(4);
/// let first = redraw.render(&["a".to_owned(), "b".to_owned()]);
/// assert_eq!(first, "a\x1b[K\nb\x1b[K\n\x1b[J");
/// let second = redraw.render(&["cdefgh".to_owned()]);
/// assert!(second.starts_with("\x1b[2A\r")); // back up over the two lines drawn before
/// assert!(second.contains("cdef\x1b[K")); // cut to the terminal's width
/// ```
#[derive(Debug)]
pub struct Redraw {
    height: usize,
    width: usize,
}

impl Redraw {
    /// A redraw for a terminal `width` columns wide: longer lines are cut, so that none wraps
    /// and the frame keeps its height.
    pub fn new(width: usize) -> Self {
        Self { height: 0, width }
    }

    /// The text that replaces the last frame with `lines`.
    pub fn render(&mut self, lines: &[String]) -> String {
        let mut out = String::new();
        if self.height > 0 {
            let _ = write!(out, "\x1b[{}A\r", self.height);
        }
        for line in lines {
            out.push_str(&fit(line, self.width));
            out.push_str("\x1b[K\n");
        }
        out.push_str("\x1b[J");
        self.height = lines.len();
        out
    }
}

/// `line` cut to `width` visible columns; colour escapes do not count, and a cut line ends
/// with a reset.
fn fit(line: &str, width: usize) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut shown, mut in_escape, mut coloured) = (0, false, false);
    for c in line.chars() {
        if in_escape {
            out.push(c);
            in_escape = c != 'm';
        } else if c == '\x1b' {
            out.push(c);
            (in_escape, coloured) = (true, true);
        } else if shown < width {
            out.push(c);
            shown += 1;
        } else {
            if coloured {
                out.push_str("\x1b[0m");
            }
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Plain log
// ---------------------------------------------------------------------------------------------

/// The scenario as appended lines, for output that is not a terminal: each new phase, request
/// and state change once, in time order.
#[derive(Debug, Default)]
pub struct PlainLog {
    phases: usize,
    requests: usize,
    changes: usize,
}

impl PlainLog {
    /// The lines for what happened since the last call.
    pub fn update(&mut self, snap: &Snapshot, style: Style) -> Vec<String> {
        let mut lines: Vec<(Duration, u8, String)> = Vec::new();
        for (i, start) in snap.phase_starts.iter().enumerate().skip(self.phases) {
            let phase = &snap.plan[i];
            let text = format!(
                "phase {}/{} · {}: {}",
                i + 1,
                snap.plan.len(),
                phase.name,
                phase.story
            );
            lines.push((*start, 0, style.paint(&text, Paint::Bold)));
        }
        self.phases = snap.phase_starts.len();
        for change in &snap.changes[self.changes.min(snap.changes.len())..] {
            let text = format!(
                "breaker {}: {} -> {}",
                change.breaker(),
                change.change.old_state,
                style.state(change.change.new_state, 0)
            );
            lines.push((change.since_start, 1, text));
        }
        self.changes = snap.changes.len();
        // A request is logged when it ends, after the state changes it caused.
        for record in &snap.requests[self.requests.min(snap.requests.len())..] {
            lines.push((record.at + record.latency, 2, request_line(record, style)));
        }
        self.requests = snap.requests.len();
        lines.sort_by_key(|(at, order, _)| (*at, *order));
        lines
            .into_iter()
            .map(|(at, _, text)| format!("[{:>7}] {text}", format!("{:.2}s", at.as_secs_f64())))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

/// The closing summary: requests per serving tier and phase, all-tiers-failed, the total and
/// the check that they add up, what each server received while its breaker was open, the
/// state-change timeline and the final metrics.
pub fn summary(report: &Report, style: Style) -> Vec<String> {
    let mut lines = Vec::new();
    let t = &report.requests;
    lines.push(style.paint(
        &format!(
            "Summary: {} requests in {:.1} s, one every {} ms, {} per phase",
            t.issued,
            report.duration.as_secs_f64(),
            report.config.interval.as_millis(),
            report.config.requests_per_phase
        ),
        Paint::Bold,
    ));
    lines.push(String::new());

    let mut header = format!("  {:<22} {:>6}", "requests served by", "total");
    for phase in &report.phases {
        let _ = write!(header, " {:>8}", format!("phase {}", phase.number));
    }
    lines.push(style.paint(&header, Paint::Dim));
    let row = |label: String, total: usize, per_phase: &dyn Fn(usize) -> usize| {
        let mut line = format!("  {label:<22} {total:>6}");
        for i in 0..report.phases.len() {
            let _ = write!(line, " {:>8}", per_phase(i));
        }
        line
    };
    for tier in TierId::ALL {
        lines.push(row(
            format!("{:<10} ({})", tier.breaker(), tier.label()),
            t.served.get(tier),
            &|i| report.phases[i].requests.served.get(tier),
        ));
    }
    lines.push(row(
        "all tiers failed".to_owned(),
        t.all_tiers_failed,
        &|i| report.phases[i].requests.all_tiers_failed,
    ));
    lines.push(row("total issued".to_owned(), t.issued, &|i| {
        report.phases[i].requests.issued
    }));
    let check = format!(
        "{} + {} + {} served + {} all-tiers-failed = {} of {} requests issued: {}",
        t.served.tier1_mcp,
        t.served.tier2_sdk,
        t.served.tier3_rest,
        t.all_tiers_failed,
        t.answered(),
        t.issued,
        if t.answered() == t.issued && t.other_errors == 0 {
            "none lost"
        } else {
            "REQUESTS LOST"
        }
    );
    let ok = t.answered() == t.issued && t.other_errors == 0;
    lines.push(format!(
        "  {}",
        style.paint(
            &format!("{} {check}", if ok { "✓" } else { "✗" }),
            if ok { Paint::Green } else { Paint::Red }
        )
    ));
    lines.push(String::new());

    lines.push(style.paint(
        "What each server received (account requests, by its breaker's state on arrival)",
        Paint::Bold,
    ));
    for tier in TierId::ALL {
        let s = report.server(tier);
        lines.push(format!(
            "  {:<10}  {:>4} received: {:>4} while closed, {} while open, {} while half-open (probes); {} background faults",
            tier.breaker(),
            s.received,
            s.while_closed,
            s.while_open,
            s.while_half_open,
            s.injected_faults
        ));
    }
    lines.push(String::new());

    if let Some(burst) = &report.burst {
        lines.extend(burst_lines(burst, style));
        lines.push(String::new());
    }

    lines.push(style.paint(
        "Breaker state changes (time since start, breaker, old -> new)",
        Paint::Bold,
    ));
    if report.state_changes.is_empty() {
        lines.push("  none".to_owned());
    }
    for change in &report.state_changes {
        let phase = report
            .phases
            .iter()
            .rev()
            .find(|p| p.started <= change.since_start)
            .map_or(String::new(), |p| format!("   (phase {})", p.number));
        lines.push(format!(
            "  {}{}",
            change_line(change, style),
            style.paint(&phase, Paint::Dim)
        ));
    }
    if report.missed_state_changes > 0 {
        lines.push(format!(
            "  ({} state changes missed: the subscription fell behind)",
            report.missed_state_changes
        ));
    }
    lines.push(String::new());

    lines.push(style.paint("Final breaker metrics", Paint::Bold));
    for (name, m) in &report.metrics {
        lines.push(format!("  {name:<10}  {}", metrics_text(m, style)));
    }
    let idle_half_open = report
        .metrics
        .iter()
        .any(|(name, m)| name != TierId::Mcp.breaker() && m.state == CircuitState::HalfOpen);
    if idle_half_open && report.phases.last().and_then(|p| p.last_served_by) == Some(TierId::Mcp) {
        lines.push(style.paint(
            "  (a half-open breaker closes after its next successful calls; none came, since \
             tier1 serves again)",
            Paint::Dim,
        ));
    }
    lines
}

/// The burst's part of the summary: queued, shed, served, and Zoho's 429s (none).
fn burst_lines(burst: &BurstReport, style: Style) -> Vec<String> {
    let ok = burst.too_many_requests == 0 && burst.answered() == burst.issued;
    vec![
        style.paint(
            &format!(
                "Burst: {} requests at once in {:.1} s against the org's limits ({} calls at once, {} credits per {} s)",
                burst.issued,
                burst.duration.as_secs_f64(),
                org::MAX_CONCURRENT,
                org::CREDITS,
                org::WINDOW.as_secs()
            ),
            Paint::Bold,
        ),
        format!(
            "  {} served, {} shed by the client's own limits, {} failed; up to {} queued in the bulkhead at once",
            burst.served, burst.shed, burst.failed, burst.peak_queued
        ),
        format!(
            "  refusals: {} by the rate limiter, {} by the bulkhead; Zoho's peak concurrency {}",
            burst.rate_limiter_refused, burst.bulkhead_refused, burst.peak_in_flight
        ),
        format!(
            "  {}",
            style.paint(
                &format!(
                    "{} Zoho answered 429 TOO_MANY_REQUESTS {} times",
                    if ok { "✓" } else { "✗" },
                    burst.too_many_requests
                ),
                if ok { Paint::Green } else { Paint::Red }
            )
        ),
    ]
}

fn metrics_text(m: &Metrics, style: Style) -> String {
    format!(
        "state {} failure_count {}  success_count {}  total_calls {}  error_rate {:.1}%  time_until_retry {}",
        style.state(m.state, 10),
        m.failure_count,
        m.success_count,
        m.total_calls,
        m.error_rate * 100.0,
        m.time_until_retry.map_or("-".to_owned(), secs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoho::client::Attempt;
    use crate::zoho::scenario::Phase;

    fn snapshot(requests: usize) -> Snapshot {
        let records = (1..=requests)
            .map(|seq| RequestRecord {
                seq,
                phase: 1,
                account_id: format!("ACC-{seq:04}"),
                at: Duration::from_millis(100 * seq as u64),
                latency: Duration::from_millis(1),
                outcome: Outcome::Served(TierId::Sdk),
                attempts: vec![Attempt {
                    tier: TierId::Sdk,
                    latency: Duration::from_millis(1),
                    error: None,
                }],
            })
            .collect();
        Snapshot {
            elapsed: Duration::from_secs(1),
            phase: 2,
            plan: Phase::plan(),
            phase_requests: requests,
            requests_per_phase: 30,
            finished: false,
            tiers: TierId::ALL
                .into_iter()
                .map(|tier| TierView {
                    tier,
                    addr: "127.0.0.1:1".to_owned(),
                    mode: FaultMode::Healthy,
                    metrics: None,
                    health: None,
                    received: 0,
                })
                .collect(),
            requests: records,
            changes: Vec::new(),
            phase_starts: vec![Duration::ZERO, Duration::from_millis(50)],
        }
    }

    #[test]
    fn every_frame_has_the_same_height() {
        let heights: Vec<usize> = [0, 3, 50]
            .map(|n| frame(&snapshot(n), Style::default(), WIDE).len())
            .to_vec();
        assert_eq!(heights, [FRAME_HEIGHT; 3]);
    }

    #[test]
    fn a_narrow_frame_fits_80_columns() {
        let frame = frame(&snapshot(50), Style::default(), 80);
        let mut redraw = Redraw::new(80);
        let text = redraw.render(&frame);
        for line in text.lines() {
            let visible = line.trim_end_matches("\x1b[K").trim_end_matches("\x1b[J");
            assert!(visible.chars().count() <= 80, "too wide: {line:?}");
        }
        // The tier table keeps every column the view promises, without cutting.
        let header = frame.iter().find(|l| l.starts_with("tier ")).unwrap();
        assert!(header.chars().count() <= 80, "{header}");
        assert!(header.contains("health"));
    }

    #[test]
    fn fitting_keeps_colour_escapes_whole() {
        let red = "\x1b[31mabcdef\x1b[0m";
        assert_eq!(fit(red, 3), "\x1b[31mabc\x1b[0m");
        assert_eq!(fit("abc", 10), "abc");
    }

    #[test]
    fn a_request_line_names_the_skipped_tier_and_each_call() {
        let mut record = snapshot(1).requests.remove(0);
        record.attempts.insert(
            0,
            Attempt {
                tier: TierId::Sdk,
                latency: Duration::from_millis(300),
                error: Some("timeout".to_owned()),
            },
        );
        let line = request_line(&record, Style::default());
        assert!(
            line.ends_with("tier1 skipped (open) · tier2 ✗timeout ✓"),
            "{line}"
        );
    }

    #[test]
    fn the_plain_log_prints_each_event_once_in_time_order() {
        let mut log = PlainLog::default();
        let first = log.update(&snapshot(2), Style::default());
        assert_eq!(first.len(), 4, "two phases and two requests: {first:?}");
        assert!(first[0].contains("phase 1/4"));
        assert!(first[1].contains("phase 2/4"));
        assert!(first[2].contains("#001"));
        let next = log.update(&snapshot(3), Style::default());
        assert_eq!(next.len(), 1);
        assert!(next[0].contains("#003"));
    }
}
