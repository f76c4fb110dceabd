//! SVG charts of the results, written next to the markdown table: plain
//! SVG text, no dependencies, readable on GitHub and in any browser.

use std::fmt::Write as _;

/// One chart.
pub enum Chart {
    /// Horizontal bars, one per label (e.g. requests/s per server).
    Bars {
        title: String,
        unit: String,
        bars: Vec<(String, f64)>,
    },
    /// Groups of bars on a log scale (e.g. p50/p99/p99.9 per server).
    Grouped {
        title: String,
        unit: String,
        series: Vec<String>,
        groups: Vec<(String, Vec<f64>)>,
    },
    /// Lines through points (e.g. memory per tenant vs tenant count).
    Lines {
        title: String,
        x_label: String,
        y_label: String,
        series: Vec<(String, Vec<(f64, f64)>)>,
    },
    /// Histograms of samples, one per series, over shared buckets.
    Histogram {
        title: String,
        unit: String,
        series: Vec<(String, Vec<f64>)>,
    },
}

const WIDTH: f64 = 720.0;
const COLOURS: [&str; 6] = [
    "#2f6fb0", "#e08a2c", "#3c9a5f", "#b8464b", "#7a5bb0", "#7f7f7f",
];

impl Chart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        match self {
            Chart::Bars { title, unit, bars } => bars_svg(title, unit, bars),
            Chart::Grouped {
                title,
                unit,
                series,
                groups,
            } => grouped_svg(title, unit, series, groups),
            Chart::Lines {
                title,
                x_label,
                y_label,
                series,
            } => lines_svg(title, x_label, y_label, series),
            Chart::Histogram {
                title,
                unit,
                series,
            } => histogram_svg(title, unit, series),
        }
    }
}

fn document(height: f64, title: &str, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{x}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{t}</text>\n\
         {body}</svg>\n",
        x = WIDTH / 2.0,
        t = escape(title)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A readable number: 29838 → "29.8k", 0.147 → "0.147".
fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn bars_svg(title: &str, unit: &str, bars: &[(String, f64)]) -> String {
    let (left, row) = (230.0, 26.0);
    let height = 50.0 + row * bars.len() as f64 + 20.0;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let span = WIDTH - left - 90.0;
    let mut body = String::new();
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 40.0 + row * i as f64;
        let w = span * value / max;
        let colour = COLOURS[i % COLOURS.len()];
        writeln!(
            body,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\">{} {}</text>",
            left - 8.0,
            y + 13.0,
            escape(label),
            left + w + 6.0,
            y + 13.0,
            short(*value),
            escape(unit)
        )
        .unwrap();
    }
    document(height, title, &body)
}

fn grouped_svg(
    title: &str,
    unit: &str,
    series: &[String],
    groups: &[(String, Vec<f64>)],
) -> String {
    let (left, bar, gap) = (230.0, 14.0, 12.0);
    let group_h = bar * series.len() as f64 + gap;
    let height = 50.0 + group_h * groups.len() as f64 + 50.0;
    let values = groups.iter().flat_map(|g| g.1.iter().copied());
    let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Log scale, from a decade under the smallest value.
    let lo = 10f64.powf(lo.max(1e-6).log10().floor());
    let hi = 10f64.powf(hi.max(lo * 10.0).log10().ceil());
    let span = WIDTH - left - 80.0;
    let x = |v: f64| left + span * (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10());
    let mut body = String::new();
    let mut decade = lo;
    while decade <= hi * 1.0001 {
        let gx = x(decade);
        writeln!(
            body,
            "<line x1=\"{gx:.1}\" y1=\"36\" x2=\"{gx:.1}\" y2=\"{}\" stroke=\"#ddd\"/>\
             <text x=\"{gx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{} {}</text>",
            height - 40.0,
            height - 26.0,
            short(decade),
            escape(unit)
        )
        .unwrap();
        decade *= 10.0;
    }
    for (g, (label, values)) in groups.iter().enumerate() {
        let top = 40.0 + group_h * g as f64;
        writeln!(
            body,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            top + group_h / 2.0,
            escape(label)
        )
        .unwrap();
        for (s, value) in values.iter().enumerate() {
            let y = top + bar * s as f64;
            writeln!(
                body,
                "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                x(*value) - left,
                bar - 2.0,
                COLOURS[s % COLOURS.len()],
                x(*value) + 4.0,
                y + bar - 4.0,
                short(*value)
            )
            .unwrap();
        }
    }
    legend(&mut body, series.iter().map(String::as_str), height - 12.0);
    document(height, title, &body)
}

