//! `cairn config validate` and `cairn config example` through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{cairn, run_fail, run_ok, stderr, stdout, Scratch};

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

#[test]
fn the_example_validates_with_a_one_line_summary() {
    let scratch = Scratch::new();
    let example = stdout(&run_ok(cairn().args(["config", "example"])));
    assert!(example.starts_with("# cairn configuration"), "{example}");
    let path = write(&scratch.path("cairn.toml"), &example);
    let output = run_ok(
        cairn()
            .arg("--config")
            .arg(&path)
            .args(["config", "validate"]),
    );
    assert_eq!(
        stdout(&output),
        format!(
            "{}: valid: 1 repository (main), 1 plan (web)\n",
            path.display()
        )
    );
    assert_eq!(stderr(&output), "");

    // CAIRN_CONFIG names the file as well as --config does.
    let output = run_ok(
        cairn()
            .env("CAIRN_CONFIG", &path)
            .args(["config", "validate", "--json"]),
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["repositories"], serde_json::json!(["main"]));
    assert_eq!(summary["plans"][0]["name"], "web");
    assert_eq!(summary["plans"][0]["schedule"], "0 3 * * *");
    assert_eq!(summary["plans"][0]["timezone"], "Europe/Berlin");
    assert_eq!(summary["state_dir"], "/var/lib/cairn");
}

/// Two plans with a mistake each, and a misspelt key.
const BROKEN: &str = "[repositories.main]
location = \"/srv/backup/main\"
password_env = \"MAIN_PASSWORD\"

[plans.web]
repository = \"main\"
sources = [\"/etc\"]
shcedule = \"0 3 * * *\"

[plans.db]
repository = \"mian\"
sources = [\"/var/lib/db\"]
";

#[test]
fn validate_prints_every_error_on_its_own_line_and_exits_1() {
    let scratch = Scratch::new();
    let path = write(&scratch.path("cairn.toml"), BROKEN);
    let output = run_fail(
        cairn()
            .arg("--config")
            .arg(&path)
            .args(["config", "validate"]),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let file = path.display();
    assert_eq!(
        stderr(&output),
        format!(
            "{file}:8:1: unknown key shcedule in plan \"web\"; did you mean schedule?\n\
             {file}:11:14: unknown repository \"mian\"; did you mean \"main\"?\n"
        )
    );

    let output = run_fail(
        cairn()
            .arg("--config")
            .arg(&path)
            .args(["config", "validate", "--json"]),
    );
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["ok"], false);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1]["kind"], "unknown_reference");
    assert_eq!(errors[1]["line"], 11);
    assert_eq!(errors[1]["column"], 14);
    assert_eq!(errors[1]["key"], "plans.db.repository");
    assert_eq!(
        errors[1]["message"],
        "unknown repository \"mian\"; did you mean \"main\"?"
    );
}

#[test]
fn validate_checks_the_files_the_config_references() {
    let scratch = Scratch::new();
    let credentials = scratch.path("s3.env");
    std::fs::write(&credentials, "AWS_ACCESS_KEY_ID=x\n").unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!(
        "[repositories.main]\nlocation = \"s3:https://s3.example.com/bucket/main\"\npassword_file = \"{}\"\ncredentials_file = \"{}\"\n\n[plans.web]\nrepository = \"main\"\nsources = [\"/etc\"]\n",
        scratch.password_file.display(),
        credentials.display()
    );
    let path = write(&scratch.path("cairn.toml"), &text);
    let output = run_fail(
        cairn()
            .arg("--config")
            .arg(&path)
            .args(["config", "validate"]),
    );
    assert_eq!(
        stderr(&output),
        format!(
            "{}:4:20: credentials_file {} can be read by others (mode 0644); run chmod 600 {}\n",
            path.display(),
            credentials.display(),
            credentials.display()
        )
    );
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    run_ok(
        cairn()
            .arg("--config")
            .arg(&path)
            .args(["config", "validate"]),
    );
}

#[test]
fn validate_applies_environment_overrides_and_names_a_bad_one() {
    let scratch = Scratch::new();
    let example = stdout(&run_ok(cairn().args(["config", "example"])));
    let path = write(&scratch.path("cairn.toml"), &example);
    let output = run_ok(
        cairn()
            .arg("--config")
            .arg(&path)
            .env("CAIRN_STATE_DIR", "/srv/cairn-state")
            .args(["config", "validate", "--json"]),
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["state_dir"], "/srv/cairn-state");

    let output = run_fail(
        cairn()
            .arg("--config")
            .arg(&path)
            .env("CAIRN_STATE_DIR", "state")
            .args(["config", "validate"]),
    );
    assert_eq!(
        stderr(&output),
        format!(
            "{}: CAIRN_STATE_DIR \"state\" is not an absolute path; write one from /, e.g. \"/var/lib/cairn\"\n",
            path.display()
        )
    );
}

#[test]
fn a_missing_config_file_is_one_line_saying_what_to_do() {
    let scratch = Scratch::new();
    let path = scratch.path("absent.toml");
    let output = run_fail(
        cairn()
            .arg("--config")
            .arg(&path)
            .args(["config", "validate"]),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "{}: does not exist; write one (`cairn config example` prints a start) or pass --config FILE\n",
            path.display()
        )
    );
}

#[test]
fn duration_flags_read_the_configs_grammar() {
    // One parser for `--retry-lock`, `--delete-after` and the config's durations.
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let output = run_fail(
        scratch
            .cairn(&repo)
            .args(["snapshots", "--retry-lock", "7x"]),
    );
    assert_eq!(
        stderr(&output),
        "cairn: --retry-lock: invalid duration \"7x\" (unknown unit \"x\"); write a number with a \
         unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m or 7d\n"
    );
    run_ok(
        scratch
            .cairn(&repo)
            .args(["snapshots", "--retry-lock", "1d"]),
    );
}
