use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::{Config, SourceText, EXAMPLE};

fn example() -> Config {
    Config::parse(SourceText::new("/etc/cairn/cairn.toml", EXAMPLE)).expect("the example parses")
}

fn strings(items: &[&str]) -> EditValue {
    EditValue::Strings(items.iter().map(|s| s.to_string()).collect())
}

fn text(s: &str) -> EditValue {
    EditValue::String(s.to_string())
}

/// The lines of `after` that differ from `before` (same line count assumed).
fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    assert_eq!(before.lines().count(), after.lines().count(), "{after}");
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn editing_one_key_changes_only_its_line() {
    let mut edit = ConfigEdit::new(&example()).unwrap();
    edit.set_plan_field("web", "schedule", &text("0 4 * * *"))
        .unwrap();
    assert_eq!(
        changed_lines(EXAMPLE, &edit.text()),
        [(
            "schedule = \"0 3 * * *\"".to_string(),
            "schedule = \"0 4 * * *\"".to_string()
        )]
    );
    // A value followed by a comment keeps the comment and its column.
    let mut edit = ConfigEdit::new(&example()).unwrap();
    edit.set_plan_field("web", "retries", &EditValue::Integer(5))
        .unwrap();
    edit.set_plan_field("web", "retention.keep_daily", &EditValue::Integer(7))
        .unwrap();
    edit.set_offsite_field("main", "transfers", &EditValue::Integer(4))
        .unwrap();
    let changes = changed_lines(EXAMPLE, &edit.text());
    let after: Vec<&str> = changes.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(
        after,
        [
            "transfers = 4                   # objects sent in parallel",
            "retention = { keep_daily = 7, keep_weekly = 8, keep_monthly = 12 }",
            "retries = 5                             # a run failing for a passing reason is tried again",
        ]
    );
    let config = edit.validate().unwrap();
    assert_eq!(config.plans["web"].retries, 5);
    assert_eq!(
        config.repositories["main"]
            .offsite
            .as_ref()
            .unwrap()
            .transfers,
        4
    );
}

#[test]
fn every_editable_plan_field_round_trips() {
    let values: Vec<(&str, EditValue)> = vec![
        ("repository", text("main")),
        ("sources", strings(&["/etc", "/home"])),
        ("exclude", strings(&["*.cache"])),
        ("exclude_if_present", strings(&[".skip"])),
        ("one_file_system", EditValue::Boolean(false)),
        ("tags", strings(&["a", "b"])),
        ("host", text("web-2")),
        ("schedule", text("30 2 * * *")),
        ("timezone", text("UTC")),
        (
            "retention",
            EditValue::Table(BTreeMap::from([
                ("keep_last".into(), EditValue::Integer(3)),
                ("keep_within".into(), text("1y6m")),
                ("keep_tag".into(), strings(&["keep"])),
            ])),
        ),
        (
            "check",
            EditValue::Table(BTreeMap::from([("every".into(), text("1d"))])),
        ),
        ("catch_up", EditValue::Boolean(false)),
        ("retries", EditValue::Integer(1)),
        ("stale_after", text("3d")),
        (
            "hooks",
            EditValue::Table(BTreeMap::from([
                ("before_backup".into(), strings(&["true"])),
                ("timeout".into(), text("1m")),
            ])),
        ),
        (
            "drill",
            EditValue::Table(BTreeMap::from([
                ("schedule".into(), text("0 6 * * 0")),
                ("sample".into(), text("full")),
                ("sample_min_files".into(), EditValue::Integer(3)),
            ])),
        ),
    ];
    assert_eq!(
        values.len(),
        fields::PLAN_FIELDS.len(),
        "a field has no case"
    );
    let mut edit = ConfigEdit::new(&example()).unwrap();
    for (field, value) in &values {
        edit.set_plan_field("web", field, value).unwrap();
    }
    let config = edit.validate().expect("the edited example validates");
    let written = edit.plan_fields("web").unwrap();
    for (field, value) in &values {
        assert_eq!(written.get(*field), Some(value), "{field}");
    }
    // Read back from the text too: what the file says is what was set.
    let again = ConfigEdit::new(&config).unwrap();
    assert_eq!(again.plan_fields("web").unwrap(), written);
    let plan = &config.plans["web"];
    assert_eq!(plan.schedule.as_ref().unwrap().to_string(), "30 2 * * *");
    assert_eq!(plan.host.as_deref(), Some("web-2"));
    assert!(!plan.one_file_system);
    // The hook section kept only the keys given.
    assert!(plan.hooks.after_backup.is_empty());
    assert_eq!(plan.hooks.before_backup, ["true"]);
}

