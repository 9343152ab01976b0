//! The report's SVG charts: latency by percentile, and rates and lag over time.

use plotters::prelude::*;

use crate::report::{Report, ReportError};

const SIZE: (u32, u32) = (960, 540);
/// The percentile axis counts nines: 0 is 0%, 1 is 90%, 2 is 99%, ... up to [`MOST_NINES`].
const MOST_NINES: f64 = 5.0;

fn chart_error(chart: &'static str) -> impl Fn(String) -> ReportError {
    move |reason| ReportError::Chart { chart, reason }
}

/// `-log10(1 - p)`, the nines of percentile `p`, capped at [`MOST_NINES`].
fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 10f64.powf(-MOST_NINES) {
        MOST_NINES
    } else {
        -rest.log10()
    }
}

fn nines_label(x: &f64) -> String {
    if *x >= MOST_NINES {
        return "max".to_string();
    }
    let percentile = 100.0 * (1.0 - 10f64.powf(-*x));
    let text = format!("{percentile:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// End-to-end latency by percentile.
pub(crate) fn latency_chart(report: &Report) -> Result<String, ReportError> {
    let error = chart_error("latency chart");
    let points: Vec<(f64, f64)> =
        report.latency_curve.iter().map(|&(percentile, ms)| (nines(percentile), ms)).collect();
    let top = points.iter().map(|&(_, ms)| ms).fold(1.0, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| error(e.to_string()))?;
        let samples = report.latency.map_or(0, |latency| latency.samples);
        let caption = format!("Alert latency by percentile ({samples} alert versions)");
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..MOST_NINES, 0.0..top)
            .map_err(|e| error(e.to_string()))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&nines_label)
            .x_desc("percentile")
            .y_desc("receipt - scheduled send (ms)")
            .draw()
            .map_err(|e| error(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), BLUE.stroke_width(2)))
            .map_err(|e| error(e.to_string()))?;
        chart
            .draw_series(points.iter().map(|&point| Circle::new(point, 3, BLUE.filled())))
            .map_err(|e| error(e.to_string()))?;
        root.present().map_err(|e| error(e.to_string()))?;
    }
    Ok(svg)
}

/// Records sent and events evaluated per second, backlog and consumer lag, over the run.
pub(crate) fn timeline_chart(report: &Report) -> Result<String, ReportError> {
    let error = chart_error("timeline chart");
    let series = &report.series;
    let last = series.last().map_or(1.0, |point| point.second as f64 + 1.0);
    let sent: Vec<(f64, f64)> =
        series.iter().map(|point| (point.second as f64, point.sent as f64)).collect();
    let consumed: Vec<(f64, f64)> =
        series.iter().filter_map(|point| Some((point.second as f64, point.consumed?))).collect();
    let lag: Vec<(f64, f64)> =
        series.iter().filter_map(|point| Some((point.second as f64, point.lag? as f64))).collect();
    let backlog: Vec<(f64, f64)> = series
        .iter()
        .filter_map(|point| Some((point.second as f64, point.backlog? as f64)))
        .collect();
    let rate_top = sent.iter().chain(&consumed).map(|&(_, y)| y).fold(1.0, f64::max) * 1.15;
    let lag_top = lag.iter().chain(&backlog).map(|&(_, y)| y).fold(1.0, f64::max) * 1.15;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| error(e.to_string()))?;
        let caption = format!(
            "Sent and evaluated per second, backlog and lag (target {:.0} ev/s)",
            report.run.target_rate
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .right_y_label_area_size(72)
            .build_cartesian_2d(0.0..last, 0.0..rate_top)
            .map_err(|e| error(e.to_string()))?
            .set_secondary_coord(0.0..last, 0.0..lag_top);
        chart
            .configure_mesh()
            .x_desc("seconds into the run")
            .y_desc("records or events per second")
            .draw()
            .map_err(|e| error(e.to_string()))?;
        chart
            .configure_secondary_axes()
            .y_desc("records waiting")
            .draw()
            .map_err(|e| error(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(sent, BLUE.stroke_width(2)))
            .map_err(|e| error(e.to_string()))?
            .label("sent per second")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(consumed, GREEN.stroke_width(2)))
            .map_err(|e| error(e.to_string()))?
            .label("evaluated per second (detector)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
        chart
            .draw_secondary_series(LineSeries::new(backlog, RED.stroke_width(2)))
            .map_err(|e| error(e.to_string()))?
            .label("backlog: acknowledged, not yet evaluated (right axis)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .draw_secondary_series(LineSeries::new(lag, MAGENTA.stroke_width(1)))
            .map_err(|e| error(e.to_string()))?
            .label("consumer lag, detector metric (right axis)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| error(e.to_string()))?;
        root.present().map_err(|e| error(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis_counts_nines() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), MOST_NINES);
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&3.0), "99.9%");
        assert_eq!(nines_label(&0.0), "0%");
        assert_eq!(nines_label(&MOST_NINES), "max");
    }
}
