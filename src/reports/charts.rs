//! SVG charts of the key figures, for people who would rather look than read: contacts per
//! week and the distribution of answer times. Hand-written SVG (no dependency, no script,
//! no external reference) of a fixed size, with a `<title>` and a `<desc>` that says in words
//! what the bars show, so that the console can embed it as it is and a screen reader can read it.

use super::kpi::{AnswerTimeBucket, WeekCount};
use chrono::Datelike;
use std::fmt::Write;

pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 360;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 64.0;
/// At most this many category labels under the x axis; the others are left out (each bar
/// still names itself in its tooltip).
const MAX_X_LABELS: usize = 14;

/// Contacts per ISO week as bars. `subtitle` says whose and which period (e.g. the
/// organisation and the dates); it is shown under the title.
pub fn contacts_per_week(weeks: &[WeekCount], subtitle: &str) -> String {
    let total: u64 = weeks.iter().map(|w| w.contacts).sum();
    let busiest = weeks.iter().max_by_key(|w| (w.contacts, std::cmp::Reverse(w.starts)));
    let mut desc = format!("{total} contacts in {} weeks", weeks.len());
    if let Some(b) = busiest.filter(|b| b.contacts > 0) {
        let _ = write!(desc, "; the busiest week was {} with {} contacts", b.week, b.contacts);
    }
    desc.push('.');
    bar_chart(&BarChart {
        title: "Contacts per week",
        subtitle,
        desc: &desc,
        x_label: "ISO week (Helsinki time)",
        y_label: "Contacts",
        bars: weeks
            .iter()
            .map(|w| Bar {
                label: format!("W{:02}", w.starts.iso_week().week()),
                tooltip: format!("{} (from {}): {} contacts", w.week, w.starts, w.contacts),
                value: w.contacts,
            })
            .collect(),
    })
}

/// The answer-time distribution as a histogram of the report's buckets.
pub fn answer_times(buckets: &[AnswerTimeBucket], subtitle: &str) -> String {
    let total: u64 = buckets.iter().map(|b| b.contacts).sum();
    let mut desc = format!("{total} answered contacts by answer time");
    for b in buckets {
        let _ = write!(desc, "; {}: {}", b.label, b.contacts);
    }
    desc.push('.');
    bar_chart(&BarChart {
        title: "Answer time distribution",
        subtitle,
        desc: &desc,
        x_label: "Answer time",
        y_label: "Answered contacts",
        bars: buckets
            .iter()
            .map(|b| Bar {
                label: b.label.clone(),
                tooltip: format!("{}: {} contacts", b.label, b.contacts),
                value: b.contacts,
            })
            .collect(),
    })
}

struct Bar {
    label: String,
    tooltip: String,
    value: u64,
}

struct BarChart<'a> {
    title: &'a str,
    subtitle: &'a str,
    desc: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    bars: Vec<Bar>,
}

/// The y axis's top and step: 1, 2 or 5 times a power of ten, at most five steps.
fn scale(max: u64) -> (u64, u64) {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if max.div_ceil(s) <= 5 {
                return (max.div_ceil(s).max(1) * s, s);
            }
        }
        step = step.saturating_mul(10);
    }
}

fn bar_chart(c: &BarChart) -> String {
    let (w, h) = (f64::from(WIDTH), f64::from(HEIGHT));
    let plot_w = w - LEFT - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let bottom = TOP + plot_h;
    let max = c.bars.iter().map(|b| b.value).max().unwrap_or(0);
    let (top_value, step) = scale(max);
    let y = |v: u64| bottom - plot_h * v as f64 / top_value as f64;

    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<title id="chart-title">{}</title><desc id="chart-desc">{}</desc>"#,
        escape(&format!("{} — {}", c.title, c.subtitle)),
        escape(c.desc)
    );
    let _ = write!(s, r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##);
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="22" font-size="16" font-weight="bold" fill="#1a1a1a">{}</text>"##,
        escape(c.title)
    );
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="40" fill="#444444">{}</text>"##,
        escape(c.subtitle)
    );
    // Grid lines and y tick labels.
    let mut v = 0;
    while v <= top_value {
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444444">{v}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0
        );
        match v.checked_add(step) {
            Some(next) => v = next,
            None => break,
        }
    }
    // Bars.
    let n = c.bars.len().max(1);
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let every = c.bars.len().div_ceil(MAX_X_LABELS).max(1);
    for (i, bar) in c.bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let top = y(bar.value);
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{:.1}" fill="#2f6db5"><title>{}</title></rect>"##,
            bottom - top,
            escape(&bar.tooltip)
        );
        if i % every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#444444">{}</text>"##,
                x + bar_w / 2.0,
                bottom + 14.0,
                escape(&bar.label)
            );
        }
    }
    // Axes and their titles.
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#1a1a1a"/><line x1="{LEFT}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#1a1a1a"/>"##,
        LEFT + plot_w
    );
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#1a1a1a">{}</text>"##,
        LEFT + plot_w / 2.0,
        h - 16.0,
        escape(c.x_label)
    );
    let _ = write!(
        s,
        r##"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="#1a1a1a">{}</text>"##,
        TOP + plot_h / 2.0,
        escape(c.y_label)
    );
    s.push_str("</svg>");
    s
}

