//! Every config under `examples/` and the built-in example parse into the model.

use std::path::PathBuf;

use cairn_config::{check_referenced_files, Config, SourceText, EXAMPLE};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn every_example_file_parses() {
    let mut parsed = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let config = Config::parse(SourceText::new(&path, text))
                .unwrap_or_else(|errors| panic!("{}", errors.errors()[0]));
            assert!(!config.plans.is_empty(), "{} has no plan", path.display());
            parsed.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    parsed.sort();
    assert_eq!(
        parsed,
        [
            "databases.toml",
            "hooks.toml",
            "minimal-local.toml",
            "offsite-object-lock.toml",
            "rest-endpoint.toml",
            "s3-offsite.toml",
            "server-backup.toml"
        ]
    );
}

#[test]
fn the_built_in_example_validates_on_any_machine() {
    let config = Config::parse(SourceText::new("/example.toml", EXAMPLE)).unwrap();
    assert_eq!(check_referenced_files(&config), Vec::new());
}
