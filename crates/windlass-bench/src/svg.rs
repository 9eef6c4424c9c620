//! Horizontal bar charts as standalone SVG text, for `bench compare --plot DIR`, drawn with
//! plotters' SVG backend: one bar (or a few) per contender, whiskers for the spread over runs, a
//! legend naming the series, and each bar's value printed after it.
//!
//! plotters lives here, in the bench crate, never in the library: charts are something a
//! benchmark run produces, not something a service links.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// Drawing a chart failed. Drawing into a string does no I/O, so this only carries what plotters
/// reports (a layout it cannot draw, say), so that a bench run reports it instead of panicking.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

impl ChartError {
    fn from_plotters(e: impl std::fmt::Display) -> Self {
        ChartError(e.to_string())
    }
}

/// Series colours, in series order (blue, orange, green, grey: apart in hue and in lightness, so
/// they stay apart in greyscale too).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0x3b, 0x6e, 0xa5),
    RGBColor(0xe0, 0x8a, 0x2e),
    RGBColor(0x5a, 0x9e, 0x55),
    RGBColor(0xa0, 0xa0, 0xa0),
];
/// Pixels: the whole chart's width, the contender labels' column, one bar's height (a bar is
/// drawn 2 px thinner, so bars of one group stay apart), the gap between groups.
const WIDTH: u32 = 760;
const LABEL_AREA: u32 = 150;
const BAR_PX: i32 = 16;
const GROUP_GAP_PX: i32 = 10;
/// Pixels above the plot (the title) and below it (the value axis).
const CAPTION_PX: u32 = 36;
const AXIS_PX: u32 = 36;
/// The value axis runs this far past the largest bar or whisker, to leave room for the printed
/// values (and for the legend, which sits in the top right corner).
const HEADROOM: f64 = 1.3;
const FONT: &str = "sans-serif";

/// An SVG chart titled `title`, bars scaled to the largest value (or whisker), `series` naming
/// each bar of a group (the legend), values printed after the bars with `unit`.
///
/// # Errors
///
/// Whatever plotters reports while drawing; [`ChartError`].
pub fn bar_chart(
    title: &str,
    unit: &str,
    series: &[&str],
    groups: &[Group],
) -> Result<String, ChartError> {
    let layout = Layout::new(series.len(), groups.len());
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, layout.height_px())).into_drawing_area();
        draw(&root, &layout, title, unit, series, groups)?;
        root.present().map_err(ChartError::from_plotters)?;
    }
    Ok(svg)
}

/// Where rows go. The y axis is in pixels from the bottom of the plot (plotters' y grows
/// upwards; integers, so that the contender labels can be placed with key points); group `g`'s
/// bar `i` is counted from the top, below a band kept for the legend.
struct Layout {
    per_group: i32,
    legend: i32,
    height: i32,
}

impl Layout {
    fn new(series: usize, groups: usize) -> Self {
        let series = i32::try_from(series.max(1)).unwrap_or(i32::MAX / 4);
        let groups = i32::try_from(groups).unwrap_or(i32::MAX / 4);
        let per_group = series.saturating_mul(BAR_PX).saturating_add(GROUP_GAP_PX);
        // The legend box: about 20 px per series plus its padding.
        let legend = series.saturating_mul(20).saturating_add(16);
        Layout {
            per_group,
            legend,
            height: per_group.saturating_mul(groups).saturating_add(legend),
        }
    }

    fn height_px(&self) -> u32 {
        self.height.unsigned_abs() + CAPTION_PX + AXIS_PX
    }

    /// The y of the top edge of group `g`'s bar `i`.
    fn top(&self, g: usize, i: usize) -> i32 {
        let (g, i) = (g as i32, i as i32);
        self.height - self.legend - self.per_group * g - BAR_PX * i
    }

    /// The y of the middle of group `g` of `bars` bars, where its label goes.
    fn label_y(&self, g: usize, bars: usize) -> i32 {
        self.top(g, 0) - BAR_PX * bars as i32 / 2
    }

