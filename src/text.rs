//! String searching for the hot paths, and names made safe to show.

use std::borrow::Cow;

/// The byte index of the first occurrence of `needle` in `hay`, as `str::find` gives it. For the
/// short needles and haystacks of ARNs (a few dozen bytes), the standard search's setup (its
/// Two-Way searcher) costs more than the search: this one looks for the needle's first byte and
/// compares from there.
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return Some(0);
    };
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut at = 0;
    while at <= last_start {
        // A first byte that starts a character in `needle` starts one in `hay` too: any match
        // found is at a character boundary, as `str::find`'s are.
        at += hay[at..=last_start].iter().position(|&b| b == first)?;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// `text` as it may be shown on a terminal or put in a comment line: every character a terminal
/// or a parser treats as more than a glyph is written `\u{…}` — controls (line ends, and the
/// escape that starts a terminal sequence), Unicode's line and paragraph separators (line ends to
/// YAML 1.1 and JavaScript), bidirectional overrides and other invisible format characters.
/// Names come from trails, exports and clients other people control: shown this way, none can
/// start a line, move the cursor or hide another name.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(shown_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if shown_escaped(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A whole report as it may be printed on a terminal: [`printable`] of each line (line ends are
/// the report's own). For reports whose names are not escaped one by one.
pub fn printable_lines(report: &str) -> String {
    let mut out = String::with_capacity(report.len());
    for piece in report.split_inclusive('\n') {
        let (line, end) = match piece.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (piece, ""),
        };
        out.push_str(&printable(line));
        out.push_str(end);
    }
    out
}

fn shown_escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    use super::{find, printable, printable_lines};

    #[test]
    fn printable_escapes_what_could_start_a_line_or_a_sequence() {
        assert_eq!(
            printable("arn:aws:iam::1:role/app"),
            "arn:aws:iam::1:role/app"
        );
        assert_eq!(printable("naïve"), "naïve");
        assert_eq!(printable("a\nb"), "a\\u{000a}b");
        assert_eq!(printable("\u{1b}[2J"), "\\u{001b}[2J");
        assert_eq!(printable("x\u{2028}y\u{202e}z"), "x\\u{2028}y\\u{202e}z");
        assert_eq!(
            printable_lines("a\u{1b}\nb\r\n"),
            "a\\u{001b}\nb\\u{000d}\n"
        );
    }

    #[test]
    fn finds_what_str_find_finds() {
        let hays = [
            "",
            "a",
            "arn:aws:sts::1:assumed-role/r/s",
            "::::assumed-role/:assumed-role/x",
            "ééé:é",
            "aaaaab",
            "abababc",
        ];
        let needles = [
            "",
            "a",
            ":",
            ":assumed-role/",
            "é",
            "é:",
            "ab",
            "abc",
            "aab",
            "zz",
        ];
        for hay in hays {
            for needle in needles {
                assert_eq!(find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
            }
        }
    }
}
