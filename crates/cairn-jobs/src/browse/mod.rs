//! Browsing configured repositories by name, for the API (and the multihost peer commands,
//! which call the same functions): repositories with their snapshot counts, snapshots, one
//! directory, one file's versions, a name search, a file's bytes, a directory as an archive,
//! and restores as daemon jobs ([`restore`]).
//!
//! # The open-repository cache
//! Opening a repository derives its key (~0.15 s) and loading its index reads every index
//! file, too slow for each click of a file browser. [`Browser`] keeps each repository it
//! opened with its index for [`REUSE_FOR`], and drops a repository's entry when a job on it
//! ends ([`Browser::forget`]), so the snapshots and blobs a backup (or a prune) just wrote or
//! removed are seen by the next request. Snapshot lists are read from the store on every
//! request (a listing and small files), so snapshots other hosts write show at once.
//!
//! Paths are checked ([`SnapshotPath::parse`]) before a repository is opened: a refused path
//! reads nothing.

pub mod restore;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_config::Config;
use cairn_format::tree::{Node, NodeType};
use cairn_format::{Id, Snapshot};
use cairn_repo::browse::{self, ArchiveFormat, Listing, SearchResult, SnapshotPath, Version};
use cairn_repo::index::Index;
use cairn_repo::snapshots::{find_snapshot, load_readable_snapshots, SnapshotFilter};
use cairn_repo::Repository;
use cairn_state::StateStore;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use crate::open::OpenOptions;
use crate::{JobError, Result};

/// How long an opened repository and its index are reused (unless a job on it ends first).
pub const REUSE_FOR: Duration = Duration::from_secs(5 * 60);

/// A repository opened for browsing, with its index.
pub struct Opened {
    pub name: String,
    pub repo: Repository,
    pub index: Index,
}

struct CacheEntry {
    opened: Arc<Opened>,
    at: Instant,
}

/// Opened repositories by name (see the module docs).
pub struct Browser {
    open: OpenOptions,
    /// Held only to look up or replace an entry, never while a repository opens: two
    /// requests may open the same repository at once, and the later one's entry stays.
    cache: Mutex<HashMap<String, CacheEntry>>,
}

/// One configured repository, as the repository list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RepositorySummary {
    pub name: String,
    /// As configured (a path or an `s3:` URL; credentials live in files, never here).
    pub location: String,
    pub snapshot_count: Option<usize>,
    pub last_snapshot: Option<DateTime<FixedOffset>>,
    /// Bytes the repository's files take, as measured after its last successful backup
    /// (`cairn_repository_size_bytes`); `None` before the first.
    pub size_bytes: Option<u64>,
    pub offsite: Option<OffsiteSummary>,
    /// Why the repository could not be read (the counts are then absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OffsiteSummary {
    pub destination: String,
    /// The last successful offsite step of any plan writing to the repository.
    pub last_sync: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotSummary {
    pub id: String,
    pub short_id: String,
    pub time: DateTime<FixedOffset>,
    pub hostname: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub path: String,
    pub versions: Vec<Version>,
}

/// A file of a snapshot, found and ready to be read (whole or a range).
pub struct FileToRead {
    opened: Arc<Opened>,
    node: Node,
    path: SnapshotPath,
    /// The file's name, for a download's `Content-Disposition`.
    pub name: String,
    pub size: u64,
}

impl FileToRead {
    /// Writes bytes `start..end` (end exclusive) to `out`.
    pub fn write_range(&self, start: u64, end: u64, out: &mut dyn Write) -> Result<u64> {
        let what = self.path.to_string();
        Ok(browse::write_range(
            &self.opened.repo,
            &self.opened.index,
            &self.node,
            start,
            end,
            &what,
            out,
        )?)
    }
}

