//! The restore pipeline: the planner hands over batches, worker threads restore them, and each
//! batch is finished in planning order.
//!
//! A batch goes through three stages:
//! 1. content: one job per pack, run by any worker (a worker done with one batch's packs takes
//!    the next batch's, so both cores stay busy across batch boundaries);
//! 2. finishing, strictly in batch order and by one thread at a time: hard links (their first
//!    path is in this batch or an earlier one, so it exists), then the metadata of the files no
//!    content worker finished and of symlinks and special files;
//! 3. with `--verify`, verification jobs (slices of the batch's files), run by any worker.
//!
//! A batch is dropped when its last stage ends. The planner waits while
//! [`BATCHES_ALIVE_MAX`] batches are alive: that is the bound on the plan's memory.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};

use super::batch::Batch;
use super::content::{self, Worker};
use super::{metadata, verify, Errors, Report};
use crate::Repository;

/// Batches planned but not yet done. Three let the workers start on the next batch while one
/// waits for its turn to finish and another is verified; the planner fills a further one.
pub(crate) const BATCHES_ALIVE_MAX: u64 = 3;
/// A verification job covers consecutive files up to this many bytes (or one larger file).
const VERIFY_JOB_BYTES: u64 = 32 << 20;

pub(crate) struct PipelineTotals {
    /// Bytes written to files (holes included).
    pub bytes_written: u64,
    pub files_verified: u64,
    /// The largest sum of the plan estimates of batches alive at once (the batch the planner
    /// is filling comes on top).
    pub plan_bytes_peak: usize,
}

enum Job {
    Pack {
        batch: Arc<Batch>,
        pack: usize,
    },
    Verify {
        batch: Arc<Batch>,
        files: Range<usize>,
    },
}

pub(crate) struct Pipeline<'a> {
    repo: &'a Repository,
    report: &'a Report<'a>,
    errors: &'a Errors,
    verify: bool,
    as_root: bool,
    jobs: Receiver<Job>,
    /// Batch bookkeeping shared by the planner and the workers: what is published, done and
    /// waiting for its turn to be finished.
    state: Mutex<State>,
    /// Signalled when a batch is done (the planner may go on) or the pipeline aborts.
    batch_done: Condvar,
    written: AtomicU64,
    verified: AtomicU64,
}

struct State {
    /// Dropped once planning is over and every batch is done: the workers then stop.
    sender: Option<Sender<Job>>,
    published: u64,
    done: u64,
    /// Batches whose content is written, waiting for the earlier ones to be finished.
    content_written: BTreeMap<u64, Arc<Batch>>,
    next_to_finish: u64,
    /// Whether a thread is running finishing steps (only one does, in batch order).
    finishing: bool,
    planning_over: bool,
    /// A worker panicked: the planner must not wait for batches that will never be done.
    aborted: bool,
    /// The sum of alive batches' plan estimates, and its largest value.
    plan_bytes_alive: usize,
    plan_bytes_peak: usize,
}

impl<'a> Pipeline<'a> {
    pub fn new(
        repo: &'a Repository,
        report: &'a Report<'a>,
        errors: &'a Errors,
        verify: bool,
    ) -> Pipeline<'a> {
        // Unbounded: what is queued is bounded by the batches alive, and a finishing worker
        // queueing verification jobs must never wait for the workers.
        let (sender, jobs) = crossbeam_channel::unbounded();
        Pipeline {
            repo,
            report,
            errors,
            verify,
            as_root: metadata::as_root(),
            jobs,
            state: Mutex::new(State {
                sender: Some(sender),
                published: 0,
                done: 0,
                content_written: BTreeMap::new(),
                next_to_finish: 0,
                finishing: false,
                planning_over: false,
                aborted: false,
                plan_bytes_alive: 0,
                plan_bytes_peak: 0,
            }),
            batch_done: Condvar::new(),
            written: AtomicU64::new(0),
            verified: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("restore pipeline state")
    }

    /// Hands a batch to the workers, first waiting while too many are alive. Batches must be
    /// numbered 0, 1, 2… in the order they are published.
    pub fn publish(&self, batch: Batch) {
        let mut state = self.state();
        while state.published - state.done >= BATCHES_ALIVE_MAX && !state.aborted {
            state = self.batch_done.wait(state).expect("restore pipeline state");
        }
        if state.aborted {
            return;
        }
        debug_assert_eq!(batch.number, state.published);
        state.published += 1;
        state.plan_bytes_alive += batch.plan_bytes;
        state.plan_bytes_peak = state.plan_bytes_peak.max(state.plan_bytes_alive);
        let sender = state.sender.clone().expect("open until planning is over");
        drop(state);
        let batch = Arc::new(batch);
        if batch.packs.is_empty() {
            return self.content_written(batch);
        }
        batch.jobs_left.store(batch.packs.len(), Ordering::Release);
        for pack in 0..batch.packs.len() {
            let job = Job::Pack {
                batch: batch.clone(),
                pack,
            };
            sender.send(job).expect("the workers outlive the planner");
        }
    }

