//! The PR/ROC picture (`MODEL.curves.svg`): the model's precision–recall and ROC curves side by
//! side, with the chosen operating points (BLOCK, REVIEW) marked. Long curves are thinned so the
//! file stays small.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{draw_diagonal, unit_chart, Chart, FONT};
use crate::metrics::CurvePoint;

/// Size of the picture in pixels: two panels side by side.
const SIZE: (u32, u32) = (1200, 520);
/// Most curve points drawn per panel; longer curves are thinned evenly, keeping both ends.
const MAX_POINTS: usize = 2000;
/// Colours of the operating points, in the order given.
const MARKER_COLORS: [RGBColor; 4] = [
    RGBColor(200, 30, 30),
    RGBColor(230, 140, 0),
    RGBColor(20, 140, 60),
    RGBColor(120, 60, 170),
];
const CURVE_COLOR: RGBColor = RGBColor(30, 90, 200);

/// A threshold the model is run at, to be marked on both curves.
#[derive(Clone, Copy, Debug)]
pub struct OperatingPoint<'a> {
    /// Name shown beside the mark, e.g. "BLOCK".
    pub label: &'a str,
    /// Weighted precision at the threshold.
    pub precision: f64,
    /// Weighted recall (true positive rate) at the threshold.
    pub recall: f64,
    /// Weighted false positive rate at the threshold.
    pub false_positive_rate: f64,
}

/// Writes `path` as an SVG: the PR curve (left, AP in its caption) and the ROC curve with a chance
/// diagonal (right, AUC in its caption), under `title`, with each of `operating` marked and
/// labelled on both. `points` are as [`crate::metrics::curve`] returns them, thresholds
/// descending.
pub fn draw_curves(
    path: &Path,
    title: &str,
    points: &[CurvePoint],
    average_precision: f64,
    roc_auc: f64,
    operating: &[OperatingPoint],
) -> anyhow::Result<()> {
    let svg = render(title, points, average_precision, roc_auc, operating)
        .context("could not draw the PR/ROC picture")?;
    std::fs::write(path, svg)
        .with_context(|| format!("could not write the PR/ROC picture to {}", path.display()))
}

/// The whole picture as SVG text.
fn render(
    title: &str,
    points: &[CurvePoint],
    average_precision: f64,
    roc_auc: f64,
    operating: &[OperatingPoint],
) -> anyhow::Result<String> {
    let points = downsample(points, MAX_POINTS);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let body = root.titled(title, (FONT, 24))?;
        let (left, right) = body.split_horizontally(SIZE.0 / 2);
        let pr_caption = format!("Precision-recall curve (AP = {average_precision:.4})");
        let pr_marks = operating.iter().map(|op| (op.recall, op.precision));
        let pr = Panel::new(&pr_caption, "recall", "precision");
        let pr_path = precision_recall_path(&points);
        pr.draw(&left, pr_path, false, pr_marks, operating)?;
        let roc_caption = format!("ROC curve (AUC = {roc_auc:.4})");
        let roc_marks = operating
            .iter()
            .map(|op| (op.false_positive_rate, op.recall));
        let roc = Panel::new(&roc_caption, "false positive rate", "true positive rate");
        roc.draw(&right, roc_path(&points), true, roc_marks, operating)?;
        root.present()?;
    }
    Ok(svg)
}

/// The text around one chart.
struct Panel<'a> {
    caption: &'a str,
    x_label: &'a str,
    y_label: &'a str,
}

impl<'a> Panel<'a> {
    fn new(caption: &'a str, x_label: &'a str, y_label: &'a str) -> Self {
        Panel {
            caption,
            x_label,
            y_label,
        }
    }

    /// Draws axes, the curve, the chance diagonal if asked, and one labelled mark per operating
    /// point at the matching position of `marks`.
    fn draw(
        &self,
        area: &DrawingArea<SVGBackend, Shift>,
        curve: Vec<(f64, f64)>,
        chance_line: bool,
        marks: impl Iterator<Item = (f64, f64)>,
        operating: &[OperatingPoint],
    ) -> anyhow::Result<()> {
        let mut chart = unit_chart(area, self.caption, self.x_label, self.y_label)?;
        if chance_line {
            draw_diagonal(&mut chart)?;
        }
        chart.draw_series(LineSeries::new(curve, CURVE_COLOR.stroke_width(2)))?;
        for (index, (at, op)) in marks.zip(operating).enumerate() {
            let color = MARKER_COLORS[index % MARKER_COLORS.len()];
            draw_marker(&mut chart, at, op.label, color)?;
        }
        Ok(())
    }
}

/// Draws a filled circle at `at` with `label` beside it, left of the mark near the right edge.
fn draw_marker(
    chart: &mut Chart,
    at: (f64, f64),
    label: &str,
    color: RGBColor,
) -> anyhow::Result<()> {
    let (offset, anchor) = if at.0 > 0.75 {
        ((-9, -7), HPos::Right)
    } else {
        ((9, -7), HPos::Left)
    };
    let style = (FONT, 15)
        .into_font()
        .color(&color)
        .pos(Pos::new(anchor, VPos::Bottom));
    let mark = EmptyElement::at(at)
        + Circle::new((0, 0), 6, color.filled())
        + Text::new(label.to_owned(), offset, style);
    chart.draw_series(std::iter::once(mark))?;
    Ok(())
}

