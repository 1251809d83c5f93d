//! A validating JSON scanner over borrowed text, for the hot path of `observe`.
//!
//! It checks the same grammar serde_json does (RFC 8259: no trailing commas, no leading zeros,
//! no control characters in strings, only the standard escapes) while building nothing: values
//! the caller does not want are only checked, wanted strings are borrowed. Whatever it is not
//! sure to read exactly as serde_json would (an escape inside a wanted string, deep nesting) it
//! refuses with [`Bail`], and the caller falls back to serde_json: refusing more than serde_json
//! costs only time, accepting more would change results.
//!
//! Text may come in pieces (a file decompressed piecewise): a scan that stops at the end of the
//! text says so ([`Scanner::ran_out`]), and the caller retries from the start of that value once
//! more text has come.

/// The scanner will not read this input itself; decode it with serde_json instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bail;

pub type Scan<T> = Result<T, Bail>;

/// Nesting deeper than this is left to serde_json (whose own limit, 128, is higher: a document
/// refused here for depth may still be one serde_json reads).
const MAX_DEPTH: u32 = 64;

pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    depth: u32,
    ran_out: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`, already `depth` objects or arrays deep.
    pub fn new(text: &'a str, depth: u32) -> Self {
        Scanner {
            text,
            pos: 0,
            depth,
            ran_out: false,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether the scan looked past the end of the text: its last [`Bail`] may be only that.
    pub fn ran_out(&self) -> bool {
        self.ran_out
    }

    /// Refuses because the text ended.
    #[cold]
    fn out<T>(&mut self) -> Scan<T> {
        self.ran_out = true;
        Err(Bail)
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Skips JSON whitespace (exactly serde_json's four characters) and returns the next byte,
    /// without consuming it.
    #[inline]
    pub fn peek(&mut self) -> Scan<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Ok(b);
            }
            self.pos += 1;
        }
        self.out()
    }

    /// The next byte after whitespace, consumed.
    #[inline]
    pub fn next_byte(&mut self) -> Scan<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub fn expect(&mut self, want: u8) -> Scan<()> {
        if self.next_byte()? == want {
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Skips a UTF-8 byte-order mark at the start, if there is one.
    pub fn skip_bom(&mut self) -> Scan<()> {
        let rest = &self.bytes()[self.pos..];
        if rest.starts_with(b"\xef\xbb\xbf") {
            self.pos += 3;
            Ok(())
        } else if rest.is_empty() {
            // A mark may still come.
            self.out()
        } else {
            Ok(())
        }
    }

    /// Skips ASCII whitespace, form feed included (the serde path trims the document's start
    /// with `trim_ascii_start`); runs out if nothing else comes.
    pub fn skip_ascii_whitespace(&mut self) -> Scan<()> {
        let bytes = self.bytes();
        while let Some(b) = bytes.get(self.pos) {
            if !b.is_ascii_whitespace() {
                return Ok(());
            }
            self.pos += 1;
        }
        self.out()
    }

    /// Skips whitespace; true when nothing else is left.
    pub fn at_end(&mut self) -> bool {
        let at_end = self.peek().is_err();
        self.ran_out = false;
        at_end
    }

    /// After an object's `{` or a member: the next key, or `None` at the closing `}`. `first`
    /// tells whether a member came before (then a `,` must separate them).
    #[inline]
    pub fn next_key(&mut self, first: bool) -> Scan<Option<&'a str>> {
        let bytes = self.bytes();
        // Deliveries are compact JSON: the quote (after a comma) is usually right here.
        match (first, bytes.get(self.pos), bytes.get(self.pos + 1)) {
            (true, Some(b'"'), _) => self.pos += 1,
            (false, Some(b','), Some(b'"')) => self.pos += 2,
            _ => match self.next_byte()? {
                b'}' if first => return Ok(None),
                b'"' if first => {}
                b'}' => return Ok(None),
                b',' if !first => self.expect(b'"')?,
                _ => return Err(Bail),
            },
        }
        let key = self.plain_string_body()?;
        if self.bytes().get(self.pos) == Some(&b':') {
            self.pos += 1;
        } else {
            self.expect(b':')?;
        }
        Ok(Some(key))
    }

    /// After an array's `[` or an element: true when another element follows (its first byte
    /// not consumed), false at the closing `]`.
    #[inline]
    pub fn next_element(&mut self, first: bool) -> Scan<bool> {
        match self.peek()? {
            b']' => {
                self.pos += 1;
                Ok(false)
            }
            _ if first => Ok(true),
            b',' => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(Bail),
        }
    }

    /// Enters an object or array: counts the depth that serde_json limits.
    #[inline]
    pub fn enter(&mut self) -> Scan<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(Bail)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A string without escapes (the opening quote already consumed), borrowed. Escaped strings
    /// are refused: serde_json would decode them, and only wanted strings are read this way.
    #[inline]
    pub fn plain_string_body(&mut self) -> Scan<&'a str> {
        let start = self.pos;
        let end = find_special(self.bytes(), start);
        match self.bytes().get(end) {
            Some(b'"') => {
                self.pos = end + 1;
                // Quotes are ASCII, so both ends are character boundaries of the valid text.
                self.text.get(start..end).ok_or(Bail)
            }
            Some(_) => Err(Bail),
            None => self.out(),
        }
    }

    /// A wanted string value: `null` is `None`, a string without escapes is borrowed, anything
    /// else is refused (serde_json would fail on another type, or decode the escapes).
    #[inline]
    pub fn opt_str(&mut self) -> Scan<Option<&'a str>> {
        if self.bytes().get(self.pos) == Some(&b'"') {
            self.pos += 1;
            return self.plain_string_body().map(Some);
        }
        match self.next_byte()? {
            b'"' => self.plain_string_body().map(Some),
            b'n' => self.literal(b"ull").map(|_| None),
            _ => Err(Bail),
        }
    }

    /// True (and consumed) when the next value is `null`.
    #[inline]
    pub fn null(&mut self) -> Scan<bool> {
        if self.peek()? == b'n' {
            self.pos += 1;
            self.literal(b"ull")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Scan<()> {
        let end = self.pos + rest.len();
        match self.bytes().get(self.pos..end) {
            Some(found) if found == rest => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(Bail),
            None => self.out(),
        }
    }

    /// Checks one value of any type and returns its text, as serde_json's `RawValue` would.
    pub fn raw_value(&mut self) -> Scan<&'a str> {
        self.peek()?;
        let start = self.pos;
        self.skip_value()?;
        self.text.get(start..self.pos).ok_or(Bail)
    }

    /// Checks one value of any type without keeping it.
    pub fn skip_value(&mut self) -> Scan<()> {
        match self.next_byte()? {
            b'"' => self.skip_string_body(),
            b'{' => {
                self.enter()?;
                let mut first = true;
                loop {
                    match self.next_byte()? {
                        b'}' if first => break,
                        b'"' if first => {}
                        b',' if !first => self.expect(b'"')?,
                        b'}' if !first => break,
                        _ => return Err(Bail),
                    }
                    self.skip_string_body()?;
                    self.expect(b':')?;
                    self.skip_value()?;
                    first = false;
                }
                self.leave();
                Ok(())
            }
            b'[' => {
                self.enter()?;
                let mut first = true;
                while self.next_element(first)? {
                    self.skip_value()?;
                    first = false;
                }
                self.leave();
                Ok(())
            }
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            b'-' => self.number_after_sign(),
            b'0'..=b'9' => {
                self.pos -= 1;
                self.number_after_sign()
            }
            _ => Err(Bail),
        }
    }

    /// The rest of a string whose opening quote was consumed; escapes are checked, not decoded.
    fn skip_string_body(&mut self) -> Scan<()> {
        let bytes = self.bytes();
        let mut i = self.pos;
        loop {
            i = find_special(bytes, i);
            match bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    i = match bytes.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i + 2,
                        // serde_json checks only that four hex digits follow when it skips a
                        // string; a lone surrogate is an error only in a string it decodes.
                        Some(b'u') => {
                            let Some(hex) = bytes.get(i + 2..i + 6) else {
                                return self.out();
                            };
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Bail);
                            }
                            i + 6
                        }
                        Some(_) => return Err(Bail),
                        None => return self.out(),
                    };
                }
                Some(_) => return Err(Bail), // a control character
                None => return self.out(),
            }
        }
    }

    /// A number, from its first digit (a leading `-` already consumed). A number that reaches
    /// the end of the text might go on in the next piece: that is running out, not an answer.
    fn number_after_sign(&mut self) -> Scan<()> {
        let bytes = self.bytes();
        let mut i = self.pos;
        let digits = |mut i: usize| {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        match bytes.get(i) {
            // No leading zeros: a digit right after the 0 is an error, as in serde_json.
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i + 1),
            Some(_) => return Err(Bail),
            None => return self.out(),
        }
        if bytes.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return self.end_or_bail(end);
            }
            i = end;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return self.end_or_bail(end);
            }
            i = end;
        }
        match bytes.get(i) {
            Some(b) if b.is_ascii_digit() => Err(Bail), // after a leading zero
            Some(_) => {
                self.pos = i;
                Ok(())
            }
            None => self.out(),
        }
    }

    /// A number's digits are missing at `at`: the text ended there, or the number is invalid.
    fn end_or_bail(&mut self, at: usize) -> Scan<()> {
        if at >= self.text.len() {
            self.out()
        } else {
            Err(Bail)
        }
    }
}

/// The index of the first `"`, `\` or control character at or after `from` (the length of
/// `bytes` if none): what ends the plain run of a string.
#[inline]
fn find_special(bytes: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        find_special_sse2(bytes, from)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        find_special_scalar(bytes, from)
    }
}

