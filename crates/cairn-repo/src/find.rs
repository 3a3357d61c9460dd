//! Finding entries by pattern in snapshots (`find`), with restic 0.14's matching rules.
//!
//! A pattern is matched against the entry's full path in the snapshot (`/home/u/a.txt`) with
//! the exclude-pattern rules of [`crate::backup::Pattern`] (restic's `filter.Match`):
//! - a pattern without `/` matches any path component, so `*.txt` matches every `.txt` entry
//!   and `foo` matches a `foo` entry *and everything below it* (restic reports those too);
//! - a relative pattern with `/` (`c/*.txt`) matches consecutive components anywhere;
//! - a pattern starting with `/` is anchored at the snapshot root;
//! - `**` spans any number of components; `--ignore-case` lowercases pattern and path.
//!
//! # Shared trees
//! Snapshots of the same data share most of their trees. The [`Finder`] remembers, per tree
//! id and the path it sits at, the matches below it: a tree met again at the same path (in
//! this snapshot or a later one) is neither loaded nor walked again, yet its matches are
//! reported for every snapshot. A tree without matches is remembered as such (restic's
//! "ignored trees"), so a second snapshot of unchanged data costs one lookup per unchanged
//! top-level directory.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_format::tree::{Node, NodeType};
use cairn_format::Id;

use crate::backup::{glob_match, Pattern};
use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// One matching entry: its path in the snapshot (`/a/b`) and its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindMatch {
    pub path: Vec<u8>,
    pub node: Node,
}

/// The patterns of one search.
#[derive(Debug, Clone)]
pub struct FindPatterns {
    patterns: Vec<Pattern>,
    /// restic's `filter.Match` matches everything for an empty pattern.
    match_all: bool,
}

impl FindPatterns {
    /// Parses the patterns; `ignore_case` is restic's `--ignore-case`.
    pub fn new(sources: &[String], ignore_case: bool) -> Result<FindPatterns> {
        if sources.is_empty() {
            return Err(RepoError::InvalidInput(
                "no pattern given; name at least one (e.g. '*.txt' or /home/u/file)".into(),
            ));
        }
        let mut patterns = Vec::new();
        let mut match_all = false;
        for source in sources {
            if source.is_empty() {
                match_all = true;
                continue;
            }
            for part in source.split('/') {
                if part != "**" {
                    glob_match(part, "").map_err(|reason| {
                        RepoError::InvalidInput(format!("invalid pattern {source:?}: {reason}"))
                    })?;
                }
            }
            patterns.push(Pattern::new(source, ignore_case)?);
        }
        Ok(FindPatterns {
            patterns,
            match_all,
        })
    }

    /// Whether the entry at `path` (`/a/b`) matches one of the patterns.
    pub fn matches(&self, path: &str) -> bool {
        self.match_all || self.patterns.iter().any(|p| p.matches(path))
    }

    /// Whether an entry below the directory `path` may match (restic's `ChildMatch`).
    pub fn child_may_match(&self, path: &str) -> bool {
        self.match_all || self.patterns.iter().any(|p| p.child_may_match(path))
    }
}

/// What a search found below one tree, in tree order: the tree's own matching entries, each
/// followed by what was found below it when it is a directory. Shared through `Arc` between
/// every snapshot (and parent tree) holding the tree.
#[derive(Debug)]
struct TreeMatches {
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Match(Box<FindMatch>),
    Below(Arc<TreeMatches>),
}

/// Searches snapshots one after another, remembering what it found in each tree.
pub struct Finder<'a> {
    repo: &'a Repository,
    index: &'a Index,
    patterns: FindPatterns,
    /// Per (tree id, path of the directory it is the content of): the matches below it, or
    /// `None` when there are none. The path is part of the key because a pattern may match
    /// on the path, not only the name.
    memo: HashMap<(Id, Vec<u8>), Option<Arc<TreeMatches>>>,
}

