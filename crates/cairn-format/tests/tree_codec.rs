//! The tree codec on its own: decoding tolerates what Go's decoder tolerates, errors name the
//! node and field, untrusted bytes never panic, and any node survives encode then decode.

use cairn_format::tree::{
    decode_tree, encode_tree, sort_nodes, ExtendedAttribute, GoTime, Node, NodeField, NodeType,
    TreeError, UnknownNodeField,
};
use cairn_format::Id;
use proptest::prelude::*;

const ZERO_TIMES: &str = r#""mtime":"0001-01-01T00:00:00Z","atime":"0001-01-01T00:00:00Z","ctime":"0001-01-01T00:00:00Z""#;

fn decode_one(node_json: &str) -> Node {
    let nodes = decode_tree(format!(r#"{{"nodes":[{node_json}]}}"#).as_bytes())
        .unwrap_or_else(|error| panic!("{node_json}: {error}"));
    assert_eq!(nodes.len(), 1);
    nodes.into_iter().next().unwrap()
}

#[test]
fn whitespace_key_order_and_unknown_keys_are_tolerated() {
    let text = format!(
        " {{ \"future\" : {{\"a\":[1,2,{{}}]}},\r\n\t\"nodes\" : [ {{ \"uid\" : 7 , \"name\" : \"x\" , {ZERO_TIMES}, \"type\":\"file\", \"gid\":8, \"generic_attributes\":{{}}, \"content\":[] }} ] }} \n\n"
    );
    let nodes = decode_tree(text.as_bytes()).unwrap();
    let mut expected = Node::new(b"x".to_vec(), NodeType::File);
    expected.uid = 7;
    expected.gid = 8;
    expected.content = Some(Vec::new());
    // The tree's own unknown key is ignored, as restic ignores it; the node's is kept.
    expected.unknown_fields =
        vec![UnknownNodeField::new(Some(NodeField::Gid), "generic_attributes", "{}").unwrap()];
    assert_eq!(nodes, vec![expected]);
}

/// A node as restic 0.17 writes it on Windows: `generic_attributes` (which cairn does not
/// know) between `extended_attributes` and `device`, in restic's struct order.
const RESTIC_0_17_NODE: &str = concat!(
    r#"{"name":"report.docx","type":"file","mode":438,"#,
    r#""mtime":"2024-05-01T10:00:00.1234567+02:00","atime":"2024-05-01T10:00:00.1234567+02:00","#,
    r#""ctime":"2024-05-01T10:00:00.1234567+02:00","uid":0,"gid":0,"size":5,"links":1,"#,
    r#""generic_attributes":{"windows.creation_time":"AIBhD9mg2gE=","windows.file_attributes":"IAAAAA=="},"#,
    r#""content":["5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"]}"#
);

#[test]
fn a_newer_restic_node_re_encodes_to_the_same_bytes_with_its_unknown_fields() {
    let tree = format!("{{\"nodes\":[{RESTIC_0_17_NODE}]}}\n");
    let nodes = decode_tree(tree.as_bytes()).unwrap();
    assert_eq!(
        nodes[0].unknown_fields,
        vec![UnknownNodeField::new(
            Some(NodeField::Links),
            "generic_attributes",
            r#"{"windows.creation_time":"AIBhD9mg2gE=","windows.file_attributes":"IAAAAA=="}"#
        )
        .unwrap()]
    );
    assert_eq!(String::from_utf8(encode_tree(&nodes)).unwrap(), tree);
}

#[test]
fn unknown_fields_keep_their_place_when_known_fields_change() {
    // A field before `name`, one after an omitted field, one after `error`, one seen twice.
    let node = decode_one(concat!(
        r#"{"first":1,"name":"f","type":"file","x_after_type":[1, 2],"#,
        r#""mtime":"2024-01-01T00:00:00Z","atime":"2024-01-01T00:00:00Z","ctime":"2024-01-01T00:00:00Z","#,
        r#""uid":0,"gid":0,"content":null,"error":"e","last":"\u003c","first":2}"#
    ));
    let names: Vec<(Option<NodeField>, &str, &str)> = node
        .unknown_fields
        .iter()
        .map(|field| (field.after, field.name.as_str(), field.value.get()))
        .collect();
    assert_eq!(
        names,
        vec![
            (None, "first", "2"),
            (Some(NodeField::Type), "x_after_type", "[1, 2]"),
            (Some(NodeField::Error), "last", r#""\u003c""#),
        ]
    );
    // As `repair snapshots` changes a damaged file: size, content, error.
    let mut repaired = node.clone();
    repaired.mode = 0o644;
    repaired.size = 0;
    repaired.content = Some(Vec::new());
    repaired.error = String::new();
    let text = String::from_utf8(encode_tree(&[repaired])).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"nodes":[{"first":2,"name":"f","type":"file","x_after_type":[1, 2],"mode":420,"#,
            r#""mtime":"2024-01-01T00:00:00Z","atime":"2024-01-01T00:00:00Z","ctime":"2024-01-01T00:00:00Z","#,
            r#""uid":0,"gid":0,"content":[],"last":"\u003c"}]}"#,
            "\n"
        )
    );
}

#[test]
fn keys_match_case_insensitively_as_in_go() {
    let node = decode_one(
        r#"{"NAME":"x","Type":"dir","UID":3,"Device_ID":4,"lin\u212atarget":"t","Link\u017f":2}"#,
    );
    assert_eq!(node.name, b"x");
    assert_eq!(node.node_type, NodeType::Dir);
    assert_eq!((node.uid, node.device_id, node.links), (3, 4, 2));
    assert_eq!(node.link_target, b"t");
    let nodes = decode_tree(br#"{"NODES":[{"name":"a"}]}"#).unwrap();
    assert_eq!(nodes.len(), 1);
}

#[test]
fn null_means_what_it_means_in_go() {
    // Strings, numbers and times keep their value; lists and ids become absent.
    let node = decode_one(
        r#"{"name":"x","type":"file","uid":5,"uid":null,"user":"u","user":null,
            "mtime":null,"content":["00000000000000000000000000000000000000000000000000000000000000aa"],
            "content":null,"subtree":null,"extended_attributes":[null,{"name":"n","value":null}]}"#,
    );
    assert_eq!(node.uid, 5);
    assert_eq!(node.user, "u");
    assert_eq!(node.mtime, GoTime::GO_ZERO);
    assert_eq!(node.content, None);
    assert_eq!(node.subtree, None);
    assert_eq!(
        node.extended_attributes,
        vec![
            ExtendedAttribute {
                name: String::new(),
                value: Vec::new()
            },
            ExtendedAttribute {
                name: "n".into(),
                value: Vec::new()
            },
        ]
    );
    assert!(decode_tree(b"null").unwrap().is_empty());
    assert!(decode_tree(br#"{"nodes":null}"#).unwrap().is_empty());
    assert!(decode_tree(b"{}").unwrap().is_empty());
}

#[test]
fn duplicate_keys_take_the_last_value() {
    let node = decode_one(r#"{"name":"a","name":"b","size":1,"size":2}"#);
    assert_eq!((node.name.as_slice(), node.size), (b"b".as_slice(), 2));
}

#[test]
fn linktarget_raw_wins_over_linktarget() {
    let node = decode_one(r#"{"name":"l","linktarget":"t\ufffdx","linktarget_raw":"dP94"}"#);
    assert_eq!(node.link_target, b"t\xffx");
    let node = decode_one(r#"{"name":"l","linktarget_raw":"dP94","linktarget":"later"}"#);
    assert_eq!(
        node.link_target, b"t\xffx",
        "Go applies the raw form after decoding"
    );
    let node = decode_one(r#"{"name":"l","linktarget":"kept","linktarget_raw":null}"#);
    assert_eq!(node.link_target, b"kept");
    // Go also reads a []byte from an array of numbers.
    let node = decode_one(r#"{"name":"l","linktarget_raw":[116,255,120]}"#);
    assert_eq!(node.link_target, b"t\xffx");
    let node = decode_one(r#"{"name":"l","linktarget":"lost","linktarget_raw":[]}"#);
    assert_eq!(
        node.link_target, b"",
        "an empty raw target still wins, as in Go"
    );
}

#[test]
fn names_are_unquoted_after_json_decoding() {
    // JSON `\\xff` is the text `\xff`, which strconv.Unquote turns into the byte 0xff.
    let node = decode_one(r#"{"name":"a\\xff\\377\\u00e9\\U0001F980\u003c\\\"\\\\"}"#);
    assert_eq!(node.name, b"a\xff\xff\xc3\xa9\xf0\x9f\xa6\x80<\"\\");
}

fn node_error(text: &str) -> (usize, &'static str, String) {
    match decode_tree(text.as_bytes()) {
        Err(TreeError::Node {
            index,
            field,
            reason,
        }) => (index, field, reason),
        other => panic!("{text}: expected a node error, got {other:?}"),
    }
}

#[test]
fn errors_name_the_node_and_the_field() {
    let ok = r#"{"name":"a"}"#;
    let cases = [
        (r#"{"name":"b","mtime":"yesterday"}"#, "mtime"),
        (r#"{"name":"b","ctime":"2020-02-30T00:00:00Z"}"#, "ctime"),
        (r#"{"name":"b\"c"}"#, "name"),
        (r#"{"name":"new\nline"}"#, "name"),
        (r#"{"name":"\\q"}"#, "name"),
        (r#"{"name":"b","uid":-1}"#, "uid"),
        (r#"{"name":"b","gid":4294967296}"#, "gid"),
        (r#"{"name":"b","size":1.5}"#, "size"),
        (r#"{"name":"b","inode":"1"}"#, "inode"),
        (r#"{"name":"b","mode":true}"#, "mode"),
        (r#"{"name":"b","content":[null]}"#, "content"),
        (r#"{"name":"b","content":["abc"]}"#, "content"),
        (r#"{"name":"b","subtree":"zz"}"#, "subtree"),
        (r#"{"name":"b","linktarget_raw":"!"}"#, "linktarget_raw"),
        (r#"{"name":"b","linktarget_raw":[256]}"#, "linktarget_raw"),
        (
            r#"{"name":"b","extended_attributes":[{"value":"YQ"}]}"#,
            "extended_attributes",
        ),
        (r#"{"name":"b","type":3}"#, "type"),
    ];
    for (second, field) in cases {
        let text = format!(r#"{{"nodes":[{ok},{second}]}}"#);
        let (index, found_field, reason) = node_error(&text);
        assert_eq!((index, found_field), (1, field), "{second}: {reason}");
        let message = decode_tree(text.as_bytes()).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("tree blob node 1: field `{field}`: ")),
            "{message}"
        );
    }
}

#[test]
fn structural_errors_are_reported() {
    assert!(matches!(
        decode_tree(br#"{"nodes":[{"name":"a"},null]}"#),
        Err(TreeError::NullNode { index: 1 })
    ));
    for bad in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"nodes\":{}}",
        b"{\"nodes\":[1]}",
        b"{\"nodes\":[]} trailing",
        b"{\"nodes\":[{\"name\":\"\xff\"}]}",
        br#"{"nodes":[{"name":"\ud800"}]}"#,
    ] {
        let result = decode_tree(bad);
        assert!(
            result.is_err(),
            "{:?} decoded",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn sort_nodes_orders_by_raw_bytes() {
    let mut nodes: Vec<Node> = [&b"b"[..], b"\xff", b"B", b"a\x00", b"a", "é".as_bytes()]
        .iter()
        .map(|name| Node::new(name.to_vec(), NodeType::File))
        .collect();
    sort_nodes(&mut nodes);
    let names: Vec<&[u8]> = nodes.iter().map(|node| node.name.as_slice()).collect();
    assert_eq!(
        names,
        [&b"B"[..], b"a", b"a\x00", b"b", "é".as_bytes(), b"\xff"]
    );
}

// ---- property tests ----

fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        any::<String>().prop_map(String::into_bytes),
        proptest::collection::vec(
            prop_oneof![
                Just("<".to_string()),
                Just("\\".to_string()),
                Just("\"".to_string()),
                Just("\u{2028}".to_string()),
                Just("\u{a0}".to_string()),
                Just("\n".to_string()),
                Just("\u{7f}".to_string()),
                Just("\u{1fae0}".to_string()),
                "[a-z]{1,3}",
            ],
            0..8
        )
        .prop_map(|pieces| pieces.concat().into_bytes()),
    ]
}

/// A time whose wall-clock year is within 0..=9999 (so restic's FixTime leaves it alone) and
/// whose offset is whole minutes (so its text gives it back exactly).
fn time_strategy() -> impl Strategy<Value = GoTime> {
    const YEAR_0: i64 = -62_167_219_200;
    const YEAR_10000: i64 = 253_402_300_800;
    (
        YEAR_0..YEAR_10000,
        prop_oneof![Just(0u32), 0..1_000_000_000u32],
        prop_oneof![Just(0i32), -(99 * 60 + 59)..=(99 * 60 + 59)],
    )
        .prop_map(|(local_secs, nanos, offset_minutes)| GoTime {
            unix_secs: local_secs - i64::from(offset_minutes) * 60,
            nanos,
            utc_offset_secs: offset_minutes * 60,
        })
}

fn node_type_strategy() -> impl Strategy<Value = NodeType> {
    prop_oneof![
        Just(NodeType::File),
        Just(NodeType::Dir),
        Just(NodeType::Symlink),
        Just(NodeType::Dev),
        Just(NodeType::CharDev),
        Just(NodeType::Fifo),
        Just(NodeType::Socket),
        any::<String>()
            .prop_filter("not a known type", |text| {
                matches!(NodeType::parse(text), NodeType::Other(_))
            })
            .prop_map(NodeType::Other),
    ]
}

fn id_strategy() -> impl Strategy<Value = Id> {
    any::<[u8; 32]>().prop_map(Id)
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let identity = (
        bytes_strategy(),
        node_type_strategy(),
        any::<u32>(),
        time_strategy(),
        time_strategy(),
        time_strategy(),
    );
    let owner = (
        any::<u32>(),
        any::<u32>(),
        any::<String>(),
        any::<String>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    );
    let rest = (
        bytes_strategy(),
        proptest::collection::vec(
            (
                any::<String>(),
                proptest::collection::vec(any::<u8>(), 0..12),
            )
                .prop_map(|(name, value)| ExtendedAttribute { name, value }),
            0..3,
        ),
        any::<u64>(),
        proptest::option::of(proptest::collection::vec(id_strategy(), 0..4)),
        proptest::option::of(id_strategy()),
        any::<String>(),
        unknown_node_fields_strategy(),
    );
    (identity, owner, rest).prop_map(
        |(
            (name, node_type, mode, mtime, atime, ctime),
            (uid, gid, user, group, inode, device_id, size, links),
            (link_target, extended_attributes, device, content, subtree, error, unknown_fields),
        )| Node {
            name,
            node_type,
            mode,
            mtime,
            atime,
            ctime,
            uid,
            gid,
            user,
            group,
            inode,
            device_id,
            size,
            links,
            link_target,
            extended_attributes,
            device,
            content,
            subtree,
            error,
            unknown_fields,
        },
    )
}

/// Unknown fields placed after fields the encoder always writes (so that decoding finds them
/// at the same place), in the order the encoder writes them.
fn unknown_node_fields_strategy() -> impl Strategy<Value = Vec<UnknownNodeField>> {
    let anchor = prop_oneof![
        Just(None),
        Just(Some(NodeField::Name)),
        Just(Some(NodeField::Type)),
        Just(Some(NodeField::Ctime)),
        Just(Some(NodeField::Gid)),
        Just(Some(NodeField::Content)),
    ];
    proptest::collection::btree_map("x_[a-z_]{0,8}", (anchor, json_value_strategy()), 0..3)
        .prop_map(|fields| {
            let slot = |after: Option<NodeField>| {
                after.map_or(0, |field| {
                    1 + NodeField::ALL.iter().position(|f| *f == field).unwrap()
                })
            };
            let mut fields: Vec<UnknownNodeField> = fields
                .into_iter()
                .map(|(name, (after, value))| {
                    UnknownNodeField::new(after, &name, &value.to_string()).unwrap()
                })
                .collect();
            fields.sort_by_key(|field| slot(field.after));
            fields
        })
}

/// JSON text shaped roughly like a tree, with field names, types and values mixed up.
fn json_value_strategy() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        Just(Value::String("2020-01-02T03:04:05.5+01:00".into())),
        Just(Value::String("\\xff\\u00e9\\377".into())),
        Just(Value::String("dP94".into())),
        Just(Value::String("ab".repeat(32))),
    ];
    let keys = prop_oneof![
        Just("nodes".to_string()),
        Just("name".to_string()),
        Just("type".to_string()),
        Just("mode".to_string()),
        Just("mtime".to_string()),
        Just("uid".to_string()),
        Just("size".to_string()),
        Just("linktarget".to_string()),
        Just("linktarget_raw".to_string()),
        Just("extended_attributes".to_string()),
        Just("value".to_string()),
        Just("content".to_string()),
        Just("subtree".to_string()),
        Just("NoDeS".to_string()),
        "[a-z_]{0,6}",
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_tree(&bytes);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_json(value in json_value_strategy()) {
        let _ = decode_tree(value.to_string().as_bytes());
        let wrapped = serde_json::json!({ "nodes": [value] });
        let _ = decode_tree(wrapped.to_string().as_bytes());
    }

    #[test]
    fn decode_never_panics_on_damaged_trees(
        node in node_strategy(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        action in 0..3u8,
    ) {
        let mut bytes = encode_tree(std::slice::from_ref(&node));
        let at = position.index(bytes.len());
        match action {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ => { bytes.remove(at); }
        }
        let _ = decode_tree(&bytes);
    }

    #[test]
    fn any_nodes_survive_encode_then_decode(mut nodes in proptest::collection::vec(node_strategy(), 0..6)) {
        sort_nodes(&mut nodes);
        nodes.dedup_by(|left, right| left.name == right.name);
        let bytes = encode_tree(&nodes);
        prop_assert!(bytes.ends_with(b"]}\n"), "framing ends the blob");
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("the encoding is JSON");
        let decoded = decode_tree(&bytes).expect("decode what we encoded");
        prop_assert_eq!(&decoded, &nodes);
        prop_assert_eq!(encode_tree(&decoded), bytes);
    }
}
