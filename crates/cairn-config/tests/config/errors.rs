//! Every error class, each with its exact `FILE:LINE:COLUMN` and message.

use cairn_config::{ErrorKind, KeyPath};

use super::{error_lines, parse, MAIN_REPOSITORY};

/// The one error a text gives.
fn only_error(text: &str) -> String {
    let lines = error_lines(text);
    assert_eq!(lines.len(), 1, "expected one error, got {lines:#?}");
    lines.into_iter().next().unwrap()
}

#[test]
fn syntax_errors_are_placed_where_the_parser_stopped() {
    let text = "[repositories.main]\nlocation = /srv/backup\n";
    let line = only_error(text);
    assert!(
        line.starts_with("/etc/cairn/cairn.toml:2:12: invalid TOML: "),
        "{line}"
    );
    let errors = parse(text).unwrap_err();
    assert_eq!(errors.errors()[0].kind(), ErrorKind::Syntax);

    let duplicate = "state_dir = \"/a\"\nstate_dir = \"/b\"\n";
    assert_eq!(
        only_error(duplicate),
        "/etc/cairn/cairn.toml:2:1: invalid TOML: duplicate key"
    );
}

#[test]
fn unknown_keys_suggest_the_nearest_known_key() {
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.web]
repository = \"main\"
sorces = [\"/etc\"]
"
    );
    assert_eq!(
        only_error(&text),
        "/etc/cairn/cairn.toml:7:1: unknown key sorces in plan \"web\"; did you mean sources?"
    );
    let errors = parse(&text).unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(error.kind(), ErrorKind::UnknownKey);
    assert_eq!(
        error.key_path(),
        Some(&KeyPath::of(&["plans", "web", "sorces"]))
    );
}

#[test]
fn unknown_keys_without_a_near_one_list_the_keys_of_their_table() {
    let text = "statedir = \"/var/lib/cairn\"\ncolour = \"blue\"\n";
    assert_eq!(
        error_lines(text),
        [
            "/etc/cairn/cairn.toml:1:1: unknown key statedir in the top level; did you mean state_dir?",
            "/etc/cairn/cairn.toml:2:1: unknown key colour in the top level; the keys here are \
             state_dir, timezone, daemon, server, server_backup, multihost, notify, repositories, plans",
        ]
    );
}

#[test]
fn unknown_keys_in_inline_and_array_tables_are_placed_too() {
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.web]
repository = \"main\"
sources = [\"/etc\"]
retention = {{ keep_dialy = 7 }}

[plans.db]
repository = \"main\"

[[plans.db.postgresql]]
database = \"app\"
hots = \"127.0.0.1\"
"
    );
    assert_eq!(
        error_lines(&text),
        [
            "/etc/cairn/cairn.toml:8:15: unknown key keep_dialy in retention of plan \"web\"; did you mean keep_daily?",
            "/etc/cairn/cairn.toml:15:1: unknown key hots in postgresql dump 1 of plan \"db\"; did you mean host?",
        ]
    );
}

#[test]
fn a_plain_password_is_refused_with_what_to_write_instead() {
    let text = "[repositories.main]\nlocation = \"/srv/backup/main\"\npassword = \"hunter2\"\n";
    let line = only_error(text);
    assert_eq!(
        line,
        "/etc/cairn/cairn.toml:3:1: plain password in repository \"main\"; write password_file = \
         \"/etc/cairn/NAME.pass\", password_command = \"COMMAND\" or password_env = \"VARIABLE\" \
         instead, never the password itself"
    );
    assert!(!line.contains("hunter2"));

    let dump = format!(
        "{MAIN_REPOSITORY}
[[plans.db.postgresql]]
database = \"app\"
password = \"hunter2\"
"
    );
    let line = only_error(&dump);
    assert!(
        line.starts_with("/etc/cairn/cairn.toml:7:1: plain password in postgresql dump 1 of plan \"db\"; write password_file"),
        "{line}"
    );
    assert!(!line.contains("hunter2"));
}

