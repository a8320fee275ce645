//! The SVG pictures `train` writes beside the model: the PR/ROC curves ([`draw_curves`]) and the
//! reliability diagram ([`draw_reliability`]), drawn with the same axes and fonts.

mod curves;
mod reliability_diagram;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

pub use curves::{draw_curves, OperatingPoint};
pub use reliability_diagram::draw_reliability;

/// The font of every caption, label and legend.
const FONT: &str = "sans-serif";

/// The chart type of every panel: linear axes over [0, 1].
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A captioned chart over [0, 1] × [0, 1] with labelled axes, as every Aegis picture draws.
fn unit_chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    x_label: &str,
    y_label: &str,
) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..1.0, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style((FONT, 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(chart)
}

/// The dashed y = x line: chance on a ROC curve, perfect calibration on a reliability diagram.
fn draw_diagonal(chart: &mut Chart) -> anyhow::Result<()> {
    let diagonal = [(0.0, 0.0), (1.0, 1.0)];
    let style = BLACK.mix(0.5).stroke_width(1);
    chart.draw_series(DashedLineSeries::new(diagonal, 6, 4, style))?;
    Ok(())
}
