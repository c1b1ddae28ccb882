//! A failing history drawn as a timeline: one lane per actor, each operation a span from its
//! invocation to its completion, the operation that cannot be placed marked. As text for the
//! report, and as a self-contained HTML page (inline SVG, no script) for `--html`.

use std::fmt::Write as _;

use crate::check::Failure;
use crate::history::{History, Outcome, Time};

/// Column of each distinct instant: the drawing keeps the order of events, not their distances,
/// so that a 2 ms operation and a 2 s one are both legible.
fn columns(history: &History) -> Vec<Time> {
    let mut times: Vec<Time> = history
        .operations
        .iter()
        .flat_map(|op| [op.invoked, op.completed])
        .collect();
    times.sort_unstable();
    times.dedup();
    times
}

fn column(times: &[Time], time: Time) -> usize {
    times.partition_point(|&t| t < time)
}

/// Operation indices in the order the drawing lists them: by actor, then by invocation.
fn rows(history: &History) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..history.operations.len()).collect();
    rows.sort_by_key(|&i| {
        let op = &history.operations[i];
        (op.actor, op.invoked, i)
    });
    rows
}

/// The text timeline, with the linearizable prefix the search found and what could not follow.
pub fn text(history: &History, failure: &Failure) -> String {
    const STEP: usize = 3;
    let times = columns(history);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: no order of these {} operations explains every answer",
        failure.partition,
        history.operations.len()
    );
    for i in rows(history) {
        let op = &history.operations[i];
        let from = column(&times, op.invoked) * STEP;
        let to = column(&times, op.completed) * STEP;
        let mut lane = format!("  actor {:<3} {}", op.actor, " ".repeat(from));
        lane.push('|');
        lane.push_str(&"-".repeat(to.saturating_sub(from + 1)));
        // An operation of unknown outcome may take effect after it was given up on.
        lane.push_str(if op.outcome == Outcome::Info {
            "…"
        } else {
            "|"
        });
        let _ = write!(lane, "  {}", op.describe());
        if i == failure.stuck {
            lane.push_str("   ✗ cannot be placed");
        }
        let _ = writeln!(out, "{lane}");
    }
    if failure.prefix.is_empty() {
        let _ = writeln!(out, "  no operation could be placed before it");
    } else {
        let order: Vec<String> = failure
            .prefix
            .iter()
            .filter_map(|&i| history.operations.get(i))
            .map(|op| op.describe())
            .collect();
        let _ = writeln!(
            out,
            "  longest order that explains the answers before it: {}",
            order.join("; ")
        );
    }
    out
}

/// Escapes text for HTML and XML, content and attributes alike; characters XML 1.0 cannot
/// carry at all (most control characters, from an adapter's output) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A self-contained HTML page: `title` as its heading, the timeline as inline SVG, the
/// linearizable prefix numbered on its operations, and `rerun` as the command to repeat it.
pub fn html(history: &History, failure: &Failure, title: &str, rerun: &str) -> String {
    const COLUMN: usize = 46;
    const ROW: usize = 30;
    const LEFT: usize = 90;
    let times = columns(history);
    let rows = rows(history);
    let width = LEFT + times.len() * COLUMN + 320;
    let height = rows.len() * ROW + 40;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="12">"#
    );
    let order_of = |i: usize| failure.prefix.iter().position(|&p| p == i);
    let mut last_actor = None;
    for (row, &i) in rows.iter().enumerate() {
        let op = &history.operations[i];
        let y = 20 + row * ROW;
        if last_actor != Some(op.actor) {
            let _ = write!(
                svg,
                r##"<text x="4" y="{}">actor {}</text><line x1="0" x2="{width}" y1="{}" y2="{}" stroke="#ccc"/>"##,
                y + 15,
                op.actor,
                y - 4,
                y - 4
            );
            last_actor = Some(op.actor);
        }
        let x1 = LEFT + column(&times, op.invoked) * COLUMN;
        let x2 = LEFT + column(&times, op.completed) * COLUMN;
        let (fill, stroke) = if i == failure.stuck {
            ("#f8d0d0", "#c00")
        } else if op.outcome == Outcome::Info {
            ("#eee", "#888")
        } else {
            ("#d8e8f8", "#369")
        };
        let dash = if op.outcome == Outcome::Info {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<rect x="{x1}" y="{y}" width="{}" height="20" rx="3" fill="{fill}" stroke="{stroke}"{dash}><title>{}</title></rect>"#,
            (x2 - x1).max(8),
            escape(&op.describe())
        );
        let mut label = escape(&op.describe());
        if let Some(n) = order_of(i) {
            label = format!("#{} {label}", n + 1);
        }
        if i == failure.stuck {
            label.push_str(" ✗ cannot be placed");
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{label}</text>"#,
            x2.max(x1 + 8) + 6,
            y + 15
        );
    }
    svg.push_str("</svg>");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}code{{background:#f4f4f4;padding:2px 4px}}</style>\
         </head><body><h1>{title}</h1>\
         <p>{partition}: no order of these {n} operations explains every answer. Each bar runs from \
         an operation's invocation to its answer (dashed: answer unknown, it may take effect \
         later or never). <b>#k</b> numbers the longest order the search could explain; the red \
         operation cannot follow it.</p>{svg}<p>Re-run: <code>{rerun}</code></p></body></html>\n",
        title = escape(title),
        partition = escape(&failure.partition),
        n = history.operations.len(),
        rerun = escape(rerun),
    )
}