#[inline]
fn is_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

#[cfg(any(not(target_arch = "x86_64"), test))]
fn find_special_scalar(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| is_special(b)))
        .map_or(bytes.len(), |n| from + n)
}

/// Sixteen bytes at a time: strings are most of a CloudTrail event's bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)] // SSE2 intrinsics: see the SAFETY below.
fn find_special_sse2(bytes: &[u8], from: usize) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut i = from;
    while i + 16 <= bytes.len() {
        let chunk = &bytes[i..i + 16];
        // SAFETY: SSE2 is part of the x86_64 baseline, and `chunk` is 16 readable bytes (the
        // load has no alignment requirement).
        let mask = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            // A byte is a control character when its unsigned minimum with 0x1f is itself.
            let hits = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
                ),
                _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
            );
            _mm_movemask_epi8(hits)
        };
        if mask != 0 {
            return i + mask.trailing_zeros() as usize;
        }
        i += 16;
    }
    while i < bytes.len() && !is_special(bytes[i]) {
        i += 1;
    }
    i.max(from).min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut s = Scanner::new(text, 0);
        s.skip_value().is_ok() && s.at_end()
    }

    #[test]
    fn accepts_what_serde_json_accepts_and_refuses_the_rest() {
        for (text, ok) in [
            ("{}", true),
            ("[]", true),
            (
                r#"{"a":[1,-2.5e+3,0,0.0,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"]}"#,
                true,
            ),
            (" \t\r\n{ \"a\" : { } } ", true),
            ("[1,]", false),
            (r#"{"a":1,}"#, false),
            ("01", false),
            ("1.", false),
            ("-", false),
            ("1e", false),
            ("+1", false),
            (".5", false),
            ("\"\u{1}\"", false),
            (r#""\x""#, false),
            (r#""\u12g4""#, false),
            ("\"abc", false),
            ("tru", false),
            ("nul", false),
            ("[1 2]", false),
            (r#"{"a" 1}"#, false),
            (r#"{1:2}"#, false),
            ("\u{c}1", false),
        ] {
            assert_eq!(skips(text), ok, "{text:?}");
            let serde_ok = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert!(
                !ok || serde_ok,
                "accepted what serde_json refuses: {text:?}"
            );
        }
    }

    #[test]
    fn depth_beyond_the_limit_is_left_to_serde_json() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(!skips(&deep));
        let shallow = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(skips(&shallow));
    }

    #[test]
    fn the_vector_search_agrees_with_the_scalar_one() {
        let mut text = Vec::new();
        for n in 0..300u32 {
            text.push(b'a' + (n % 26) as u8);
            if n % 37 == 0 {
                text.push(b'"');
            }
            if n % 53 == 0 {
                text.push(0x1f);
            }
            if n % 71 == 0 {
                text.push(0xc3);
                text.push(0xa9);
            }
        }
        for from in 0..=text.len() {
            assert_eq!(
                find_special(&text, from),
                find_special_scalar(&text, from),
                "{from}"
            );
        }
    }

    #[test]
    fn raw_values_are_the_text_serde_json_would_borrow() {
        let mut s = Scanner::new(r#"  {"a": [1, "b"]} "#, 0);
        assert_eq!(s.raw_value(), Ok(r#"{"a": [1, "b"]}"#));
    }
}
