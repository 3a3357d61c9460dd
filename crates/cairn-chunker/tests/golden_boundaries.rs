//! The golden test: cairn's chunks of the seeded test files, for one fixed polynomial, must be
//! the ones restic produced when `tests/data/golden_boundaries.json` was written (by the oracle
//! test, from restic's own blob ids). It needs no restic, so a regression fails everywhere.

mod support;

use cairn_chunker::{ChunkerTables, Polynomial};
use serde_json::Value;

use support::{assert_cut_kinds_covered, cairn_chunks, test_files};

const GOLDEN: &str = include_str!("data/golden_boundaries.json");

#[test]
fn chunks_match_golden_restic_chunks() {
    let golden: Value = serde_json::from_str(GOLDEN).expect("golden file is JSON");
    let polynomial: Polynomial = golden["polynomial"]
        .as_str()
        .expect("golden file names a polynomial")
        .parse()
        .expect("golden polynomial parses");
    let tables = ChunkerTables::new(polynomial);
    let golden_files = golden["files"]
        .as_object()
        .expect("golden file lists files");

    let files = test_files();
    assert_eq!(
        golden_files.len(),
        files.len(),
        "golden file lists other files"
    );
    let mut lengths_per_file = Vec::new();
    for (path, content) in &files {
        let expected: Vec<(usize, String)> = golden_files
            .get(*path)
            .unwrap_or_else(|| panic!("golden file lacks {path}"))
            .as_array()
            .expect("chunks are an array")
            .iter()
            .map(|chunk| {
                let length = chunk[0].as_u64().expect("chunk length") as usize;
                let id = chunk[1].as_str().expect("chunk id").to_owned();
                (length, id)
            })
            .collect();
        let actual = cairn_chunks(&tables, content);
        assert_eq!(
            actual, expected,
            "chunks of {path} with polynomial {polynomial}"
        );
        lengths_per_file.push(expected.iter().map(|(length, _)| *length).collect());
    }
    assert_cut_kinds_covered(&lengths_per_file);
}
