//! Repository locks, as restic takes them.
//!
//! A lock is an encrypted JSON file in `locks/`. Backups take a shared lock; check and prune
//! take an exclusive one. A lock is stale when it is older than 30 minutes (holders refresh
//! theirs every 5 minutes) or when it was taken on this host by a process that no longer
//! exists; stale locks never block anyone.
//!
//! Taking a lock: look for conflicting locks, write ours, then look again, because another
//! process may have written its lock between our look and our write; on a conflict the second
//! time, ours is removed and the call fails. A held lock is removed when its guard drops, and
//! [`release_held_locks`] removes every lock of this process from a signal handler, so no exit
//! path leaves one behind.
//!
//! Holding a lock: a refresher thread writes a fresh lock file every
//! [`LockTimings::refresh_every`] (then removes the old one, so there is never none). A lock
//! that cannot be refreshed for [`LockTimings::lost_after`], or whose file someone else
//! removed, is lost: [`health`] records it and [`guarded_store`] makes every later write of
//! the operation fail, before anyone could treat the lock as stale and prune under it.

pub(crate) mod guarded_store;
pub(crate) mod health;
pub(crate) mod stop;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use cairn_format::{Id, LockFile};
use cairn_storage::{FileKind, Storage};
use chrono::{DateTime, FixedOffset, Local};
use crossbeam_channel::Sender;

use crate::{system, RepoError, Repository, Result};
use health::LockHealth;
pub use health::LockTimings;

pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

/// Locks this process holds, so that a signal handler can remove them before exiting.
static HELD: Mutex<Vec<(Arc<dyn Storage>, Id)>> = Mutex::new(Vec::new());

/// Removes every lock file this process holds. For signal handlers and fatal paths.
pub fn release_held_locks() {
    let held = std::mem::take(&mut *HELD.lock().unwrap_or_else(|e| e.into_inner()));
    for (storage, id) in held {
        let _ = storage.remove(FileKind::Lock, &id.to_hex());
    }
}

fn register(storage: &Arc<dyn Storage>, id: Id) {
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((storage.clone(), id));
}

fn unregister(id: Id) {
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(_, held)| *held != id);
}

/// A lock held on a repository; dropping it removes the lock file.
pub struct RepoLock {
    repo: Repository,
    current: Arc<Mutex<Id>>,
    health: Arc<LockHealth>,
    stop_refresh: Option<Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock")
            .field("id", &*self.current.lock().expect("lock id"))
            .finish()
    }
}

/// A lock file as read back, with its id.
#[derive(Debug, Clone)]
pub struct ExistingLock {
    pub id: Id,
    pub lock: LockFile,
}

impl ExistingLock {
    pub fn is_stale(&self, now: DateTime<FixedOffset>) -> bool {
        let age = now.signed_duration_since(self.lock.time);
        if age.to_std().is_ok_and(|age| age > STALE_AFTER) {
            return true;
        }
        self.lock.hostname == system::hostname() && !system::process_exists(self.lock.pid)
    }

    /// "exclusively by root@host (PID 42) since …", for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} by {}@{} (PID {}) since {}",
            if self.lock.exclusive {
                "exclusively"
            } else {
                ""
            },
            self.lock.username,
            self.lock.hostname,
            self.lock.pid,
            self.lock.time.format("%Y-%m-%d %H:%M:%S"),
        )
        .trim_start()
        .to_string()
    }
}

/// Every readable lock file. Locks that vanish while being read (released meanwhile) are
/// skipped; unreadable ones are logged and skipped, as they cannot be honoured anyway.
pub fn list_locks(repo: &Repository) -> Result<Vec<ExistingLock>> {
    let mut out = Vec::new();
    for (id, _) in repo.list_ids(FileKind::Lock)? {
        match repo.load_unpacked(FileKind::Lock, &id) {
            Ok(json) => match LockFile::from_json(&json) {
                Ok(lock) => out.push(ExistingLock { id, lock }),
                Err(e) => tracing::warn!("lock {id} is unreadable: {e}"),
            },
            Err(RepoError::Storage(e)) if e.is_not_found() => {}
            Err(e) => tracing::warn!("lock {id} is unreadable: {e}"),
        }
    }
    Ok(out)
}

