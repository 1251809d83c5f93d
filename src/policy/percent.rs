//! Percent-decoding (RFC 3986 `%XX`), the one decoder for text that arrives URL-encoded: IAM's
//! policy documents (strict: [`decode_strict`]) and request fields such as S3's
//! `x-amz-copy-source` (lenient: [`decode_lossy`]). A `+` is a literal plus in both; form decoding
//! (where `+` is a space) is the caller's to do first.

/// Why [`decode_strict`] refused its input (a document: what it decodes is IAM's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A `%` not followed by two hexadecimal digits, at this byte offset of the input.
    #[error("bad URL escape at byte {0} of the document")]
    BadEscape(usize),
    /// The decoded bytes are not UTF-8.
    #[error("the URL-decoded document is not UTF-8")]
    NotUtf8,
}

/// `%XX` escapes decoded; a `%` not followed by two hexadecimal digits is kept as it is, and
/// decoded bytes that are not UTF-8 become U+FFFD.
pub fn decode_lossy(s: &str) -> String {
    String::from_utf8_lossy(&decode_bytes(s).0).into_owned()
}

/// `%XX` escapes decoded; a bad escape or a result that is not UTF-8 is an error.
pub fn decode_strict(s: &str) -> Result<String, Error> {
    let (bytes, bad) = decode_bytes(s);
    if let Some(at) = bad {
        return Err(Error::BadEscape(at));
    }
    String::from_utf8(bytes).map_err(|_| Error::NotUtf8)
}

/// The bytes `s` stands for, a `%` not followed by two hexadecimal digits standing for itself;
/// and the byte offset of the first such `%`.
fn decode_bytes(s: &str) -> (Vec<u8>, Option<usize>) {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut bad = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = bytes.get(i + 1..i + 3).and_then(hex_pair) {
                out.push(b);
                i += 3;
                continue;
            }
            bad = bad.or(Some(i));
        }
        out.push(bytes[i]);
        i += 1;
    }
    (out, bad)
}

/// The byte two hexadecimal digits (either case) spell.
fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match *pair {
        [high, low] => Some((digit(high)? * 16 + digit(low)?) as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_and_strict_decoding() {
        // (input, lossy, strict)
        let cases: &[(&str, &str, Result<&str, Error>)] = &[
            ("a%2Fb", "a/b", Ok("a/b")),
            ("x+y%20z", "x+y z", Ok("x+y z")),
            ("%C3%A9%c3%a9", "éé", Ok("éé")),
            ("100%", "100%", Err(Error::BadEscape(3))),
            ("%zz%4", "%zz%4", Err(Error::BadEscape(0))),
            ("a%4", "a%4", Err(Error::BadEscape(1))),
            ("%+5", "%+5", Err(Error::BadEscape(0))),
            ("%é1", "%é1", Err(Error::BadEscape(0))),
            ("%FF", "\u{FFFD}", Err(Error::NotUtf8)),
            ("", "", Ok("")),
        ];
        for (input, lossy, strict) in cases {
            assert_eq!(decode_lossy(input), *lossy, "{input:?}");
            assert_eq!(
                decode_strict(input).as_deref(),
                strict.as_deref(),
                "{input:?}"
            );
        }
    }
}
