//! Text that came from outside (a peer, a model file, an RPC endpoint, a worker's stderr) made
//! safe for a terminal or a log line: control characters, terminal escapes among them, are
//! removed, so such text cannot move the cursor, retitle the window or fake other output.

/// `text` on one line: without control characters but tab (newlines included), and without
/// surrounding whitespace.
pub fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect::<String>()
        .trim()
        .to_string()
}

/// `text` without control characters but newline and tab: for generated text, which keeps its
/// lines.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_are_removed() {
        assert_eq!(clean("\u{1b}]0;owned\u{7}name\u{1b}[2J "), "]0;ownedname[2J");
        assert_eq!(clean("a\nb\tc\u{9b}d"), "ab\tcd");
        assert_eq!(printable("a\nb\tc\u{1b}[31md"), "a\nb\tc[31md");
    }
}
