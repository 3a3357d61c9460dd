//! The hand-written repository: every object in a minimal form (only what the format needs;
//! every optional field absent) or an extended one (every field restic 0.17 writes, in its
//! order, plus a field nobody knows, `x_future`), from restic's design document and the JSON
//! restic 0.17 writes.
//!
//! Content: `/d/kept.txt` (pack A), `/d/link` → `kept.txt`, `/d/lost.txt` (pack B, which the
//! repair tests delete); trees `D` (of `d`) and `R` (the root) in pack T; one index file; one
//! snapshot; one stale lock.

use std::path::PathBuf;

use cairn_format::{BlobType, Id, IndexFile, Snapshot};
use serde_json::Value;

use crate::support::handmade::{BlobSpec, HandmadeRepo};
use crate::support::Scratch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Minimal,
    Extended,
}

pub const KEPT: &[u8] = b"kept through every rewrite\n";
pub const LOST: &[u8] = b"lost with its pack\n";
pub const LINK_TARGET: &str = "kept.txt";

/// What the tests look for after each rewrite.
pub struct Fixture {
    pub repo: PathBuf,
    pub form: Form,
    pub snapshot: Id,
    /// The snapshot as written, with the fields cairn does not know.
    pub snapshot_json: Snapshot,
    /// The same, parsed as plain JSON.
    pub snapshot_value: Value,
    pub index_json: IndexFile,
    /// The index as plain JSON.
    pub index_value: Value,
    /// The pack holding `lost.txt`'s only blob.
    pub pack_of_lost: Id,
    pub tree_d: Id,
    pub tree_d_bytes: Vec<u8>,
    pub tree_r_bytes: Vec<u8>,
    /// The JSON of the nodes of tree `D`, as written.
    pub kept_node: String,
    pub link_node: String,
    pub lock: Id,
}

const TIMES: &str = r#""mtime":"2024-05-01T10:00:00.123456789+02:00","atime":"2024-05-01T10:00:00.123456789+02:00","ctime":"2024-05-01T10:00:01.5+02:00""#;
const OWNER: &str = r#""uid":1000,"gid":100,"user":"alice","group":"users""#;