fn new_lock_file(exclusive: bool) -> LockFile {
    LockFile {
        time: Local::now().fixed_offset(),
        exclusive,
        hostname: system::hostname(),
        username: system::username(),
        pid: system::pid(),
        uid: system::uid(),
        gid: system::gid(),
        unknown_fields: Default::default(),
    }
}

fn find_conflict(
    repo: &Repository,
    exclusive: bool,
    ours: Option<Id>,
) -> Result<Option<ExistingLock>> {
    let now = Local::now().fixed_offset();
    Ok(list_locks(repo)?
        .into_iter()
        .filter(|l| Some(l.id) != ours)
        .filter(|l| exclusive || l.lock.exclusive)
        .find(|l| !l.is_stale(now)))
}

impl Repository {
    /// Takes a shared (`exclusive == false`) or exclusive lock. When another process holds a
    /// conflicting lock, retries with growing pauses for up to [`Repository::lock_retry`]
    /// (restic's `--retry-lock`) before failing.
    pub fn lock(&self, exclusive: bool) -> Result<RepoLock> {
        let deadline = std::time::Instant::now() + self.lock_retry();
        let mut pause = Duration::from_millis(200);
        loop {
            match self.try_lock(exclusive) {
                Err(RepoError::Locked { .. }) if std::time::Instant::now() + pause <= deadline => {
                    tracing::info!("repository is locked; trying again in {pause:?}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(20));
                }
                other => return other,
            }
        }
    }

    fn try_lock(&self, exclusive: bool) -> Result<RepoLock> {
        let locked = |holder: ExistingLock| RepoError::Locked {
            location: self.location(),
            holder: holder.describe(),
        };
        if let Some(holder) = find_conflict(self, exclusive, None)? {
            return Err(locked(holder));
        }
        let id = store_registered(self, exclusive)?;
        if let Some(holder) = find_conflict(self, exclusive, Some(id))? {
            let _ = self.storage().remove(FileKind::Lock, &id.to_hex());
            unregister(id);
            return Err(locked(holder));
        }
        let current = Arc::new(Mutex::new(id));
        let timings = self.lock_timings();
        let health = Arc::new(LockHealth::new(timings.lost_after));
        self.stop_signals().locks.add(&health);
        let (stop_refresh, stopped) = crossbeam_channel::bounded::<()>(0);
        let refresher = {
            let repo = self.clone();
            let current = current.clone();
            let health = health.clone();
            std::thread::Builder::new()
                .name("cairn-lock-refresh".into())
                .spawn(move || {
                    let mut wait = timings.refresh_every;
                    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(wait)
                    {
                        wait = match refresh(&repo, &current, exclusive, &health) {
                            Refreshed::Yes => timings.refresh_every,
                            Refreshed::Failed => timings.retry_every.min(timings.refresh_every),
                            Refreshed::Lost => break,
                        };
                    }
                })
                .expect("spawn lock refresher")
        };
        Ok(RepoLock {
            repo: self.clone(),
            current,
            health,
            stop_refresh: Some(stop_refresh),
            refresher: Some(refresher),
        })
    }
}

/// Stores a new lock file, registering its id first: a signal arriving while the file is
/// written then still finds and removes it.
fn store_registered(repo: &Repository, exclusive: bool) -> Result<Id> {
    let (id, sealed) = repo.seal_unpacked(&new_lock_file(exclusive).to_json());
    register(repo.storage(), id);
    if let Err(e) = repo.storage().put(FileKind::Lock, &id.to_hex(), &sealed) {
        unregister(id);
        return Err(e.into());
    }
    Ok(id)
}

enum Refreshed {
    Yes,
    /// Not this time; the lock still holds until its bound passes.
    Failed,
    /// The lock is lost: refreshing stops.
    Lost,
}

/// Writes a fresh lock file, then removes the old one, so the lock is never absent. First
/// makes sure the old one is still there: if someone removed it (`unlock --remove-all` on
/// another host, which judged it stale), others may already be pruning, and the lock is lost.
fn refresh(
    repo: &Repository,
    current: &Mutex<Id>,
    exclusive: bool,
    health: &LockHealth,
) -> Refreshed {
    if health.lost().is_some() {
        return Refreshed::Lost;
    }
    let started = (Instant::now(), SystemTime::now());
    let old = *current.lock().expect("lock id");
    match repo.storage().size(FileKind::Lock, &old.to_hex()) {
        Err(e) if e.is_not_found() => {
            health.lose(format!(
                "the repository lock {} was removed by another process (e.g. `cairn unlock \
                 --remove-all`)",
                old.short()
            ));
            tracing::error!("repository lock {old} was removed by someone else; stopping");
            return Refreshed::Lost;
        }
        Err(e) => return refresh_failed(health, e.to_string()),
        Ok(_) => {}
    }
    match store_registered(repo, exclusive) {
        Ok(new_id) => {
            *current.lock().expect("lock id") = new_id;
            let _ = repo.storage().remove(FileKind::Lock, &old.to_hex());
            unregister(old);
            health.refreshed(started.0, started.1);
            if health.lost().is_some() {
                return Refreshed::Lost;
            }
            Refreshed::Yes
        }
        Err(e) => refresh_failed(health, e.to_string()),
    }
}

fn refresh_failed(health: &LockHealth, error: String) -> Refreshed {
    tracing::warn!("cannot refresh the repository lock: {error}");
    health.refresh_failed(error);
    match health.lost() {
        Some(reason) => {
            tracing::error!("{reason}; stopping");
            Refreshed::Lost
        }
        None => Refreshed::Failed,
    }
}

impl RepoLock {
    pub fn id(&self) -> Id {
        *self.current.lock().expect("lock id")
    }

