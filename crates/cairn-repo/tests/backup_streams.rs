//! Streams (database dumps) in the same snapshot as files: produced by real child processes,
//! read through the backup pipeline, and a failing producer failing the whole backup.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use cairn_format::tree::NodeType;
use cairn_repo::backup::{
    backup_with_streams, BackupOptions, NoObserver, StreamEntry, StreamSource,
};
use cairn_repo::index::Index;
use cairn_repo::keys::KeyOptions;
use cairn_repo::snapshots::{load_all_snapshots, load_snapshot};
use cairn_repo::tree_io::find_node;
use cairn_repo::Repository;
use cairn_storage::LocalStore;

/// A shell command's standard output as a stream; its exit status and error output decide.
struct ShellStream {
    script: String,
    child: Option<Child>,
}

impl ShellStream {
    fn entry(path: &str, script: &str) -> StreamEntry {
        StreamEntry {
            path: PathBuf::from(path),
            source: Box::new(ShellStream {
                script: script.to_string(),
                child: None,
            }),
        }
    }
}

impl StreamSource for ShellStream {
    fn open(&mut self) -> std::io::Result<OwnedFd> {
        let mut child = Command::new("sh")
            .args(["-c", &self.script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        self.child = Some(child);
        Ok(stdout.into())
    }

    fn finish(&mut self) -> Result<(), String> {
        let mut child = self.child.take().expect("opened");
        let mut errors = String::new();
        child
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut errors)
            .unwrap();
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("sh exited with {status}: {}", errors.trim()))
        }
    }
}

fn repository(dir: &Path) -> Repository {
    let options = KeyOptions {
        kdf: Some(cairn_crypto::KdfParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..KeyOptions::default()
    };
    Repository::init(Arc::new(LocalStore::new(dir)), b"pw", &options).unwrap()
}

fn content_of(repo: &Repository, tree: &cairn_format::Id, path: &str) -> Vec<u8> {
    let index = Index::load(repo).unwrap();
    let node = find_node(repo, &index, tree, path.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(node.node_type, NodeType::File, "{path}");
    let mut out = Vec::new();
    for blob in node.content.unwrap() {
        out.extend(
            repo.read_indexed_blob(&index, cairn_format::BlobType::Data, &blob)
                .unwrap(),
        );
    }
    out
}

#[test]
fn files_and_dumps_land_in_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let source = dir.path().join("files");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("a.txt"), b"a file\n").unwrap();
    // 3 MB of varied text from one producer, a few bytes from another.
    let big =
        "i=0; while [ $i -lt 60000 ]; do echo \"row $i of the accounts table\"; i=$((i+1)); done";
    let streams = vec![
        ShellStream::entry("/cairn-dumps/postgresql/db1/app.sql", big),
        ShellStream::entry(
            "/cairn-dumps/sqlite/grafana.sqlite",
            "printf 'SQLite format 3'",
        ),
    ];
    let summary = backup_with_streams(
        &repo,
        std::slice::from_ref(&source),
        streams,
        &BackupOptions::default(),
        &NoObserver,
    )
    .unwrap();
    let id = summary.snapshot_id.expect("a snapshot");
    let snapshot = load_snapshot(&repo, &id).unwrap();
    let mut expected_paths = vec![source.display().to_string(), "/cairn-dumps".to_string()];
    expected_paths.sort();
    assert_eq!(snapshot.paths, expected_paths);

    let dump = content_of(&repo, &snapshot.tree, "/cairn-dumps/postgresql/db1/app.sql");
    let text = String::from_utf8(dump).unwrap();
    assert_eq!(text.lines().count(), 60_000);
    assert!(text.ends_with("row 59999 of the accounts table\n"));
    assert_eq!(
        content_of(&repo, &snapshot.tree, "/cairn-dumps/sqlite/grafana.sqlite"),
        b"SQLite format 3"
    );
    let file_path = format!("{}/a.txt", source.display());
    assert_eq!(content_of(&repo, &snapshot.tree, &file_path), b"a file\n");
    // The dumps are private.
    let index = Index::load(&repo).unwrap();
    let dumps = find_node(&repo, &index, &snapshot.tree, b"/cairn-dumps")
        .unwrap()
        .unwrap();
    assert_eq!(dumps.mode & 0o777, 0o700);

    // A second run deduplicates the unchanged dump.
    let again = vec![ShellStream::entry(
        "/cairn-dumps/postgresql/db1/app.sql",
        big,
    )];
    let second = backup_with_streams(
        &repo,
        &[source],
        again,
        &BackupOptions::default(),
        &NoObserver,
    )
    .unwrap();
    assert_eq!(second.data_blobs, 0, "nothing new to store");
}

#[test]
fn a_failing_producer_fails_the_backup_and_writes_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let streams = vec![
        ShellStream::entry("/cairn-dumps/mariadb/db1/good.sql", "echo fine"),
        ShellStream::entry(
            "/cairn-dumps/mariadb/db1/shop.sql",
            "echo 'half a dump'; echo 'Unknown database shop' >&2; exit 2",
        ),
    ];
    let error = backup_with_streams(&repo, &[], streams, &BackupOptions::default(), &NoObserver)
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("/cairn-dumps/mariadb/db1/shop.sql")
            && text.contains("Unknown database shop")
            && text.contains("no snapshot was written"),
        "{text}"
    );
    assert!(load_all_snapshots(&repo).unwrap().is_empty());
    assert!(
        repo.list_ids(cairn_storage::FileKind::Lock)
            .unwrap()
            .is_empty(),
        "no lock left behind"
    );
}

#[test]
fn streams_alone_make_a_snapshot_and_bad_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let only = vec![ShellStream::entry(
        "/cairn-dumps/sqlite/x.sqlite",
        "printf data",
    )];
    let summary =
        backup_with_streams(&repo, &[], only, &BackupOptions::default(), &NoObserver).unwrap();
    let snapshot = load_snapshot(&repo, &summary.snapshot_id.unwrap()).unwrap();
    assert_eq!(snapshot.paths, ["/cairn-dumps"]);
    let outside = vec![ShellStream::entry("/etc/x.sql", "true")];
    let error = backup_with_streams(&repo, &[], outside, &BackupOptions::default(), &NoObserver)
        .unwrap_err();
    assert!(error.to_string().contains("below /cairn-dumps"), "{error}");
}
