//! Finding repositories in a bucket: every prefix that holds a `config` object.

use std::collections::VecDeque;

use super::S3Store;
use crate::Result;

/// Directories of a repository's own layout: never searched for nested repositories.
const REPOSITORY_DIRS: [&str; 5] = ["data/", "keys/", "index/", "snapshots/", "locks/"];

impl S3Store {
    /// The prefixes (relative to this store's prefix, "" for itself) of every repository at
    /// or below it, searched breadth first one level at a time down to `max_depth` levels.
    /// A repository's own directories are not searched.
    pub fn find_repositories(&self, max_depth: usize) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut queue = VecDeque::from([(String::new(), 0usize)]);
        while let Some((dir, depth)) = queue.pop_front() {
            let entries = self.list_keys(&dir, false)?;
            let config = format!("{dir}config");
            if entries.iter().any(|e| e.name == config) {
                found.push(dir.trim_end_matches('/').to_string());
                continue;
            }
            if depth >= max_depth {
                continue;
            }
            for entry in entries {
                let name = &entry.name;
                let child = &name[dir.len().min(name.len())..];
                if name.ends_with('/') && !REPOSITORY_DIRS.contains(&child) {
                    queue.push_back((name.clone(), depth + 1));
                }
            }
        }
        found.sort();
        Ok(found)
    }
}
