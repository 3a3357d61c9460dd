//! serde's messages about a table turned into ours: the key named, the nearest known key
//! suggested, and what to write instead.

use crate::error::{ErrorKind, Reporter};
use crate::positions::KeyPath;
use crate::section::label_of;
use crate::suggest::nearest;

/// What to write instead of a plain `password` key.
const NO_PLAIN_PASSWORD: &str = "write password_file = \"/etc/cairn/NAME.pass\", \
     password_command = \"COMMAND\" or password_env = \"VARIABLE\" instead, never the password itself";

/// Reports the error serde gave for the table at `table`.
pub fn report(reporter: &mut Reporter<'_>, table: &KeyPath, error: &toml::de::Error) {
    let span = error
        .span()
        .or_else(|| reporter.positions().value_span(table))
        .unwrap_or(0..0);
    let path = reporter.positions().path_at(&span).cloned();
    let message = error.message();
    if let Some((key, known)) = parse_unknown_field(message) {
        let kind = ErrorKind::UnknownKey;
        // The table the key is in: an inline or array table inside `table`, or `table` itself.
        let parent = path.as_ref().and_then(KeyPath::parent);
        let label = label_of(parent.as_ref().unwrap_or(table));
        let message = unknown_key_message(&key, &known, &label);
        reporter.at_span(kind, span, path, message);
        return;
    }
    let leaf = path.as_ref().map_or_else(|| "value".into(), KeyPath::leaf);
    let message = match parse_type_error(message) {
        Some((found, expected)) => {
            format!("{leaf} is {found}; write {}", expected_in_words(&expected))
        }
        None => format!("{leaf}: {message}"),
    };
    reporter.at_span(ErrorKind::InvalidValue, span, path, message);
}

/// The message for an unknown key among `known` keys of the table named `label`.
pub fn unknown_key_message(key: &str, known: &[String], label: &str) -> String {
    if key == "password" && known.iter().any(|k| k == "password_file") {
        return format!("plain password in {label}; {NO_PLAIN_PASSWORD}");
    }
    match nearest(key, known.iter().map(String::as_str)) {
        Some(near) => format!("unknown key {key} in {label}; did you mean {near}?"),
        None => format!(
            "unknown key {key} in {label}; the keys here are {}",
            known.join(", ")
        ),
    }
}

/// `unknown field `x`, expected one of `a`, `b`` → ("x", ["a", "b"]).
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let known = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), known))
}

/// `invalid type: string "x", expected a boolean` → ("string \"x\"", "a boolean").
fn parse_type_error(message: &str) -> Option<(String, String)> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    Some((found.replace('`', ""), expected.to_string()))
}

/// serde's names of what it expected, as a person would write them.
fn expected_in_words(expected: &str) -> String {
    match expected {
        "a boolean" => "true or false".into(),
        "a string" => "a quoted string".into(),
        "a sequence" => "a list such as [\"…\"]".into(),
        "i64" => "a whole number".into(),
        other if other.starts_with("struct ") || other == "a map" => {
            "a table such as { key = value }".into()
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_are_read_back() {
        assert_eq!(
            parse_unknown_field("unknown field `sorces`, expected one of `repository`, `sources`"),
            Some(("sorces".into(), vec!["repository".into(), "sources".into()]))
        );
        assert_eq!(
            parse_unknown_field("unknown field `x`, expected `name`"),
            Some(("x".into(), vec!["name".into()]))
        );
        assert_eq!(
            parse_type_error("invalid type: string \"yes\", expected a boolean"),
            Some(("string \"yes\"".into(), "a boolean".into()))
        );
        assert_eq!(
            parse_type_error("invalid type: integer `3`, expected a string"),
            Some(("integer 3".into(), "a string".into()))
        );
    }

    #[test]
    fn unknown_keys_get_the_nearest_key_or_the_list() {
        let known: Vec<String> = ["location", "password_file", "password_command"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            unknown_key_message("locaton", &known, "repository \"main\""),
            "unknown key locaton in repository \"main\"; did you mean location?"
        );
        assert_eq!(
            unknown_key_message("colour", &known, "repository \"main\""),
            "unknown key colour in repository \"main\"; the keys here are location, \
             password_file, password_command"
        );
        assert_eq!(
            unknown_key_message("password", &known, "repository \"main\""),
            format!("plain password in repository \"main\"; {NO_PLAIN_PASSWORD}")
        );
    }
}
