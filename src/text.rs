//! String searching for the hot paths.

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

#[cfg(test)]
mod tests {
    use super::find;

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