/// The PR curve as a step function: precision Pₙ holds over recall (Rₙ₋₁, Rₙ], the area that
/// average precision sums.
fn precision_recall_path(points: &[CurvePoint]) -> Vec<(f64, f64)> {
    let mut path = Vec::with_capacity(points.len() * 2);
    let mut previous_recall = 0.0;
    for point in points {
        path.push((previous_recall, point.precision));
        path.push((point.recall, point.precision));
        previous_recall = point.recall;
    }
    path
}

/// The ROC curve from (0, 0) through every point, straight between them as the AUC's trapezoids.
fn roc_path(points: &[CurvePoint]) -> Vec<(f64, f64)> {
    let rest = points.iter().map(|p| (p.false_positive_rate, p.recall));
    std::iter::once((0.0, 0.0)).chain(rest).collect()
}

/// At most `max` of `points`, evenly spaced by index, always keeping the first and the last.
fn downsample(points: &[CurvePoint], max: usize) -> Vec<CurvePoint> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..max)
        .filter_map(|i| points.get(i * last / (max - 1)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(threshold: f64, precision: f64, recall: f64, fpr: f64) -> CurvePoint {
        CurvePoint {
            threshold,
            precision,
            recall,
            false_positive_rate: fpr,
        }
    }

    /// A plausible curve of `count` points, thresholds descending.
    fn long_curve(count: usize) -> Vec<CurvePoint> {
        (0..count)
            .map(|i| {
                let t = (i + 1) as f64 / count as f64;
                point(1.0 - t, 1.0 - 0.8 * t * t, t.sqrt(), t * t)
            })
            .collect()
    }

    fn operating() -> [OperatingPoint<'static>; 2] {
        [
            OperatingPoint {
                label: "BLOCK",
                precision: 0.9,
                recall: 0.6,
                false_positive_rate: 0.01,
            },
            OperatingPoint {
                label: "REVIEW",
                precision: 0.5,
                recall: 0.85,
                false_positive_rate: 0.08,
            },
        ]
    }

    #[test]
    fn draws_both_panels_into_an_svg_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("curves.svg");
        let points = long_curve(50_000);
        draw_curves(
            &path,
            "Aegis model v7",
            &points,
            0.8123,
            0.9876,
            &operating(),
        )?;
        let svg = std::fs::read_to_string(&path)?;
        assert!(
            svg.trim_start().starts_with("<svg"),
            "not an SVG: {svg:.80}"
        );
        for text in [
            "Aegis model v7",
            "Precision-recall curve (AP = 0.8123)",
            "ROC curve (AUC = 0.9876)",
            "recall",
            "false positive rate",
            "true positive rate",
            "BLOCK",
            "REVIEW",
        ] {
            assert!(svg.contains(text), "the SVG lacks {text:?}");
        }
        assert!(svg.len() < 400_000, "{} bytes is too big", svg.len());
        Ok(())
    }

    #[test]
    fn draws_an_empty_curve() -> anyhow::Result<()> {
        let svg = render("empty", &[], 0.0, f64::NAN, &[])?;
        assert!(svg.contains("AUC = NaN"));
        Ok(())
    }

    #[test]
    fn unwritable_path_names_the_file() {
        let path = std::env::temp_dir()
            .join("aegis-no-such-dir-3f9c")
            .join("curves.svg");
        let error = draw_curves(&path, "t", &long_curve(10), 0.5, 0.5, &[])
            .expect_err("the directory does not exist");
        assert!(format!("{error:#}").contains("aegis-no-such-dir-3f9c"));
    }

    #[test]
    fn downsample_keeps_the_ends_and_at_most_max() {
        let points = long_curve(10_001);
        let kept = downsample(&points, 2000);
        assert_eq!(kept.len(), 2000);
        assert_eq!(kept.first(), points.first());
        assert_eq!(kept.last(), points.last());
        let thresholds_descend = kept.windows(2).all(|w| w[0].threshold > w[1].threshold);
        assert!(thresholds_descend);
    }

    #[test]
    fn downsample_leaves_short_curves_alone() {
        let points = long_curve(7);
        assert_eq!(downsample(&points, 2000), points);
    }

    #[test]
    fn precision_recall_path_is_the_average_precision_step() {
        let points = [point(0.9, 1.0, 0.5, 0.0), point(0.4, 0.5, 1.0, 1.0)];
        let expected = vec![(0.0, 1.0), (0.5, 1.0), (0.5, 0.5), (1.0, 0.5)];
        assert_eq!(precision_recall_path(&points), expected);
    }

    #[test]
    fn roc_path_starts_at_the_origin() {
        let points = [point(0.9, 1.0, 0.5, 0.0), point(0.4, 0.5, 1.0, 1.0)];
        assert_eq!(roc_path(&points), vec![(0.0, 0.0), (0.0, 0.5), (1.0, 1.0)]);
    }
}
