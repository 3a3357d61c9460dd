//! Text formatting shared by commands: sizes, times, error lines.

/// `1.5 GiB`, as restic prints sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.3} {}", UNITS[unit])
    }
}

/// `1:02:03` or `2:03`.
pub fn duration(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// One line for an error and its causes, leaving out causes whose text the line already holds
/// (library errors often carry their source's message).
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// A JSON string field as text, `-` when absent (tables of `jobs`, `status`, `drills`).
pub fn json_text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .map_or_else(|| "-".to_string(), str::to_string)
}

/// A JSON RFC 3339 time as local `YYYY-MM-DD HH:MM`, `-` when absent.
pub fn json_time(value: &serde_json::Value) -> String {
    value
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.500 KiB");
        assert_eq!(bytes(3 << 30), "3.000 GiB");
        assert_eq!(duration(65.4), "1:05");
        assert_eq!(duration(3723.0), "1:02:03");
    }

    #[test]
    fn error_lines_skip_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let error = anyhow::Error::new(io)
            .context("read /x: gone")
            .context("cannot open");
        assert_eq!(error_line(&error), "cannot open: read /x: gone");
    }
}
