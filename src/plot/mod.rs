//! Figures with plotters, each written as SVG and PNG (temp file + rename). One general
//! [`Chart`] (points, lines, bands, error bars, markers for unbounded values, log axes by
//! transforming data to log10 and labelling ticks in real units) serves every figure; the
//! report module decides what goes on each. Text uses the DejaVu Sans font shipped in
//! `assets/fonts` (ab_glyph needs a font file; the system's is not assumed). The IsoFLOP and
//! frontier figures of Approach 2 are built in `isoflop`.

pub mod isoflop;

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::{Error, Result};

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is compiled in, so a failure here is a build defect, not bad input.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is invalid"));
    });
}

/// What one layer of a chart draws. `color` indexes a fixed palette, so the same arch keeps
/// the same colour across figures.
#[derive(Debug, Clone)]
pub enum Layer {
    Points {
        label: String,
        color: usize,
        points: Vec<(f64, f64)>,
    },
    Line {
        label: String,
        color: usize,
        points: Vec<(f64, f64)>,
        dashed: bool,
    },
    /// A shaded interval (x, lo, hi), e.g. a bootstrap band.
    Band {
        label: String,
        color: usize,
        points: Vec<(f64, f64, f64)>,
    },
    /// Vertical error bars (x, y, lo, hi).
    ErrorBars {
        color: usize,
        points: Vec<(f64, f64, f64, f64)>,
    },
    /// Cross markers (x), e.g. parabola vertices.
    Crosses {
        label: String,
        color: usize,
        points: Vec<(f64, f64)>,
    },
    /// Upward triangles at the top of the plot at these x, for values with no finite bound.
    Unbounded {
        label: String,
        color: usize,
        xs: Vec<f64>,
    },
}

