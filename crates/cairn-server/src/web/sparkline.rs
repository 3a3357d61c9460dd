//! A tiny inline SVG line of a series (the dashboard's repository growth per plan). Drawn with
//! attributes only, no `style`, so the Content-Security-Policy holds.

use maud::{html, Markup};

const WIDTH: f64 = 96.0;
const HEIGHT: f64 = 24.0;

/// The points of `values` scaled into the box, oldest on the left.
pub fn points(values: &[u64]) -> String {
    if values.is_empty() {
        return String::new();
    }
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 {
        WIDTH / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = i as f64 * step;
            let y = HEIGHT - (*v as f64 / max) * (HEIGHT - 2.0) - 1.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line, with `label` for screen readers.
pub fn sparkline(values: &[u64], label: &str) -> Markup {
    html! {
        @if values.len() >= 2 {
            svg width="96" height="24" viewBox="0 0 96 24" role="img" aria-label=(label) {
                polyline points=(points(values)) fill="none" stroke="currentColor" stroke-width="1.5" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::points;

    #[test]
    fn the_series_fills_the_box_from_left_to_right() {
        assert_eq!(points(&[0, 50, 100]), "0.0,23.0 48.0,12.0 96.0,1.0");
        assert_eq!(points(&[]), "");
    }
}
