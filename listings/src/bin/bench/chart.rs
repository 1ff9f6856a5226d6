//! The charts: exchanges per second against clients at once, and memory per
//! idle connection against connections held, drawn as SVG for the book.
//!
//! plotters draws them without its `ttf` feature: it then estimates the
//! width of each text from its length instead of measuring it with a font
//! of this machine, and the SVG names a generic family (`sans-serif`) for
//! the reader's browser to fill in. So no font is needed to draw a chart,
//! and the same run draws the same chart on any machine.

use std::error::Error;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::idle::{DESIGNS, Outcome};
use crate::report::{Report, thousands};

/// The card every chart is drawn on, as the book's other figures are
/// (src/images/*.svg): light in every mdBook theme, dark ones included.
const CARD: RGBColor = RGBColor(0xf8, 0xf8, 0xf5);
const CARD_EDGE: RGBColor = RGBColor(0xc8, 0xc8, 0xbf);
const INK: RGBColor = RGBColor(0x1f, 0x23, 0x28);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xd5);

/// One colour per server, told apart also by readers with the common kinds
/// of colour blindness (Okabe and Ito's palette, with yellow left out: it
/// is too pale on the card).
const COLOURS: [(&str, RGBColor); 7] = [
    ("floor", RGBColor(0x1f, 0x23, 0x28)),
    ("floor+print", RGBColor(0x56, 0xb4, 0xe9)),
    ("step5", RGBColor(0xe6, 0x9f, 0x00)),
    ("step6", RGBColor(0x00, 0x72, 0xb2)),
    ("step7", RGBColor(0x00, 0x9e, 0x73)),
    ("step8", RGBColor(0xcc, 0x79, 0xa7)),
    ("python", RGBColor(0xd5, 0x5e, 0x00)),
];

const SIZE: (u32, u32) = (800, 480);
/// The legend's column at the right, and where its first line is.
const LEGEND_WIDTH: u32 = 130;
const LEGEND_TOP: i32 = 40;

/// One line of a chart: a name for the legend and its points.
struct Line {
    name: &'static str,
    points: Vec<(usize, f64)>,
}

/// What a chart shows, beyond its lines.
struct Chart<'a> {
    file: &'a str,
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    lines: Vec<Line>,
}

