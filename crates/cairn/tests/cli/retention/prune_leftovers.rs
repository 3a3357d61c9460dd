//! Temporary files a SIGKILLed backup leaves (`*-tmp-*`) are removed by prune once older than
//! a day, reported in text and JSON, listed by a dry run; fresh ones stay.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::support::inspect::temporary_files;
use crate::support::rng::Rng;
use crate::support::{run_ok, stdout, Scratch};

const MIB: usize = 1 << 20;

/// Runs backups of fresh random data and SIGKILLs each as soon as a new temporary file appears
/// in the repository, until one leaves some behind; returns the new leftovers.
fn leftovers_of_a_killed_backup(
    scratch: &Scratch,
    repo: &Path,
    source: &Path,
    rng: &mut Rng,
) -> BTreeSet<PathBuf> {
    for attempt in 0..10 {
        std::fs::write(
            source.join(format!("random-{}.bin", rng.next_u64())),
            rng.bytes(24 * MIB),
        )
        .unwrap();
        let before: BTreeSet<PathBuf> = temporary_files(repo).into_iter().collect();
        let mut child = scratch
            .cairn(repo)
            .args(["-q", "backup", "--pack-size", "4"])
            .arg(source)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none()
            && temporary_files(repo).iter().all(|p| before.contains(p))
        {}
        let _ = child.kill();
        let _ = child.wait();
        run_ok(scratch.cairn(repo).args(["-q", "unlock"]));
        let new: BTreeSet<PathBuf> = temporary_files(repo)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if !new.is_empty() {
            return new;
        }
        eprintln!("attempt {attempt}: the backup finished or left nothing; again");
    }
    panic!("ten killed backups left no temporary file")
}

fn set_age(path: &Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

fn relative(repo: &Path, paths: &BTreeSet<PathBuf>) -> BTreeSet<String> {
    paths
        .iter()
        .map(|p| p.strip_prefix(repo).unwrap().to_str().unwrap().to_string())
        .collect()
}

#[test]
fn prune_removes_leftovers_of_a_killed_backup_older_than_a_day() {
    let scratch = Scratch::new();
    let repo = scratch.init_repo("repo");
    let source = scratch.path("src");
    std::fs::create_dir_all(&source).unwrap();
    let mut rng = Rng::new(0x1ef7_0001);
    run_ok(scratch.cairn(&repo).arg("-q").arg("backup").arg(&source));

    let old = leftovers_of_a_killed_backup(&scratch, &repo, &source, &mut rng);
    for path in &old {
        set_age(path, Duration::from_secs(2 * 86_400));
    }
    let old_bytes: u64 = old
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let fresh = leftovers_of_a_killed_backup(&scratch, &repo, &source, &mut rng);
    eprintln!("leftovers: old {old:?}, fresh {fresh:?}");
    // Restic ignores them already; so does cairn's check.
    run_ok(scratch.restic(&repo).arg("check"));
    run_ok(scratch.cairn(&repo).args(["-q", "check"]));

    // A dry run lists exactly the old ones and removes nothing.
    let dry = run_ok(scratch.cairn(&repo).args(["--json", "prune", "--dry-run"]));
    // Status lines come first; the summary is the last line.
    let summary: serde_json::Value =
        serde_json::from_str(stdout(&dry).lines().last().unwrap_or_default()).unwrap();
    let listed: BTreeSet<String> = summary["would_remove_temporaries"]
        .as_array()
        .unwrap_or_else(|| panic!("no list in {summary}"))
        .iter()
        .map(|t| t["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, relative(&repo, &old), "{summary}");
    assert_eq!(summary["stale_temporary_files"], old.len(), "{summary}");
    assert_eq!(summary["stale_temporary_bytes"], old_bytes, "{summary}");
    assert!(old.iter().chain(&fresh).all(|p| p.exists()));
    let text = stdout(&run_ok(scratch.cairn(&repo).args(["prune", "--dry-run"])));
    for path in relative(&repo, &old) {
        assert!(text.contains(&format!("would remove {path}")), "{text}");
    }

    let pruned = run_ok(scratch.cairn(&repo).args(["--json", "prune"]));
    let summary: serde_json::Value =
        serde_json::from_str(stdout(&pruned).lines().last().unwrap_or_default()).unwrap();
    assert_eq!(summary["stale_temporary_files"], old.len(), "{summary}");
    assert_eq!(summary["stale_temporary_bytes"], old_bytes, "{summary}");
    assert!(
        summary.get("would_remove_temporaries").is_none(),
        "{summary}"
    );
    let left: BTreeSet<PathBuf> = temporary_files(&repo).into_iter().collect();
    assert_eq!(left, fresh, "only the fresh leftovers remain");

    run_ok(scratch.restic(&repo).arg("check"));
    run_ok(scratch.cairn(&repo).args(["-q", "check"]));
    // The text report counts them.
    for path in &fresh {
        set_age(path, Duration::from_secs(2 * 86_400));
    }
    let text = stdout(&run_ok(scratch.cairn(&repo).arg("prune")));
    assert!(
        text.contains(&format!("leftovers:    {:>8} temporary files", fresh.len())),
        "{text}"
    );
    assert!(temporary_files(&repo).is_empty());
}
