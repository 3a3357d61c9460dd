//! The behaviour every [`Storage`] must show, as one suite each store's tests run.
//!
//! Each check starts from an empty store (the caller passes a fresh one to `run_all`) and panics
//! with a message naming the broken rule. Objects are named by the SHA-256 of their bytes, as
//! in a repository, so stores that check names against content (a REST server) run it too.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::{ErrorKind, FileKind, Storage};

/// A 64-hex-digit name for test object `i` of a given run (for objects never written).
pub fn name(i: u64) -> String {
    format!("{i:064x}")
}

/// The name of an object holding `data`: its SHA-256, as repository files are named.
pub fn named(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a store does that not every store can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// A `put` of an existing name replaces the object. A REST server refuses that (its
    /// objects are immutable); the suite then checks the refusal instead.
    pub replaces_objects: bool,
    /// Holds cairn's sidecar files beside the repository.
    pub sidecars: bool,
}

impl Default for Capabilities {
    fn default() -> Capabilities {
        Capabilities {
            replaces_objects: true,
            sidecars: true,
        }
    }
}

/// Runs every check against an empty store.
pub fn run_all(store: &dyn Storage) {
    run_with(store, Capabilities::default());
}

/// Runs every check against an empty store that has `capabilities`.
pub fn run_with(store: &dyn Storage, capabilities: Capabilities) {
    creates_a_repository_once(store);
    round_trips_every_kind(store);
    reads_ranges(store);
    reports_missing_files_as_not_found(store);
    if capabilities.replaces_objects {
        overwrites_atomically(store);
    } else {
        refuses_to_replace_objects(store);
    }
    removes(store);
    lists_past_a_thousand_objects(store);
    takes_concurrent_writers(store);
    writes_pending_files(store);
    if capabilities.sidecars {
        keeps_sidecars_apart(store);
    }
    leaves_no_temporaries(store);
    store.sync().expect("sync after the suite");
}

pub fn creates_a_repository_once(store: &dyn Storage) {
    store.create().expect("create on an empty store");
    store
        .put(FileKind::Config, "config", b"config bytes")
        .expect("put config");
    assert_eq!(
        store.get(FileKind::Config, "ignored").expect("get config"),
        b"config bytes"
    );
    let err = store
        .create()
        .expect_err("create must refuse when a config exists");
    assert_eq!(
        err.kind,
        ErrorKind::AlreadyExists,
        "create on a repository: {err}"
    );
    let listed = store.list(FileKind::Config).expect("list config");
    assert_eq!(listed.len(), 1, "config listing");
    assert_eq!(listed[0].size, 12);
}

pub fn round_trips_every_kind(store: &dyn Storage) {
    for (i, kind) in [
        FileKind::Key,
        FileKind::Lock,
        FileKind::Snapshot,
        FileKind::Index,
        FileKind::Pack,
    ]
    .into_iter()
    .enumerate()
    {
        let data: Vec<u8> = (0..1000 + i * 7).map(|b| (b * 31 % 251) as u8).collect();
        let object = named(&data);
        store.put(kind, &object, &data).expect("put");
        assert_eq!(
            store.get(kind, &object).expect("get"),
            data,
            "{kind} round trip"
        );
        assert_eq!(
            store.size(kind, &object).expect("size"),
            data.len() as u64,
            "{kind} size"
        );
        let listed = store.list(kind).expect("list");
        assert!(
            listed
                .iter()
                .any(|o| o.name == object && o.size == data.len() as u64),
            "{kind} listing lacks the object just written: {listed:?}"
        );
        let other = [FileKind::Key, FileKind::Snapshot][(kind == FileKind::Key) as usize];
        assert!(
            !store
                .list(other)
                .expect("list")
                .iter()
                .any(|o| o.name == object),
            "{kind} object shows up in the {other} listing"
        );
    }
    let empty = named(b"");
    store
        .put(FileKind::Snapshot, &empty, b"")
        .expect("put empty");
    assert!(store
        .get(FileKind::Snapshot, &empty)
        .expect("get empty")
        .is_empty());
    store
        .remove(FileKind::Snapshot, &empty)
        .expect("remove empty");
}