#[test]
fn a_bad_schedule_is_reported_at_its_key_path() {
    let mut edit = ConfigEdit::new(&example()).unwrap();
    edit.set_plan_field("web", "schedule", &text("every day"))
        .unwrap();
    let errors = edit.validate().unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(
        error.key_path(),
        Some(&KeyPath::of(&["plans", "web", "schedule"]))
    );
    assert_eq!(
        field_of(error, &KeyPath::of(&["plans", "web"])).as_deref(),
        Some("schedule")
    );
    assert!(error.position().is_some());
    assert!(!error.message().contains('\n'), "{}", error.message());
}

#[test]
fn unknown_fields_and_wrong_types_are_refused_before_any_change() {
    let mut edit = ConfigEdit::new(&example()).unwrap();
    let error = edit
        .set_plan_field("web", "schedul", &text("0 4 * * *"))
        .unwrap_err();
    assert_eq!(error.field, "schedul");
    assert!(error.message.contains("schedule, timezone"), "{error}");
    let error = edit
        .set_plan_field("web", "retention.keep_dayly", &EditValue::Integer(7))
        .unwrap_err();
    assert!(error.message.contains("keep_daily"), "{error}");
    let error = edit
        .set_plan_field("web", "sources", &text("/etc"))
        .unwrap_err();
    assert_eq!(
        error.message,
        "sources is a string; write a list of strings"
    );
    let error = edit
        .set_plan_field(
            "web",
            "retention",
            &EditValue::Table(BTreeMap::from([("keep_daily".into(), text("7"))])),
        )
        .unwrap_err();
    assert_eq!(
        error.message,
        "retention.keep_daily is a string; write an integer"
    );
    let error = edit
        .set_plan_field("nope", "schedule", &text("@daily"))
        .unwrap_err();
    assert_eq!(error.kind, EditErrorKind::NotFound);
    assert_eq!(edit.text(), EXAMPLE);
}

#[test]
fn plans_are_added_and_removed_in_place() {
    let mut edit = ConfigEdit::new(&example()).unwrap();
    edit.add_plan("db").unwrap();
    edit.set_plan_field("db", "repository", &text("main"))
        .unwrap();
    edit.set_plan_field("db", "sources", &strings(&["/var/lib/db"]))
        .unwrap();
    edit.set_plan_field("db", "retention.keep_daily", &EditValue::Integer(7))
        .unwrap();
    let added = edit.text();
    assert!(added.starts_with(EXAMPLE.trim_end()), "{added}");
    assert!(
        added.ends_with(
            "\n[plans.db]\nrepository = \"main\"\nsources = [\"/var/lib/db\"]\nretention = { keep_daily = 7 }\n"
        ),
        "{added}"
    );
    let config = edit.validate().unwrap();
    assert_eq!(config.plans["db"].sources.len(), 1);
    let error = edit.add_plan("db").unwrap_err();
    assert_eq!(error.kind, EditErrorKind::Exists);
    assert_eq!(edit.add_plan("bad name").unwrap_err().field, "name");

    let mut edit = ConfigEdit::new(&config).unwrap();
    edit.remove_plan("db").unwrap();
    assert_eq!(edit.text().trim_end(), EXAMPLE.trim_end());
    edit.remove_plan("web").unwrap();
    let config = edit.validate().unwrap();
    assert!(config.plans.is_empty());
    assert!(!edit.text().contains("postgresql"), "its sub-tables go too");
    // The comment above a plan's header belongs to it; other comments stay.
    assert!(!edit.text().contains("# A plan: what to back up"));
    assert!(edit.text().contains("# Optional: an offsite mirror"));
}

