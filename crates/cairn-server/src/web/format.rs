//! How the UI writes times, sizes and durations.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

/// `2026-11-29 16:42 UTC`, with the exact time in a `<time>` element.
pub fn time(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        None => html! { span.muted { "never" } },
        Some(at) => html! {
            time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) }
        },
    }
}

/// `3 h ago`, `in 12 min`.
pub fn relative(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match at {
        None => html! { span.muted { "never" } },
        Some(at) => {
            let seconds = (now - at).num_seconds();
            let text = if seconds >= 0 {
                format!("{} ago", duration(seconds as u64))
            } else {
                format!("in {}", duration(seconds.unsigned_abs()))
            };
            html! { time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC").to_string()) { (text) } }
        }
    }
}

/// `45 s`, `12 min`, `3 h`, `4 d`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min", seconds / 60),
        3600..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    }
}

/// `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A job state as a badge.
pub fn state_badge(state: &str) -> Markup {
    html! { span class={ "badge " (state) } { (state) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(3 * 86_400), "3 d");
    }
}