    /// `Err` once the lock no longer protects its holder (see [`health`]), naming why. The
    /// repository's writes check this themselves; long phases that only read may ask too.
    pub fn ensure_held(&self) -> Result<()> {
        match self.health.lost() {
            Some(reason) => Err(RepoError::LockLost {
                location: self.repo.location(),
                reason,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        self.stop_refresh = None;
        if let Some(refresher) = self.refresher.take() {
            let _ = refresher.join();
        }
        let id = self.id();
        if let Err(e) = self.repo.storage().remove(FileKind::Lock, &id.to_hex()) {
            if !e.is_not_found() {
                tracing::warn!("cannot remove lock {id}: {e}");
            }
        }
        unregister(id);
    }
}

/// Removes the locks processes of this host left when they died (a crash, a kill -9): stale
/// beyond doubt, since the PID is checked here, on the host that took them. Locks of other
/// hosts are left alone whatever their age (their clocks may differ). For a daemon cleaning
/// up after itself; restic 0.14 refuses to lock while any lock file exists, stale or not.
pub fn remove_dead_local_locks(repo: &Repository) -> Result<Vec<Id>> {
    let host = system::hostname();
    let mut removed = Vec::new();
    for lock in list_locks(repo)? {
        if lock.lock.hostname == host && !system::process_exists(lock.lock.pid) {
            match repo.storage().remove(FileKind::Lock, &lock.id.to_hex()) {
                Ok(()) => removed.push(lock.id),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(removed)
}

/// Removes stale locks (or all locks with `all`); returns the ids removed.
pub fn unlock(repo: &Repository, all: bool) -> Result<Vec<Id>> {
    let now = Local::now().fixed_offset();
    let mut removed = Vec::new();
    for lock in list_locks(repo)? {
        if all || lock.is_stale(now) {
            match repo.storage().remove(FileKind::Lock, &lock.id.to_hex()) {
                Ok(()) => removed.push(lock.id),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if all {
        // Unreadable lock files count as locks too when everything is to go.
        for (id, _) in repo.list_ids(FileKind::Lock)? {
            if !removed.contains(&id) && repo.storage().remove(FileKind::Lock, &id.to_hex()).is_ok()
            {
                removed.push(id);
            }
        }
    }
    repo.storage().sync()?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_storage::MemoryStore;

    use super::*;
    use crate::keys::KeyOptions;

    /// `release_held_locks` acts on every lock of the process, so these tests take turns.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn repo() -> Repository {
        let options = KeyOptions {
            kdf: Some(cairn_crypto::KdfParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..KeyOptions::default()
        };
        Repository::init(Arc::new(MemoryStore::new()), b"pw", &options).unwrap()
    }

    fn write_lock(
        repo: &Repository,
        exclusive: bool,
        pid: u32,
        hostname: &str,
        age: chrono::Duration,
    ) -> Id {
        let mut lock = new_lock_file(exclusive);
        lock.pid = pid;
        lock.hostname = hostname.to_string();
        lock.time -= age;
        repo.save_unpacked(FileKind::Lock, &lock.to_json()).unwrap()
    }

    #[test]
    fn shared_locks_coexist_and_exclusive_ones_conflict() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let repo = repo();
        let first = repo.lock(false).unwrap();
        let second = repo.lock(false).unwrap();
        assert!(matches!(repo.lock(true), Err(RepoError::Locked { .. })));
        drop((first, second));
        let exclusive = repo.lock(true).unwrap();
        let error = repo.lock(false).unwrap_err();
        assert!(error.to_string().contains("exclusively"), "{error}");
        drop(exclusive);
        assert!(
            list_locks(&repo).unwrap().is_empty(),
            "dropping a lock removes its file"
        );
    }

    #[test]
    fn a_failed_attempt_leaves_no_lock_of_its_own() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let repo = repo();
        let _held = repo.lock(true).unwrap();
        assert!(repo.lock(true).is_err());
        assert_eq!(list_locks(&repo).unwrap().len(), 1);
    }

    #[test]
    fn stale_locks_do_not_block_and_unlock_removes_only_them() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let repo = repo();
        // A dead PID on this host, and a lock older than 30 minutes on another host.
        let dead = write_lock(
            &repo,
            true,
            u32::MAX - 1,
            &system::hostname(),
            chrono::Duration::zero(),
        );
        let old = write_lock(&repo, true, 1, "elsewhere", chrono::Duration::minutes(31));
        // A live lock on another host whose PID we cannot check.
        let live = write_lock(&repo, false, 1, "elsewhere", chrono::Duration::minutes(1));
        let lock = repo
            .lock(false)
            .expect("stale exclusive locks must not block");
        drop(lock);
        let removed = unlock(&repo, false).unwrap();
        assert!(
            removed.contains(&dead) && removed.contains(&old) && !removed.contains(&live),
            "{removed:?}"
        );
        assert!(
            repo.lock(true).is_err(),
            "the live shared lock still blocks an exclusive one"
        );
        unlock(&repo, true).unwrap();
        assert!(repo.lock(true).is_ok());
    }

    #[test]
    fn release_held_locks_removes_this_process_locks() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let repo = repo();
        let lock = repo.lock(false).unwrap();
        release_held_locks();
        assert!(list_locks(&repo).unwrap().is_empty());
        drop(lock);
    }

    #[test]
    fn refresh_replaces_the_lock_file_without_a_gap() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let repo = repo();
        let lock = repo.lock(false).unwrap();
        let before = lock.id();
        assert!(matches!(
            refresh(&repo, &lock.current, false, &lock.health),
            Refreshed::Yes
        ));
        let after = lock.id();
        assert_ne!(before, after);
        let ids: Vec<Id> = list_locks(&repo)
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(ids, vec![after]);
    }

    fn short_timings() -> LockTimings {
        LockTimings {
            refresh_every: Duration::from_millis(30),
            retry_every: Duration::from_millis(10),
            lost_after: Duration::from_millis(200),
        }
    }

    fn wait_for_loss(lock: &RepoLock) -> RepoError {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match lock.ensure_held() {
                Err(e) => return e,
                Ok(()) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(()) => panic!("the lock was never given up"),
            }
        }
    }

    #[test]
    fn a_lock_that_cannot_be_refreshed_stops_every_later_write() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // A real directory whose locks/ turns into a file: every lock write then fails.
        let dir = tempfile::tempdir().unwrap();
        let options = KeyOptions {
            kdf: Some(cairn_crypto::KdfParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..KeyOptions::default()
        };
        let store = Arc::new(cairn_storage::LocalStore::new(dir.path()));
        let mut repo = Repository::init(store, b"pw", &options).unwrap();
        repo.set_lock_timings(short_timings());
        let lock = repo.lock(false).unwrap();
        // Refreshes succeed for a while: the lock holds well past `lost_after`.
        std::thread::sleep(Duration::from_millis(400));
        lock.ensure_held().expect("refreshed locks stay held");
        repo.save_unpacked(FileKind::Index, b"{\"packs\":[]}")
            .unwrap();

        let locks = dir.path().join("locks");
        std::fs::rename(&locks, dir.path().join("locks.away")).unwrap();
        std::fs::write(&locks, b"not a directory").unwrap();
        let error = wait_for_loss(&lock);
        assert_eq!(error.kind(), crate::ErrorKind::LockLost, "{error}");
        assert!(error.to_string().contains("last refreshed"), "{error}");

        let write = repo.save_unpacked(FileKind::Snapshot, b"{}").unwrap_err();
        assert_eq!(write.kind(), crate::ErrorKind::LockLost, "{write}");
        assert!(write.is_retryable());
        assert!(repo.list_ids(FileKind::Snapshot).unwrap().is_empty());
        // The store answering again does not bring a lost lock back.
        std::fs::remove_file(&locks).unwrap();
        std::fs::rename(dir.path().join("locks.away"), &locks).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(repo.save_unpacked(FileKind::Snapshot, b"{}").is_err());
        drop(lock);
        // Released: a new operation on the same handle writes again.
        let _lock = repo.lock(false).unwrap();
        repo.save_unpacked(FileKind::Snapshot, b"{}").unwrap();
    }

    #[test]
    fn a_lock_removed_by_someone_else_is_lost() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut repo = repo();
        repo.set_lock_timings(LockTimings {
            lost_after: Duration::from_secs(600),
            ..short_timings()
        });
        let lock = repo.lock(true).unwrap();
        // Another host's `unlock --remove-all`.
        unlock(&repo, true).unwrap();
        let error = wait_for_loss(&lock);
        assert!(
            error.to_string().contains("removed by another process"),
            "{error}"
        );
        let write = repo.save_unpacked(FileKind::Index, b"{}").unwrap_err();
        assert_eq!(write.kind(), crate::ErrorKind::LockLost, "{write}");
    }

    #[test]
    fn a_cancelled_operation_reads_and_writes_nothing_more_but_releases_its_lock() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let repo = repo();
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        repo.set_cancel(Some(flag.clone()));
        let lock = repo.lock(false).unwrap();
        repo.save_unpacked(FileKind::Index, b"{}").unwrap();
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        let write = repo.save_unpacked(FileKind::Snapshot, b"{}").unwrap_err();
        assert_eq!(write.kind(), crate::ErrorKind::Cancelled, "{write}");
        assert!(!write.is_retryable());
        let read = repo.list_ids(FileKind::Index).unwrap_err();
        assert_eq!(read.kind(), crate::ErrorKind::Cancelled, "{read}");
        drop(lock);
        repo.set_cancel(None);
        assert!(
            list_locks(&repo).unwrap().is_empty(),
            "the lock was still released"
        );
        assert!(repo.list_ids(FileKind::Snapshot).unwrap().is_empty());
    }
}
