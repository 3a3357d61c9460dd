//! A directory of a snapshot as a streamed archive: `.tar.gz` (the `dump` tar writer through
//! gzip) or `.zip` (written without seeking: each entry's sizes and CRC follow its data in a
//! data descriptor; deflate). Entries are named below the directory's own name (`etc/hosts`
//! for `/etc`), so unpacking creates one directory.

use std::io::{self, Write};
use std::str::FromStr;

use cairn_format::tree::{go_mode, NodeType};
use cairn_format::Id;
use chrono::{Datelike, Timelike};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::go_time;
use crate::dump::{dump_tar, ContentReader};
use crate::index::Index;
use crate::{RepoError, Repository, Result};

/// Deflate level of both formats. A download is read as it is made: at level 6 compressing
/// was the bottleneck (21 MiB/s on the server benchmark's text-heavy dataset, a third of
/// restic's zip); level 1 (zlib-rs) keeps most of the size gain at several times the speed.
const LEVEL: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    TarGz,
    Zip,
}

impl ArchiveFormat {
    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "application/gzip",
            ArchiveFormat::Zip => "application/zip",
        }
    }
}

impl FromStr for ArchiveFormat {
    type Err = RepoError;

    fn from_str(text: &str) -> Result<ArchiveFormat> {
        match text {
            "tar.gz" | "tgz" => Ok(ArchiveFormat::TarGz),
            "zip" => Ok(ArchiveFormat::Zip),
            other => Err(RepoError::InvalidInput(format!(
                "{other:?} is not an archive format; use tar.gz or zip"
            ))),
        }
    }
}

/// Writes the directory tree `tree` as an archive whose entries are named `prefix/…`.
pub fn write_archive(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    prefix: &str,
    format: ArchiveFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let output_error = |e: io::Error| RepoError::io("archive output", e);
    match format {
        ArchiveFormat::TarGz => {
            let mut gzip = flate2::write::GzEncoder::new(out, flate2::Compression::new(LEVEL));
            dump_tar(repo, index, tree, prefix.as_bytes(), &mut gzip)?;
            gzip.finish().map_err(output_error)?;
        }
        ArchiveFormat::Zip => {
            let mut zip = zip::ZipWriter::new_stream(out);
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                zip.add_directory(format!("{prefix}/"), SimpleFileOptions::default())
                    .map_err(zip_error)?;
            }
            append_zip(repo, index, tree, prefix, &mut zip)?;
            zip.finish().map_err(zip_error)?;
        }
    }
    Ok(())
}

type StreamZip<'w> = zip::ZipWriter<zip::write::StreamWriter<&'w mut dyn Write>>;

fn append_zip(
    repo: &Repository,
    index: &Index,
    tree: &Id,
    prefix: &str,
    zip: &mut StreamZip<'_>,
) -> Result<()> {
    for node in repo.load_tree(index, tree)? {
        let name = String::from_utf8_lossy(&node.name);
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let mut options =
            SimpleFileOptions::default().unix_permissions(go_mode::to_unix_permissions(node.mode));
        if let Some(time) = go_time(&node.mtime).and_then(|t| {
            zip::DateTime::from_date_and_time(
                u16::try_from(t.year()).ok()?,
                t.month() as u8,
                t.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
            )
            .ok()
        }) {
            options = options.last_modified_time(time);
        }
        match node.node_type {
            NodeType::Dir => {
                zip.add_directory(format!("{path}/"), options)
                    .map_err(zip_error)?;
                if let Some(subtree) = node.subtree {
                    append_zip(repo, index, &subtree, &path, zip)?;
                }
            }
            NodeType::File => {
                let options = options
                    .compression_method(CompressionMethod::Deflated)
                    .compression_level(Some(i64::from(LEVEL)))
                    // Zip64 fields are needed, and must be chosen before the data, from 4 GiB.
                    .large_file(node.size >= u64::from(u32::MAX));
                zip.start_file(path.as_str(), options).map_err(zip_error)?;
                let blobs = node.content.as_deref().unwrap_or(&[]);
                let mut reader = ContentReader::new(repo, index, blobs);
                io::copy(&mut reader, zip).map_err(|e| match e.downcast::<RepoError>() {
                    Ok(repo_error) => repo_error,
                    Err(e) => RepoError::io("archive output", e),
                })?;
            }
            NodeType::Symlink => {
                let target = String::from_utf8_lossy(&node.link_target);
                zip.add_symlink(path.as_str(), target.as_ref(), options)
                    .map_err(zip_error)?;
            }
            // Devices, FIFOs and sockets have no content a zip can carry.
            _ => {}
        }
    }
    Ok(())
}

fn zip_error(error: zip::result::ZipError) -> RepoError {
    match error {
        zip::result::ZipError::Io(e) => RepoError::io("archive output", e),
        other => RepoError::io("archive output", io::Error::other(other.to_string())),
    }
}
