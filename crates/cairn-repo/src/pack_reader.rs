//! Reading pack files as a whole: the trailer, the sealed header, the blob list.

use cairn_crypto::MasterKey;
use cairn_format::pack::{decode_header, header_length_from_trailer, PackBlob, TRAILER_LEN};
use cairn_format::Id;

use crate::{RepoError, Result};

/// The blobs a complete pack's header lists, after checking the header's MAC.
pub fn parse_pack(key: &MasterKey, pack: &Id, bytes: &[u8]) -> Result<Vec<PackBlob>> {
    let object = || format!("pack {pack}");
    if bytes.len() < TRAILER_LEN + cairn_crypto::OVERHEAD {
        return Err(RepoError::corrupt(
            object(),
            format!("only {} bytes long, too short for a header", bytes.len()),
        ));
    }
    let trailer: [u8; 4] = bytes[bytes.len() - TRAILER_LEN..]
        .try_into()
        .expect("4 bytes");
    let header_len = header_length_from_trailer(trailer) as usize;
    let header_end = bytes.len() - TRAILER_LEN;
    if header_len > header_end || header_len < cairn_crypto::OVERHEAD {
        return Err(RepoError::corrupt(
            object(),
            format!(
                "trailer gives a header length of {header_len} bytes, impossible in a pack of {}",
                bytes.len()
            ),
        ));
    }
    let header_start = header_end - header_len;
    let plaintext = key
        .open(&bytes[header_start..header_end])
        .map_err(|e| RepoError::corrupt(object(), format!("header: {e}")))?;
    decode_header(&plaintext, header_start as u64)
        .map_err(|e| RepoError::corrupt(object(), e.to_string()))
}

/// The header length from the last bytes of a pack, to fetch only the header of a large pack.
pub fn header_span(pack_size: u64, trailer: [u8; 4]) -> Option<(u64, u64)> {
    let header_len = u64::from(header_length_from_trailer(trailer));
    let end = pack_size.checked_sub(TRAILER_LEN as u64)?;
    let start = end.checked_sub(header_len)?;
    Some((start, header_len))
}