pub fn reads_ranges(store: &dyn Storage) {
    let data: Vec<u8> = (0..10_000u32).map(|b| (b % 256) as u8).collect();
    let object = named(&data);
    store.put(FileKind::Pack, &object, &data).expect("put");
    for (offset, length) in [
        (0u64, 1u64),
        (0, 10_000),
        (9_999, 1),
        (1234, 4321),
        (5000, 0),
    ] {
        let got = store
            .get_range(FileKind::Pack, &object, offset, length)
            .expect("get_range");
        assert_eq!(
            got,
            &data[offset as usize..(offset + length) as usize],
            "range {offset}+{length}"
        );
    }
    let mut buffer = b"previous contents".to_vec();
    store
        .get_range_into(FileKind::Pack, &object, 100, 50, &mut buffer)
        .expect("get_range_into");
    assert_eq!(
        buffer,
        &data[100..150],
        "get_range_into replaces the buffer's contents"
    );
    let err = store
        .get_range(FileKind::Pack, &object, 9_990, 20)
        .expect_err("a range past the end must fail");
    assert_ne!(
        err.kind,
        ErrorKind::NotFound,
        "a short read is not a missing file: {err}"
    );
}

pub fn reports_missing_files_as_not_found(store: &dyn Storage) {
    let missing = name(0xdead);
    let errors = [
        store
            .get(FileKind::Index, &missing)
            .expect_err("get missing"),
        store
            .get_range(FileKind::Pack, &missing, 0, 1)
            .expect_err("get_range missing"),
        store
            .size(FileKind::Snapshot, &missing)
            .expect_err("size missing"),
        store
            .remove(FileKind::Lock, &missing)
            .expect_err("remove missing"),
    ];
    for err in errors {
        assert!(
            err.is_not_found(),
            "missing file must be NotFound, got {:?}: {err}",
            err.kind
        );
        assert!(!err.is_retryable());
    }
}

pub fn overwrites_atomically(store: &dyn Storage) {
    let object = name(0x4000);
    store.put(FileKind::Lock, &object, b"first").expect("put");
    store
        .put(FileKind::Lock, &object, b"second version")
        .expect("overwrite");
    assert_eq!(
        store.get(FileKind::Lock, &object).expect("get"),
        b"second version"
    );
    let count = store
        .list(FileKind::Lock)
        .expect("list")
        .iter()
        .filter(|o| o.name == object)
        .count();
    assert_eq!(count, 1, "an overwrite must leave one file");
    store.remove(FileKind::Lock, &object).expect("remove");
}

/// Stores whose objects are immutable refuse a different body under an existing name, keep
/// the first, and accept the same body again (a retried upload).
pub fn refuses_to_replace_objects(store: &dyn Storage) {
    let object = named(b"first");
    store.put(FileKind::Lock, &object, b"first").expect("put");
    let err = store
        .put(FileKind::Lock, &object, b"second version")
        .expect_err("a different body under an existing name must be refused");
    assert_eq!(
        err.kind,
        ErrorKind::PermissionDenied,
        "refused overwrite: {err}"
    );
    assert_eq!(store.get(FileKind::Lock, &object).expect("get"), b"first");
    store
        .put(FileKind::Lock, &object, b"first")
        .expect("the same object written again");
    store.remove(FileKind::Lock, &object).expect("remove");
}

pub fn removes(store: &dyn Storage) {
    let object = named(b"index");
    store.put(FileKind::Index, &object, b"index").expect("put");
    store.remove(FileKind::Index, &object).expect("remove");
    assert!(store
        .get(FileKind::Index, &object)
        .expect_err("get removed")
        .is_not_found());
    assert!(!store
        .list(FileKind::Index)
        .expect("list")
        .iter()
        .any(|o| o.name == object));
}

pub fn lists_past_a_thousand_objects(store: &dyn Storage) {
    let count = 1_100u64;
    let expected: BTreeSet<String> = (0..count)
        .map(|i| named(&(0x10_0000 + i).to_le_bytes()))
        .collect();
    for i in 0..count {
        let data = (0x10_0000 + i).to_le_bytes();
        store
            .put(FileKind::Snapshot, &named(&data), &data)
            .expect("put");
    }
    let listed: BTreeSet<String> = store
        .list(FileKind::Snapshot)
        .expect("list")
        .into_iter()
        .map(|o| o.name)
        .filter(|n| expected.contains(n))
        .collect();
    assert_eq!(listed, expected, "a listing of {count} objects");
}