/// Draws `bench-rates.svg` and `bench-memory.svg` into `dir`, and returns
/// their paths.
pub fn draw(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, String> {
    let rates = Chart {
        file: "bench-rates.svg",
        title: "Exchanges per second by clients at once",
        x_label: "clients at once (log scale)",
        y_label: "exchanges per second",
        lines: report
            .rate
            .iter()
            .map(|row| Line {
                name: row.server,
                points: row
                    .by_clients
                    .iter()
                    .map(|(clients, figure)| (*clients, figure.median))
                    .collect(),
            })
            .collect(),
    };
    let memory = Chart {
        file: "bench-memory.svg",
        title: "Server memory per idle connection",
        x_label: "idle connections held (log scale)",
        y_label: "KiB per connection",
        lines: DESIGNS
            .into_iter()
            .map(|design| Line {
                name: design,
                // Only the counts reached: a design that stopped short has
                // a shorter line, and the table says why.
                points: report
                    .idle
                    .iter()
                    .filter(|row| row.design == design)
                    .filter_map(|row| match row.outcome {
                        Outcome::Held {
                            per_connection_kib, ..
                        } => Some((row.connections, per_connection_kib.max(0.0))),
                        _ => None,
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut written = Vec::new();
    for chart in [rates, memory] {
        let path = dir.join(chart.file);
        let svg = svg(&chart).map_err(|e| format!("drawing {}: {e}", chart.file))?;
        fs::write(&path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The chart as a whole SVG document: lines with a dot at each point
/// measured, over a logarithmic x axis whose ticks are the points'
/// x values, and a legend.
fn svg(chart: &Chart) -> Result<String, Box<dyn Error>> {
    let xs: Vec<usize> = {
        let mut xs: Vec<usize> = chart
            .lines
            .iter()
            .flat_map(|line| line.points.iter().map(|(x, _)| *x))
            .collect();
        xs.sort_unstable();
        xs.dedup();
        xs
    };
    // x is drawn as log2 of its value, on a plain axis: a logarithmic axis
    // whose ticks are exactly the values measured, labelled with them.
    let log = |x: usize| (x.max(1) as f64).log2();
    let (low, high) = match (xs.first(), xs.last()) {
        (Some(&low), Some(&high)) if high > low => (log(low), log(high)),
        (Some(&only), _) => (log(only) - 1.0, log(only) + 1.0),
        _ => (0.0, 1.0),
    };
    let pad = (high - low) * 0.06;
    let x_axis = Ticks {
        range: (low - pad)..(high + pad),
        at: xs.iter().map(|&x| log(x)).collect(),
    };
    let ys: Vec<f64> = chart
        .lines
        .iter()
        .flat_map(|line| line.points.iter().map(|(_, y)| *y))
        .filter(|y| y.is_finite())
        .collect();
    // From 0, unless a figure is below it: a server whose memory with a few
    // connections came out below its reference's, by chance.
    let y_least = ys.iter().copied().fold(0.0, f64::min);
    let y_most = ys.iter().copied().fold(0.0, f64::max);
    let y_axis = (y_least * 1.15)..(y_most * 1.15).max(1.0);

    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&CARD)?;
        root.draw(&Rectangle::new(
            [(0, 0), (SIZE.0 as i32 - 1, SIZE.1 as i32 - 1)],
            CARD_EDGE.stroke_width(1),
        ))?;
        // plotters writes sizes as given divided by 1.24 (its estimate of
        // a font's line height), so 17 here is about 14 px in the SVG.
        let text = |size| ("sans-serif", size).into_font().color(&INK);
        let bold = |size| {
            ("sans-serif", size, FontStyle::Bold)
                .into_font()
                .color(&INK)
        };
        let body = root.margin(14, 6, 6, 6).titled(chart.title, bold(26))?;
        let (plot, legend) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut drawing = ChartBuilder::on(&plot)
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x_axis, y_axis)?;
        let y_name = |y: &f64| tick(*y);
        drawing
            .configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .y_label_formatter(&y_name)
            .label_style(text(17))
            .axis_desc_style(text(18))
            .axis_style(INK.stroke_width(1))
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .draw()?;
        for line in &chart.lines {
            let colour = colour(line.name);
            let points: Vec<(f64, f64)> = line
                .points
                .iter()
                .filter(|(_, y)| y.is_finite())
                .map(|&(x, y)| (log(x), y))
                .collect();
            drawing.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
            drawing.draw_series(
                points
                    .into_iter()
                    .map(|point| Circle::new(point, 4, colour.filled())),
            )?;
        }
        // The legend beside the plot, not on it, where no line can run
        // under it.
        for (i, line) in chart.lines.iter().enumerate() {
            let colour = colour(line.name);
            let y = LEGEND_TOP + 24 * i as i32;
            legend.draw(&PathElement::new(
                vec![(0, y), (28, y)],
                colour.stroke_width(3),
            ))?;
            legend.draw(&Circle::new((14, y), 4, colour.filled()))?;
            legend.draw(&Text::new(
                line.name,
                (36, y),
                text(18).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
        root.present()?;
    }
    Ok(titled(out, chart))
}

/// A linear axis over `range` with ticks exactly `at`, each labelled with
/// the number it is log2 of: the x axis of both charts.
struct Ticks {
    range: Range<f64>,
    at: Vec<f64>,
}

impl Ranged for Ticks {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _: Hint) -> Vec<f64> {
        self.at.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for Ticks {
    fn format(value: &f64) -> String {
        thousands(value.exp2().round() as usize)
    }
}

/// A y axis label: whole numbers with thousands separated, others (small
/// memory figures, ticks every 0.5) with one decimal.
fn tick(y: f64) -> String {
    let sign = if y < 0.0 { "-" } else { "" };
    if (y - y.round()).abs() < 1e-9 {
        format!("{sign}{}", thousands(y.abs().round() as usize))
    } else {
        format!("{y:.1}")
    }
}

fn colour(name: &str) -> RGBColor {
    COLOURS
        .iter()
        .find(|(server, _)| *server == name)
        .map_or(INK, |(_, colour)| *colour)
}

/// Adds a title and a description after the opening `<svg ...>` tag, which
/// plotters does not write: screen readers announce them, and a browser
/// shows the title on hover.
fn titled(svg: String, chart: &Chart) -> String {
    let Some(end) = svg.find('>') else {
        return svg;
    };
    let id = chart.file.trim_end_matches(".svg");
    let description: Vec<String> = chart
        .lines
        .iter()
        .map(|line| {
            let points: Vec<String> = line
                .points
                .iter()
                .map(|(x, y)| format!("{}: {y:.0}", thousands(*x)))
                .collect();
            format!("{}: {}", line.name, points.join(", "))
        })
        .collect();
    format!(
        "{} role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\n\
         <title id=\"{id}-title\">{}</title>\n\
         <desc id=\"{id}-desc\">{}, by {}. {}.</desc>{}",
        &svg[..end],
        escape(chart.title),
        escape(chart.y_label),
        escape(chart.x_label),
        escape(&description.join("; ")),
        &svg[end + 1..],
    )
}

/// Text made safe to put between XML tags.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
