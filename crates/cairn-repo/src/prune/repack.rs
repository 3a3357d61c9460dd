//! Copying the used blobs of the packs chosen for repacking into new packs.

use cairn_format::IndexPack;
use cairn_storage::FileKind;

use super::{PruneOptions, PrunePlan};
use crate::blob_codec::{BlobDecoder, BlobEncoder, Compression};
use crate::blob_writer::{BlobWriter, WriterOptions, WriterSummary};
use crate::index::{BlobLocation, Index};
use crate::progress::Progress;
use crate::{Repository, Result};

/// Writes the used blobs of `plan.repack` into new packs (and their index files). Blobs that
/// also lie in a kept pack are not copied again.
pub(super) fn repack(
    repo: &Repository,
    plan: &PrunePlan,
    options: &PruneOptions,
    progress: &Progress,
) -> Result<WriterSummary> {
    if plan.repack.is_empty() {
        return Ok(WriterSummary::default());
    }
    let mut kept = Index::new();
    for id in &plan.keep {
        kept.add_pack(&plan.packs[id]);
    }
    let writer_options = WriterOptions {
        pack_size: options.pack_size,
        ..WriterOptions::default()
    };
    let writer = BlobWriter::new(repo, &kept, &writer_options);
    let mut encoder = BlobEncoder::new(Compression::Auto, repo.supports_compression());
    let mut decoder = BlobDecoder::new();
    for id in &plan.repack {
        progress.set_current(Some(&format!("pack {}", id.short())));
        copy_pack(
            repo,
            &plan.packs[id],
            plan,
            &writer,
            &mut encoder,
            &mut decoder,
            progress,
        )?;
        progress.add_files(1);
    }
    writer.finish()
}

fn copy_pack(
    repo: &Repository,
    pack: &IndexPack,
    plan: &PrunePlan,
    writer: &BlobWriter<'_>,
    encoder: &mut BlobEncoder,
    decoder: &mut BlobDecoder,
    progress: &Progress,
) -> Result<()> {
    let mut bytes = repo.storage().get(FileKind::Pack, &pack.id.to_hex())?;
    for blob in &pack.blobs {
        if !plan.used.contains(&(blob.blob_type, blob.id)) {
            continue;
        }
        let location = BlobLocation {
            blob_type: blob.blob_type,
            pack: pack.id,
            offset: blob.offset,
            length: blob.length,
            uncompressed_length: blob.uncompressed_length,
        };
        let (start, end) = (
            blob.offset as usize,
            blob.offset as usize + blob.length as usize,
        );
        let sealed = bytes.get_mut(start..end).ok_or_else(|| {
            crate::RepoError::corrupt(
                format!("pack {}", pack.id),
                "shorter than its index says; run `cairn check --read-data`",
            )
        })?;
        // Every copied blob is verified (MAC and id): prune never moves damaged data into a
        // fresh pack as if it were good.
        let plaintext = decoder.decode(repo.key(), &blob.id, &location, sealed)?;
        writer.save(encoder, blob.blob_type, blob.id, plaintext)?;
        progress.add_bytes(u64::from(blob.length));
    }
    Ok(())
}