/// A directory of a snapshot, found and ready to be written as an archive.
pub struct ArchiveToWrite {
    opened: Arc<Opened>,
    tree: Id,
    prefix: String,
    pub format: ArchiveFormat,
    /// `etc.tar.gz` for `/etc`; `snapshot-SHORTID.zip` for the root.
    pub file_name: String,
}

impl ArchiveToWrite {
    pub fn write(&self, out: &mut dyn Write) -> Result<()> {
        Ok(browse::write_archive(
            &self.opened.repo,
            &self.opened.index,
            &self.tree,
            &self.prefix,
            self.format,
            out,
        )?)
    }
}

impl Browser {
    pub fn new(open: OpenOptions) -> Browser {
        Browser {
            open,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The repository `name` of `config` with its index: the cached one while fresh.
    pub fn opened(&self, config: &Config, name: &str) -> Result<Arc<Opened>> {
        if let Some(entry) = self.lock().get(name) {
            if entry.at.elapsed() < REUSE_FOR {
                return Ok(entry.opened.clone());
            }
        }
        let entry = config.repositories.get(name).ok_or_else(|| {
            JobError::NotFound(format!(
                "no repository {name:?} in the config; see GET /api/v1/repositories"
            ))
        })?;
        let repo = crate::open::repository(entry, &self.open)?;
        let index = Index::load(&repo)?;
        let opened = Arc::new(Opened {
            name: name.to_string(),
            repo,
            index,
        });
        self.lock().insert(
            name.to_string(),
            CacheEntry {
                opened: opened.clone(),
                at: Instant::now(),
            },
        );
        Ok(opened)
    }

    /// Drops the cached repository `name` (a job on it ended: its snapshots or packs may
    /// have changed).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CacheEntry>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured repositories `visible` lets through, by name, with their snapshot
    /// counts and offsite state (others are not even opened). A repository that cannot be
    /// read is listed with its error.
    pub fn repositories(
        &self,
        config: &Config,
        state: &StateStore,
        visible: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RepositorySummary>> {
        let mut out = Vec::new();
        for entry in config.repositories.values().filter(|e| visible(&e.name)) {
            let counted = self
                .opened(config, &entry.name)
                .and_then(|opened| Ok(load_readable_snapshots(&opened.repo)?));
            let (snapshot_count, last_snapshot, error) = match counted {
                Ok(snapshots) => (
                    Some(snapshots.len()),
                    snapshots.iter().map(|(_, s)| s.time).max(),
                    None,
                ),
                Err(e) => (None, None, Some(e.to_string())),
            };
            let offsite = match &entry.offsite {
                Some(offsite) => {
                    let mut last_sync = None;
                    for plan in config.plans.values().filter(|p| p.repository == entry.name) {
                        last_sync = last_sync.max(state.last_step_success(&plan.name, "offsite")?);
                    }
                    Some(OffsiteSummary {
                        destination: offsite.destination.to_string(),
                        last_sync,
                    })
                }
                None => None,
            };
            let size_key = format!(
                "{}{}",
                crate::daemon::metrics::REPOSITORY_SIZE_KEY,
                entry.name
            );
            let size_bytes = state
                .daemon_value(&size_key)?
                .and_then(|text| text.parse().ok());
            out.push(RepositorySummary {
                name: entry.name.clone(),
                location: entry.location.to_string(),
                snapshot_count,
                last_snapshot,
                size_bytes,
                offsite,
                error,
            });
        }
        Ok(out)
    }

    /// The snapshots of `name` that `filter` matches, newest first.
    pub fn snapshots(
        &self,
        config: &Config,
        name: &str,
        filter: &SnapshotFilter,
    ) -> Result<Vec<SnapshotSummary>> {
        let opened = self.opened(config, name)?;
        let mut snapshots = load_readable_snapshots(&opened.repo)?;
        snapshots.retain(|(_, s)| filter.matches(s));
        snapshots.reverse();
        Ok(snapshots
            .into_iter()
            .map(|(id, s)| SnapshotSummary {
                id: id.to_hex(),
                short_id: id.short(),
                time: s.time,
                hostname: s.hostname,
                paths: s.paths,
                tags: s.tags,
            })
            .collect())
    }

    /// The directory `path` of `snapshot` (an id, a unique prefix, or `latest`).
    pub fn tree(&self, config: &Config, name: &str, snapshot: &str, path: &str) -> Result<Listing> {
        let path = SnapshotPath::parse(path)?;
        let opened = self.opened(config, name)?;
        let (id, found) = find_snapshot(&opened.repo, snapshot, &SnapshotFilter::default())?;
        Ok(browse::list_directory(
            &opened.repo,
            &opened.index,
            &found.tree,
            &path,
            &id.short(),
        )?)
    }

    /// The versions of `path` across every snapshot of `name`, newest first.
    pub fn history(&self, config: &Config, name: &str, path: &str) -> Result<History> {
        let path = SnapshotPath::parse(path)?;
        let opened = self.opened(config, name)?;
        let snapshots = load_readable_snapshots(&opened.repo)?;
        let versions = browse::versions(&opened.repo, &opened.index, &snapshots, &path)?;
        Ok(History {
            path: path.to_string(),
            versions,
        })
    }

    /// Entries matching `pattern` across the snapshots of `name`, newest snapshot first.
    pub fn search(
        &self,
        config: &Config,
        name: &str,
        pattern: &str,
        limit: usize,
    ) -> Result<SearchResult> {
        let opened = self.opened(config, name)?;
        let snapshots: Vec<(Id, Snapshot)> = load_readable_snapshots(&opened.repo)?;
        Ok(browse::search(
            &opened.repo,
            &opened.index,
            &snapshots,
            pattern,
            limit,
        )?)
    }

    /// The file at `path` of `snapshot`, ready to be read.
    pub fn file(
        &self,
        config: &Config,
        name: &str,
        snapshot: &str,
        path: &str,
    ) -> Result<FileToRead> {
        let path = SnapshotPath::parse(path)?;
        let file_name = path
            .file_name()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| {
                JobError::InvalidInput(
                    "/ is a directory; download it as an archive (…/archive?path=/)".into(),
                )
            })?;
        let opened = self.opened(config, name)?;
        let (id, found) = find_snapshot(&opened.repo, snapshot, &SnapshotFilter::default())?;
        let node =
            match browse::resolve(&opened.repo, &opened.index, &found.tree, &path, &id.short())? {
                browse::Resolved::Node(node) if node.node_type == NodeType::File => *node,
                _ => {
                    return Err(JobError::InvalidInput(format!(
                        "{path} in snapshot {} is not a file; list it or download it as an archive",
                        id.short()
                    )))
                }
            };
        Ok(FileToRead {
            opened,
            size: node.size,
            node,
            path,
            name: file_name,
        })
    }

    /// The directory at `path` of `snapshot`, ready to be written as `format`.
    pub fn archive(
        &self,
        config: &Config,
        name: &str,
        snapshot: &str,
        path: &str,
        format: ArchiveFormat,
    ) -> Result<ArchiveToWrite> {
        let path = SnapshotPath::parse(path)?;
        let opened = self.opened(config, name)?;
        let (id, found) = find_snapshot(&opened.repo, snapshot, &SnapshotFilter::default())?;
        let resolved =
            browse::resolve(&opened.repo, &opened.index, &found.tree, &path, &id.short())?;
        let tree = resolved.directory_tree().ok_or_else(|| {
            JobError::InvalidInput(format!(
                "{path} in snapshot {} is not a directory; download it as a file",
                id.short()
            ))
        })?;
        let prefix = match path.file_name() {
            Some(name) => String::from_utf8_lossy(name).into_owned(),
            None => format!("snapshot-{}", id.short()),
        };
        Ok(ArchiveToWrite {
            opened,
            tree,
            file_name: format!("{prefix}.{}", format.extension()),
            prefix,
            format,
        })
    }
}