#[test]
fn missing_keys_are_reported_at_their_table_with_what_to_add() {
    let text = "[repositories.main]\npassword_env = \"P\"\n\n[plans.web]\nsources = [\"/etc\"]\n\n[[plans.web.sqlite]]\nname = \"grafana\"\n";
    assert_eq!(
        error_lines(text),
        [
            "/etc/cairn/cairn.toml:1:1: repository \"main\" has no location; add location = \
             \"/srv/backup/main\" or \"s3:https://HOST/BUCKET/PREFIX\"",
            "/etc/cairn/cairn.toml:4:1: plan \"web\" has no repository; add repository = \"main\"",
            "/etc/cairn/cairn.toml:7:1: sqlite dump 1 of plan \"web\" has no path; add path = \
             \"/var/lib/app/app.db\"",
        ]
    );
    let errors = parse(text).unwrap_err();
    assert!(errors
        .errors()
        .iter()
        .all(|e| e.kind() == ErrorKind::MissingKey));
}

#[test]
fn a_repository_needs_exactly_one_password_source() {
    let none = "[repositories.main]\nlocation = \"/srv/backup/main\"\n";
    assert_eq!(
        only_error(none),
        "/etc/cairn/cairn.toml:1:1: repository \"main\" has no password source; add password_file = \
         \"/etc/cairn/main.pass\", password_command = \"COMMAND\" or password_env = \"VARIABLE\""
    );
    let two = "[repositories.main]\nlocation = \"/srv/backup/main\"\npassword_command = \"pass show main\"\npassword_file = \"/etc/cairn/main.pass\"\n";
    assert_eq!(
        only_error(two),
        "/etc/cairn/cairn.toml:4:17: repository \"main\" has both password_command and \
         password_file; keep one password source"
    );
    assert_eq!(
        parse(two).unwrap_err().errors()[0].kind(),
        ErrorKind::Conflict
    );
}

#[test]
fn an_offsite_on_a_repository_without_a_location_is_refused() {
    let text = "[repositories.main]\npassword_env = \"P\"\n\n[repositories.main.offsite]\ndestination = \"s3:https://s3.example.com/bucket/main\"\n";
    assert_eq!(
        only_error(text),
        "/etc/cairn/cairn.toml:1:1: repository \"main\" has no location; add location = \
         \"/srv/backup/main\" or \"s3:https://HOST/BUCKET/PREFIX\" (its offsite mirrors it from there)"
    );
}

#[test]
fn offsite_settings_that_need_s3_are_refused_on_a_local_mirror() {
    let text = format!(
        "{MAIN_REPOSITORY}
[repositories.main.offsite]
destination = \"/srv/mirror\"
bwlimit = \"1M\"
sse = \"aes256\"
"
    );
    assert_eq!(
        error_lines(&text),
        [
            "/etc/cairn/cairn.toml:7:11: bwlimit applies to s3: destinations only; remove it for a \
             local directory",
            "/etc/cairn/cairn.toml:8:7: sse applies to s3: destinations only; remove it for a local \
             directory",
        ]
    );
}

#[test]
fn a_plan_naming_an_unknown_repository_gets_the_nearest_name() {
    let text =
        format!("{MAIN_REPOSITORY}\n[plans.web]\nrepository = \"mian\"\nsources = [\"/etc\"]\n");
    assert_eq!(
        only_error(&text),
        "/etc/cairn/cairn.toml:6:14: unknown repository \"mian\"; did you mean \"main\"?"
    );
    let errors = parse(&text).unwrap_err();
    assert_eq!(errors.errors()[0].kind(), ErrorKind::UnknownReference);

    let far =
        format!("{MAIN_REPOSITORY}\n[plans.web]\nrepository = \"offsite\"\nsources = [\"/etc\"]\n");
    assert_eq!(
        only_error(&far),
        "/etc/cairn/cairn.toml:6:14: unknown repository \"offsite\"; the file defines \"main\""
    );
}

