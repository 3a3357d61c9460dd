//! `rest = { … }` on a repository, and maintenance plans (no sources) on such repositories.

use cairn_config::{ByteSize, RestEndpoint};

use super::{error_lines, parse, MAIN_REPOSITORY};

const SERVED: &str = "[repositories.main]\nlocation = \"/srv/backup/main\"\npassword_env = \"MAIN_PASSWORD\"\nrest = { enabled = true, quota = \"500G\" }\n";

#[test]
fn a_rest_table_serves_the_repository_append_only_by_default() {
    let config = parse(SERVED).unwrap();
    assert_eq!(
        config.repositories["main"].rest,
        Some(RestEndpoint {
            append_only: true,
            quota: Some(ByteSize(500 << 30)),
        })
    );
    let open = parse(&format!(
        "{MAIN_REPOSITORY}rest = {{ append_only = false }}\n"
    ))
    .unwrap();
    assert_eq!(
        open.repositories["main"].rest,
        Some(RestEndpoint {
            append_only: false,
            quota: None,
        }),
        "a table without enabled means enabled"
    );
    let off = parse(&format!("{MAIN_REPOSITORY}rest = {{ enabled = false }}\n")).unwrap();
    assert_eq!(off.repositories["main"].rest, None);
    assert_eq!(
        parse(MAIN_REPOSITORY).unwrap().repositories["main"].rest,
        None
    );
}

#[test]
fn rest_keys_and_quotas_are_checked() {
    let lines = error_lines(&format!("{MAIN_REPOSITORY}rest = {{ quota = \"lots\" }}\n"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("quota"), "{}", lines[0]);
    let lines = error_lines(&format!("{MAIN_REPOSITORY}rest = {{ quota = \"0\" }}\n"));
    assert!(lines[0].contains("refuse every upload"), "{lines:?}");
    let lines = error_lines(&format!(
        "{MAIN_REPOSITORY}rest = {{ apend_only = true }}\n"
    ));
    assert!(lines[0].contains("apend_only"), "{lines:?}");
}

#[test]
fn a_plan_without_sources_maintains_a_rest_repository_only() {
    let plan = "[plans.keep]\nrepository = \"main\"\nschedule = \"@daily\"\nretention = { keep_last = 3 }\n";
    let config = parse(&format!("{SERVED}{plan}")).unwrap();
    assert!(config.plans["keep"].is_maintenance());
    let lines = error_lines(&format!("{MAIN_REPOSITORY}{plan}"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("backs up nothing"), "{}", lines[0]);
    let hooks = format!("{SERVED}{plan}hooks = {{ before_backup = [\"true\"] }}\n");
    let lines = error_lines(&hooks);
    assert!(lines[0].contains("never runs"), "{lines:?}");
    let second = "[plans.again]\nrepository = \"main\"\nretention = { keep_last = 1 }\n";
    let lines = error_lines(&format!("{SERVED}{plan}{second}"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("both maintain repository"),
        "{}",
        lines[0]
    );
    let with_sources =
        format!("{SERVED}[plans.web]\nrepository = \"main\"\nsources = [\"/srv\"]\n");
    assert!(!parse(&with_sources).unwrap().plans["web"].is_maintenance());
}
