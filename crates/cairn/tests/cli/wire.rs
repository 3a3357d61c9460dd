//! What cairn puts on the wire to S3, seen through a loopback proxy in front of the real test
//! server: a backup whose PUT bodies are damaged on the way is still stored whole (Content-MD5,
//! then a retry), and `mirror sync --bwlimit` holds the rate in every 2-second window.

use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_storage::s3_test_proxy::S3TestProxy;
use cairn_storage::s3_test_server::{self as server, S3TestServer};

use crate::s3::{cairn_at, init_s3_repo, restic_at, small_tree, unique_prefix};
use crate::support::rng::Rng;
use crate::support::{run_fail, run_ok, stderr, Scratch};

const MIB: f64 = (1 << 20) as f64;

#[test]
fn a_backup_over_a_link_that_damages_each_first_put_is_stored_whole() {
    let scratch = Scratch::new();
    let server = S3TestServer::shared();
    let prefix = unique_prefix("damaging-link");
    let direct = init_s3_repo(server, &prefix);
    let proxy = S3TestProxy::damaging_first_puts(server.port(), 1);
    let source = scratch.path("src");
    small_tree(&source, 21);

    run_ok(
        cairn_at(&scratch, &proxy.url(server::BUCKET, &prefix))
            .arg("backup")
            .arg(&source),
    );
    // Data and tree packs, index, snapshot and lock: each one's first body was damaged.
    let damaged = proxy.damaged_puts();
    assert!(damaged >= 5, "{damaged} PUT bodies damaged");
    run_ok(restic_at(&scratch, &direct).args(["check", "--read-data"]));
}

#[test]
fn mirror_sync_bwlimit_holds_the_rate_in_every_two_second_window() {
    let scratch = Scratch::new();
    let offsite = S3TestServer::shared();
    let local = scratch.init_repo("local");
    let repo = local.to_str().unwrap().to_string();
    let source = scratch.path("src");
    std::fs::create_dir_all(&source).unwrap();
    let mut rng = Rng::new(33);
    for i in 0..5 {
        std::fs::write(source.join(format!("{i}.bin")), rng.bytes(4 << 20)).unwrap();
    }
    run_ok(
        cairn_at(&scratch, &repo)
            .args(["backup", "--pack-size", "4"])
            .arg(&source),
    );
    let proxy = S3TestProxy::start(offsite.port());
    let dest = proxy.url(server::BUCKET, &unique_prefix("bwlimit"));

    // ~20 MiB at 2 MiB/s over four transfers: about 10 s; a broken limit must not hang the suite.
    let mut child = cairn_at(&scratch, &repo)
        .args([
            "mirror",
            "sync",
            &dest,
            "--bwlimit",
            "2M",
            "--transfers",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("mirror sync at 2 MiB/s still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let (windows, span) = proxy.upload_windows(Duration::from_secs(2), Duration::from_millis(50));
    let lowest = *windows.iter().min().unwrap() as f64 / MIB;
    let highest = *windows.iter().max().unwrap() as f64 / MIB;
    eprintln!(
        "--bwlimit 2M: {} windows of 2 s over {:.1} s, {lowest:.2} to {highest:.2} MiB per \
         window ({:.2} to {:.2} MiB/s)",
        windows.len(),
        span.as_secs_f64(),
        lowest / 2.0,
        highest / 2.0
    );
    assert!(
        (3.0..=5.0).contains(&lowest) && (3.0..=5.0).contains(&highest),
        "every 2 s window within 25% of 4 MiB: {lowest:.2} to {highest:.2} MiB"
    );
    assert!(
        (8.5..=12.5).contains(&span.as_secs_f64()),
        "~20 MiB at 2 MiB/s took {span:?}"
    );
}

#[test]
fn bwlimit_on_a_local_mirror_is_refused() {
    let scratch = Scratch::new();
    let local = scratch.init_repo("local");
    let dest = scratch.path("mirror");
    let refused = run_fail(scratch.cairn(&local).args([
        "mirror",
        "sync",
        dest.to_str().unwrap(),
        "--bwlimit",
        "1M",
    ]));
    let text = stderr(&refused);
    assert!(
        text.contains("--bwlimit applies to S3 mirrors only"),
        "{text}"
    );
    assert!(!dest.exists(), "nothing written");
}