fn file_node(form: Form, name: &str, content: &[u8], inode: u64, extra: &str) -> String {
    let id = Id::hash(content);
    let size = content.len();
    match form {
        Form::Minimal => {
            format!(r#"{{"name":"{name}","type":"file","size":{size},"content":["{id}"]}}"#)
        }
        // restic 0.17's order; `generic_attributes` is the field 0.17 added (cairn does not
        // know it), `x_future` one nobody knows.
        Form::Extended => format!(
            concat!(
                r#"{{"name":"{name}","type":"file","mode":420,{times},{owner},"inode":{inode},"#,
                r#""device_id":2049,"size":{size},"links":1,{extra}"#,
                r#""generic_attributes":{{"windows.file_attributes":"IAAAAA=="}},"#,
                r#""content":["{id}"],"x_future":{{"v":[1,"\u003c2\u003e"]}}}}"#
            ),
            name = name,
            times = TIMES,
            owner = OWNER,
            inode = inode,
            size = size,
            extra = extra,
            id = id,
        ),
    }
}

fn link_node(form: Form) -> String {
    match form {
        Form::Minimal => {
            format!(r#"{{"name":"link","type":"symlink","linktarget":"{LINK_TARGET}"}}"#)
        }
        Form::Extended => format!(
            concat!(
                r#"{{"name":"link","type":"symlink","mode":134218239,{times},{owner},"#,
                r#""inode":1235,"device_id":2049,"links":1,"linktarget":"{target}","#,
                r#""content":null,"x_future":true}}"#
            ),
            times = TIMES,
            owner = OWNER,
            target = LINK_TARGET,
        ),
    }
}

fn dir_node(form: Form, subtree: Id) -> String {
    match form {
        Form::Minimal => format!(r#"{{"name":"d","type":"dir","subtree":"{subtree}"}}"#),
        Form::Extended => format!(
            concat!(
                r#"{{"name":"d","type":"dir","mode":2147484141,{times},{owner},"#,
                r#""inode":1233,"device_id":2049,"content":null,"subtree":"{subtree}","#,
                r#""x_future":"dir"}}"#
            ),
            times = TIMES,
            owner = OWNER,
            subtree = subtree,
        ),
    }
}

fn tree(nodes: &[&str]) -> Vec<u8> {
    format!("{{\"nodes\":[{}]}}\n", nodes.join(",")).into_bytes()
}

fn key_json(form: Form, salt: &str, data: &str) -> String {
    match form {
        // As another implementation of the format writes it: no created, username, hostname.
        Form::Minimal => {
            format!(r#"{{"kdf":"scrypt","N":1024,"r":8,"p":1,"data":"{data}","salt":"{salt}"}}"#)
        }
        Form::Extended => format!(
            concat!(
                r#"{{"created":"2024-05-01T10:00:00.123456789+02:00","username":"alice","#,
                r#""hostname":"fixture-host","kdf":"scrypt","N":1024,"r":8,"p":1,"#,
                r#""salt":"{salt}","data":"{data}","x_future":[]}}"#
            ),
            salt = salt,
            data = data,
        ),
    }
}

fn config_json(form: Form) -> &'static str {
    match form {
        Form::Minimal => {
            r#"{"version":2,"id":"0b6b2ff0b5ad5b0d6b4c8e4f61f1cf8a0b9d6b5f2e5d4c3b2a1908f7e6d5c4b3","chunker_polynomial":"3da3358b4dc173"}"#
        }
        Form::Extended => {
            r#"{"version":2,"id":"1b6b2ff0b5ad5b0d6b4c8e4f61f1cf8a0b9d6b5f2e5d4c3b2a1908f7e6d5c4b3","chunker_polynomial":"3da3358b4dc173","x_future":{"k":"v"}}"#
        }
    }
}

fn blob_entry(form: Form, blob: &cairn_format::PackBlob) -> String {
    let (id, kind, offset, length) = (blob.id, blob.blob_type, blob.offset, blob.length);
    match (form, blob.uncompressed_length) {
        (Form::Minimal, _) => {
            format!(r#"{{"id":"{id}","type":"{kind}","offset":{offset},"length":{length}}}"#)
        }
        (Form::Extended, plain) => format!(
            r#"{{"id":"{id}","type":"{kind}","offset":{offset},"length":{length},{}"x_future":{offset}}}"#,
            plain.map_or(String::new(), |n| format!(r#""uncompressed_length":{n},"#)),
        ),
    }
}

fn pack_entry(form: Form, pack: Id, blobs: &[cairn_format::PackBlob]) -> String {
    let blobs: Vec<String> = blobs.iter().map(|blob| blob_entry(form, blob)).collect();
    let blobs = blobs.join(",");
    match form {
        Form::Minimal => format!(r#"{{"id":"{pack}","blobs":[{blobs}]}}"#),
        Form::Extended => format!(r#"{{"id":"{pack}","blobs":[{blobs}],"x_future":"pack"}}"#),
    }
}

fn snapshot_json(form: Form, tree: Id) -> String {
    match form {
        Form::Minimal => format!(r#"{{"time":"2024-05-01T10:00:02Z","tree":"{tree}"}}"#),
        Form::Extended => format!(
            concat!(
                r#"{{"time":"2024-05-01T10:00:02.5+02:00","parent":"{parent}","tree":"{tree}","#,
                r#""paths":["/srv/fixture"],"hostname":"fixture-host","username":"alice","#,
                r#""uid":1000,"gid":100,"excludes":["*.tmp"],"tags":["daily"],"#,
                r#""original":"{original}","program_version":"restic 0.17.3","#,
                r#""summary":{{"backup_start":"2024-05-01T10:00:00.1+02:00","#,
                r#""backup_end":"2024-05-01T10:00:02.4+02:00","files_new":2,"files_changed":0,"#,
                r#""files_unmodified":0,"dirs_new":2,"dirs_changed":0,"dirs_unmodified":0,"#,
                r#""data_blobs":2,"tree_blobs":2,"data_added":1024,"data_added_packed":900,"#,
                r#""total_files_processed":2,"total_bytes_processed":46}},"#,
                r#""x_future":{{"note":"kept"}}}}"#
            ),
            parent = Id::hash(b"a parent"),
            tree = tree,
            original = Id::hash(b"an original"),
        ),
    }
}

fn lock_json(form: Form) -> &'static str {
    match form {
        Form::Minimal => "{}",
        Form::Extended => {
            r#"{"time":"2020-01-01T00:00:00Z","exclusive":true,"hostname":"fixture-host","username":"alice","pid":4242,"uid":1000,"gid":100,"x_future":0}"#
        }
    }
}

/// Writes the fixture repository `name` in the scratch directory.
pub fn build(scratch: &Scratch, name: &str, form: Form) -> Fixture {
    let path = scratch.path(name);
    let extended = form == Form::Extended;
    let repo = HandmadeRepo::new(&path, extended);
    repo.write_key(|salt, data| key_json(form, salt, data));
    repo.write_config(config_json(form));

    let data = |plaintext| BlobSpec {
        blob_type: BlobType::Data,
        plaintext,
        compressed: extended,
    };
    let (pack_a, blobs_a) = repo.write_pack(&[data(KEPT)]);
    let (pack_b, blobs_b) = repo.write_pack(&[data(LOST)]);

    let xattr = r#""extended_attributes":[{"name":"user.fixture","value":"dmFs"}],"#;
    let kept_node = file_node(form, "kept.txt", KEPT, 1234, xattr);
    let link_node = link_node(form);
    let lost_node = file_node(form, "lost.txt", LOST, 1236, "");
    let tree_d_bytes = tree(&[&kept_node, &link_node, &lost_node]);
    let tree_d = Id::hash(&tree_d_bytes);
    let tree_r_bytes = tree(&[&dir_node(form, tree_d)]);
    let tree_r = Id::hash(&tree_r_bytes);
    let tree_blob = |plaintext| BlobSpec {
        blob_type: BlobType::Tree,
        plaintext,
        compressed: extended,
    };
    let (pack_t, blobs_t) = repo.write_pack(&[tree_blob(&tree_d_bytes), tree_blob(&tree_r_bytes)]);

    let packs = [
        pack_entry(form, pack_a, &blobs_a),
        pack_entry(form, pack_b, &blobs_b),
        pack_entry(form, pack_t, &blobs_t),
    ]
    .join(",");
    let index = match form {
        Form::Minimal => format!(r#"{{"packs":[{packs}]}}"#),
        Form::Extended => format!(
            r#"{{"supersedes":["{}"],"packs":[{packs}],"x_future":"index"}}"#,
            Id::hash(b"an index file long gone")
        ),
    };
    repo.write_unpacked("index", &index);
    let snapshot_text = snapshot_json(form, tree_r);
    let snapshot = repo.write_unpacked("snapshots", &snapshot_text);
    let lock = repo.write_unpacked("locks", lock_json(form));

    Fixture {
        repo: path,
        form,
        snapshot,
        snapshot_json: Snapshot::from_json(snapshot_text.as_bytes()).expect("snapshot JSON"),
        snapshot_value: serde_json::from_str(&snapshot_text).expect("snapshot JSON"),
        index_json: IndexFile::from_json(index.as_bytes()).expect("index JSON"),
        index_value: serde_json::from_str(&index).expect("index JSON"),
        pack_of_lost: pack_b,
        tree_d,
        tree_d_bytes,
        tree_r_bytes,
        kept_node,
        link_node,
        lock,
    }
}

impl Fixture {
    /// The entry of pack `id` in the index as written, as plain JSON.
    pub fn pack_value(&self, id: &Id) -> &Value {
        self.index_value["packs"]
            .as_array()
            .expect("packs")
            .iter()
            .find(|pack| pack["id"] == id.to_hex())
            .expect("a pack of the fixture")
    }
}
