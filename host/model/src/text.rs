//! Text that came from a runtime, made safe to print and to store.
//!
//! A runtime is untrusted code: its messages could carry terminal escapes (an OSC
//! sequence retitles the window, `ESC[2J` clears it), a newline that forges a log line
//! of the host, or megabytes. Every free-text string a runtime returns passes through
//! [`escape_controls`] and [`clip`] at the boundary, before it is stored or printed.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0, DEL, C1) written as `\u{..}`, except a tab,
/// and a newline when `keep_newlines` (multi-line bodies such as a log chunk). Text
/// without control characters is returned as it is, without copying.
pub fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let kept = |c: char| c == '\t' || (keep_newlines && c == '\n');
    if !text.chars().any(|c| c.is_control() && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && !kept(c) {
            let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Cuts `text` to at most `max` bytes (on a character boundary), saying how long it
/// was, so a stored message stays bounded and a reader knows it was cut.
pub fn clip(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let total = text.len();
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    let _ = write!(text, " … ({total} bytes, cut at {max})");
}

/// [`escape_controls`] then [`clip`]: the treatment of a single-line string.
pub fn bounded_line(text: String, max: usize) -> String {
    let mut line = match escape_controls(&text, false) {
        Cow::Borrowed(_) => text,
        Cow::Owned(escaped) => escaped,
    };
    clip(&mut line, max);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_not_copied() {
        assert!(matches!(
            escape_controls("plain é ✓", false),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\u{7}\u{9b}c\nd\te", false),
            "a\\u{1b}[2Jb\\u{7}\\u{9b}c\\u{a}d\te"
        );
        assert_eq!(escape_controls("one\ntwo\r", true), "one\ntwo\\u{d}");
    }

    #[test]
    fn clipping_keeps_characters_whole_and_says_so() {
        let mut text = "ééé".to_string();
        clip(&mut text, 3);
        assert_eq!(text, "é … (6 bytes, cut at 3)");
        let mut short = "ok".to_string();
        clip(&mut short, 3);
        assert_eq!(short, "ok");
        assert_eq!(bounded_line("a\nb".into(), 10), "a\\u{a}b");
    }
}
