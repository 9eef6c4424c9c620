//! Horizontal bar charts as standalone SVG text, for `bench compare --plot DIR`: one bar (or a
//! few) per contender, whiskers for the spread over runs. Written by hand — a few rectangles and
//! labels — rather than pulling a plotting library into the crate.

use std::fmt::Write as _;

/// One bar: its value, and optionally the (min, max) whisker around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The bar's length, in the chart's unit.
    pub value: f64,
    /// The spread drawn as a whisker.
    pub range: Option<(f64, f64)>,
}

/// A group of bars sharing a label (one contender); each bar takes its series' colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The label left of the bars.
    pub label: String,
    /// One bar per series, in series order.
    pub bars: Vec<Bar>,
}

const COLOURS: [&str; 4] = ["#3b6ea5", "#e08a2e", "#5a9e55", "#a0a0a0"];
const LABEL_WIDTH: f64 = 150.0;
const PLOT_WIDTH: f64 = 480.0;
const BAR_HEIGHT: f64 = 16.0;
const GROUP_GAP: f64 = 10.0;
const TOP: f64 = 48.0;

/// An SVG chart titled `title`, bars scaled to the largest value (or whisker), `series` naming
/// each bar of a group (the legend), values printed after the bars with `unit`.
pub fn bar_chart(title: &str, unit: &str, series: &[&str], groups: &[Group]) -> String {
    let max = groups
        .iter()
        .flat_map(|g| &g.bars)
        .map(|b| b.range.map_or(b.value, |(_, high)| high.max(b.value)))
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let per_group = BAR_HEIGHT * series.len().max(1) as f64 + GROUP_GAP;
    let height = TOP + per_group * groups.len() as f64 + 30.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 110.0;
    let scale = PLOT_WIDTH / max;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, name) in series.iter().enumerate() {
        let x = LABEL_WIDTH + 140.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="28" width="10" height="10" fill="{}"/><text x="{}" y="37">{}</text>"#,
            COLOURS[i % COLOURS.len()],
            x + 14.0,
            escape(name)
        );
    }
    for (g, group) in groups.iter().enumerate() {
        let y0 = TOP + per_group * g as f64;
        let mid = y0 + BAR_HEIGHT * group.bars.len() as f64 / 2.0 + 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{mid}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            escape(&group.label)
        );
        for (i, bar) in group.bars.iter().enumerate() {
            let y = y0 + BAR_HEIGHT * i as f64;
            let w = (bar.value * scale).max(0.5);
            let _ = writeln!(
                svg,
                r#"<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1}" height="{}" fill="{}"/>"#,
                BAR_HEIGHT - 2.0,
                COLOURS[i % COLOURS.len()]
            );
            let mut end = LABEL_WIDTH + w;
            if let Some((low, high)) = bar.range {
                let (x1, x2) = (LABEL_WIDTH + low * scale, LABEL_WIDTH + high * scale);
                let ym = y + (BAR_HEIGHT - 2.0) / 2.0;
                let _ = writeln!(
                    svg,
                    r#"<path d="M{x1:.1} {ym:.1}H{x2:.1}M{x1:.1} {:.1}V{:.1}M{x2:.1} {:.1}V{:.1}" stroke="black" fill="none"/>"#,
                    ym - 4.0,
                    ym + 4.0,
                    ym - 4.0,
                    ym + 4.0
                );
                end = end.max(x2);
            }
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{} {}</text>"#,
                end + 4.0,
                y + BAR_HEIGHT - 4.0,
                format_value(bar.value),
                escape(unit)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_one_rect_per_bar_and_escapes_labels() {
        let groups = [
            Group {
                label: "a<b".into(),
                bars: vec![
                    Bar {
                        value: 10.0,
                        range: Some((8.0, 12.0)),
                    },
                    Bar {
                        value: 5.0,
                        range: None,
                    },
                ],
            },
            Group {
                label: "c".into(),
                bars: vec![
                    Bar {
                        value: 20.0,
                        range: None,
                    },
                    Bar {
                        value: 0.0,
                        range: None,
                    },
                ],
            },
        ];
        let svg = bar_chart("t & u", "calls/s", &["x", "y"], &groups);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        // Background, 2 legend boxes, 4 bars.
        assert_eq!(svg.matches("<rect").count(), 7);
        assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"));
        // The largest bar spans the plot width.
        assert!(svg.contains(&format!(r#"width="{PLOT_WIDTH:.1}""#)));
        assert_eq!(svg.matches("<path").count(), 1);
    }
}