#[test]
fn bad_cron_expressions_are_placed_at_the_schedule() {
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.web]
repository = \"main\"
sources = [\"/etc\"]
schedule = \"0 3 * *\"

[plans.db]
repository = \"main\"
sources = [\"/var/lib/db\"]
schedule = \"0 25 * * *\"
"
    );
    let lines = error_lines(&text);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        "/etc/cairn/cairn.toml:8:12: schedule: cron expression \"0 3 * *\" has 4 fields; write 5 \
         fields (minute hour day month weekday, e.g. \"0 3 * * *\"), 6 with seconds first, or \
         @hourly, @daily, @weekly, @monthly"
    );
    assert!(
        lines[1].starts_with(
            "/etc/cairn/cairn.toml:13:12: schedule: invalid cron expression \"0 25 * * *\" ("
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn bad_values_of_each_form_are_placed_at_the_value() {
    let text = format!(
        "{MAIN_REPOSITORY}
[repositories.main.offsite]
destination = \"s3:https://s3.example.com/bucket/main\"
bwlimit = \"fast\"
delete_after = \"7x\"
transfers = 0

[plans.web]
repository = \"main\"
sources = [\"/etc\", \"srv/www\"]
timezone = \"Europe/Berln\"
retention = {{ keep_daily = -1, keep_within = \"1x\" }}
check = {{ every = \"1 day\", read_data_subset = \"200%\" }}

[plans.web.hooks]
timeout = \"0\"

[[plans.web.postgresql]]
database = \"app\"
port = 70000
format = \"tar\"
"
    );
    assert_eq!(
        error_lines(&text),
        [
            "/etc/cairn/cairn.toml:7:11: bwlimit: invalid rate \"fast\"; write bytes per second such \
             as 512K, 10M or 1G, or 0 for no limit",
            "/etc/cairn/cairn.toml:8:16: delete_after: invalid duration \"7x\" (unknown unit \"x\"); \
             write a number with a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m or 7d, or \"never\" \
             to keep deleted objects",
            "/etc/cairn/cairn.toml:9:13: transfers: 0 is out of range; write a number from 1 to 256, \
             e.g. 8",
            "/etc/cairn/cairn.toml:13:20: sources[1]: \"srv/www\" is not an absolute path; write one \
             from /, e.g. \"/srv/www\"",
            "/etc/cairn/cairn.toml:14:12: timezone: unknown time zone \"Europe/Berln\"; did you mean \
             \"Europe/Berlin\"?",
            "/etc/cairn/cairn.toml:15:28: keep_daily: -1 is not a count; write a whole number from 0 \
             to 4294967295",
            "/etc/cairn/cairn.toml:15:46: keep_within: invalid duration \"1x\": unknown unit 'x'; \
             write it as numbers with units y, m, d, h, e.g. 1y6m or 7d",
            "/etc/cairn/cairn.toml:16:19: every: invalid duration \"1 day\" (unknown unit \" day\"); \
             write a number with a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m or 7d",
            "/etc/cairn/cairn.toml:16:47: read_data_subset: \"200%\" is not a subset; write a \
             percentage such as \"5%\" or a part such as \"1/5\"",
            "/etc/cairn/cairn.toml:19:11: timeout: 0 would kill every hook at once; write a duration \
             such as \"10m\"",
            "/etc/cairn/cairn.toml:23:8: port: 70000 is not a port; write a number from 1 to 65535, \
             e.g. 5432",
            "/etc/cairn/cairn.toml:24:10: format: \"tar\" is not a format; write \"custom\" \
             (pg_restore) or \"plain\" (SQL)",
        ]
    );
}

#[test]
fn values_of_the_wrong_type_say_what_type_to_write() {
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.web]
repository = \"main\"
sources = [\"/etc\"]
one_file_system = \"yes\"
"
    );
    assert_eq!(
        only_error(&text),
        "/etc/cairn/cairn.toml:8:19: one_file_system is string \"yes\"; write true or false"
    );
    let list =
        format!("{MAIN_REPOSITORY}\n[plans.web]\nrepository = \"main\"\nsources = \"/etc\"\n");
    assert_eq!(
        only_error(&list),
        "/etc/cairn/cairn.toml:7:11: sources is string \"/etc\"; write a list such as [\"…\"]"
    );
    let top = "state_dir = 5\n";
    assert_eq!(
        only_error(top),
        "/etc/cairn/cairn.toml:1:13: state_dir is integer; write a quoted string"
    );
}

#[test]
fn names_that_cannot_go_into_a_path_are_refused_at_the_name() {
    let text = "[repositories.\"my repo\"]\nlocation = \"/srv/a\"\npassword_env = \"P\"\n\n[plans.\"../web\"]\nrepository = \"my repo\"\nsources = [\"/etc\"]\n\n[[plans.\"../web\".sqlite]]\nname = \"app/db\"\npath = \"/var/lib/app.db\"\n";
    assert_eq!(
        error_lines(text),
        [
            "/etc/cairn/cairn.toml:1:15: repository name \"my repo\" cannot be used in a path or URL; \
             use letters, digits, '_', '-' and '.', starting with a letter or digit, e.g. \"web-1\"",
            "/etc/cairn/cairn.toml:5:8: plan name \"../web\" cannot be used in a path or URL; use \
             letters, digits, '_', '-' and '.', starting with a letter or digit, e.g. \"web-1\"",
            "/etc/cairn/cairn.toml:10:8: name: dump name \"app/db\" cannot be used in a path or URL; \
             set name and use letters, digits, '_', '-' and '.', starting with a letter or digit, \
             e.g. \"web-1\"",
        ]
    );
    let database = format!(
        "{MAIN_REPOSITORY}\n[plans.db]\nrepository = \"main\"\n\n[[plans.db.mariadb]]\ndatabase = \"../etc\"\nhost = \"a/b\"\n"
    );
    assert_eq!(
        error_lines(&database),
        [
            "/etc/cairn/cairn.toml:9:12: database: \"../etc\" contains '/' or a NUL character, so it \
             cannot name the dump file; write the database name as the server knows it",
            "/etc/cairn/cairn.toml:10:8: host: \"a/b\" contains '/' or a NUL character, so it cannot \
             name the dump file; write the host name as the server knows it",
        ]
    );
}

#[test]
fn two_dumps_to_one_file_conflict() {
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.db]
repository = \"main\"

[[plans.db.postgresql]]
database = \"all\"
host = \"db1\"

[[plans.db.postgresql]]
database = \"app\"
host = \"db1\"

[[plans.db.sqlite]]
path = \"/var/lib/a/grafana.db\"

[[plans.db.sqlite]]
path = \"/var/lib/b/grafana.db\"
"
    );
    assert_eq!(
        error_lines(&text),
        [
            "/etc/cairn/cairn.toml:13:12: database \"app\" of postgresql host \"db1\" is already \
             dumped by postgresql dump 1 of plan \"db\" (every database); remove one of the two",
            "/etc/cairn/cairn.toml:20:8: sqlite dump name \"grafana\" is already used by sqlite dump \
             1 of plan \"db\"; give one of them another name = \"…\"",
        ]
    );
    let errors = parse(&text).unwrap_err();
    assert!(errors
        .errors()
        .iter()
        .all(|e| e.kind() == ErrorKind::Conflict));
}

#[test]
fn a_plan_that_backs_up_nothing_is_refused() {
    let text = format!("{MAIN_REPOSITORY}\n[plans.web]\nrepository = \"main\"\n");
    assert_eq!(
        only_error(&text),
        "/etc/cairn/cairn.toml:5:1: plan \"web\" backs up nothing; add sources = [\"/etc\"] or a \
         [[plans.web.postgresql]], [[plans.web.mariadb]] or [[plans.web.sqlite]] dump"
    );
}

#[test]
fn an_empty_retention_is_refused_rather_than_forgetting_with_no_rule() {
    let text = format!(
        "{MAIN_REPOSITORY}\n[plans.web]\nrepository = \"main\"\nsources = [\"/etc\"]\nretention = {{ keep_daily = 0 }}\n"
    );
    assert_eq!(
        only_error(&text),
        "/etc/cairn/cairn.toml:8:13: retention of plan \"web\" keeps nothing; set a count or \
         duration such as keep_daily = 7, or remove retention to keep every snapshot"
    );
}

#[test]
fn every_error_of_every_table_is_reported_in_one_pass() {
    // One wrongly typed value stops only its own table; the others are checked in full.
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.a]
repository = \"main\"
sources = [\"/etc\", 3]

[plans.b]
repository = \"nope\"
sources = [\"relative\"]
schedule = \"@sometimes\"
"
    );
    let lines = error_lines(&text);
    let positions: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.trim_start_matches("/etc/cairn/cairn.toml:")
                .split(": ")
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, ["7:20", "10:14", "11:12", "12:12"], "{lines:#?}");
}

#[test]
fn values_given_for_secrets_are_never_repeated_in_messages() {
    // A password typed into the wrong key must not reach a terminal or a log.
    for (key, value) in [
        ("password_env", "s3cr3t passw0rd"),
        ("password_file", "s3cr3t-passw0rd"),
    ] {
        let text = format!("[repositories.main]\nlocation = \"/srv/a\"\n{key} = \"{value}\"\n");
        let line = only_error(&text);
        assert!(line.starts_with("/etc/cairn/cairn.toml:3:"), "{line}");
        assert!(!line.contains("s3cr3t"), "{line}");
    }
}

#[test]
fn the_summary_line_of_many_errors_names_the_first_and_counts_the_rest() {
    let errors = parse("a = 1\nb = 2\nc = 3\n").unwrap_err();
    assert_eq!(
        errors.to_string(),
        "/etc/cairn/cairn.toml:1:1: unknown key a in the top level; the keys here are state_dir, \
         timezone, daemon, server, server_backup, multihost, notify, repositories, plans (and 2 more; `cairn config validate` lists them all)"
    );
}

#[test]
fn server_settings_are_checked_at_their_keys() {
    let text = "[server]\nlisten = \"localhost\"\ntls_cert = \"cert.pem\"\npublic_url = \"backup.example.com\"\nsession_idle_timeout = \"0\"\n";
    assert_eq!(
        error_lines(text),
        [
            "/etc/cairn/cairn.toml:2:10: listen: \"localhost\" is not an address; write IP:PORT, e.g. \"127.0.0.1:8470\"",
            "/etc/cairn/cairn.toml:3:12: tls_cert: \"cert.pem\" is not an absolute path; write one from /, e.g. \"/etc/cairn/tls/cert.pem\"",
            "/etc/cairn/cairn.toml:3:12: tls_cert: is set without tls_key; set both (PEM files) or neither",
            "/etc/cairn/cairn.toml:4:14: public_url: \"backup.example.com\" is not a base URL; write the address people open, e.g. \"https://backup.example.com\"",
            "/etc/cairn/cairn.toml:5:24: session_idle_timeout: must be longer than 0, e.g. \"30m\"",
        ]
    );
    let config =
        parse("[server]\nlisten = \"127.0.0.1:8470\"\npublic_url = \"https://b.example.com/\"\n")
            .unwrap();
    let server = config.server.unwrap();
    assert_eq!(server.origin(), "https://b.example.com");
    assert_eq!(
        server.session_idle_timeout,
        cairn_config::SESSION_IDLE_DEFAULT
    );
    assert_eq!(
        server.restore_root(std::path::Path::new("/var/lib/cairn")),
        std::path::Path::new("/var/lib/cairn/restores")
    );
}

#[test]
fn an_object_lock_needs_a_mode_and_at_least_one_day() {
    let text = format!(
        "{MAIN_REPOSITORY}
[repositories.main.offsite]
destination = \"s3:https://s3.example.com/locked/main\"
object_lock = {{ mode = \"legal-hold\", days = 0 }}
"
    );
    assert_eq!(
        error_lines(&text),
        [
            "/etc/cairn/cairn.toml:7:24: mode: \"legal-hold\" is not a lock mode; write \
             \"governance\" or \"compliance\"",
            "/etc/cairn/cairn.toml:7:45: days: 0 is out of range; write a number of days from 1 \
             to 36500, e.g. 30",
        ]
    );
    let missing = format!(
        "{MAIN_REPOSITORY}
[repositories.main.offsite]
destination = \"/srv/mirror\"
object_lock = {{ days = 30 }}
"
    );
    let lines = error_lines(&missing);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("has no mode; add mode = \"governance\" or \"compliance\"")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("object_lock applies to s3: destinations only")),
        "{lines:#?}"
    );
}