    /// No more batches will come; the workers stop once every batch is done.
    pub fn planning_over(&self) {
        let mut state = self.state();
        state.planning_over = true;
        if state.done == state.published {
            state.sender = None;
        }
    }

    /// A worker thread: runs jobs until the pipeline is over.
    pub fn work(&self) {
        let _abort_on_panic = AbortOnPanic(self);
        let mut worker = Worker::new();
        for job in self.jobs.iter() {
            match job {
                Job::Pack { batch, pack } => {
                    let written = content::restore_pack(
                        self.repo,
                        &batch,
                        pack,
                        &mut worker,
                        self.report,
                        self.errors,
                    );
                    self.written.fetch_add(written, Ordering::Relaxed);
                    if batch.jobs_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        self.content_written(batch);
                    }
                }
                Job::Verify { batch, files } => {
                    let verified = verify::verify_files(
                        &batch.files[files],
                        self.report,
                        self.errors,
                        worker.buffer(),
                    );
                    worker.release_large_buffers();
                    self.verified.fetch_add(verified, Ordering::Relaxed);
                    if batch.jobs_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        self.done(&batch);
                    }
                }
            }
        }
    }

    /// What the workers did, once they have stopped.
    pub fn totals(self) -> PipelineTotals {
        let plan_bytes_peak = self.state().plan_bytes_peak;
        PipelineTotals {
            bytes_written: self.written.into_inner(),
            files_verified: self.verified.into_inner(),
            plan_bytes_peak,
        }
    }

    /// A batch's content is written: finish it when its turn comes. The thread that finds the
    /// next batch in order finishes it and every written batch after it; others return at once
    /// to their jobs.
    fn content_written(&self, batch: Arc<Batch>) {
        let mut state = self.state();
        state.content_written.insert(batch.number, batch);
        if state.finishing {
            return;
        }
        state.finishing = true;
        loop {
            let next = state.next_to_finish;
            let Some(batch) = state.content_written.remove(&next) else {
                break;
            };
            drop(state);
            self.finish(&batch);
            let verify_jobs = if self.verify {
                verify_slices(&batch)
            } else {
                Vec::new()
            };
            state = self.state();
            state.next_to_finish += 1;
            if verify_jobs.is_empty() {
                drop(state);
                self.done(&batch);
            } else {
                let sender = state.sender.clone().expect("open while a batch is alive");
                drop(state);
                batch.jobs_left.store(verify_jobs.len(), Ordering::Release);
                for files in verify_jobs {
                    let job = Job::Verify {
                        batch: batch.clone(),
                        files,
                    };
                    sender.send(job).expect("the workers are running");
                }
            }
            state = self.state();
        }
        state.finishing = false;
    }

    /// Stage 2: hard links, then the metadata content workers did not apply (files without
    /// content or whose last write failed), then symlinks and special files.
    fn finish(&self, batch: &Batch) {
        let (report, errors) = (self.report, self.errors);
        for (link, first) in &batch.links {
            if let Err(e) = std::fs::hard_link(first, link) {
                errors.add(
                    report,
                    link,
                    format!("cannot create hard link to {}: {e}", first.display()),
                );
            }
        }
        for (file, done) in batch.files.iter().zip(&batch.metadata_done) {
            if !done.load(Ordering::Acquire) {
                metadata::apply_to_path(&file.path, &file.metadata, self.as_root, report, errors);
                report.file_done(&file.path);
            }
        }
        for (path, metadata) in &batch.others {
            metadata::apply_to_path(path, metadata, self.as_root, report, errors);
        }
    }

    fn done(&self, batch: &Batch) {
        let mut state = self.state();
        state.done += 1;
        state.plan_bytes_alive -= batch.plan_bytes;
        if state.planning_over && state.done == state.published {
            state.sender = None;
        }
        drop(state);
        self.batch_done.notify_all();
    }
}

/// Consecutive files of a batch, about [`VERIFY_JOB_BYTES`] per slice.
fn verify_slices(batch: &Batch) -> Vec<Range<usize>> {
    let mut slices = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, file) in batch.files.iter().enumerate() {
        bytes += file.size;
        if bytes >= VERIFY_JOB_BYTES {
            slices.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < batch.files.len() {
        slices.push(start..batch.files.len());
    }
    slices
}

/// Wakes the planner if a worker panics, so the restore ends (with the panic) instead of
/// waiting for a batch that will never be done.
struct AbortOnPanic<'p, 'a>(&'p Pipeline<'a>);

impl Drop for AbortOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut state) = self.0.state.lock() {
                state.aborted = true;
                state.sender = None;
            }
            self.0.batch_done.notify_all();
        }
    }
}