/// Text and attribute content: the five XML specials become entities, and characters XML 1.0
/// does not allow are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::kpi::{ANSWER_TIME_BOUNDS_S, ANSWER_TIME_LABELS};
    use chrono::NaiveDate;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// Parses the whole document; returns the root's name, every element name and all text.
    fn parse(svg: &str) -> (String, Vec<String>, String) {
        let mut reader = Reader::from_str(svg);
        reader.config_mut().check_end_names = true;
        let (mut root, mut names, mut text, mut depth) = (String::new(), Vec::new(), String::new(), 0);
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) if depth == 0 && root.is_empty() => {
                    root = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    names.push(root.clone());
                    depth += 1;
                }
                Event::Start(e) => {
                    names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                    depth += 1;
                }
                Event::Empty(e) => names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap()),
                Event::End(_) => depth -= 1,
                Event::Text(t) => text.push_str(&t.decode().unwrap()),
                Event::GeneralRef(r) => {
                    let name = String::from_utf8(r.to_vec()).unwrap();
                    let c = quick_xml::escape::resolve_predefined_entity(&name).expect("a predefined entity");
                    text.push_str(c);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "every element closed");
        (root, names, text)
    }

    fn weeks(counts: &[u64]) -> Vec<WeekCount> {
        let first = NaiveDate::from_ymd_opt(2025, 12, 29).unwrap(); // Monday of 2026-W01
        counts
            .iter()
            .enumerate()
            .map(|(i, &contacts)| {
                let starts = first + chrono::Duration::days(7 * i as i64);
                let iso = starts.iso_week();
                WeekCount {
                    week: format!("{}-W{:02}", iso.year(), iso.week()),
                    starts,
                    contacts,
                }
            })
            .collect()
    }

    #[test]
    fn contacts_per_week_is_valid_svg_with_title_desc_labels_and_a_bar_per_week() {
        let svg = contacts_per_week(
            &weeks(&[3, 0, 12, 7]),
            "Turku <853> & \"Naantali\", 2026-01-01 – 2026-01-28",
        );
        let (root, names, text) = parse(&svg);
        assert_eq!(root, "svg");
        assert!(names.contains(&"title".to_string()) && names.contains(&"desc".to_string()));
        // One bar per week plus the white background.
        assert_eq!(names.iter().filter(|n| *n == "rect").count(), 4 + 1);
        assert!(text.contains("Turku <853> & \"Naantali\""), "{text}");
        assert!(text.contains("22 contacts in 4 weeks; the busiest week was 2026-W03 with 12 contacts"));
        assert!(text.contains("2026-W02 (from 2026-01-05): 0 contacts"));
        for label in ["W01", "W02", "W03", "W04", "Contacts", "ISO week (Helsinki time)"] {
            assert!(text.contains(label), "{label}");
        }
        // The y axis reaches past the busiest week: 0, 5, 10, 15.
        assert!(text.contains("15"));
        assert!(svg.starts_with("<svg ") && svg.contains(&format!("width=\"{WIDTH}\" height=\"{HEIGHT}\"")));
    }

    #[test]
    fn a_year_of_weeks_labels_only_some_and_an_empty_series_still_draws() {
        let year = weeks(&[1; 53]);
        let (_, names, _) = parse(&contacts_per_week(&year, "all"));
        let labels = names.iter().filter(|n| *n == "text").count();
        // title, subtitle, 2 axis titles, y ticks (0 and 1), and at most MAX_X_LABELS x labels
        assert!(labels <= 4 + 2 + MAX_X_LABELS, "{labels}");
        let (root, names, text) = parse(&contacts_per_week(&[], "nothing"));
        assert_eq!(root, "svg");
        assert_eq!(names.iter().filter(|n| *n == "rect").count(), 1, "only the background");
        assert!(text.contains("0 contacts in 0 weeks."));
    }

    #[test]
    fn answer_times_is_a_histogram_of_the_buckets() {
        let buckets: Vec<AnswerTimeBucket> = ANSWER_TIME_LABELS
            .iter()
            .enumerate()
            .map(|(i, label)| AnswerTimeBucket {
                from_s: if i == 0 { 0 } else { ANSWER_TIME_BOUNDS_S[i - 1] },
                to_s: ANSWER_TIME_BOUNDS_S.get(i).copied(),
                label: label.to_string(),
                contacts: i as u64 * 2,
            })
            .collect();
        let svg = answer_times(&buckets, "853, 2026");
        let (_, names, text) = parse(&svg);
        assert_eq!(names.iter().filter(|n| *n == "rect").count(), 10 + 1);
        assert!(
            text.contains("90 answered contacts by answer time; < 10 s: 0; 10–30 s: 2"),
            "{text}"
        );
        assert!(text.contains("≥ 1 d"));
    }

    #[test]
    fn scale_is_round_and_covers_the_maximum() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(4), (4, 1));
        assert_eq!(scale(7), (8, 2));
        assert_eq!(scale(12), (15, 5));
        assert_eq!(scale(1581), (2000, 500));
        let (top, step) = scale(u64::MAX / 3);
        assert!(top >= u64::MAX / 3 && step > 0);
    }

    #[test]
    fn escape_handles_specials_and_drops_control_characters() {
        assert_eq!(escape("a<b>&\"c'\u{1}d"), "a&lt;b&gt;&amp;&quot;c&apos;d");
    }
}
