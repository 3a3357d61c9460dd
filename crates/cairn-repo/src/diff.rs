//! What changed between two snapshots (`diff`), classified as restic 0.14 classifies it.
//!
//! Both trees are walked side by side, entries paired by name:
//! - `+` / `-`: only in the second / first snapshot (a directory's whole content follows);
//! - `M`: a file in both whose content (list of blobs) differs;
//! - `T`: the type changed (a file became a symlink or a directory); the new content of a
//!   directory that replaced something else is not listed, as restic does not list it;
//! - `U` (only with `metadata`): anything else of the node differs (mode, times, owner, inode,
//!   size, link target, xattrs, or a directory's subtree), combined as `TU` with a type change.
//!
//! Two directories with the same subtree id are identical all the way down and are not
//! descended into: that is what keeps a diff of two snapshots of a large, mostly unchanged
//! tree fast. (restic 0.14 walks such subtrees anyway to collect their blobs.)
//!
//! # Statistics
//! Entries added and removed are counted by kind (files, directories, others) and changed
//! files by `M`. Blobs are those referenced by the entries the walk visited: a blob is *added*
//! when the second snapshot's visited entries reference it and the first's do not, *removed*
//! the other way round; bytes are plaintext lengths. Because identical subtrees are skipped, a
//! blob that an unchanged directory also holds (a file copied from it, say) counts as added
//! here, where restic, having walked the unchanged directory, does not count it.

use std::collections::HashSet;

use cairn_format::tree::{Node, NodeType};
use cairn_format::{BlobType, Id};
use serde::Serialize;

use crate::id_hasher::IdSet;
use crate::index::Index;
use crate::{Repository, Result};

/// What happened to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Added,
    Removed,
    /// A file's content changed.
    Modified,
    /// The type changed; `metadata` when metadata changes are reported and differ too.
    TypeChanged {
        metadata: bool,
    },
    /// Only metadata changed (reported with `metadata` only).
    Metadata,
}

impl Modifier {
    /// restic's letters: `+`, `-`, `M`, `T`, `TU`, `U`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Modifier::Added => "+",
            Modifier::Removed => "-",
            Modifier::Modified => "M",
            Modifier::TypeChanged { metadata: false } => "T",
            Modifier::TypeChanged { metadata: true } => "TU",
            Modifier::Metadata => "U",
        }
    }
}

/// One reported change: the entry's path (`/a/b`, directories with a trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: Vec<u8>,
    pub modifier: Modifier,
}

/// Counts for one side (added or removed), with restic's JSON names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiffStat {
    pub files: u64,
    pub dirs: u64,
    pub others: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    pub bytes: u64,
}

impl DiffStat {
    fn count(&mut self, node: &Node) {
        match node.node_type {
            NodeType::File => self.files += 1,
            NodeType::Dir => self.dirs += 1,
            _ => self.others += 1,
        }
    }
}

/// The statistics of a diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffSummary {
    pub changed_files: u64,
    pub added: DiffStat,
    pub removed: DiffStat,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Report metadata-only changes (`U`).
    pub metadata: bool,
}

/// How `new` differs from `old` (same name in both snapshots), or `None` when nothing is
/// reported.
pub fn classify(old: &Node, new: &Node, options: DiffOptions) -> Option<Modifier> {
    let type_changed = old.node_type != new.node_type;
    if old.node_type == NodeType::File
        && new.node_type == NodeType::File
        && old.content != new.content
    {
        return Some(Modifier::Modified);
    }
    let metadata = options.metadata && !nodes_equal(old, new);
    match (type_changed, metadata) {
        (true, metadata) => Some(Modifier::TypeChanged { metadata }),
        (false, true) => Some(Modifier::Metadata),
        (false, false) => None,
    }
}

/// restic's `Node.Equals`: every recorded field, times compared as instants, extended
/// attributes as a set, content `null` unlike `[]`.
pub fn nodes_equal(a: &Node, b: &Node) -> bool {
    a.name == b.name
        && a.node_type == b.node_type
        && a.mode == b.mode
        && a.mtime.same_instant(&b.mtime)
        && a.atime.same_instant(&b.atime)
        && a.ctime.same_instant(&b.ctime)
        && a.uid == b.uid
        && a.gid == b.gid
        && a.user == b.user
        && a.group == b.group
        && a.inode == b.inode
        && a.device_id == b.device_id
        && a.size == b.size
        && a.links == b.links
        && a.link_target == b.link_target
        && a.device == b.device
        && a.content == b.content
        && same_xattrs(a, b)
        && a.subtree == b.subtree
        && a.error == b.error
}

