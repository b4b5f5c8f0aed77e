//! Text a transform chose or a statement it sent, made safe and short for messages, terminals
//! and `runner_history`.

use std::time::Duration;

/// A statement on one line, shortened, for messages.
pub fn statement_text(sql: &str) -> String {
    let head: String = sql.chars().take(400).collect();
    let statement: String = head.split_whitespace().collect::<Vec<_>>().join(" ");
    bounded_text(&statement, 200)
}

/// Text a transform chose, made safe to print and store: at most `max` characters (the rest
/// replaced by a note of how much was cut), and every control character, and the Unicode
/// characters that reorder or hide text on a terminal, written as a `\u{..}` escape, so that
/// nothing a transform says can move the cursor, clear a screen or fake runner's own output.
pub fn bounded_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(4 * max));
    let mut chars = text.chars();
    for ch in chars.by_ref().take(max) {
        let hidden = ch.is_control()
            || matches!(ch, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if ch == '\t' {
            out.push(' ');
        } else if hidden {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", u32::from(ch));
        } else {
            out.push(ch);
        }
    }
    let rest = chars.count();
    if rest > 0 {
        use std::fmt::Write as _;
        let _ = write!(out, "... ({rest} more characters)");
    }
    out
}

/// `5m`, `90s`, `250ms`.
pub fn humanize(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