impl<'a> Finder<'a> {
    pub fn new(repo: &'a Repository, index: &'a Index, patterns: FindPatterns) -> Finder<'a> {
        Finder {
            repo,
            index,
            patterns,
            memo: HashMap::new(),
        }
    }

    /// Calls `found` for every matching entry below the snapshot tree `root`, depth first in
    /// tree order; returns the number of matches.
    pub fn find_in_snapshot(
        &mut self,
        root: &Id,
        found: &mut dyn FnMut(&FindMatch) -> Result<()>,
    ) -> Result<usize> {
        let mut count = 0;
        if let Some(matches) = self.search_tree(root, b"")? {
            emit(&matches, &mut count, found)?;
        }
        Ok(count)
    }

    fn search_tree(&mut self, tree: &Id, dir_path: &[u8]) -> Result<Option<Arc<TreeMatches>>> {
        let key = (*tree, dir_path.to_vec());
        if let Some(known) = self.memo.get(&key) {
            return Ok(known.clone());
        }
        let mut items = Vec::new();
        for node in self.repo.load_tree(self.index, tree)? {
            let mut path = dir_path.to_vec();
            path.push(b'/');
            path.extend_from_slice(&node.name);
            let text = String::from_utf8_lossy(&path).into_owned();
            let matched = self.patterns.matches(&text);
            let subtree = node.subtree.filter(|_| node.node_type == NodeType::Dir);
            if matched {
                items.push(Item::Match(Box::new(FindMatch {
                    path: path.clone(),
                    node,
                })));
            }
            if let Some(subtree) = subtree {
                if matched || self.patterns.child_may_match(&text) {
                    if let Some(below) = self.search_tree(&subtree, &path)? {
                        items.push(Item::Below(below));
                    }
                }
            }
        }
        let result = (!items.is_empty()).then(|| Arc::new(TreeMatches { items }));
        self.memo.insert(key, result.clone());
        Ok(result)
    }
}

