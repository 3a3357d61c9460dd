//! The manifest: what a mirror holds, readable without its packs.
//!
//! A sidecar `cairn-manifest` beside the repository: the snapshot list and, for every
//! snapshot, its files (path, size, mtime). The JSON is written row by row into a zstd stream
//! (no row cap; memory holds the compressed bytes, not the rows) and the result is encrypted
//! and authenticated with the repository's master key, like every repository file. It holds
//! no password and no key material. `cairn catalog` lists it after a `mirror restore`, before
//! any pack has been read.

use std::io::Write;

use cairn_format::tree::NodeType;
use cairn_storage::{FileKind, Storage};
use serde::{Deserialize, Serialize};

use crate::error::{RepoError, Result};
use crate::index::Index;
use crate::repository::Repository;
use crate::snapshots::load_readable_snapshots;
use crate::tree_io::walk_tree;

pub const MANIFEST_NAME: &str = "cairn-manifest";
const FORMAT: &str = "cairn-manifest";
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    pub id: String,
    pub time: String,
    pub hostname: String,
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFile {
    /// Absolute path in the snapshot; bytes that are not UTF-8 are shown as U+FFFD.
    pub path: String,
    pub size: u64,
    pub mtime: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSnapshot {
    pub snapshot: String,
    pub files: Vec<CatalogFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub repository_id: String,
    pub written: String,
    pub snapshots: Vec<ManifestSnapshot>,
    pub catalog: Vec<CatalogSnapshot>,
}

/// Builds the manifest of `repo` and stores it at `dest` as the sidecar `cairn-manifest`.
/// Returns its stored size.
pub fn write_manifest(repo: &Repository, dest: &dyn Storage) -> Result<u64> {
    let index = Index::load(repo)?;
    let mut snapshots = load_readable_snapshots(repo)?;
    snapshots.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    let io = |e: std::io::Error| RepoError::InvalidInput(format!("writing the manifest: {e}"));

    // The catalog goes out row by row; the snapshot list (with per-snapshot totals known only
    // after the walk) comes last in the object.
    let mut out = zstd::stream::Encoder::new(Vec::new(), 3).map_err(io)?;
    write!(
        out,
        "{{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"repository_id\":{},\"written\":{},\"catalog\":[",
        serde_json::to_string(&repo.config().id.to_string()).expect("string"),
        serde_json::to_string(&chrono::Utc::now().to_rfc3339()).expect("string"),
    )
    .map_err(io)?;
    let mut listed = Vec::with_capacity(snapshots.len());
    for (i, (id, snapshot)) in snapshots.iter().enumerate() {
        if i > 0 {
            out.write_all(b",").map_err(io)?;
        }
        write!(out, "{{\"snapshot\":\"{id}\",\"files\":[").map_err(io)?;
        let (mut files, mut bytes) = (0u64, 0u64);
        let mut failed = None;
        walk_tree(repo, &index, &snapshot.tree, &mut |path, node| {
            if node.node_type == NodeType::File {
                let row = CatalogFile {
                    path: String::from_utf8_lossy(path).into_owned(),
                    size: node.size,
                    mtime: node.mtime.to_rfc3339_nano(),
                };
                let separator: &[u8] = if files == 0 { b"" } else { b"," };
                if let Err(e) = out
                    .write_all(separator)
                    .and_then(|()| serde_json::to_writer(&mut out, &row).map_err(Into::into))
                {
                    failed.get_or_insert(e);
                }
                files += 1;
                bytes += node.size;
            }
            Ok(true)
        })?;
        if let Some(e) = failed {
            return Err(io(e));
        }
        out.write_all(b"]}").map_err(io)?;
        listed.push(ManifestSnapshot {
            id: id.to_string(),
            time: snapshot.time.to_rfc3339(),
            hostname: snapshot.hostname.clone(),
            paths: snapshot.paths.clone(),
            tags: snapshot.tags.clone(),
            files,
            bytes,
        });
    }
    out.write_all(b"],\"snapshots\":").map_err(io)?;
    serde_json::to_writer(&mut out, &listed).map_err(|e| io(e.into()))?;
    out.write_all(b"}").map_err(io)?;
    let compressed = out.finish().map_err(io)?;
    let sealed = repo.key().seal(&compressed);
    dest.put(FileKind::Sidecar, MANIFEST_NAME, &sealed)?;
    Ok(sealed.len() as u64)
}

/// Reads the manifest stored beside `repo` (in its own store).
pub fn read_manifest(repo: &Repository) -> Result<Manifest> {
    let store = repo.storage();
    let object = || format!("{}/{MANIFEST_NAME}", store.location());
    let sealed = match store.get(FileKind::Sidecar, MANIFEST_NAME) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => {
            return Err(RepoError::InvalidInput(format!(
                "{} has no manifest; `cairn mirror sync` writes one beside each mirror",
                store.location()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let compressed = repo
        .key()
        .open(&sealed)
        .map_err(|e| RepoError::corrupt(object(), e.to_string()))?;
    let json = zstd::stream::decode_all(compressed.as_slice())
        .map_err(|e| RepoError::corrupt(object(), e.to_string()))?;
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| RepoError::corrupt(object(), e.to_string()))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(RepoError::corrupt(
            object(),
            format!(
                "format {} version {} is not one this cairn reads",
                manifest.format, manifest.version
            ),
        ));
    }
    if manifest.repository_id != repo.config().id {
        return Err(RepoError::corrupt(
            object(),
            "it belongs to another repository".to_string(),
        ));
    }
    Ok(manifest)
}

impl Manifest {
    /// The files of one snapshot, by full id or unique prefix (or `latest`).
    pub fn files_of(&self, wanted: &str) -> Result<(&ManifestSnapshot, &[CatalogFile])> {
        let chosen = if wanted == "latest" {
            self.snapshots.last()
        } else {
            let matching: Vec<&ManifestSnapshot> = self
                .snapshots
                .iter()
                .filter(|s| s.id.starts_with(wanted))
                .collect();
            if matching.len() > 1 {
                return Err(RepoError::InvalidInput(format!(
                    "snapshot prefix {wanted} is ambiguous in the manifest ({} match)",
                    matching.len()
                )));
            }
            matching.first().copied()
        };
        let snapshot = chosen.ok_or_else(|| {
            RepoError::InvalidInput(format!("no snapshot {wanted} in the manifest"))
        })?;
        let files = self
            .catalog
            .iter()
            .find(|c| c.snapshot == snapshot.id)
            .map(|c| c.files.as_slice())
            .unwrap_or_default();
        Ok((snapshot, files))
    }
}
