//! Which part of a file earlier runs counted, when they read it under `--since`/`--until`.
//!
//! A file is recorded as soon as it is read, so that it is never counted twice. Read under a
//! window, it may hold events outside it: those must stay countable by a later run with another
//! window (a schedule catching up, a wider `--until`), while the events already counted must not
//! be counted again. So a partly counted file keeps the list of windows it was read under.

use super::window::TimeWindow;

/// The windows under which a file was read, none of which covered all its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    windows: Vec<TimeWindow>,
}

impl Counted {
    /// The stored form (`[[since, until], …]`, `null` for an open end); None if it is not one.
    pub fn parse(text: &str) -> Option<Counted> {
        let spans: Vec<(Option<String>, Option<String>)> = serde_json::from_str(text).ok()?;
        let windows = spans
            .into_iter()
            .map(|(since, until)| TimeWindow::from_texts(since, until))
            .collect::<Option<Vec<_>>>()?;
        Some(Counted { windows })
    }

    pub fn to_json(&self) -> String {
        let spans: Vec<(Option<&str>, Option<&str>)> =
            self.windows.iter().map(TimeWindow::texts).collect();
        serde_json::to_string(&spans).unwrap_or_else(|_| "[]".to_string())
    }

    /// The windows read so far and `window`.
    pub fn with(&self, window: &TimeWindow) -> Counted {
        let mut windows = self.windows.clone();
        if !windows.contains(window) {
            windows.push(window.clone());
        }
        Counted { windows }
    }

    /// The windows, in the order they were read.
    pub fn windows(&self) -> &[TimeWindow] {
        &self.windows
    }

    /// The same times as fewer windows: overlapping and adjacent ones joined, in time order. A
    /// source queried on a schedule (Athena) adds a window each run; joined, they stay few.
    pub fn merged(&self) -> Counted {
        let mut spans: Vec<(Point, Point)> = self.windows.iter().map(Point::span).collect();
        spans.sort();
        let mut joined: Vec<(Point, Point)> = Vec::new();
        for (start, end) in spans {
            match joined.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => joined.push((start, end)),
            }
        }
        let text = |p: Point| match p {
            Point::At(t) => Some(t.to_string()),
            Point::Start | Point::End => None,
        };
        let windows = joined
            .into_iter()
            .filter_map(|(start, end)| TimeWindow::from_texts(text(start), text(end)))
            .collect();
        Counted { windows }
    }

    /// Whether an event at this time was counted already.
    pub fn contains(&self, event_time: &str) -> bool {
        self.windows.iter().any(|w| w.contains(event_time))
    }

    /// Whether every time in `window` lies in a window already counted: reading the file again
    /// under it would count nothing.
    pub fn covers(&self, window: &TimeWindow) -> bool {
        let mut spans: Vec<(Point, Point)> = self.windows.iter().map(Point::span).collect();
        spans.sort();
        let (from, to) = Point::span(window);
        // Every time before `reached` is counted already.
        let mut reached = from;
        for (start, end) in spans {
            if start > reached {
                break; // sorted: no later span starts in time either
            }
            reached = reached.max(end);
        }
        reached >= to
    }
}

/// A bound of a window, ordered as time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Point<'a> {
    Start,
    At(&'a str),
    End,
}

impl<'a> Point<'a> {
    fn span(window: &'a TimeWindow) -> (Point<'a>, Point<'a>) {
        let (since, until) = window.texts();
        (
            since.map_or(Point::Start, Point::At),
            until.map_or(Point::End, Point::At),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn w(since: Option<&str>, until: Option<&str>) -> TimeWindow {
        TimeWindow::new(since.map(at), until.map(at))
    }

    const T9: &str = "2026-11-20T09:00:00Z";
    const T10: &str = "2026-11-20T10:00:00Z";
    const T11: &str = "2026-11-20T11:00:00Z";

    #[test]
    fn windows_read_so_far_cover_what_lies_in_their_union() {
        let none = Counted::default();
        assert!(!none.covers(&w(Some(T9), Some(T10))));
        let nine_to_ten = none.with(&w(Some(T9), Some(T10)));
        assert!(nine_to_ten.covers(&w(Some(T9), Some(T10))));
        assert!(nine_to_ten.covers(&w(Some("2026-11-20T09:30:00Z"), Some(T10))));
        assert!(!nine_to_ten.covers(&w(Some(T9), Some(T11))));
        assert!(!nine_to_ten.covers(&w(None, Some(T10))));
        assert!(!nine_to_ten.covers(&TimeWindow::default()));
        // Adjacent windows join: until is exclusive, since inclusive.
        let nine_to_eleven = nine_to_ten.with(&w(Some(T10), Some(T11)));
        assert!(nine_to_eleven.covers(&w(Some(T9), Some(T11))));
        assert!(!nine_to_eleven.covers(&w(Some(T9), None)));
        let all = nine_to_eleven
            .with(&w(None, Some(T9)))
            .with(&w(Some(T11), None));
        assert!(all.covers(&TimeWindow::default()));
        // A gap is not covered.
        let gap = none.with(&w(None, Some(T9))).with(&w(Some(T10), None));
        assert!(!gap.covers(&TimeWindow::default()));
        assert!(gap.covers(&w(Some(T10), Some(T11))));
    }

    #[test]
    fn an_event_counted_under_one_window_is_not_counted_again() {
        let c = Counted::default().with(&w(Some(T9), Some(T10)));
        assert!(c.contains("2026-11-20T09:59:59Z"));
        assert!(!c.contains("2026-11-20T10:00:00Z"));
        assert!(!c.contains("2026-11-20T08:59:59Z"));
    }

    #[test]
    fn merged_windows_cover_the_same_times() {
        let c = Counted::default()
            .with(&w(Some(T10), Some(T11)))
            .with(&w(None, Some(T9)))
            .with(&w(Some(T9), Some(T10)))
            .with(&w(Some("2026-11-20T12:00:00Z"), None));
        let m = c.merged();
        assert_eq!(
            m.windows(),
            &[w(None, Some(T11)), w(Some("2026-11-20T12:00:00Z"), None)]
        );
        for t in [
            "2026-11-20T08:00:00Z",
            T9,
            "2026-11-20T10:59:59Z",
            "2026-11-20T11:30:00Z",
        ] {
            assert_eq!(c.contains(t), m.contains(t), "{t}");
        }
    }

    #[test]
    fn the_stored_form_reads_back() {
        let c = Counted::default()
            .with(&w(Some(T9), None))
            .with(&w(None, Some(T10)));
        let text = c.to_json();
        assert_eq!(
            text,
            r#"[["2026-11-20T09:00:00",null],[null,"2026-11-20T10:00:00"]]"#
        );
        assert_eq!(Counted::parse(&text), Some(c));
        assert_eq!(Counted::parse("not json"), None);
        assert_eq!(Counted::parse(r#"[["yesterday",null]]"#), None);
    }
}