/// A figure: axes, title, layers, an optional horizontal reference line.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub layers: Vec<Layer>,
    /// Horizontal reference line (y value in data units) and its label.
    pub hline: Option<(f64, String)>,
    /// Category names for integer x positions 0, 1, 2, ... (replaces numeric tick labels).
    pub x_categories: Option<Vec<String>>,
    /// Where the legend goes (upper right unless the data live there).
    pub legend: SeriesLabelPosition,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            layers: Vec::new(),
            hline: None,
            x_categories: None,
            legend: SeriesLabelPosition::UpperRight,
        }
    }

    fn tx(&self, x: f64) -> f64 {
        if self.log_x { x.log10() } else { x }
    }
    fn ty(&self, y: f64) -> f64 {
        if self.log_y { y.log10() } else { y }
    }

    /// Data bounds in plotting space, padded by 5%.
    fn bounds(&self) -> Option<((f64, f64), (f64, f64))> {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::Points { points, .. }
                | Layer::Line { points, .. }
                | Layer::Crosses { points, .. } => {
                    for &(x, y) in points {
                        xs.push(self.tx(x));
                        ys.push(self.ty(y));
                    }
                }
                Layer::Band { points, .. } => {
                    for &(x, lo, hi) in points {
                        xs.push(self.tx(x));
                        ys.extend([self.ty(lo), self.ty(hi)]);
                    }
                }
                Layer::ErrorBars { points, .. } => {
                    for &(x, y, lo, hi) in points {
                        xs.push(self.tx(x));
                        ys.extend([self.ty(y), self.ty(lo), self.ty(hi)]);
                    }
                }
                Layer::Unbounded { xs: ux, .. } => xs.extend(ux.iter().map(|&x| self.tx(x))),
            }
        }
        if let Some((y, _)) = self.hline {
            ys.push(self.ty(y));
        }
        let finite = |v: &mut Vec<f64>| v.retain(|x| x.is_finite());
        finite(&mut xs);
        finite(&mut ys);
        let range = |v: &[f64]| -> Option<(f64, f64)> {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return None;
            }
            let pad = if hi > lo {
                (hi - lo) * 0.05
            } else {
                lo.abs().max(1.0) * 0.05
            };
            Some((lo - pad, hi + pad))
        };
        let y = range(&ys).unwrap_or((0.0, 1.0));
        Some((range(&xs)?, y))
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()> {
        let err = |e: String| Error::Invalid(format!("plot `{}`: {e}", self.title));
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let Some(((x0, x1), (y0, y1))) = self.bounds() else {
            return Err(err("nothing to plot".into()));
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(
                axis_ticks(x0, x1, self.log_x, self.x_categories.as_ref().map(Vec::len)),
                axis_ticks(y0, y1, self.log_y, None),
            )
            .map_err(|e| err(e.to_string()))?;
        let (log_x, log_y) = (self.log_x, self.log_y);
        let cats = self.x_categories.clone();
        let x_fmt = move |v: &f64| -> String {
            if let Some(c) = &cats {
                let i = v.round();
                return if (v - i).abs() < 1e-6 && i >= 0.0 {
                    c.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                };
            }
            if log_x {
                human(10f64.powf(*v))
            } else {
                human(*v)
            }
        };
        let y_fmt = move |v: &f64| {
            if log_y {
                human(10f64.powf(*v))
            } else {
                human(*v)
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235));
        mesh.draw().map_err(|e| err(e.to_string()))?;

        if let Some((y, label)) = &self.hline {
            let y = self.ty(*y);
            chart
                .draw_series(LineSeries::new(
                    [(x0, y), (x1, y)],
                    BLACK.mix(0.5).stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?
                .label(label.as_str())
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.5)));
        }
        for layer in &self.layers {
            match layer {
                Layer::Band {
                    label,
                    color: c,
                    points,
                } => {
                    let mut poly: Vec<(f64, f64)> = points
                        .iter()
                        .map(|&(x, _, hi)| (self.tx(x), self.ty(hi)))
                        .collect();
                    poly.extend(
                        points
                            .iter()
                            .rev()
                            .map(|&(x, lo, _)| (self.tx(x), self.ty(lo))),
                    );
                    poly.retain(|p| p.0.is_finite() && p.1.is_finite());
                    let col = color(*c);
                    let s = chart
                        .draw_series(std::iter::once(Polygon::new(poly, col.mix(0.18).filled())))
                        .map_err(|e| err(e.to_string()))?;
                    if !label.is_empty() {
                        s.label(label.as_str()).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 18, y + 5)], col.mix(0.18).filled())
                        });
                    }
                }
                Layer::Line {
                    label,
                    color: c,
                    points,
                    dashed,
                } => {
                    let col = color(*c);
                    let pts: Vec<(f64, f64)> = points
                        .iter()
                        .map(|&(x, y)| (self.tx(x), self.ty(y)))
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .collect();
                    let style = col.stroke_width(2);
                    let s = if *dashed {
                        chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))
                    } else {
                        chart.draw_series(LineSeries::new(pts, style))
                    }
                    .map_err(|e| err(e.to_string()))?;
                    if !label.is_empty() {
                        s.label(label.as_str()).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 18, y)], col.stroke_width(2))
                        });
                    }
                }
                Layer::Points {
                    label,
                    color: c,
                    points,
                } => {
                    let col = color(*c);
                    let s = chart
                        .draw_series(
                            points
                                .iter()
                                .map(|&(x, y)| (self.tx(x), self.ty(y)))
                                .filter(|p| p.0.is_finite() && p.1.is_finite())
                                .map(|p| Circle::new(p, 4, col.filled())),
                        )
                        .map_err(|e| err(e.to_string()))?;
                    if !label.is_empty() {
                        s.label(label.as_str())
                            .legend(move |(x, y)| Circle::new((x + 9, y), 4, col.filled()));
                    }
                }
                Layer::Crosses {
                    label,
                    color: c,
                    points,
                } => {
                    let col = color(*c);
                    let s = chart
                        .draw_series(
                            points
                                .iter()
                                .map(|&(x, y)| (self.tx(x), self.ty(y)))
                                .filter(|p| p.0.is_finite() && p.1.is_finite())
                                .map(|p| Cross::new(p, 7, col.stroke_width(3))),
                        )
                        .map_err(|e| err(e.to_string()))?;
                    if !label.is_empty() {
                        s.label(label.as_str())
                            .legend(move |(x, y)| Cross::new((x + 9, y), 6, col.stroke_width(3)));
                    }
                }
                Layer::ErrorBars { color: c, points } => {
                    let col = color(*c);
                    chart
                        .draw_series(
                            points
                                .iter()
                                .filter(|p| p.2.is_finite() && p.3.is_finite())
                                .map(|&(x, _, lo, hi)| {
                                    PathElement::new(
                                        [(self.tx(x), self.ty(lo)), (self.tx(x), self.ty(hi))],
                                        col.stroke_width(2),
                                    )
                                }),
                        )
                        .map_err(|e| err(e.to_string()))?;
                }
                Layer::Unbounded {
                    label,
                    color: c,
                    xs,
                } => {
                    let col = color(*c);
                    let top = y1 - (y1 - y0) * 0.04;
                    let s = chart
                        .draw_series(
                            xs.iter()
                                .map(|&x| TriangleMarker::new((self.tx(x), top), 7, col.filled())),
                        )
                        .map_err(|e| err(e.to_string()))?;
                    if !label.is_empty() && !xs.is_empty() {
                        s.label(label.as_str())
                            .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, col.filled()));
                    }
                }
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 14))
            .position(self.legend.clone())
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))
    }

    /// Writes `<stem>.svg` and `<stem>.png` (each via a temp file and rename).
    pub fn save(&self, stem: &Path) -> Result<Vec<PathBuf>> {
        register_font();
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let size = (960, 640);
        let svg = stem.with_extension("svg");
        let mut text = String::new();
        self.draw(SVGBackend::with_string(&mut text, size).into_drawing_area())?;
        crate::table::write_atomic(&svg, text.as_bytes())?;
        let png = stem.with_extension("png");
        let tmp = stem.with_extension("tmp.png");
        self.draw(BitMapBackend::new(&tmp, size).into_drawing_area())?;
        std::fs::rename(&tmp, &png).map_err(|e| Error::io(&png, e))?;
        Ok(vec![svg, png])
    }
}

