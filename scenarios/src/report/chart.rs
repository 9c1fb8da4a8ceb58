//! Charts as inline SVG: line charts over a numeric x axis and grouped bar charts, with axes,
//! "nice" ticks, grid lines and a legend. No script and no external file, so a report opens
//! offline in any browser and prints as it shows.

use std::fmt::Write;

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;

/// One named series of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Series {
        Series {
            name: name.into(),
            values,
        }
    }
}

/// Lines over a shared numeric x axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Vec<f64>,
    pub series: Vec<Series>,
}

/// Bars grouped by category, one bar per series in each group.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

/// Escape text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Round tick positions covering `[lo, hi]`: steps of 1, 2 or 5 times a power of ten.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut t = first;
    while t <= hi + step * 1e-9 {
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    if ticks.last().is_some_and(|&l| l < hi) {
        ticks.push(t);
    }
    ticks
}

/// A tick label: no trailing zeros, thousands separated by a thin space.
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let text = if a >= 1000.0 || a == a.round() {
        format!("{:.0}", v)
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    // Group the integer part's digits by three.
    let (sign, digits) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |d| ("-", d));
    let (int, frac) = digits.split_once('.').map_or((digits, ""), |(i, f)| (i, f));
    let mut grouped = String::new();
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            grouped.push('\u{2009}');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

struct Frame {
    x0: f64,
    x1: f64,
    y_ticks: Vec<f64>,
}

impl Frame {
    fn y_lo(&self) -> f64 {
        self.y_ticks.first().copied().unwrap_or(0.0)
    }
    fn y_hi(&self) -> f64 {
        self.y_ticks.last().copied().unwrap_or(1.0)
    }
    fn px(&self, x: f64) -> f64 {
        let span = (self.x1 - self.x0).max(f64::EPSILON);
        LEFT + (x - self.x0) / span * (WIDTH - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        let span = (self.y_hi() - self.y_lo()).max(f64::EPSILON);
        HEIGHT - BOTTOM - (y - self.y_lo()) / span * (HEIGHT - TOP - BOTTOM)
    }
}

fn open_svg(out: &mut String, title: &str, y_label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}"><title>{t}</title><text x="{LEFT}" y="20" class="chart-title">{t}</text><text transform="translate(16,{ym}) rotate(-90)" text-anchor="middle" class="axis-label">{y}</text>"#,
        t = escape(title),
        y = escape(y_label),
        ym = (TOP + HEIGHT - BOTTOM) / 2.0,
    );
}

fn y_axis(out: &mut String, f: &Frame) {
    for &t in &f.y_ticks {
        let y = f.py(t);
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            format_number(t)
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" class="axis"/><line x1="{LEFT}" x2="{}" y1="{b}" y2="{b}" class="axis"/>"#,
        HEIGHT - BOTTOM,
        WIDTH - RIGHT,
        b = HEIGHT - BOTTOM
    );
}

fn legend(out: &mut String, series: &[Series]) {
    let mut x = WIDTH - RIGHT;
    // Right-aligned, last series rightmost.
    let widths: Vec<f64> = series
        .iter()
        .map(|s| 26.0 + 7.0 * s.name.chars().count() as f64)
        .collect();
    for (k, s) in series.iter().enumerate().rev() {
        x -= widths[k];
        let c = PALETTE[k % PALETTE.len()];
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="10" width="12" height="12" fill="{c}"/><text x="{:.1}" y="20" class="legend">{}</text>"#,
            x + 16.0,
            escape(&s.name)
        );
    }
}

fn y_range<'a>(values: impl Iterator<Item = &'a f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    (lo, hi)
}

impl LineChart {
    /// The chart as an `<svg>` element.
    pub fn to_svg(&self) -> String {
        let mut out = String::new();
        open_svg(&mut out, &self.title, &self.y_label);
        let (lo, hi) = y_range(self.series.iter().flat_map(|s| s.values.iter()), true);
        let x0 = self.x.first().copied().unwrap_or(0.0);
        let x1 = self.x.last().copied().unwrap_or(1.0);
        let f = Frame {
            x0,
            x1,
            y_ticks: nice_ticks(lo, hi, 5),
        };
        y_axis(&mut out, &f);
        for t in nice_ticks(x0, x1, 8)
            .into_iter()
            .filter(|t| *t >= x0 && *t <= x1)
        {
            let x = f.px(t);
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                HEIGHT - BOTTOM + 16.0,
                format_number(t)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis-label">{}</text>"#,
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 8.0,
            escape(&self.x_label)
        );
        for (k, s) in self.series.iter().enumerate() {
            let points: Vec<String> = self
                .x
                .iter()
                .zip(&s.values)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(&x, &y)| format!("{:.1},{:.1}", f.px(x), f.py(y)))
                .collect();
            let _ = write!(
                out,
                r#"<polyline class="series" data-series="{}" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                escape(&s.name),
                PALETTE[k % PALETTE.len()],
                points.join(" ")
            );
        }
        legend(&mut out, &self.series);
        out.push_str("</svg>");
        out
    }
}