pub fn takes_concurrent_writers(store: &dyn Storage) {
    std::thread::scope(|scope| {
        for writer in 0..8u64 {
            scope.spawn(move || {
                for i in 0..25u64 {
                    let data = (0x20_0000 + writer * 1000 + i).to_le_bytes();
                    store
                        .put(FileKind::Pack, &named(&data), &data)
                        .expect("concurrent put");
                }
            });
        }
    });
    let listed = store.list(FileKind::Pack).expect("list");
    for writer in 0..8u64 {
        for i in 0..25u64 {
            let object = named(&(0x20_0000 + writer * 1000 + i).to_le_bytes());
            assert!(
                listed.iter().any(|o| o.name == object && o.size == 8),
                "concurrent write {object} lost"
            );
        }
    }
}

/// Stores that offer pending files store them whole under their name on commit, and leave
/// nothing visible when one is dropped uncommitted.
pub fn writes_pending_files(store: &dyn Storage) {
    let Some(mut pending) = store
        .create_pending(FileKind::Pack)
        .expect("create_pending")
    else {
        return;
    };
    let object = named(b"first part, second part");
    let before = store.list(FileKind::Pack).expect("list").len();
    pending.write_all(b"first part, ").expect("write");
    pending.write_all(b"second part").expect("write");
    assert_eq!(
        store.list(FileKind::Pack).expect("list").len(),
        before,
        "a pending file is not listed"
    );
    pending.commit(&object).expect("commit");
    assert_eq!(
        store.get(FileKind::Pack, &object).expect("get committed"),
        b"first part, second part"
    );
    let mut abandoned = store
        .create_pending(FileKind::Pack)
        .expect("create_pending")
        .expect("still offered");
    abandoned.write_all(b"never committed").expect("write");
    drop(abandoned);
    let after: Vec<String> = store
        .list(FileKind::Pack)
        .expect("list")
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(
        after.len(),
        before + 1,
        "only the committed file is listed: {after:?}"
    );
}

/// Sidecar files (`cairn-…` beside the repository) round-trip and list apart from the
/// repository's own files; other kinds' listings never show them.
pub fn keeps_sidecars_apart(store: &dyn Storage) {
    store
        .put(FileKind::Sidecar, "cairn-manifest", b"manifest")
        .expect("put sidecar");
    assert_eq!(
        store
            .get(FileKind::Sidecar, "cairn-manifest")
            .expect("get sidecar"),
        b"manifest"
    );
    let listed: Vec<String> = store
        .list(FileKind::Sidecar)
        .expect("list sidecars")
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(listed, ["cairn-manifest"], "sidecars listed");
    for kind in FileKind::ALL {
        assert!(
            !store
                .list(kind)
                .expect("list")
                .iter()
                .any(|o| o.name.starts_with("cairn-")),
            "{kind} listing shows a sidecar"
        );
    }
    store
        .remove(FileKind::Sidecar, "cairn-manifest")
        .expect("remove sidecar");
}

/// Completed writes (and pending files committed or dropped) leave no temporary file behind,
/// so what `stale_temporaries` finds is only ever what a killed writer left; and
/// `remove_temporary` refuses a repository file.
pub fn leaves_no_temporaries(store: &dyn Storage) {
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let left = store.stale_temporaries(later).expect("stale_temporaries");
    assert!(left.is_empty(), "temporary files after the suite: {left:?}");
    let object = named(b"kept");
    store.put(FileKind::Pack, &object, b"kept").expect("put");
    let err = store
        .remove_temporary(&FileKind::Pack.path(&object))
        .expect_err("remove_temporary of a pack");
    assert!(
        matches!(err.kind, ErrorKind::Invalid | ErrorKind::NotFound),
        "remove_temporary of a pack: {err}"
    );
    assert_eq!(
        store.get(FileKind::Pack, &object).expect("still there"),
        b"kept"
    );
}
