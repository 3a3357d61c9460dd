//! The model a config gives: the types a runner, the daemon and the UI read.

use std::path::PathBuf;

use cairn_config::{
    ByteSize, CalendarDuration, DatabaseSelection, Duration, KeepPolicy, KeyPath, LineColumn,
    PostgresFormat, ReadData, SecretSource, ServerSideEncryption, StoreLocation, Zone, EXAMPLE,
};
use chrono::{DateTime, FixedOffset};

use super::{parse, MAIN_REPOSITORY};

#[test]
fn the_example_gives_the_model_it_describes() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/cairn"));
    assert_eq!(config.timezone, Zone::Named(chrono_tz::Europe::Berlin));

    let main = &config.repositories["main"];
    assert_eq!(
        main.location,
        StoreLocation::Local("/srv/backup/main".into())
    );
    assert_eq!(
        main.password,
        SecretSource::Env("CAIRN_MAIN_PASSWORD".into())
    );
    let offsite = main.offsite.as_ref().unwrap();
    assert!(offsite.destination.is_s3());
    assert_eq!(offsite.bwlimit, Some(ByteSize(20 << 20)));
    assert_eq!(offsite.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(offsite.sse, Some(ServerSideEncryption::Aes256));
    assert_eq!(offsite.delete_after, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(offsite.transfers, 8);

    let web = config.plan("web").unwrap();
    assert_eq!(config.repository_of(web).name, "main");
    assert_eq!(
        web.sources,
        [PathBuf::from("/etc"), PathBuf::from("/srv/www")]
    );
    assert_eq!(web.exclude, ["*.tmp", "/srv/www/cache"]);
    assert_eq!(web.exclude_if_present[0].name, ".nobackup");
    assert!(web.one_file_system);
    assert_eq!(web.tags, ["web"]);
    assert_eq!(web.host, None);
    assert_eq!(web.schedule.as_ref().unwrap().to_string(), "0 3 * * *");
    assert_eq!(
        web.timezone,
        Zone::Named(chrono_tz::Europe::Berlin),
        "the file's zone"
    );
    let check = web.check.as_ref().unwrap();
    assert_eq!(check.every, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(check.read_data, ReadData::Percent(5.0));
    assert_eq!(web.hooks.before_backup, ["systemctl stop app-worker"]);
    assert_eq!(web.hooks.on_error, ["logger -t cairn 'web failed'"]);
    assert!(web.hooks.finally.is_empty());
    assert_eq!(web.hooks.timeout, Duration::from_secs(600));

    let postgres = &web.postgresql[0];
    assert_eq!(postgres.database, DatabaseSelection::One("app".into()));
    assert_eq!((postgres.host.as_str(), postgres.port), ("127.0.0.1", 5432));
    assert_eq!(postgres.username.as_deref(), Some("postgres"));
    assert_eq!(postgres.format, PostgresFormat::Custom);
    assert_eq!(postgres.password, None);
    assert_eq!(
        postgres.snapshot_path("app"),
        "/cairn-dumps/postgresql/127.0.0.1/app.dump"
    );
    assert_eq!(
        web.mariadb[0].snapshot_path("shop"),
        "/cairn-dumps/mariadb/127.0.0.1/shop.sql"
    );
    assert_eq!(
        web.sqlite[0].snapshot_path(),
        "/cairn-dumps/sqlite/grafana.sqlite"
    );
    assert_eq!(
        web.sqlite[0].path,
        PathBuf::from("/var/lib/grafana/grafana.db")
    );
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let text = format!(
        "{MAIN_REPOSITORY}
[repositories.main.offsite]
destination = \"s3:https://s3.example.com/bucket/main\"

[plans.web]
repository = \"main\"

[[plans.web.mariadb]]
database = \"all\"

[[plans.web.sqlite]]
path = \"/var/lib/grafana/grafana.db\"
"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/cairn"));
    assert_eq!(config.timezone, Zone::Local);
    let offsite = config.repositories["main"].offsite.clone().unwrap();
    assert_eq!(offsite.bwlimit, None);
    assert_eq!(offsite.delete_after, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(offsite.transfers, 8);
    let web = &config.plans["web"];
    assert!(web.sources.is_empty(), "a plan of dumps alone is allowed");
    assert_eq!(web.schedule, None);
    assert_eq!(web.retention, None);
    assert_eq!(web.check, None);
    assert!(!web.one_file_system);
    assert_eq!(web.hooks.timeout, Duration::from_secs(600));
    let mariadb = &web.mariadb[0];
    assert_eq!(mariadb.database, DatabaseSelection::All);
    assert_eq!((mariadb.host.as_str(), mariadb.port), ("localhost", 3306));
    assert_eq!(web.sqlite[0].name, "grafana", "named after the file");

    let never = text.replace(
        "destination = \"s3:https://s3.example.com/bucket/main\"",
        "destination = \"s3:https://s3.example.com/bucket/main\"\ndelete_after = \"never\"",
    );
    let config = parse(&never).unwrap();
    assert_eq!(
        config.repositories["main"]
            .offsite
            .as_ref()
            .unwrap()
            .delete_after,
        None
    );
}

#[test]
fn a_plans_time_zone_overrides_the_files() {
    let text = format!(
        "timezone = \"Europe/Berlin\"\n{MAIN_REPOSITORY}\n[plans.a]\nrepository = \"main\"\nsources = [\"/a\"]\ntimezone = \"UTC\"\n\n[plans.b]\nrepository = \"main\"\nsources = [\"/b\"]\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.plans["a"].timezone, Zone::Named(chrono_tz::UTC));
    assert_eq!(
        config.plans["b"].timezone,
        Zone::Named(chrono_tz::Europe::Berlin)
    );
}

/// The policy `cairn forget --keep-*` builds from the same values.
fn calendar(text: &str) -> CalendarDuration {
    text.parse().unwrap()
}

#[test]
fn retention_becomes_the_policy_forget_applies() {
    let text = format!(
        "{MAIN_REPOSITORY}
[plans.web]
repository = \"main\"
sources = [\"/etc\"]

[plans.web.retention]
keep_last = 3
keep_hourly = 24
keep_daily = 7
keep_weekly = 4
keep_monthly = 12
keep_yearly = 2
keep_within = \"1y6m\"
keep_within_hourly = \"2d\"
keep_within_daily = \"1m\"
keep_within_weekly = \"3m\"
keep_within_monthly = \"1y\"
keep_within_yearly = \"10y\"
keep_tag = [\"keep\", \"release,signed\"]
"
    );
    let config = parse(&text).unwrap();
    let expected = KeepPolicy {
        last: 3,
        hourly: 24,
        daily: 7,
        weekly: 4,
        monthly: 12,
        yearly: 2,
        within: calendar("1y6m"),
        within_hourly: calendar("2d"),
        within_daily: calendar("1m"),
        within_weekly: calendar("3m"),
        within_monthly: calendar("1y"),
        within_yearly: calendar("10y"),
        tags: vec![vec!["keep".into()], vec!["release".into(), "signed".into()]],
    };
    assert_eq!(config.plans["web"].retention.as_ref(), Some(&expected));
    // `m` in a retention duration is a month, as in restic: 1y6m is 18 months.
    assert_eq!(expected.within.months, 6);
}

#[test]
fn the_converted_policy_keeps_what_forget_keeps() {
    let text = format!(
        "{MAIN_REPOSITORY}\n[plans.web]\nrepository = \"main\"\nsources = [\"/etc\"]\nretention = {{ keep_daily = 2, keep_tag = [\"keep\"] }}\n"
    );
    let config = parse(&text).unwrap();
    let policy = config.plans["web"].retention.clone().unwrap();
    let time = |t: &str| DateTime::<FixedOffset>::parse_from_rfc3339(t).unwrap();
    let keep = vec!["keep".to_string()];
    let none: Vec<String> = Vec::new();
    let snapshots = [
        (time("2026-11-29T03:00:00+01:00"), none.as_slice()),
        (time("2026-11-28T15:00:00+01:00"), none.as_slice()),
        (time("2026-11-28T03:00:00+01:00"), none.as_slice()),
        (time("2026-11-27T03:00:00+01:00"), none.as_slice()),
        (time("2026-11-20T03:00:00+01:00"), keep.as_slice()),
    ];
    let kept: Vec<bool> = cairn_repo::forget::apply(&policy, &snapshots)
        .iter()
        .map(|d| d.keep)
        .collect();
    assert_eq!(kept, [true, true, false, false, true]);
}

#[test]
fn positions_of_keys_stay_available_for_an_editor() {
    let config = parse(EXAMPLE).unwrap();
    let schedule = KeyPath::of(&["plans", "web", "schedule"]);
    let at = config.position_of(&schedule).unwrap();
    let line = EXAMPLE.lines().nth(at.line - 1).unwrap();
    assert!(line.starts_with("schedule = \"0 3 * * *\""), "{line}");
    assert_eq!(at.column, "schedule = ".len() + 1);
    let span = config.positions().get(&schedule).unwrap().value.clone();
    assert_eq!(&config.source().text()[span], "\"0 3 * * *\"");
    let database = KeyPath::of(&["plans", "web", "postgresql"])
        .index(0)
        .key("database");
    assert!(config.position_of(&database).is_some());
    assert_eq!(
        config.position_of(&KeyPath::root()),
        Some(LineColumn { line: 1, column: 1 })
    );
}

#[test]
fn an_unknown_plan_name_gets_the_nearest_one() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(
        config.plan("wbe").unwrap_err(),
        "/etc/cairn/cairn.toml has no plan \"wbe\"; did you mean \"web\"?"
    );
    assert_eq!(
        config.plan("databases").unwrap_err(),
        "/etc/cairn/cairn.toml has no plan \"databases\"; its plans are web"
    );
}

#[test]
fn schedules_of_the_model_give_next_run_times_in_the_plans_zone() {
    let config = parse(EXAMPLE).unwrap();
    let web = &config.plans["web"];
    let now = DateTime::parse_from_rfc3339("2026-03-28T12:00:00Z")
        .unwrap()
        .to_utc();
    let next = web
        .schedule
        .as_ref()
        .unwrap()
        .next_after(now, web.timezone)
        .unwrap();
    // 03:00 in Berlin on the day clocks go forward is 01:00 UTC.
    assert_eq!(next.to_rfc3339(), "2026-03-29T01:00:00+00:00");
}
