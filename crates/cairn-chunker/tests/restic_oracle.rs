//! The oracle: the real `restic` binary (Debian's 0.14) backs up seeded files into a fresh v2
//! repository, and the data blob ids it records for each file must be the SHA-256 of cairn's
//! chunks of that file, in order. restic picks a random polynomial at `init`, so every run checks
//! another one. The test fails, never skips, when restic is missing.
//!
//! `CAIRN_CHUNKER_WRITE_GOLDEN=1 cargo test -p cairn-chunker --test restic_oracle` also rewrites
//! `tests/data/golden_boundaries.json` from restic's answers, for the golden test.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_chunker::{ChunkerTables, Polynomial};
use serde_json::Value;

use support::{assert_cut_kinds_covered, cairn_chunks, test_files};

const PASSWORD: &str = "cairn-chunker-oracle";

/// The restic command line, confined to one temporary repository.
struct Restic {
    work_directory: PathBuf,
}

impl Restic {
    fn run(&self, arguments: &[&str]) -> Vec<u8> {
        // A clean environment, so a developer's RESTIC_* settings cannot change the result.
        let output = Command::new("restic")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.work_directory)
            .env("RESTIC_PASSWORD", PASSWORD)
            .env("RESTIC_REPOSITORY", self.work_directory.join("repository"))
            .current_dir(&self.work_directory)
            .arg("--no-cache")
            .args(arguments)
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run restic ({error}); install it: apt-get install -y restic")
            });
        assert!(
            output.status.success(),
            "restic {arguments:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn run_json(&self, arguments: &[&str]) -> Value {
        let stdout = self.run(arguments);
        serde_json::from_slice(&stdout).unwrap_or_else(|error| {
            panic!(
                "restic {arguments:?} printed invalid JSON ({error}): {}",
                String::from_utf8_lossy(&stdout)
            )
        })
    }

    /// Walks a tree blob and its subtrees, recording each file's content blob ids by path.
    fn collect_files(&self, tree: &str, prefix: &str, files: &mut BTreeMap<String, Vec<String>>) {
        let tree_json = self.run_json(&["cat", "blob", tree]);
        let nodes = tree_json["nodes"].as_array().expect("tree has nodes");
        for node in nodes {
            let name = node["name"].as_str().expect("node has a name");
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            match node["type"].as_str() {
                Some("dir") => {
                    let subtree = node["subtree"].as_str().expect("dir has a subtree");
                    self.collect_files(subtree, &path, files);
                }
                Some("file") => {
                    let ids = match &node["content"] {
                        Value::Null => Vec::new(),
                        content => content
                            .as_array()
                            .expect("content is an array")
                            .iter()
                            .map(|id| id.as_str().expect("blob id is a string").to_owned())
                            .collect(),
                    };
                    files.insert(path, ids);
                }
                other => panic!("unexpected node type {other:?} at {path}"),
            }
        }
    }
}

#[test]
fn data_blobs_match_restic() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let restic = Restic {
        work_directory: temporary.path().to_owned(),
    };
    let files = test_files();
    for (path, content) in &files {
        let full_path = temporary.path().join("data").join(path);
        std::fs::create_dir_all(full_path.parent().expect("file has a parent"))
            .expect("create directory");
        std::fs::write(&full_path, content).expect("write test file");
    }

    restic.run(&["init", "--repository-version", "2"]);
    let config = restic.run_json(&["cat", "config"]);
    let polynomial: Polynomial = config["chunker_polynomial"]
        .as_str()
        .expect("config has chunker_polynomial")
        .parse()
        .expect("restic's polynomial parses");
    assert!(polynomial.is_irreducible() && polynomial.degree() == 53);
    // Relative to the work directory, so the snapshot's root tree holds just "data".
    restic.run(&["backup", "data"]);
    let snapshots = restic.run_json(&["snapshots", "--json"]);
    let tree = snapshots[0]["tree"].as_str().expect("snapshot has a tree");
    let mut restic_files = BTreeMap::new();
    restic.collect_files(tree, "", &mut restic_files);

    let tables = ChunkerTables::new(polynomial);
    let mut golden = BTreeMap::new();
    for (path, content) in &files {
        let restic_ids = restic_files
            .remove(&format!("data/{path}"))
            .unwrap_or_else(|| panic!("restic's snapshot lacks data/{path}"));
        let chunks = cairn_chunks(&tables, content);
        let cairn_ids: Vec<&str> = chunks.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(
            cairn_ids,
            restic_ids,
            "chunks of {path} differ from restic's with polynomial {polynomial}; \
             cairn's lengths: {:?}",
            chunks.iter().map(|(length, _)| length).collect::<Vec<_>>()
        );
        golden.insert(*path, chunks);
    }
    assert!(
        restic_files.is_empty(),
        "restic saw unexpected files: {restic_files:?}"
    );
    let lengths: Vec<Vec<usize>> = golden
        .values()
        .map(|chunks| chunks.iter().map(|(length, _)| *length).collect())
        .collect();
    assert_cut_kinds_covered(&lengths);

    if std::env::var_os("CAIRN_CHUNKER_WRITE_GOLDEN").is_some() {
        write_golden(polynomial, &golden);
    }
}

/// Writes the golden file: one chunk per line, so a diff shows which boundary moved.
fn write_golden(polynomial: Polynomial, files: &BTreeMap<&str, Vec<(usize, String)>>) {
    let mut text = String::new();
    writeln!(text, "{{").unwrap();
    writeln!(
        text,
        "  \"comment\": \"Written by tests/restic_oracle.rs with CAIRN_CHUNKER_WRITE_GOLDEN=1: chunk lengths and the data blob ids restic 0.14 gave the files of tests/support for this polynomial.\","
    )
    .unwrap();
    writeln!(text, "  \"polynomial\": \"{polynomial}\",").unwrap();
    writeln!(text, "  \"files\": {{").unwrap();
    for (file_index, (path, chunks)) in files.iter().enumerate() {
        writeln!(text, "    \"{path}\": [").unwrap();
        for (chunk_index, (length, id)) in chunks.iter().enumerate() {
            let comma = if chunk_index + 1 < chunks.len() {
                ","
            } else {
                ""
            };
            writeln!(text, "      [{length}, \"{id}\"]{comma}").unwrap();
        }
        let comma = if file_index + 1 < files.len() {
            ","
        } else {
            ""
        };
        writeln!(text, "    ]{comma}").unwrap();
    }
    writeln!(text, "  }}").unwrap();
    writeln!(text, "}}").unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden_boundaries.json");
    std::fs::write(&path, text).expect("write golden file");
}