#[test]
fn removing_fields_keeps_the_rest() {
    let mut edit = ConfigEdit::new(&example()).unwrap();
    edit.remove_plan_field("web", "exclude").unwrap();
    edit.remove_plan_field("web", "check.read_data_subset")
        .unwrap();
    edit.remove_plan_field("web", "host").unwrap(); // not written: nothing to do
    let after = edit.text();
    assert!(!after.contains("exclude = ["), "{after}");
    assert!(after.contains("check = { every = \"7d\" }"), "{after}");
    let removed: Vec<&str> = EXAMPLE
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .collect();
    assert_eq!(
        removed,
        [
            "exclude = [\"*.tmp\", \"/srv/www/cache\"]   # as `cairn backup --exclude`",
            "check = { every = \"7d\", read_data_subset = \"5%\" }",
        ],
        "{after}"
    );
    assert_eq!(
        after.lines().count(),
        EXAMPLE.lines().count() - 1,
        "{after}"
    );
    edit.remove_plan_field("web", "check.every").unwrap();
    assert!(!edit.text().contains("check ="), "an emptied table goes");
    edit.validate().unwrap();
}

#[test]
fn sealed_credentials_replace_a_credentials_file_and_plaintext_is_refused() {
    let mut edit = ConfigEdit::new(&example()).unwrap();
    edit.set_offsite_field("main", "credentials_file", &text("/etc/cairn/offsite.env"))
        .unwrap();
    assert!(edit
        .text()
        .contains("credentials_file = \"/etc/cairn/offsite.env\""));
    let error = edit
        .set_offsite_sealed_credentials("main", "AKIAPLAIN", "sealed:v1:xyz")
        .unwrap_err();
    assert_eq!(error.field, "access_key_id");
    assert!(!error.message.contains("AKIAPLAIN"));
    assert!(!edit.text().contains("AKIAPLAIN"));
    edit.set_offsite_sealed_credentials("main", "sealed:v1:aaaa", "sealed:v1:bbbb")
        .unwrap();
    let after = edit.text();
    assert!(
        !after.lines().any(|l| l.starts_with("credentials_file")),
        "{after}"
    );
    let config = edit.validate().unwrap();
    let offsite = config.repositories["main"].offsite.clone().unwrap();
    assert_eq!(
        offsite.sealed_credentials,
        Some(crate::SealedCredentials {
            access_key_id: "sealed:v1:aaaa".into(),
            secret_access_key: "sealed:v1:bbbb".into(),
        })
    );
    // The form's view never shows them.
    let shown = edit.offsite_fields("main").unwrap();
    assert!(!shown.contains_key("access_key_id_sealed"));
    assert_eq!(shown["transfers"], EditValue::Integer(8));
}

#[test]
fn the_loader_refuses_half_a_key_pair_and_plaintext() {
    let base = EXAMPLE.replace(
        "# credentials_file = \"/etc/cairn/offsite.env\"",
        "access_key_id_sealed = \"AKIAPLAINTEXT\"",
    );
    let errors = Config::parse(SourceText::new("/c.toml", base.as_str())).unwrap_err();
    let all = errors
        .errors()
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("is not a sealed value"), "{all}");
    assert!(all.contains("secret_access_key_sealed"), "{all}");
    assert!(!all.contains("AKIAPLAINTEXT"), "{all}");
}

#[test]
fn a_failed_write_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.toml");
    std::fs::write(&path, "old = 1\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_atomically(&path, "new = 2\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new = 2\n");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the mode is kept");

    // A rename that fails (a directory stands where the file goes): nothing replaced, no
    // temporary left behind.
    let blocked = dir.path().join("blocked.toml");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("inside"), "x").unwrap();
    let error = write_atomically(&blocked, "new = 3\n").unwrap_err();
    assert!(error.to_string().contains("blocked.toml"), "{error}");
    assert!(blocked.is_dir());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["blocked.toml", "cairn.toml"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new = 2\n");
}
