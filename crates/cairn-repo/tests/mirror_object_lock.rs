//! The mirror under S3 Object Lock, against the S3 test server (moto) with a bucket created
//! with Object Lock: uploads carry retention, a later sync (its clock moved on, injected through
//! `SyncOptions::now`) extends what the repository still uses, a lost sidecar is rebuilt from
//! HEADs, grace deletions leave the locked versions behind a delete marker, and a plain bucket
//! is refused before anything is sent.

use std::sync::Arc;

use cairn_repo::backup::{backup, BackupOptions, NoObserver};
use cairn_repo::keys::KeyOptions;
use cairn_repo::mirror::retention::{RetentionDates, RETENTION_NAME};
use cairn_repo::mirror::{sync, LockPolicy, SyncOptions};
use cairn_repo::progress::{Operation, Progress};
use cairn_repo::Repository;
use cairn_storage::s3_test_server::{unique_prefix, S3TestServer};
use cairn_storage::{FileKind, LocalStore, PointInTimeStore, RetentionMode, Storage};
use chrono::{DateTime, TimeDelta, Utc};

const LOCKED: &str = "cairn-locked";

fn repository(dir: &std::path::Path) -> Repository {
    let options = KeyOptions {
        kdf: Some(cairn_crypto::KdfParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..KeyOptions::default()
    };
    Repository::init(Arc::new(LocalStore::new(dir)), b"pw", &options).unwrap()
}

fn back_up(repo: &Repository, source: &std::path::Path) {
    backup(
        repo,
        &[source.to_path_buf()],
        &BackupOptions::default(),
        &NoObserver,
    )
    .unwrap();
}

fn policy() -> LockPolicy {
    LockPolicy {
        mode: RetentionMode::Governance,
        days: 30,
    }
}

fn sync_at(
    repo: &Repository,
    dest: &Arc<dyn Storage>,
    now: DateTime<Utc>,
) -> cairn_repo::mirror::SyncSummary {
    let options = SyncOptions {
        now,
        object_lock: Some(policy()),
        delete_after: Some(std::time::Duration::ZERO),
        ..SyncOptions::default()
    };
    sync(repo, dest, &options, &Progress::new(Operation::Mirror)).unwrap()
}

/// Every mirrored object (but sidecars) with its retain-until date, read by HEAD.
fn retention_of_all(dest: &dyn Storage) -> Vec<(FileKind, String, DateTime<Utc>)> {
    let mut all = Vec::new();
    for kind in [
        FileKind::Config,
        FileKind::Key,
        FileKind::Pack,
        FileKind::Index,
        FileKind::Snapshot,
    ] {
        for object in dest.list(kind).unwrap() {
            let retention = dest
                .retention(kind, &object.name)
                .unwrap()
                .unwrap_or_else(|| panic!("{kind} {} has no retention", object.name));
            assert_eq!(retention.mode, RetentionMode::Governance);
            all.push((kind, object.name, retention.retain_until));
        }
    }
    all
}

fn near(actual: DateTime<Utc>, expected: DateTime<Utc>) -> bool {
    (actual - expected).num_seconds().abs() <= 5
}

#[test]
fn uploads_are_locked_and_used_objects_are_extended_when_half_the_period_is_gone() {
    let server = S3TestServer::start_with_locked(&[], &[LOCKED]);
    let dest: Arc<dyn Storage> = Arc::new(server.store_in(LOCKED, &unique_prefix("lock")));
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let source = dir.path().join("files");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("a.txt"), b"first\n").unwrap();
    back_up(&repo, &source);

    let start = Utc::now();
    let first = sync_at(&repo, &dest, start);
    assert!(first.uploaded_objects >= 5, "{first:?}");
    let locked = retention_of_all(dest.as_ref());
    assert_eq!(locked.len() as u64, first.uploaded_objects);
    for (kind, name, until) in &locked {
        assert!(
            near(*until, start + TimeDelta::days(30)),
            "{kind} {name}: {until}"
        );
    }
    let dates = RetentionDates::load(dest.as_ref()).unwrap();
    assert_eq!(dates.retain_until.len(), locked.len());

    // 10 days on: 20 left, more than half; nothing to extend, nothing read.
    let later = sync_at(&repo, &dest, start + TimeDelta::days(10));
    assert_eq!((later.retention_extended, later.retention_read), (0, 0));

    // A second backup, then 16 days on: 14 left, less than half. Every used object moves to
    // then + 30 days; the new ones are uploaded with it.
    std::fs::write(source.join("b.txt"), b"second\n").unwrap();
    back_up(&repo, &source);
    let then = start + TimeDelta::days(16);
    let extended = sync_at(&repo, &dest, then);
    assert_eq!(
        extended.retention_extended,
        locked.len() as u64,
        "{extended:?}"
    );
    assert_eq!(extended.retention_read, 0);
    let now_locked = retention_of_all(dest.as_ref());
    assert!(now_locked.len() > locked.len());
    for (kind, name, until) in &now_locked {
        assert!(
            near(*until, then + TimeDelta::days(30)),
            "{kind} {name}: {until}"
        );
    }

    // The sidecar lost: the dates are read back with one HEAD each, nothing is extended.
    dest.remove(FileKind::Sidecar, RETENTION_NAME).unwrap();
    let reread = sync_at(&repo, &dest, then + TimeDelta::days(1));
    assert_eq!(reread.retention_read, now_locked.len() as u64);
    assert_eq!(reread.retention_extended, 0);
}

#[test]
fn grace_deletions_leave_delete_markers_and_the_versions_stay() {
    let server = S3TestServer::start_with_locked(&[], &[LOCKED]);
    let dest: Arc<dyn Storage> = Arc::new(server.store_in(LOCKED, &unique_prefix("grace")));
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let source = dir.path().join("files");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("a.txt"), b"first\n").unwrap();
    back_up(&repo, &source);
    sync_at(&repo, &dest, Utc::now());
    let snapshots = dest.list(FileKind::Snapshot).unwrap();
    assert_eq!(snapshots.len(), 1);
    let before = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // The snapshot forgotten locally: the next sync deletes it at once (grace 0).
    repo.storage()
        .remove(FileKind::Snapshot, &snapshots[0].name)
        .unwrap();
    let summary = sync_at(&repo, &dest, Utc::now());
    assert_eq!(summary.deleted_objects, 1);
    assert!(dest.list(FileKind::Snapshot).unwrap().is_empty());
    let versions = dest.list_versions(FileKind::Snapshot).unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions.iter().filter(|v| v.is_delete_marker).count(), 1);

    // As it was before: the snapshot is there, readable.
    let past = PointInTimeStore::open(dest.clone(), before).unwrap();
    let listed = past.list(FileKind::Snapshot).unwrap();
    assert_eq!(listed.len(), 1);
    let bytes = past.get(FileKind::Snapshot, &listed[0].name).unwrap();
    assert_eq!(cairn_format::Id::hash(&bytes).to_string(), listed[0].name);
}

#[test]
fn a_bucket_without_object_lock_is_refused_before_anything_is_sent() {
    let server = S3TestServer::shared();
    let dest: Arc<dyn Storage> = Arc::new(server.store(&unique_prefix("plain")));
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let options = SyncOptions {
        object_lock: Some(policy()),
        ..SyncOptions::default()
    };
    let err = sync(&repo, &dest, &options, &Progress::new(Operation::Mirror)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("versioning is off")
            && message.contains("--object-lock-enabled-for-bucket"),
        "{message}"
    );
    assert!(dest.list(FileKind::Config).unwrap().is_empty());
}