fn same_xattrs(a: &Node, b: &Node) -> bool {
    if a.extended_attributes.len() != b.extended_attributes.len() {
        return false;
    }
    let set = |n: &Node| -> HashSet<(String, Vec<u8>)> {
        n.extended_attributes
            .iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect()
    };
    set(a) == set(b)
}

/// The blobs the visited entries of one side reference.
#[derive(Default)]
struct BlobSet {
    data: IdSet<Id>,
    tree: IdSet<Id>,
}

impl BlobSet {
    fn add(&mut self, node: &Node) {
        match node.node_type {
            NodeType::File => self.data.extend(node.content.iter().flatten().copied()),
            NodeType::Dir => self.tree.extend(node.subtree),
            _ => {}
        }
    }
}

struct Differ<'a> {
    repo: &'a Repository,
    index: &'a Index,
    options: DiffOptions,
    report: &'a mut dyn FnMut(&Change) -> Result<()>,
    summary: DiffSummary,
    before: BlobSet,
    after: BlobSet,
}

/// Compares the snapshot trees `old` and `new`, calling `report` for each change in tree
/// order, and returns the statistics.
pub fn diff_trees(
    repo: &Repository,
    index: &Index,
    old: &Id,
    new: &Id,
    options: DiffOptions,
    report: &mut dyn FnMut(&Change) -> Result<()>,
) -> Result<DiffSummary> {
    let mut differ = Differ {
        repo,
        index,
        options,
        report,
        summary: DiffSummary::default(),
        before: BlobSet::default(),
        after: BlobSet::default(),
    };
    differ.before.tree.insert(*old);
    differ.after.tree.insert(*new);
    if old != new {
        differ.diff_tree(b"", old, new)?;
    }
    let Differ {
        mut summary,
        before,
        after,
        ..
    } = differ;
    add_blob_counts(index, &after, &before, &mut summary.added);
    add_blob_counts(index, &before, &after, &mut summary.removed);
    Ok(summary)
}

/// Counts the blobs of `side` that `other` lacks.
fn add_blob_counts(index: &Index, side: &BlobSet, other: &BlobSet, stat: &mut DiffStat) {
    for (blob_type, ids, other_ids) in [
        (BlobType::Data, &side.data, &other.data),
        (BlobType::Tree, &side.tree, &other.tree),
    ] {
        for id in ids.iter().filter(|id| !other_ids.contains(*id)) {
            match blob_type {
                BlobType::Data => stat.data_blobs += 1,
                BlobType::Tree => stat.tree_blobs += 1,
            }
            match index.lookup(blob_type, id) {
                Some(location) => stat.bytes += u64::from(location.plaintext_len()),
                None => tracing::warn!("unable to find the size of {blob_type} blob {id}"),
            }
        }
    }
}

fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

/// The path as printed: directories end with `/`.
fn shown(path: &[u8], node: &Node) -> Vec<u8> {
    let mut shown = path.to_vec();
    if node.node_type == NodeType::Dir {
        shown.push(b'/');
    }
    shown
}

