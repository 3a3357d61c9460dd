//! Files the config references: existence, and credentials readable by their owner only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cairn_config::{check_referenced_files, load, Config, ErrorKind, Overrides, SourceText};

fn write_file(path: &Path, mode: u32) {
    std::fs::write(path, "AWS_ACCESS_KEY_ID=x\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A config whose repository is on S3 with a credentials file, and a dump with a password file.
fn config_text(dir: &Path) -> String {
    format!(
        "[repositories.main]
location = \"s3:https://s3.example.com/bucket/main\"
password_file = \"{dir}/main.pass\"
credentials_file = \"{dir}/s3.env\"

[plans.db]
repository = \"main\"

[[plans.db.postgresql]]
database = \"app\"
password_file = \"{dir}/pg.pass\"
",
        dir = dir.display()
    )
}

fn lines(dir: &Path) -> Vec<String> {
    let text = config_text(dir);
    let config = Config::parse(SourceText::new("/c.toml", text)).unwrap();
    check_referenced_files(&config)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn missing_files_are_reported_at_the_key_that_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    assert_eq!(
        lines(dir.path()),
        [
            format!("/c.toml:3:17: password_file {d}/main.pass does not exist; create it (mode 0600) or correct the path"),
            format!("/c.toml:4:20: credentials_file {d}/s3.env does not exist; create it (mode 0600) or correct the path"),
            format!("/c.toml:11:17: password_file {d}/pg.pass does not exist; create it (mode 0600) or correct the path"),
        ]
    );
}

#[test]
fn credentials_readable_by_others_are_refused_and_0600_or_stricter_pass() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("main.pass"), 0o644);
    write_file(&dir.path().join("pg.pass"), 0o600);
    let env = dir.path().join("s3.env");
    write_file(&env, 0o640);
    let d = dir.path().display();
    assert_eq!(
        lines(dir.path()),
        [format!(
            "/c.toml:4:20: credentials_file {d}/s3.env can be read by others (mode 0640); run chmod 600 {d}/s3.env"
        )]
    );
    for mode in [0o600, 0o400] {
        write_file(&env, mode);
        assert_eq!(lines(dir.path()), Vec::<String>::new(), "mode {mode:o}");
    }
}

#[test]
fn load_checks_the_referenced_files_after_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.toml");
    std::fs::write(&path, config_text(dir.path())).unwrap();
    let errors = load(&path, &Overrides::default()).unwrap_err();
    assert_eq!(errors.errors().len(), 3);
    assert!(errors
        .errors()
        .iter()
        .all(|e| e.kind() == ErrorKind::ReferencedFile));
    for name in ["main.pass", "pg.pass"] {
        write_file(&dir.path().join(name), 0o600);
    }
    write_file(&dir.path().join("s3.env"), 0o600);
    let config = load(&path, &Overrides::default()).unwrap();
    assert_eq!(config.source().path(), path);
}
