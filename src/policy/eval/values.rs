//! Parsers of condition values, as the typed condition operators read them: numbers, booleans,
//! dates (ISO 8601 or epoch seconds) and IP addresses or CIDR ranges.

use std::net::IpAddr;

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(super) fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        || !s.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Parse an IAM date: epoch seconds (`1700000000`, optionally with a fraction) or ISO 8601
/// (`2020-01-01`, `2020-01-01T12:00Z`, `2020-01-01T12:00:00.123+02:00`, no zone = UTC). Returns
/// nanoseconds since the Unix epoch.
pub(super) fn parse_date(s: &str) -> Option<i128> {
    if !s.is_ascii() || s.is_empty() {
        return None;
    }
    if let Some(n) = parse_epoch(s) {
        return Some(n);
    }
    let b = s.as_bytes();
    let mut cur = Cursor { b, i: 0 };
    let year = cur.digits(4)?;
    cur.expect(b'-')?;
    let month = cur.digits(2)?;
    cur.expect(b'-')?;
    let day = cur.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs: i128 = 0;
    let mut nanos: i128 = 0;
    let mut offset: i128 = 0;
    if cur.peek().is_some() {
        match cur.next()? {
            b'T' | b't' => {}
            _ => return None,
        }
        let hour = cur.digits(2)?;
        cur.expect(b':')?;
        let minute = cur.digits(2)?;
        let mut second = 0;
        if cur.peek() == Some(b':') {
            cur.next();
            second = cur.digits(2)?;
            if matches!(cur.peek(), Some(b'.') | Some(b',')) {
                cur.next();
                let start = cur.i;
                let mut scale = NANOS_PER_SEC;
                while let Some(d) = cur.peek().filter(u8::is_ascii_digit) {
                    cur.next();
                    if scale > 1 {
                        scale /= 10;
                        nanos += i128::from(d - b'0') * scale;
                    }
                }
                if cur.i == start {
                    return None;
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs = i128::from(hour) * 3600 + i128::from(minute) * 60 + i128::from(second);
        match cur.next() {
            None => {}
            Some(b'Z') | Some(b'z') => {}
            Some(sign @ (b'+' | b'-')) => {
                let oh = cur.digits(2)?;
                let om = match cur.peek() {
                    None => 0,
                    Some(b':') => {
                        cur.next();
                        cur.digits(2)?
                    }
                    Some(_) => cur.digits(2)?,
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let o = i128::from(oh) * 3600 + i128::from(om) * 60;
                offset = if sign == b'+' { o } else { -o };
            }
            Some(_) => return None,
        }
        if cur.peek().is_some() {
            return None;
        }
    }
    let days = i128::from(days_from_civil(i64::from(year), month, day));
    Some((days * 86_400 + secs - offset) * NANOS_PER_SEC + nanos)
}

fn parse_epoch(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() || int.len() > 18 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: i128 = int.parse::<i128>().ok()? * NANOS_PER_SEC;
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut scale = NANOS_PER_SEC;
        for d in f.bytes() {
            if scale > 1 {
                scale /= 10;
                n += i128::from(d - b'0') * scale;
            }
        }
    }
    Some(if neg { -n } else { n })
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.next()?;
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        Some(v)
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn is_leap(year: u32) -> bool {
    // Remainders bound first: `is_multiple_of` is newer than the crate's rust-version (1.80).
    let (r4, r100, r400) = (year % 4, year % 100, year % 400);
    (r4 == 0 && r100 != 0) || r400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cidr {
    V4(u32, u8),
    V6(u128, u8),
}

/// `203.0.113.0/24`, `2001:db8::/32`, or a bare address (a single host).
pub(super) fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (a, Some(p.parse::<u8>().ok()?))
        }
        None => (s, None),
    };
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let p = prefix.unwrap_or(32);
            (p <= 32).then(|| Cidr::V4(u32::from(a), p))
        }
        IpAddr::V6(a) => {
            let p = prefix.unwrap_or(128);
            (p <= 128).then(|| Cidr::V6(u128::from(a), p))
        }
    }
}

impl Cidr {
    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Cidr::V4(net, p), IpAddr::V4(a)) => {
                let mask = if p == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(p))
                };
                (u32::from(a) & mask) == (net & mask)
            }
            (Cidr::V6(net, p), IpAddr::V6(a)) => {
                let mask = if p == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(p))
                };
                (u128::from(a) & mask) == (net & mask)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pattern::parse_pieces;
    use crate::policy::testing::Lcg;

    #[test]
    fn dates() {
        // (text, nanoseconds since the Unix epoch)
        let table: [(&str, Option<i128>); 15] = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1970-01-01", Some(0)),
            ("0", Some(0)),
            ("1970-01-02T00:00Z", Some(86_400 * NANOS_PER_SEC)),
            ("1970-01-01T01:00:00+0100", Some(0)),
            ("1969-12-31T23:00:00-01:00", Some(0)),
            ("2000-03-01T00:00:00Z", Some(951_868_800 * NANOS_PER_SEC)),
            ("1.5", Some(1_500_000_000)),
            ("2023-02-29", None),
            ("2023-13-01", None),
            ("2023-01-01T24:00:00Z", None),
            ("2023-01-01T10:00:00Zjunk", None),
            ("2023-01-01X", None),
            ("", None),
            ("２０２３-01-01", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_date(text), want, "{text:?}");
        }
    }

    #[test]
    fn fuzz_parsers_never_panic() {
        let mut rng = Lcg(7);
        let alpha = [
            "0", "1", "9", "-", "+", ":", ".", "T", "Z", "/", "e", "é", "a", "f", " ", ",",
        ];
        for _ in 0..2000 {
            let s = rng.string(&alpha, 26);
            let _ = parse_date(&s);
            let _ = parse_number(&s);
            let _ = parse_cidr(&s);
            let _ = parse_pieces(&s, true, true);
        }
    }
}