fn emit(
    matches: &TreeMatches,
    count: &mut usize,
    found: &mut dyn FnMut(&FindMatch) -> Result<()>,
) -> Result<()> {
    for item in &matches.items {
        match item {
            Item::Match(m) => {
                *count += 1;
                found(m)?;
            }
            Item::Below(below) => emit(below, count, found)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str], ignore_case: bool) -> FindPatterns {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        FindPatterns::new(&list, ignore_case).unwrap()
    }

    #[test]
    fn a_name_pattern_matches_the_entry_and_everything_below_it() {
        let p = patterns(&["foo"], false);
        assert!(p.matches("/a/foo"));
        assert!(p.matches("/a/foo/b/c.txt"));
        assert!(!p.matches("/a/foobar"));
        assert!(!p.matches("/a/xfoo"));
    }

    #[test]
    fn globs_match_names_at_any_depth() {
        let p = patterns(&["*.txt"], false);
        assert!(p.matches("/k.txt"));
        assert!(p.matches("/src/c/k.txt"));
        assert!(!p.matches("/src/c/k.txt.bak"));
        assert!(p.child_may_match("/src"));
    }

    #[test]
    fn patterns_with_slashes_match_paths() {
        let relative = patterns(&["c/*.txt"], false);
        assert!(relative.matches("/src/c/k.txt"));
        assert!(!relative.matches("/src/d/k.txt"));
        assert!(!relative.matches("/src/c/sub/z"));
        let anchored = patterns(&["/src/c"], false);
        assert!(anchored.matches("/src/c"));
        assert!(anchored.matches("/src/c/k.txt"));
        assert!(!anchored.matches("/x/src/c"));
        assert!(anchored.child_may_match("/src"));
        assert!(!anchored.child_may_match("/other"));
    }

    #[test]
    fn ignore_case_lowercases_both_sides() {
        let p = patterns(&["FOO*"], true);
        assert!(p.matches("/a/FooBar"));
        assert!(!patterns(&["FOO*"], false).matches("/a/FooBar"));
    }

    #[test]
    fn any_pattern_may_match_and_an_empty_one_matches_all() {
        let p = patterns(&["/nope", "*.log"], false);
        assert!(p.matches("/var/x.log"));
        assert!(!p.matches("/var/x.txt"));
        assert!(patterns(&[""], false).matches("/anything/at/all"));
    }

    mod walk {
        use std::sync::Arc;

        use cairn_format::tree::encode_tree;
        use cairn_format::BlobType;
        use cairn_storage::{FileKind, MemoryStore, Storage};

        use super::super::*;
        use super::patterns;
        use crate::blob_codec::{BlobEncoder, Compression};
        use crate::blob_writer::{BlobWriter, WriterOptions};
        use crate::keys::KeyOptions;

        fn store(repo: &Repository, blob_type: BlobType, bytes: &[u8]) -> Id {
            let index = Index::load(repo).unwrap();
            let writer = BlobWriter::new(repo, &index, &WriterOptions::default());
            let id = Id::hash(bytes);
            let mut encoder = BlobEncoder::new(Compression::Auto, true);
            writer.save(&mut encoder, blob_type, id, bytes).unwrap();
            writer.finish().unwrap();
            id
        }

        fn dir(name: &str, subtree: Id) -> Node {
            let mut node = Node::new(name.as_bytes().to_vec(), NodeType::Dir);
            node.subtree = Some(subtree);
            node
        }

        fn found(finder: &mut Finder, root: &Id) -> Result<Vec<String>> {
            let mut paths = Vec::new();
            finder.find_in_snapshot(root, &mut |m| {
                paths.push(String::from_utf8_lossy(&m.path).into_owned());
                Ok(())
            })?;
            Ok(paths)
        }

        #[test]
        fn a_shared_tree_is_read_once_and_reported_for_every_snapshot() {
            let memory = Arc::new(MemoryStore::new());
            let options = KeyOptions {
                kdf: Some(cairn_crypto::KdfParams {
                    n: 1024,
                    r: 8,
                    p: 1,
                }),
                ..KeyOptions::default()
            };
            let repo = Repository::init(memory.clone(), b"pw", &options).unwrap();
            let shared_tree = encode_tree(&[
                Node::new(b"hit.txt".to_vec(), NodeType::File),
                Node::new(b"miss.bin".to_vec(), NodeType::File),
            ]);
            let shared = store(&repo, BlobType::Tree, &shared_tree);
            let one = store(
                &repo,
                BlobType::Tree,
                &encode_tree(&[
                    dir("d", shared),
                    Node::new(b"one.txt".to_vec(), NodeType::File),
                ]),
            );
            let two = store(
                &repo,
                BlobType::Tree,
                &encode_tree(&[
                    dir("d", shared),
                    Node::new(b"two.log".to_vec(), NodeType::File),
                ]),
            );
            let index = Index::load(&repo).unwrap();
            let mut finder = Finder::new(&repo, &index, patterns(&["*.txt"], false));
            assert_eq!(
                found(&mut finder, &one).unwrap(),
                ["/d/hit.txt", "/one.txt"]
            );
            // Take the shared tree's pack away: the second snapshot's search must not need it.
            let pack = index.lookup(BlobType::Tree, &shared).unwrap().pack;
            memory.remove(FileKind::Pack, &pack.to_hex()).unwrap();
            assert_eq!(found(&mut finder, &two).unwrap(), ["/d/hit.txt"]);
            let mut fresh = Finder::new(&repo, &index, patterns(&["*.txt"], false));
            assert!(found(&mut fresh, &two).is_err(), "the pack really is gone");
        }
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_pattern_named() {
        let error = FindPatterns::new(&["a/[b".to_string()], false).unwrap_err();
        assert!(error.to_string().contains("\"a/[b\""), "{error}");
        assert!(FindPatterns::new(&[], false).is_err());
    }
}