/// An axis over `lo..hi` (plotting space) with ticks at round values: 1, 2, 5 x 10^k on a
/// linear axis; on a log axis (data in log10) whole decades, or 1-2-5 / 1..9 within decades
/// when the range is too short for three decades, with a light grid line at every 1..9 x 10^k.
/// Categorical axes tick at each category's integer position. (plotters' own key-point
/// combinator drops the default label formatting the mesh needs, hence this small type.)
struct TickedAxis {
    inner: RangedCoordf64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn axis_ticks(lo: f64, hi: f64, log: bool, categories: Option<usize>) -> TickedAxis {
    let (bold, light) = match categories {
        Some(n) => ((0..n).map(|i| i as f64).collect(), Vec::new()),
        None if log => log_ticks(lo, hi),
        None => linear_ticks(lo, hi),
    };
    TickedAxis {
        inner: (lo..hi).into(),
        bold,
        light,
    }
}

fn linear_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let span = (hi - lo).abs().max(f64::MIN_POSITIVE);
    let raw = span / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let multiples = |step: f64| -> Vec<f64> {
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(|k| k as f64 * step).collect()
    };
    (multiples(step), multiples(step / 2.0))
}

fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let at = |mantissas: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        for e in (lo.floor() as i64)..=(hi.ceil() as i64) {
            for m in mantissas {
                let v = m.log10() + e as f64;
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
        }
        out
    };
    let all: Vec<f64> = (1..10).map(f64::from).collect();
    let bold = [&[1.0][..], &[1.0, 2.0, 5.0][..], &all[..]]
        .iter()
        .map(|m| at(m))
        .find(|t| t.len() >= 3)
        .unwrap_or_else(|| linear_ticks(lo, hi).0);
    (bold, at(&all))
}

/// `n` points from `lo` to `hi`, evenly spaced in log (a fitted curve drawn on log axes).
pub fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

/// Short human numbers for tick labels: 1.2M, 350k, 0.25, 3.1e-5; 1e18 past the trillions
/// (FLOP budgets).
pub fn human(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a >= 1e15 {
        let s = format!("{v:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        trim(m.to_string()) + "e" + e
    } else if a >= 1e12 {
        trim(format!("{:.2}", v / 1e12)) + "T"
    } else if a >= 1e9 {
        trim(format!("{:.2}", v / 1e9)) + "B"
    } else if a >= 1e6 {
        trim(format!("{:.2}", v / 1e6)) + "M"
    } else if a >= 1e4 {
        trim(format!("{:.1}", v / 1e3)) + "k"
    } else if a >= 1e-2 || a == 0.0 {
        trim(format!("{v:.3}"))
    } else {
        format!("{v:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_tick_at_round_values() {
        let real =
            |t: Vec<f64>| -> Vec<String> { t.iter().map(|v| human(10f64.powf(*v))).collect() };
        // Four decades: whole decades only.
        assert_eq!(real(log_ticks(5.5, 9.2).0), ["1M", "10M", "100M", "1B"]);
        // A factor of ~3: 1-2-5 would give two ticks, so every integer mantissa.
        assert_eq!(
            real(log_ticks(6.3, 6.85).0),
            ["2M", "3M", "4M", "5M", "6M", "7M"]
        );
        // A bit over one decade: 1-2-5.
        assert_eq!(real(log_ticks(5.9, 7.2).0), ["1M", "2M", "5M", "10M"]);
        let (bold, _) = linear_ticks(6.62, 7.31);
        assert_eq!(
            bold.iter().map(|v| human(*v)).collect::<Vec<_>>(),
            ["6.7", "6.8", "6.9", "7", "7.1", "7.2", "7.3"]
        );
    }

    #[test]
    fn human_labels() {
        assert_eq!(human(1.5e6), "1.5M");
        assert_eq!(human(350_000.0), "350k");
        assert_eq!(human(2.0e9), "2B");
        assert_eq!(human(0.25), "0.25");
        assert_eq!(human(3.0), "3");
        assert_eq!(human(1e18), "1e18");
        assert_eq!(human(3.16e21), "3.16e21");
    }

    #[test]
    fn a_chart_writes_non_empty_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Chart::new("loss vs parameters", "parameters", "loss (nats/token)");
        c.log_x = true;
        c.layers.push(Layer::Band {
            label: "95% band".into(),
            color: 0,
            points: vec![(1e6, 3.0, 3.4), (1e8, 2.4, 2.6)],
        });
        c.layers.push(Layer::Points {
            label: "dense".into(),
            color: 0,
            points: vec![(1e6, 3.2), (1e7, 2.8), (1e8, 2.5)],
        });
        c.layers.push(Layer::Line {
            label: "fit".into(),
            color: 0,
            points: vec![(1e6, 3.2), (1e8, 2.5)],
            dashed: false,
        });
        c.layers.push(Layer::Unbounded {
            label: "unbounded".into(),
            color: 1,
            xs: vec![1e7],
        });
        let files = c.save(&dir.path().join("fig")).unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("loss vs parameters") && svg.contains("dense")
        );
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5_000);
        // Not a blank image: many distinct byte values in the compressed stream.
        let distinct: std::collections::HashSet<u8> = png.iter().copied().collect();
        assert!(distinct.len() > 200);
    }
}
