//! Finding and layering the config: default path, file, environment, flags.

use std::path::{Path, PathBuf};

use cairn_config::{
    config_path, load, ErrorKind, Override, Overrides, DEFAULT_CONFIG_PATH, STATE_DIR_ENV,
};

use super::MAIN_REPOSITORY;

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("cairn.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn state_dir_override(path: &str, origin: &str) -> Overrides {
    Overrides {
        state_dir: Some(Override {
            value: PathBuf::from(path),
            origin: origin.into(),
        }),
    }
}

#[test]
fn the_default_path_is_used_unless_one_is_given() {
    assert_eq!(config_path(None), PathBuf::from(DEFAULT_CONFIG_PATH));
    assert_eq!(DEFAULT_CONFIG_PATH, "/etc/cairn/cairn.toml");
    assert_eq!(
        config_path(Some(Path::new("/x.toml"))),
        PathBuf::from("/x.toml")
    );
}

#[test]
fn defaults_then_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let bare = write_config(dir.path(), MAIN_REPOSITORY);
    assert_eq!(
        load(&bare, &Overrides::default()).unwrap().state_dir,
        PathBuf::from("/var/lib/cairn"),
        "default"
    );
    let path = write_config(
        dir.path(),
        &format!("state_dir = \"/srv/state\"\n{MAIN_REPOSITORY}"),
    );
    assert_eq!(
        load(&path, &Overrides::default()).unwrap().state_dir,
        PathBuf::from("/srv/state")
    );

    let env = Overrides::from_env(|name| (name == STATE_DIR_ENV).then(|| "/env/state".to_string()));
    assert_eq!(
        load(&path, &env).unwrap().state_dir,
        PathBuf::from("/env/state")
    );

    let flags = state_dir_override("/flag/state", "--state-dir");
    let both = flags.over(env.clone());
    assert_eq!(
        load(&path, &both).unwrap().state_dir,
        PathBuf::from("/flag/state")
    );
    let env_only = Overrides::default().over(env);
    assert_eq!(
        load(&path, &env_only).unwrap().state_dir,
        PathBuf::from("/env/state")
    );

    let empty = Overrides::from_env(|_| Some(String::new()));
    assert_eq!(
        empty,
        Overrides::default(),
        "an empty variable sets nothing"
    );
}

#[test]
fn an_override_is_checked_like_the_file_and_names_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), MAIN_REPOSITORY);
    let errors = load(&path, &state_dir_override("relative", STATE_DIR_ENV)).unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!(
            "{}: CAIRN_STATE_DIR \"relative\" is not an absolute path; write one from /, e.g. \"/var/lib/cairn\"",
            path.display()
        )
    );
}

#[test]
fn a_missing_or_unreadable_file_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let errors = load(&missing, &Overrides::default()).unwrap_err();
    assert_eq!(errors.errors()[0].kind(), ErrorKind::Io);
    assert_eq!(
        errors.to_string(),
        format!(
            "{}: does not exist; write one (`cairn config example` prints a start) or pass --config FILE",
            missing.display()
        )
    );
    let binary = write_config(dir.path(), "");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert_eq!(
        load(&binary, &Overrides::default())
            .unwrap_err()
            .to_string(),
        format!("{}: is not UTF-8 text; save it as UTF-8", binary.display())
    );
}
