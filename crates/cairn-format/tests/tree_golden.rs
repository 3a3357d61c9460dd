//! Tree blobs restic 0.14 wrote (`tests/data/tree/`, see its README) decode and re-encode to the
//! same bytes, whose SHA-256 is the id in the file name. Needs no restic.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_format::tree::{decode_tree, encode_tree, go_mode, GoTime, Node, NodeType};
use cairn_format::Id;

fn fixture_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tree")
}

/// Every `<id>.json` directly under `directory`, with its id checked against its bytes.
fn fixtures(directory: &Path) -> Vec<(Id, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(directory).expect("fixture directory") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|extension| extension.to_str()) != Some("json") {
            continue;
        }
        let id: Id = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("UTF-8 file name")
            .parse()
            .expect("fixture named by its id");
        let bytes = fs::read(&path).expect("read fixture");
        assert_eq!(Id::hash(&bytes), id, "fixture {} is intact", path.display());
        found.push((id, bytes));
    }
    found
}

fn tree(id_prefix: &str) -> Vec<Node> {
    let (_, bytes) = fixtures(&fixture_directory())
        .into_iter()
        .find(|(id, _)| id.to_hex().starts_with(id_prefix))
        .expect("fixture present");
    decode_tree(&bytes).expect("decode fixture")
}

fn node<'a>(nodes: &'a [Node], name: &[u8]) -> &'a Node {
    nodes
        .iter()
        .find(|node| node.name == name)
        .unwrap_or_else(|| panic!("no node {:?}", String::from_utf8_lossy(name)))
}

#[test]
fn restic_trees_re_encode_to_their_own_id() {
    let found = fixtures(&fixture_directory());
    assert!(found.len() >= 4, "fixtures missing");
    for (id, bytes) in found {
        let nodes = decode_tree(&bytes).unwrap_or_else(|error| panic!("{id}: {error}"));
        let again = encode_tree(&nodes);
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&bytes),
            "tree {id}"
        );
        assert_eq!(Id::hash(&again), id);
    }
}

#[test]
fn quoted_names_decode_to_raw_bytes() {
    let nodes = tree("1014b7d6");
    for name in [
        b"bad\xff".as_slice(),
        b"bad\xc3",
        b"\xc3\xa9 then \xe2\x82 cut",
        b"a<b>c&d\"e\\f",
        b"new\nline",
        b"\x01ctl\x1besc\x07bel",
        b"del\x7f",
        "melting \u{1fae0}".as_bytes(),
        "ls\u{2028}ps\u{2029}".as_bytes(),
        "nel\u{85} soft\u{ad} bom\u{feff}".as_bytes(),
    ] {
        node(&nodes, name);
    }
    let names: Vec<&[u8]> = nodes.iter().map(|node| node.name.as_slice()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "restic sorts by raw name bytes");
}

#[test]
fn node_fields_decode_to_restic_values() {
    let nodes = tree("1014b7d6");
    let empty = node(&nodes, b"empty");
    assert_eq!(empty.content, Some(Vec::new()));
    assert_eq!(empty.size, 0);
    let large = node(&nodes, b"large");
    assert!(large.content.as_ref().expect("content").len() >= 2);
    let fifo = node(&nodes, b"fifo");
    assert_eq!(fifo.node_type, NodeType::Fifo);
    assert_eq!(fifo.mode, go_mode::NAMED_PIPE | 0o644);
    assert_eq!(fifo.content, None);
    assert_eq!(node(&nodes, b"setuid").mode, go_mode::SETUID | 0o755);
    assert_eq!(node(&nodes, b"private").mode, 0o600);
    let sticky = node(&nodes, b"sticky");
    assert_eq!(sticky.mode, go_mode::DIR | go_mode::STICKY | 0o777);
    assert!(sticky.subtree.is_some());
    assert_eq!(
        node(&nodes, b"setgid").mode,
        go_mode::DIR | go_mode::SETGID | 0o750
    );
    let stranger = node(&nodes, b"nobody-owns");
    assert_eq!((stranger.uid, stranger.gid), (12_345, 54_321));
    assert_eq!((stranger.user.as_str(), stranger.group.as_str()), ("", ""));
    assert_eq!(node(&nodes, b"hardlink-a").links, 2);
    let link = node(&nodes, b"link-controls");
    assert_eq!(
        link.link_target,
        "ctl\u{8}\u{c}\n\t\r\u{1}\u{1f}\u{7f} \u{2028}\u{2029} \"q\" \\ <&> \u{a0}\u{1fae0}"
            .as_bytes()
    );
    let attributes = &node(&nodes, b"xattrs").extended_attributes;
    assert_eq!(attributes.len(), 2);
    assert_eq!(attributes[0].name, "user.cairn");
    assert_eq!(attributes[0].value, b"value\x00\xff<&>");
    assert_eq!(attributes[1].name, "user.empty");
    assert!(attributes[1].value.is_empty());
}

#[test]
fn times_keep_the_offset_restic_printed() {
    let nodes = tree("e624673c");
    let summer = node(&nodes, b"summer").mtime;
    assert_eq!(summer.utc_offset_secs, 3600);
    assert_eq!(
        (summer.unix_secs, summer.nanos),
        (1_625_000_000, 120_000_000)
    );
    let winter = node(&nodes, b"winter").mtime;
    assert_eq!(winter.utc_offset_secs, 0);
    assert_eq!(winter.to_rfc3339_nano(), "2021-01-07T06:13:20.123456789Z");
    // Local mean time -00:36:45 is printed as -00:36 with the wall clock of -00:36:45, so the
    // decoded instant is 45 s early; printed again it gives the same text.
    let mean_time = node(&nodes, b"local-mean-time-1905").mtime;
    assert_eq!(mean_time.utc_offset_secs, -36 * 60);
    assert_eq!(mean_time.unix_secs, -2_038_132_800 - 45);
    assert_eq!(
        mean_time.to_rfc3339_nano(),
        "1905-06-01T11:23:15.987654321-00:36"
    );
    let before_epoch = node(&nodes, b"before-epoch").mtime;
    assert_eq!(
        (before_epoch.unix_secs, before_epoch.nanos),
        (-300_000_000, 1)
    );
    let whole = node(&nodes, b"whole-second");
    assert_eq!(whole.mtime, whole.atime, "restic sets atime = mtime");
    assert_eq!(whole.mtime.nanos, 0);
    assert_ne!(whole.ctime, GoTime::GO_ZERO);
}

#[test]
fn an_empty_directory_is_an_empty_node_list() {
    let bytes = b"{\"nodes\":[]}\n";
    let id = Id::hash(bytes);
    assert_eq!(
        id.to_hex(),
        "ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8"
    );
    assert!(decode_tree(bytes).unwrap().is_empty());
    assert_eq!(encode_tree(&[]), bytes);
}

#[test]
fn a_target_restic_0_14_lost_does_not_re_encode_byte_for_byte() {
    let found = fixtures(&fixture_directory().join("lossy"));
    assert_eq!(found.len(), 1);
    let (id, bytes) = &found[0];
    let nodes = decode_tree(bytes).expect("decode");
    assert_eq!(
        nodes[0].link_target,
        "t\u{fffd}x\u{fffd}\u{fffd}".as_bytes(),
        "one U+FFFD per invalid byte of t \\xff x \\xe2 \\x82"
    );
    let again = encode_tree(&nodes);
    assert_ne!(Id::hash(&again), *id);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let expected = text.replace(r"\ufffd", "\u{fffd}");
    assert_eq!(String::from_utf8(again).unwrap(), expected);
}
