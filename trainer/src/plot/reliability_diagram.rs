//! The reliability diagram (`MODEL.reliability.svg`): in each probability bin, the mean predicted probability against
//! the fraud rate observed there (weighted to the natural rate), for the forest's raw score and for
//! the calibrated probability, beside the diagonal a calibrated model follows.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use super::{draw_diagonal, unit_chart, FONT};
use crate::metrics::Reliability;

const SIZE: (u32, u32) = (640, 560);
const RAW_COLOR: RGBColor = RGBColor(200, 30, 30);
const CALIBRATED_COLOR: RGBColor = RGBColor(30, 90, 200);

/// Writes `path` as an SVG reliability diagram of `raw` and `calibrated` under `title`.
pub fn draw_reliability(
    path: &Path,
    title: &str,
    raw: &Reliability,
    calibrated: &Reliability,
) -> anyhow::Result<()> {
    let svg = render(title, raw, calibrated).context("could not draw the reliability diagram")?;
    std::fs::write(path, svg).with_context(|| {
        format!(
            "could not write the reliability diagram to {}",
            path.display()
        )
    })
}

fn render(title: &str, raw: &Reliability, calibrated: &Reliability) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = unit_chart(
            &root,
            title,
            "mean predicted probability (10 bins)",
            "observed fraud rate (natural rate)",
        )?;
        draw_diagonal(&mut chart)?;
        for (name, reliability, color) in [
            ("raw forest score", raw, RAW_COLOR),
            ("calibrated probability", calibrated, CALIBRATED_COLOR),
        ] {
            let label = format!(
                "{name}: ECE {:.4}, Brier {:.5}",
                reliability.expected_calibration_error, reliability.brier_score
            );
            let points: Vec<(f64, f64)> = reliability
                .bins
                .iter()
                .map(|b| (b.mean_probability, b.fraud_rate))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|at| Circle::new(at, 4, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 14))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fixtures::{calibrated, overconfident};

    #[test]
    fn the_diagram_shows_both_curves_and_their_errors() {
        let raw = Reliability::measure(&overconfident());
        let calibrated = Reliability::measure(&calibrated());
        let svg = render("test", &raw, &calibrated).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains(&format!("ECE {:.4}", raw.expected_calibration_error)));
        assert!(svg.contains("calibrated probability: ECE 0.0000"), "{svg}");
        // One mark per non-empty bin of each curve.
        assert_eq!(
            svg.matches("<circle").count(),
            raw.bins.len() + calibrated.bins.len()
        );
    }
}
