//! An in-memory store, for tests of the engine that need no disk.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::{ErrorKind, FileKind, ObjectInfo, Result, Storage, StorageError};

/// Files by kind and name.
type Files = BTreeMap<(FileKind, String), Arc<Vec<u8>>>;

#[derive(Debug, Default)]
pub struct MemoryStore {
    /// One lock for all files: the store is for tests, where simplicity beats concurrency.
    files: Mutex<Files>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn key(kind: FileKind, name: &str) -> (FileKind, String) {
        match kind {
            FileKind::Config => (kind, "config".to_string()),
            _ => (kind, name.to_string()),
        }
    }

    fn not_found(kind: FileKind, name: &str, operation: &'static str) -> StorageError {
        StorageError::new(
            ErrorKind::NotFound,
            operation,
            format!("memory:{}", kind.path(name)),
            "no such file",
        )
    }

    fn lookup(&self, kind: FileKind, name: &str, operation: &'static str) -> Result<Arc<Vec<u8>>> {
        self.files
            .lock()
            .expect("memory store lock")
            .get(&Self::key(kind, name))
            .cloned()
            .ok_or_else(|| Self::not_found(kind, name, operation))
    }
}

impl Storage for MemoryStore {
    fn location(&self) -> String {
        "memory:".to_string()
    }

    fn create(&self) -> Result<()> {
        if self
            .files
            .lock()
            .expect("memory store lock")
            .contains_key(&Self::key(FileKind::Config, ""))
        {
            return Err(StorageError::new(
                ErrorKind::AlreadyExists,
                "create repository",
                self.location(),
                "a repository already exists here (config file found)",
            ));
        }
        Ok(())
    }

    fn put(&self, kind: FileKind, name: &str, data: &[u8]) -> Result<()> {
        self.files
            .lock()
            .expect("memory store lock")
            .insert(Self::key(kind, name), Arc::new(data.to_vec()));
        Ok(())
    }

    fn get(&self, kind: FileKind, name: &str) -> Result<Vec<u8>> {
        Ok(self.lookup(kind, name, "read")?.as_ref().clone())
    }

    fn get_range(&self, kind: FileKind, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let data = self.lookup(kind, name, "read")?;
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= data.len() as u64)
            .ok_or_else(|| {
                StorageError::new(
                    ErrorKind::Invalid,
                    "read",
                    format!("memory:{}", kind.path(name)),
                    format!(
                        "file is {} bytes, wanted {length} bytes at {offset}",
                        data.len()
                    ),
                )
            })?;
        Ok(data[offset as usize..end as usize].to_vec())
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        Ok(self.lookup(kind, name, "stat")?.len() as u64)
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .files
            .lock()
            .expect("memory store lock")
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, name), data)| ObjectInfo {
                name: name.clone(),
                size: data.len() as u64,
            })
            .collect())
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.files
            .lock()
            .expect("memory store lock")
            .remove(&Self::key(kind, name))
            .map(|_| ())
            .ok_or_else(|| Self::not_found(kind, name, "remove"))
    }

    fn write_concurrency(&self) -> usize {
        1
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes_the_conformance_suite() {
        crate::conformance::run_all(&super::MemoryStore::new());
    }
}
