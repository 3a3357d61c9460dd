//! Writing snapshot content out as a stream: one file's bytes, or a directory as a tar archive
//! (for `dump`, and for downloads from the server).

use std::io::{self, Read, Write};
use std::path::Path;

use cairn_format::tree::{Node, NodeType};
use cairn_format::{BlobType, Id};

use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// Reads a file's content blob by blob, so a large file is never held in memory whole.
pub struct ContentReader<'a> {
    repo: &'a Repository,
    index: &'a Index,
    blobs: std::slice::Iter<'a, Id>,
    current: Vec<u8>,
    position: usize,
}

impl<'a> ContentReader<'a> {
    pub fn new(repo: &'a Repository, index: &'a Index, blobs: &'a [Id]) -> ContentReader<'a> {
        ContentReader {
            repo,
            index,
            blobs: blobs.iter(),
            current: Vec::new(),
            position: 0,
        }
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            let Some(id) = self.blobs.next() else {
                return Ok(0);
            };
            self.current = self
                .repo
                .read_indexed_blob(self.index, BlobType::Data, id)
                .map_err(io::Error::other)?;
            self.position = 0;
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// Writes a file node's content to `out`.
pub fn dump_file(
    repo: &Repository,
    index: &Index,
    node: &Node,
    out: &mut dyn Write,
) -> Result<u64> {
    let blobs = node.content.as_deref().unwrap_or(&[]);
    let mut reader = ContentReader::new(repo, index, blobs);
    io::copy(&mut reader, out).map_err(|e| match e.downcast::<RepoError>() {
        Ok(repo_error) => repo_error,
        Err(e) => RepoError::io("standard output", e),
    })
}

/// Writes the tree `tree` as a tar archive whose entries are named `prefix/…`.
pub fn dump_tar(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    prefix: &[u8],
    out: &mut dyn Write,
) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    append_tree(repo, index, tree, trim_slashes(prefix), &mut builder)?;
    builder
        .finish()
        .map_err(|e| RepoError::io("tar output", e))?;
    Ok(())
}

fn append_tree(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    prefix: &[u8],
    builder: &mut tar::Builder<&mut dyn Write>,
) -> Result<()> {
    for node in repo.load_tree(index, tree)? {
        let mut path_bytes = prefix.to_vec();
        if !path_bytes.is_empty() {
            path_bytes.push(b'/');
        }
        path_bytes.extend_from_slice(&node.name);
        let path = Path::new(std::ffi::OsStr::from_bytes(&path_bytes));
        let mut header = tar::Header::new_gnu();
        header.set_mode(cairn_format::tree::go_mode::to_unix_permissions(node.mode));
        header.set_uid(u64::from(node.uid));
        header.set_gid(u64::from(node.gid));
        header.set_mtime(node.mtime.unix_secs.max(0) as u64);
        let _ = header.set_username(&node.user);
        let _ = header.set_groupname(&node.group);
        let io_error = |e| RepoError::io(path, e);
        match node.node_type {
            NodeType::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                // A trailing slash marks directory entries, as tar tools (and restic) write them.
                let mut dir_name = path_bytes.clone();
                dir_name.push(b'/');
                builder
                    .append_data(
                        &mut header,
                        Path::new(std::ffi::OsStr::from_bytes(&dir_name)),
                        io::empty(),
                    )
                    .map_err(io_error)?;
                if let Some(subtree) = node.subtree {
                    append_tree(repo, index, &subtree, &path_bytes, builder)?;
                }
            }
            NodeType::File => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(node.size);
                let blobs = node.content.as_deref().unwrap_or(&[]);
                let reader = ContentReader::new(repo, index, blobs);
                builder
                    .append_data(&mut header, path, reader)
                    .map_err(io_error)?;
            }
            NodeType::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                let target = std::ffi::OsStr::from_bytes(&node.link_target);
                builder
                    .append_link(&mut header, path, target)
                    .map_err(io_error)?;
            }
            NodeType::Fifo => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, io::empty())
                    .map_err(io_error)?;
            }
            NodeType::Dev | NodeType::CharDev => {
                header.set_entry_type(if node.node_type == NodeType::Dev {
                    tar::EntryType::Block
                } else {
                    tar::EntryType::Char
                });
                header.set_size(0);
                let (major, minor) = (
                    libc::major(node.device as libc::dev_t),
                    libc::minor(node.device as libc::dev_t),
                );
                let _ = header.set_device_major(major);
                let _ = header.set_device_minor(minor);
                builder
                    .append_data(&mut header, path, io::empty())
                    .map_err(io_error)?;
            }
            NodeType::Socket | NodeType::Other(_) => {}
        }
    }
    Ok(())
}

use std::os::unix::ffi::OsStrExt;

fn trim_slashes(mut bytes: &[u8]) -> &[u8] {
    while let [b'/', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b'/'] = bytes {
        bytes = rest;
    }
    bytes
}