impl Differ<'_> {
    fn emit(&mut self, path: Vec<u8>, modifier: Modifier) -> Result<()> {
        (self.report)(&Change { path, modifier })
    }

    fn load_sorted(&self, tree: &Id) -> Result<Vec<Node>> {
        let mut nodes = self.repo.load_tree(self.index, tree)?;
        // Trees are stored sorted by name; sorting again costs nothing and makes the pairing
        // below independent of that.
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    fn diff_tree(&mut self, dir: &[u8], old: &Id, new: &Id) -> Result<()> {
        let old_nodes = self.load_sorted(old)?;
        let new_nodes = self.load_sorted(new)?;
        let mut old_iter = old_nodes.into_iter().peekable();
        let mut new_iter = new_nodes.into_iter().peekable();
        loop {
            let order = match (old_iter.peek(), new_iter.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(a), Some(b)) => a.name.cmp(&b.name),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let node = old_iter.next().expect("peeked");
                    self.before.add(&node);
                    self.whole(dir, &node, Modifier::Removed)?;
                }
                std::cmp::Ordering::Greater => {
                    let node = new_iter.next().expect("peeked");
                    self.after.add(&node);
                    self.whole(dir, &node, Modifier::Added)?;
                }
                std::cmp::Ordering::Equal => {
                    let a = old_iter.next().expect("peeked");
                    let b = new_iter.next().expect("peeked");
                    self.before.add(&a);
                    self.after.add(&b);
                    self.pair(dir, &a, &b)?;
                }
            }
        }
        Ok(())
    }

    fn pair(&mut self, dir: &[u8], old: &Node, new: &Node) -> Result<()> {
        let path = child_path(dir, &old.name);
        if let Some(modifier) = classify(old, new, self.options) {
            if modifier == Modifier::Modified {
                self.summary.changed_files += 1;
            }
            self.emit(shown(&path, new), modifier)?;
        }
        if old.node_type == NodeType::Dir && new.node_type == NodeType::Dir {
            if let (Some(a), Some(b)) = (old.subtree, new.subtree) {
                // Same id, same content all the way down: nothing to report below.
                if a != b {
                    self.diff_tree(&path, &a, &b)?;
                }
            }
        }
        Ok(())
    }

    /// Reports an entry only one side has, and for a directory everything below it.
    fn whole(&mut self, dir: &[u8], node: &Node, modifier: Modifier) -> Result<()> {
        let path = child_path(dir, &node.name);
        self.emit(shown(&path, node), modifier)?;
        let added = modifier == Modifier::Added;
        if added {
            self.summary.added.count(node);
        } else {
            self.summary.removed.count(node);
        }
        if node.node_type == NodeType::Dir {
            if let Some(subtree) = node.subtree {
                for child in self.load_sorted(&subtree)? {
                    if added {
                        self.after.add(&child);
                    } else {
                        self.before.add(&child);
                    }
                    self.whole(&path, &child, modifier)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::tree::{ExtendedAttribute, GoTime};

    fn file(name: &str, content: &[u8]) -> Node {
        let mut node = Node::new(name.as_bytes().to_vec(), NodeType::File);
        node.mode = 0o644;
        node.size = content.len() as u64;
        node.content = Some(content.iter().map(|b| Id::hash(&[*b])).collect());
        node.mtime = GoTime {
            unix_secs: 1_700_000_000,
            nanos: 5,
            utc_offset_secs: 0,
        };
        node
    }

    const PLAIN: DiffOptions = DiffOptions { metadata: false };
    const META: DiffOptions = DiffOptions { metadata: true };

    #[test]
    fn content_changes_are_modified_whatever_the_options() {
        let old = file("f", b"ab");
        let new = file("f", b"ac");
        assert_eq!(classify(&old, &new, PLAIN), Some(Modifier::Modified));
        assert_eq!(classify(&old, &new, META), Some(Modifier::Modified));
    }

    #[test]
    fn metadata_changes_show_only_when_asked() {
        let old = file("f", b"ab");
        let mut new = old.clone();
        new.mtime.unix_secs += 1;
        assert_eq!(classify(&old, &new, PLAIN), None);
        assert_eq!(classify(&old, &new, META), Some(Modifier::Metadata));
        let mut chmod = old.clone();
        chmod.mode = 0o600;
        assert_eq!(classify(&old, &chmod, META), Some(Modifier::Metadata));
    }

    #[test]
    fn identical_nodes_are_not_reported() {
        let old = file("f", b"ab");
        assert_eq!(classify(&old, &old.clone(), META), None);
        // The same instant printed in another zone is the same time.
        let mut zoned = old.clone();
        zoned.mtime.utc_offset_secs = 3600;
        assert_eq!(classify(&old, &zoned, META), None);
    }

    #[test]
    fn type_changes_are_t_and_tu() {
        let old = file("x", b"a");
        let mut new = Node::new(b"x".to_vec(), NodeType::Symlink);
        new.link_target = b"target".to_vec();
        assert_eq!(
            classify(&old, &new, PLAIN),
            Some(Modifier::TypeChanged { metadata: false })
        );
        assert_eq!(classify(&old, &new, META).unwrap().as_str(), "TU");
        assert_eq!(classify(&old, &new, PLAIN).unwrap().as_str(), "T");
    }

    #[test]
    fn null_content_differs_from_empty_content_as_in_restic() {
        let mut old = file("e", b"");
        old.content = None;
        let mut new = old.clone();
        new.content = Some(Vec::new());
        assert_eq!(classify(&old, &new, PLAIN), Some(Modifier::Modified));
    }

    #[test]
    fn directories_differ_in_metadata_when_their_subtree_differs() {
        let mut old = Node::new(b"d".to_vec(), NodeType::Dir);
        old.subtree = Some(Id::hash(b"one"));
        let mut new = old.clone();
        assert_eq!(classify(&old, &new, META), None);
        new.subtree = Some(Id::hash(b"two"));
        assert_eq!(classify(&old, &new, PLAIN), None);
        assert_eq!(classify(&old, &new, META), Some(Modifier::Metadata));
    }

    #[test]
    fn xattrs_compare_as_a_set() {
        let attr = |name: &str, value: &[u8]| ExtendedAttribute {
            name: name.to_string(),
            value: value.to_vec(),
        };
        let mut a = file("f", b"x");
        a.extended_attributes = vec![attr("user.a", b"1"), attr("user.b", b"2")];
        let mut b = a.clone();
        b.extended_attributes.reverse();
        assert!(nodes_equal(&a, &b));
        b.extended_attributes[0].value = b"3".to_vec();
        assert!(!nodes_equal(&a, &b));
    }

    mod walk {
        use std::sync::Arc;

        use cairn_format::tree::encode_tree;
        use cairn_storage::MemoryStore;

        use super::super::*;
        use super::{META, PLAIN};
        use crate::blob_codec::{BlobEncoder, Compression};
        use crate::blob_writer::{BlobWriter, WriterOptions};
        use crate::keys::KeyOptions;

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

        fn store(repo: &Repository, blob_type: BlobType, bytes: &[u8]) -> Id {
            let index = Index::load(repo).unwrap();
            let writer = BlobWriter::new(repo, &index, &WriterOptions::default());
            let id = Id::hash(bytes);
            let mut encoder = BlobEncoder::new(Compression::Auto, true);
            writer.save(&mut encoder, blob_type, id, bytes).unwrap();
            writer.finish().unwrap();
            id
        }

        fn file(repo: &Repository, name: &str, data: &[u8]) -> Node {
            let mut node = Node::new(name.as_bytes().to_vec(), NodeType::File);
            node.size = data.len() as u64;
            node.content = Some(vec![store(repo, BlobType::Data, data)]);
            node
        }

        fn dir(name: &str, subtree: Id) -> Node {
            let mut node = Node::new(name.as_bytes().to_vec(), NodeType::Dir);
            node.subtree = Some(subtree);
            node
        }

        #[test]
        fn identical_subtrees_are_not_even_loaded() {
            let repo = repo();
            // Never stored: loading it would fail with "not in the index".
            let unchanged = Id::hash(b"a subtree nobody may read");
            let old_tree = encode_tree(&[
                file(&repo, "a", b"first"),
                file(&repo, "gone", b"removed file"),
                dir("same", unchanged),
            ]);
            let new_tree = encode_tree(&[
                file(&repo, "a", b"second!"),
                file(&repo, "new", b"added file"),
                dir("same", unchanged),
            ]);
            let old = store(&repo, BlobType::Tree, &old_tree);
            let new = store(&repo, BlobType::Tree, &new_tree);
            let index = Index::load(&repo).unwrap();
            let mut changes = Vec::new();
            let summary = diff_trees(&repo, &index, &old, &new, META, &mut |c| {
                changes.push(format!(
                    "{} {}",
                    c.modifier.as_str(),
                    String::from_utf8_lossy(&c.path)
                ));
                Ok(())
            })
            .unwrap();
            assert_eq!(changes, ["M /a", "- /gone", "+ /new"]);
            assert_eq!(summary.changed_files, 1);
            assert_eq!(summary.added.files, 1);
            assert_eq!(summary.removed.files, 1);
            // New content of /a and /new, plus the new root; bytes are plaintext lengths.
            assert_eq!(summary.added.data_blobs, 2);
            assert_eq!(summary.added.tree_blobs, 1);
            assert_eq!(
                summary.added.bytes,
                (b"second!".len() + b"added file".len() + new_tree.len()) as u64
            );
            assert_eq!(summary.removed.data_blobs, 2);
        }

        #[test]
        fn added_directories_are_listed_with_everything_below() {
            let repo = repo();
            let empty = store(&repo, BlobType::Tree, &encode_tree(&[]));
            let inner = store(
                &repo,
                BlobType::Tree,
                &encode_tree(&[dir("e", empty), file(&repo, "f", b"inner")]),
            );
            let old = store(&repo, BlobType::Tree, &encode_tree(&[]));
            let new = store(&repo, BlobType::Tree, &encode_tree(&[dir("d", inner)]));
            let index = Index::load(&repo).unwrap();
            let mut changes = Vec::new();
            let summary = diff_trees(&repo, &index, &old, &new, PLAIN, &mut |c| {
                changes.push(String::from_utf8_lossy(&c.path).into_owned());
                Ok(())
            })
            .unwrap();
            assert_eq!(changes, ["/d/", "/d/e/", "/d/f"]);
            assert_eq!((summary.added.dirs, summary.added.files), (2, 1));
            // The old root is the empty tree, which the new snapshot also holds (as /d/e).
            assert_eq!(summary.added.tree_blobs, 2);
            assert_eq!(summary.removed.tree_blobs, 0);
        }
    }

    #[test]
    fn paths_are_shown_with_a_slash_for_directories() {
        let dir = Node::new(b"d".to_vec(), NodeType::Dir);
        assert_eq!(shown(&child_path(b"", b"d"), &dir), b"/d/".to_vec());
        assert_eq!(child_path(b"/a", b"f"), b"/a/f".to_vec());
    }
}