fn legend<'a>(body: &mut String, names: impl Iterator<Item = &'a str>, y: f64) {
    let mut x = 20.0;
    for (i, name) in names.enumerate() {
        writeln!(
            body,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{y}\">{}</text>",
            y - 10.0,
            COLOURS[i % COLOURS.len()],
            x + 16.0,
            escape(name)
        )
        .unwrap();
        x += 30.0 + 7.0 * name.len() as f64;
    }
}

/// The frame of an x/y chart: axes, ticks, labels; returns the mapping
/// functions' parameters as (left, top, width, height).
fn frame(
    body: &mut String,
    height: f64,
    x_range: (f64, f64),
    y_range: (f64, f64),
    x_label: &str,
    y_label: &str,
) -> (f64, f64, f64, f64) {
    let (left, top, right, bottom) = (70.0, 40.0, 20.0, 70.0);
    let (w, h) = (WIDTH - left - right, height - top - bottom);
    writeln!(
        body,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#333\"/>",
        top + h,
        left + w,
        top + h,
        top + h
    )
    .unwrap();
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let (xv, yv) = (
            x_range.0 + f * (x_range.1 - x_range.0),
            y_range.0 + f * (y_range.1 - y_range.0),
        );
        let (px, py) = (left + f * w, top + h - f * h);
        writeln!(
            body,
            "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\
             <line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#eee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            top + h + 16.0,
            short(xv),
            left + w,
            left - 6.0,
            py + 4.0,
            short(yv)
        )
        .unwrap();
    }
    writeln!(
        body,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
         <text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}</text>",
        left + w / 2.0,
        top + h + 34.0,
        escape(x_label),
        top + h / 2.0,
        top + h / 2.0,
        escape(y_label)
    )
    .unwrap();
    (left, top, w, h)
}

fn lines_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let height = 360.0;
    let points = series.iter().flat_map(|s| s.1.iter().copied());
    let (x_max, y_max) = points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let (x_max, y_max) = (x_max.max(1.0), y_max.max(1e-9) * 1.1);
    let mut body = String::new();
    let (left, top, w, h) = frame(
        &mut body,
        height,
        (0.0, x_max),
        (0.0, y_max),
        x_label,
        y_label,
    );
    for (i, (_, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", left + w * x / x_max, top + h - h * y / y_max))
            .collect();
        writeln!(
            body,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            path.join(" ")
        )
        .unwrap();
        for p in &path {
            let (px, py) = p.split_once(',').unwrap();
            writeln!(
                body,
                "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{colour}\"/>"
            )
            .unwrap();
        }
    }
    legend(
        &mut body,
        series.iter().map(|s| s.0.as_str()),
        height - 12.0,
    );
    document(height, title, &body)
}

fn histogram_svg(title: &str, unit: &str, series: &[(String, Vec<f64>)]) -> String {
    let height = 360.0;
    let buckets = 30usize;
    let all = series.iter().flat_map(|s| s.1.iter().copied());
    // Up to the 99th percentile of everything, so one outlier does not
    // flatten the rest; the tail is counted in the last bucket.
    let mut sorted: Vec<f64> = all.collect();
    sorted.sort_by(f64::total_cmp);
    let top_value = sorted
        .get(((sorted.len() as f64 - 1.0) * 0.99) as usize)
        .copied()
        .unwrap_or(1.0)
        .max(1e-9);
    let width_of = top_value / buckets as f64;
    let counts: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, samples)| {
            let mut c = vec![0.0; buckets];
            for v in samples {
                let b = ((v / width_of) as usize).min(buckets - 1);
                c[b] += 1.0;
            }
            let n = samples.len().max(1) as f64;
            c.into_iter().map(|x| 100.0 * x / n).collect()
        })
        .collect();
    let y_max = counts.iter().flatten().fold(0.0f64, |m, v| m.max(*v)) * 1.1;
    let mut body = String::new();
    let (left, top, w, h) = frame(
        &mut body,
        height,
        (0.0, top_value),
        (0.0, y_max.max(1.0)),
        &format!("latency ({unit})"),
        "% of requests",
    );
    let slot = w / buckets as f64;
    let bar = slot / series.len().max(1) as f64;
    for (s, c) in counts.iter().enumerate() {
        for (b, pct) in c.iter().enumerate() {
            let bh = h * pct / y_max.max(1.0);
            writeln!(
                body,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\" opacity=\"0.85\"/>",
                left + slot * b as f64 + bar * s as f64,
                top + h - bh,
                bar.max(1.0),
                COLOURS[s % COLOURS.len()]
            )
            .unwrap();
        }
    }
    legend(
        &mut body,
        series.iter().map(|s| s.0.as_str()),
        height - 12.0,
    );
    document(height, title, &body)
}
