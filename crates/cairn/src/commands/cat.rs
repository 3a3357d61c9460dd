//! `cairn cat`: a repository object, for inspection. It never prints the master key.

use std::io::Write;

use anyhow::{bail, Context, Result};
use cairn_format::{BlobType, Id};
use cairn_repo::index::Index;
use cairn_repo::keys::resolve_key_id;
use cairn_repo::snapshots::find_snapshot;
use cairn_storage::FileKind;

use crate::cli::{CatArgs, GlobalArgs};
use crate::repository;

fn parse_id(text: Option<&str>, kind: &str) -> Result<Id> {
    let text = text.with_context(|| format!("cat {kind} needs an id"))?;
    text.parse()
        .with_context(|| format!("invalid {kind} id {text:?}: give all 64 hex digits"))
}

fn print_pretty(json: &[u8]) -> Result<()> {
    let value: serde_json::Value = serde_json::from_slice(json)?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

pub fn run(global: &GlobalArgs, args: CatArgs) -> Result<u8> {
    if args.kind == "masterkey" {
        bail!("cat masterkey is not offered: the master key never leaves cairn");
    }
    let repo = repository::open(global)?;
    let id = args.id.as_deref();
    match args.kind.as_str() {
        "config" => print_pretty(&repo.config().to_json())?,
        "index" => print_pretty(&repo.load_unpacked(FileKind::Index, &parse_id(id, "index")?)?)?,
        "snapshot" => {
            let text = id.context("cat snapshot needs an id")?;
            let (id, snapshot) = find_snapshot(&repo, text, &Default::default())?;
            let _ = id;
            println!("{}", serde_json::to_string_pretty(&snapshot)?);
        }
        "key" => {
            let key_id =
                resolve_key_id(repo.storage().as_ref(), id.context("cat key needs an id")?)?;
            print_pretty(&repo.storage().get(FileKind::Key, &key_id.to_hex())?)?;
        }
        "lock" => print_pretty(&repo.load_unpacked(FileKind::Lock, &parse_id(id, "lock")?)?)?,
        "pack" => {
            let bytes = repo
                .storage()
                .get(FileKind::Pack, &parse_id(id, "pack")?.to_hex())?;
            std::io::stdout().lock().write_all(&bytes)?;
        }
        "blob" => {
            let blob = parse_id(id, "blob")?;
            let index = Index::load(&repo)?;
            let blob_type = if index.contains(BlobType::Data, &blob) {
                BlobType::Data
            } else {
                BlobType::Tree
            };
            let bytes = repo.read_indexed_blob(&index, blob_type, &blob)?;
            std::io::stdout().lock().write_all(&bytes)?;
        }
        other => bail!(
            "unknown object kind {other:?}: use config, index, snapshot, key, lock, pack or blob"
        ),
    }
    Ok(0)
}