    /// The group whose rows include `y`, if any.
    fn group_at(&self, y: i32) -> Option<usize> {
        let from_top = self.height - self.legend - y;
        usize::try_from(from_top.div_euclid(self.per_group)).ok()
    }
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    layout: &Layout,
    title: &str,
    unit: &str,
    series: &[&str],
    groups: &[Group],
) -> Result<(), ChartError> {
    let max = groups
        .iter()
        .flat_map(|g| &g.bars)
        .map(|b| b.range.map_or(b.value, |(_, high)| high.max(b.value)))
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    root.fill(&WHITE).map_err(ChartError::from_plotters)?;
    let label_points: Vec<i32> = groups
        .iter()
        .enumerate()
        .map(|(g, group)| layout.label_y(g, group.bars.len()))
        .collect();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 16).into_font().style(FontStyle::Bold))
        .margin_right(16)
        .y_label_area_size(LABEL_AREA)
        .x_label_area_size(AXIS_PX)
        .build_cartesian_2d(
            0.0..max * HEADROOM,
            (0..layout.height).with_key_points(label_points),
        )
        .map_err(ChartError::from_plotters)?;
    let label_of = |y: &i32| {
        layout
            .group_at(*y)
            .and_then(|g| groups.get(g))
            .map_or_else(String::new, |g| g.label.clone())
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_label_formatter(&label_of)
        .x_label_formatter(&|x| format_value(*x))
        .x_desc(unit)
        .label_style((FONT, 12))
        .draw()
        .map_err(ChartError::from_plotters)?;
    for (i, name) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let bars = groups.iter().enumerate().filter_map(|(g, group)| {
            let bar = group.bars.get(i)?;
            let top = layout.top(g, i);
            Some(Rectangle::new(
                [(0.0, top - 1), (bar.value, top - BAR_PX + 1)],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(ChartError::from_plotters)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    for (g, group) in groups.iter().enumerate() {
        for (i, bar) in group.bars.iter().enumerate() {
            let middle = layout.top(g, i) - BAR_PX / 2;
            let mut end = bar.value;
            if let Some((low, high)) = bar.range {
                chart
                    .draw_series(whisker(low, high, middle))
                    .map_err(ChartError::from_plotters)?;
                end = end.max(high);
            }
            let style =
                TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            let text = format!("{} {unit}", format_value(bar.value));
            let value = EmptyElement::at((end, middle)) + Text::new(text, (4, 0), style);
            chart
                .draw_series(std::iter::once(value))
                .map_err(ChartError::from_plotters)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 12))
        .background_style(WHITE)
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(ChartError::from_plotters)?;
    Ok(())
}

/// A whisker from `low` to `high` at height `y`: the line and a tick at each end.
fn whisker(low: f64, high: f64, y: i32) -> [PathElement<(f64, i32)>; 3] {
    let tick = |x: f64| PathElement::new(vec![(x, y - 4), (x, y + 4)], BLACK);
    [
        PathElement::new(vec![(low, y), (high, y)], BLACK),
        tick(low),
        tick(high),
    ]
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `text` is well-formed XML as far as tags go: every element that is opened is
    /// closed, in order. (No XML crate for one test; SVG as plotters writes it has no CDATA or
    /// comments.)
    fn assert_balanced_tags(text: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("an unclosed `<`") + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name.trim()), "closing tag out of order");
            } else {
                let name = tag.split_whitespace().next().expect("a tag name");
                open.push(name);
            }
        }
        assert!(open.is_empty(), "never closed: {open:?}");
    }

    fn bar(value: f64, range: Option<(f64, f64)>) -> Bar {
        Bar { value, range }
    }

    #[test]
    fn a_chart_names_every_contender_and_series_and_escapes_labels() {
        let groups = [
            Group {
                label: "a<b".into(),
                bars: vec![bar(10.0, Some((8.0, 12.0))), bar(5.0, None)],
            },
            Group {
                label: "windlass 1w".into(),
                bars: vec![bar(20.0, None), bar(0.0, None)],
            },
        ];
        let svg = bar_chart("t & u", "calls/s", &["p50", "p99"], &groups).expect("drawn");
        assert!(svg.trim_start().starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_balanced_tags(&svg);
        assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"), "{svg}");
        assert!(svg.contains("windlass 1w") && svg.contains("p50") && svg.contains("p99"));
        assert!(
            svg.contains("20.0 calls/s") && svg.contains("10.0 calls/s"),
            "{svg}"
        );
        // Each series' colour: one bar per group, plus its legend swatch.
        for colour in ["#3B6EA5", "#E08A2E"] {
            let fill = format!(r#"fill="{colour}""#);
            assert_eq!(svg.matches(&fill).count(), 3, "{colour}");
        }
    }

    #[test]
    fn whiskers_span_the_runs_and_empty_charts_still_draw() {
        let groups = [Group {
            label: "bare capnp-rpc".into(),
            bars: vec![bar(100.0, Some((90.0, 130.0)))],
        }];
        let with = bar_chart("t", "/s", &["calls/s"], &groups).expect("drawn");
        let without = bar_chart(
            "t",
            "/s",
            &["calls/s"],
            &[Group {
                label: "bare capnp-rpc".into(),
                // As long as the whisker, so that both charts have the same axis.
                bars: vec![bar(130.0, None)],
            }],
        )
        .expect("drawn");
        // The whisker is three more lines (its span and two end ticks).
        let lines = |svg: &str| svg.matches("<polyline").count();
        assert_eq!(lines(&with), lines(&without) + 3);
        let empty = bar_chart("nothing", "/s", &["calls/s"], &[]).expect("drawn");
        assert_balanced_tags(&empty);
    }
}