impl BarChart {
    /// The chart as an `<svg>` element.
    pub fn to_svg(&self) -> String {
        let mut out = String::new();
        open_svg(&mut out, &self.title, &self.y_label);
        let (lo, hi) = y_range(self.series.iter().flat_map(|s| s.values.iter()), true);
        let n = self.categories.len().max(1) as f64;
        let f = Frame {
            x0: 0.0,
            x1: n,
            y_ticks: nice_ticks(lo, hi, 5),
        };
        y_axis(&mut out, &f);
        let group = (WIDTH - LEFT - RIGHT) / n;
        let bar = group * 0.8 / self.series.len().max(1) as f64;
        let zero = f.py(0.0);
        for (c, name) in self.categories.iter().enumerate() {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                f.px(c as f64 + 0.5),
                HEIGHT - BOTTOM + 16.0,
                escape(name)
            );
            for (k, s) in self.series.iter().enumerate() {
                let v = s.values.get(c).copied().unwrap_or(f64::NAN);
                if !v.is_finite() {
                    continue;
                }
                let x = f.px(c as f64) + group * 0.1 + bar * k as f64;
                let y = f.py(v);
                let _ = write!(
                    out,
                    r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    y.min(zero),
                    (bar - 2.0).max(1.0),
                    (zero - y).abs().max(0.5),
                    PALETTE[k % PALETTE.len()],
                    escape(&format!("{} {}", s.name, name)),
                    format_number(v)
                );
            }
        }
        legend(&mut out, &self.series);
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = nice_ticks(3.2, 1234.0, 5);
        assert!(t[0] <= 3.2 && *t.last().expect("ticks") >= 1234.0, "{t:?}");
        assert_eq!(t[1] - t[0], 500.0);
        // A flat or empty range still gets an axis.
        assert!(nice_ticks(5.0, 5.0, 5).len() >= 2);
        assert!(nice_ticks(f64::INFINITY, f64::NEG_INFINITY, 5).len() >= 2);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_number(35728.4), "35\u{2009}728");
        assert_eq!(format_number(-1234.0), "-1\u{2009}234");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(12.34), "12.3");
        assert_eq!(format_number(f64::NAN), "–");
    }

    #[test]
    fn a_line_chart_draws_one_polyline_per_series_inside_the_frame() {
        let chart = LineChart {
            title: "km <per> day".into(),
            x_label: "day".into(),
            y_label: "km".into(),
            x: vec![1.0, 2.0, 3.0],
            series: vec![
                Series::new("fixed", vec![10.0, 20.0, 15.0]),
                Series::new("dynamic", vec![5.0, f64::NAN, 7.0]),
            ],
        };
        let svg = chart.to_svg();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("km &lt;per&gt; day"));
        assert!(!svg.contains("km <per>"));
        // Every plotted point lies inside the drawing area.
        for poly in svg.split("points=\"").skip(1) {
            let pts = poly.split('"').next().expect("points");
            for p in pts.split(' ') {
                let (x, y) = p.split_once(',').expect("x,y");
                let (x, y): (f64, f64) = (x.parse().expect("x"), y.parse().expect("y"));
                assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
                assert!((TOP..=HEIGHT - BOTTOM).contains(&y), "{y}");
            }
        }
        // The NaN day is left out, not drawn at zero.
        assert_eq!(
            svg.split("points=\"").nth(2).map(|p| p
                .split('"')
                .next()
                .expect("p")
                .split(' ')
                .count()),
            Some(2)
        );
    }

    #[test]
    fn bars_grow_from_zero_with_their_value() {
        let chart = BarChart {
            title: "tonnes".into(),
            y_label: "t".into(),
            categories: vec!["paper".into(), "glass".into()],
            series: vec![Series::new("fixed", vec![10.0, 40.0])],
        };
        let svg = chart.to_svg();
        let heights: Vec<f64> = svg
            .split("<rect class=\"bar\"")
            .skip(1)
            .map(|r| {
                let h = r.split("height=\"").nth(1).expect("height");
                h.split('"').next().expect("value").parse().expect("number")
            })
            .collect();
        assert_eq!(heights.len(), 2);
        assert!((heights[1] / heights[0] - 4.0).abs() < 0.05, "{heights:?}");
    }
}
