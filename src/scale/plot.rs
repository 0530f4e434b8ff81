//! The speed-up chart: measured speed-up against workers, the ideal line and the Amdahl fit,
//! as SVG or PNG by the file's extension.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::register_font;

use super::{Row, amdahl};

/// The family name the bundled font is registered under.
const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (800, 560);

/// What the chart says besides the data: its title and the machine it was measured on.
pub struct Caption<'a> {
    pub title: &'a str,
    pub machine: &'a str,
    /// Points of more workers than this are drawn hollow: their workers share cores.
    pub cpus: usize,
}

/// One colour per rank count.
const COLOURS: [RGBColor; 5] = [
    BLUE,
    RGBColor(230, 120, 0),
    RGBColor(0, 150, 70),
    MAGENTA,
    CYAN,
];

/// The chart's format, by the file's extension.
enum Format {
    Svg,
    Png,
}

fn format_of(path: &Path) -> Result<Format, String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(format!(
            "--plot {}: the file name must end in .svg or .png",
            path.display()
        )),
    }
}

/// Checks before any run that `path` names a format the chart can be drawn in.
pub fn check_path(path: &Path) -> Result<(), String> {
    format_of(path).map(|_| ())
}

/// Draws the chart into `path` (`.svg` or `.png`).
pub fn draw(
    path: &Path,
    rows: &[Row],
    serial: Option<f64>,
    caption: &Caption,
) -> Result<(), String> {
    // Registering twice is harmless; plotters keeps the first.
    register_font(FONT, FontStyle::Normal, include_bytes!("DejaVuSans.ttf"))
        .map_err(|_| "the bundled font is not a valid font".to_string())?;
    let result = match format_of(path)? {
        Format::Svg => chart(
            SVGBackend::new(path, SIZE).into_drawing_area(),
            rows,
            serial,
            caption,
        ),
        Format::Png => chart(
            BitMapBackend::new(path, SIZE).into_drawing_area(),
            rows,
            serial,
            caption,
        ),
    };
    result.map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

/// The relative workers of each row, as the table counts them.
fn workers(rows: &[Row]) -> Vec<f64> {
    let unit = rows.first().map_or(1, |r| r.config.workers()) as f64;
    rows.iter()
        .map(|r| r.config.workers() as f64 / unit)
        .collect()
}

fn chart<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Row],
    serial: Option<f64>,
    caption: &Caption,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let points: Vec<(f64, f64)> = workers(rows)
        .into_iter()
        .zip(rows.iter().map(|r| r.speedup))
        .collect();
    let max_workers = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_speedup = points.iter().map(|p| p.1).fold(max_workers, f64::max);
    let (title, footer) = root.split_vertically(SIZE.1 - 30);
    let mut chart = ChartBuilder::on(&title)
        .caption(caption.title, (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(54)
        .build_cartesian_2d(0.0..max_workers * 1.05, 0.0..max_speedup * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("workers (relative to the first configuration)")
        .y_desc("speed-up")
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (max_workers, max_workers)],
            BLACK,
        ))?
        .label("ideal")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    if let Some(serial) = serial {
        let curve: Vec<(f64, f64)> = (0..=100)
            .map(|i| {
                let p = 1.0 + (max_workers - 1.0) * f64::from(i) / 100.0;
                (p, amdahl(serial, p))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(curve, RED.stroke_width(2)))?
            .label(format!("Amdahl fit (serial fraction {serial:.3})"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    let mut rank_counts: Vec<u32> = rows.iter().map(|r| r.config.ranks).collect();
    rank_counts.dedup();
    for (i, ranks) in rank_counts.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let series = points
            .iter()
            .zip(rows)
            .filter(|(_, row)| row.config.ranks == *ranks);
        chart
            .draw_series(series.map(|(&point, row)| {
                let style = if row.config.workers() <= caption.cpus {
                    colour.filled()
                } else {
                    colour.stroke_width(2)
                };
                Circle::new(point, 6, style)
            }))?
            .label(format!(
                "{ranks} rank{} x threads (best of the repeats)",
                if *ranks == 1 { "" } else { "s" }
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    footer.draw(&Text::new(
        format!(
            "measured on {}; hollow points: more workers than CPUs (left out of the fit)",
            caption.machine
        ),
        (16, 6),
        (FONT, 13),
    ))?;
    root.present()?;
    Ok(())
}
