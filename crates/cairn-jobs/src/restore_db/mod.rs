//! `restore-db`: one database dump of a plan's snapshot back into its server (or a SQLite
//! file), recorded as a job of kind `restore-db` with its steps and log.
//!
//! The latest snapshot tagged `plan:PLAN` is used unless a snapshot is named; the dump is
//! found below `/cairn-dumps` ([`locate`]) and streamed out of the repository blob by blob into
//! the restore tool ([`target`]): no temporary file for PostgreSQL or MariaDB.
//!
//! Connection settings (user, password, port) come from the plan's entry for the dump's host;
//! `--host`/`--port` send the restore elsewhere with the same credentials.

pub mod locate;
pub(crate) mod target;

use std::path::PathBuf;

use cairn_config::{Config, DatabaseSelection, MariadbDump, Plan, PostgresDump};
use cairn_repo::dump::ContentReader;
use cairn_repo::index::Index;
use cairn_repo::snapshots::{find_snapshot, SnapshotFilter};
use cairn_state::{
    JobEnd, JobId, JobKind, JobRecord, JobState, NewJob, StateStore, StepState, Trigger,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::dumps::mariadb::MariadbConnection;
use crate::dumps::postgresql::PgConnection;
use crate::dumps::{private_dir, DumpKind};
use crate::open::OpenOptions;
use crate::runner::plan_tag;
use crate::{JobError, Result};
use locate::{choose, dumps_in, DumpFile};

/// What to restore, and where.
pub struct RestoreDbRequest<'a> {
    pub config: &'a Config,
    pub plan: &'a str,
    /// The database (SQLite: the dump's name).
    pub database: &'a str,
    pub kind: Option<DumpKind>,
    /// A snapshot id or prefix; `None`: the plan's latest.
    pub snapshot: Option<&'a str>,
    /// A new database (SQLite: a new file path) instead of the original.
    pub into: Option<&'a str>,
    /// Another server than the dump's (same credentials).
    pub host: Option<&'a str>,
    pub port: Option<u16>,
    pub trigger: Trigger,
    pub open: OpenOptions,
    pub now: &'a (dyn Fn() -> DateTime<Utc> + Sync),
}

/// What was restored where.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub snapshot: String,
    pub kind: String,
    /// The dump's path in the snapshot.
    pub dump: String,
    /// `database app_copy on postgresql 127.0.0.1:5432`, or the SQLite file.
    pub target: String,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct RestoreDbOutcome {
    pub job: JobRecord,
    pub restored: Option<Restored>,
}

/// Restores and records the job. `Err` only when nothing could be recorded (an unknown plan,
/// an unusable state database); a failed restore is an `Ok` outcome whose job says why.
pub fn restore_db(request: &RestoreDbRequest<'_>, state: &StateStore) -> Result<RestoreDbOutcome> {
    let plan = request
        .config
        .plan(request.plan)
        .map_err(JobError::InvalidInput)?;
    let repository = request.config.repository_of(plan);
    let now = (request.now)();
    let job = state.create_job(
        &NewJob::first(
            JobKind::RestoreDb,
            Some(plan.name.clone()),
            Some(repository.name.clone()),
            request.trigger,
            now,
        ),
        Some(now),
    )?;
    let mut run = Recorder {
        state,
        job,
        now: request.now,
    };
    let result = restore(request, plan, &mut run);
    let scratch = scratch_dir(request.config, job);
    let _ = std::fs::remove_dir_all(&scratch);
    let (end, restored) = match result {
        Ok(restored) => (
            JobEnd {
                state: JobState::Succeeded,
                snapshot: Some(restored.snapshot.clone()),
                bytes_added: None,
                error: None,
            },
            Some(restored),
        ),
        Err(e) => {
            let message = e.to_string();
            run.log(&format!("error: {message}"));
            (
                JobEnd {
                    state: JobState::Failed,
                    snapshot: None,
                    bytes_added: None,
                    error: Some(message),
                },
                None,
            )
        }
    };
    state.finish_job(job, &end, (request.now)())?;
    Ok(RestoreDbOutcome {
        job: state.job(job)?,
        restored,
    })
}

fn scratch_dir(config: &Config, job: JobId) -> PathBuf {
    config.state_dir.join("tmp").join(format!("job-{job}"))
}

fn restore(
    request: &RestoreDbRequest<'_>,
    plan: &Plan,
    run: &mut Recorder<'_>,
) -> Result<Restored> {
    let repo = run.step("open repository", || {
        let entry = request.config.repository_of(plan);
        let repo = crate::open::repository(entry, &request.open)?;
        Ok((repo, entry.location.to_string()))
    })?;
    let (snapshot, index, dump) = run.step("find dump", || {
        let filter = match request.snapshot {
            Some(_) => SnapshotFilter::default(),
            None => SnapshotFilter {
                tags: vec![plan_tag(&plan.name)],
                ..SnapshotFilter::default()
            },
        };
        let (id, snapshot) = find_snapshot(&repo, request.snapshot.unwrap_or("latest"), &filter)
            .map_err(|e| match (request.snapshot, e) {
                (None, cairn_repo::RepoError::InvalidInput(_)) => JobError::InvalidInput(format!(
                    "plan {} has no snapshot yet (none tagged {}); run it first",
                    plan.name,
                    plan_tag(&plan.name)
                )),
                (_, e) => e.into(),
            })?;
        let index = Index::load(&repo)?;
        let short = id.short();
        let dumps = dumps_in(&repo, &index, &snapshot.tree)?;
        let dump = choose(dumps, &short, request.database, request.kind, request.host)?;
        let detail = format!("{} in snapshot {short}", dump.path);
        Ok(((id.to_hex(), index, dump), detail))
    })?;
    let scratch = scratch_dir(request.config, run.job);
    let (bytes, target) = run.step("restore", || {
        let blobs = dump.node.content.as_deref().unwrap_or(&[]);
        let mut reader = ContentReader::new(&repo, &index, blobs);
        let (bytes, target) = restore_dump(request, plan, &dump, &scratch, &mut reader)?;
        if bytes != dump.node.size {
            return Err(JobError::Database(format!(
                "{} holds {} bytes but {bytes} were restored",
                dump.path, dump.node.size
            )));
        }
        let detail = format!("{} ({bytes} bytes) into {target}", dump.path);
        Ok(((bytes, target), detail))
    })?;
    run.log(&format!(
        "restored {} of snapshot {} into {target}",
        dump.path,
        &snapshot[..8]
    ));
    Ok(Restored {
        snapshot,
        kind: dump.kind.to_string(),
        dump: dump.path.clone(),
        target,
        bytes,
    })
}

/// Streams `dump` into its target; the bytes it took and a description of the target.
fn restore_dump(
    request: &RestoreDbRequest<'_>,
    plan: &Plan,
    dump: &DumpFile,
    scratch: &std::path::Path,
    reader: &mut ContentReader<'_>,
) -> Result<(u64, String)> {
    let create = request.into.is_some();
    match dump.kind {
        DumpKind::Postgresql => {
            let mut connection = PgConnection::of(&postgres_entry(plan, dump))?;
            override_server(&mut connection.host, &mut connection.port, request);
            let database = request.into.unwrap_or(&dump.database);
            let format = dump.format.unwrap_or_default();
            let bytes = target::postgresql(&connection, format, database, create, reader)?;
            Ok((
                bytes,
                format!("database {database} on postgresql {}", connection.server()),
            ))
        }
        DumpKind::Mariadb => {
            private_dir(scratch)?;
            let entry = mariadb_entry(plan, dump);
            let mut connection = MariadbConnection::of(&entry, scratch, 0)?;
            override_server(&mut connection.host, &mut connection.port, request);
            let database = request.into.unwrap_or(&dump.database);
            let bytes = target::mariadb(&connection, database, create, reader)?;
            Ok((
                bytes,
                format!("database {database} on mariadb {}", connection.server()),
            ))
        }
        DumpKind::Sqlite => {
            let path = match request.into {
                Some(path) => PathBuf::from(path),
                None => plan
                    .sqlite
                    .iter()
                    .find(|s| s.name == dump.database)
                    .map(|s| s.path.clone())
                    .ok_or_else(|| {
                        JobError::InvalidInput(format!(
                            "plan {} no longer names sqlite {}; give the file to write with \
                             --into PATH",
                            plan.name, dump.database
                        ))
                    })?,
            };
            let bytes = target::sqlite(&path, create, reader)?;
            Ok((bytes, format!("sqlite file {}", path.display())))
        }
    }
}

fn override_server(host: &mut String, port: &mut u16, request: &RestoreDbRequest<'_>) {
    if let Some(h) = request.host {
        *host = h.to_string();
    }
    if let Some(p) = request.port {
        *port = p;
    }
}

fn entry_matches(selection: &DatabaseSelection, database: &str) -> bool {
    match selection {
        DatabaseSelection::All => true,
        DatabaseSelection::One(name) => name == database,
    }
}

/// The plan's entry that dumped `dump` (its credentials), or defaults for its host when the
/// plan no longer names it.
pub(crate) fn postgres_entry(plan: &Plan, dump: &DumpFile) -> PostgresDump {
    let host = dump.host.clone().unwrap_or_default();
    let same_host = |e: &&PostgresDump| e.host == host;
    plan.postgresql
        .iter()
        .filter(same_host)
        .find(|e| entry_matches(&e.database, &dump.database))
        .or_else(|| plan.postgresql.iter().find(same_host))
        .cloned()
        .unwrap_or(PostgresDump {
            database: DatabaseSelection::One(dump.database.clone()),
            host,
            port: cairn_config::POSTGRES_PORT_DEFAULT,
            username: None,
            format: dump.format.unwrap_or_default(),
            password: None,
        })
}

pub(crate) fn mariadb_entry(plan: &Plan, dump: &DumpFile) -> MariadbDump {
    let host = dump.host.clone().unwrap_or_default();
    let same_host = |e: &&MariadbDump| e.host == host;
    plan.mariadb
        .iter()
        .filter(same_host)
        .find(|e| entry_matches(&e.database, &dump.database))
        .or_else(|| plan.mariadb.iter().find(same_host))
        .cloned()
        .unwrap_or(MariadbDump {
            database: DatabaseSelection::One(dump.database.clone()),
            host,
            port: cairn_config::MARIADB_PORT_DEFAULT,
            username: None,
            password: None,
        })
}

/// Records the steps and log lines of the job.
struct Recorder<'a> {
    state: &'a StateStore,
    job: JobId,
    now: &'a (dyn Fn() -> DateTime<Utc> + Sync),
}

impl Recorder<'_> {
    fn step<T>(&mut self, name: &str, body: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
        let seq = self.state.begin_step(self.job, name, (self.now)())?;
        let result = body();
        let (state, detail, error) = match &result {
            Ok((_, detail)) => (StepState::Succeeded, Some(detail.as_str()), None),
            Err(e) => (StepState::Failed, None, Some(e.to_string())),
        };
        self.state
            .finish_step(self.job, seq, state, detail, error.as_deref(), (self.now)())?;
        result.map(|(value, _)| value)
    }

    fn log(&self, line: &str) {
        if let Err(e) = self
            .state
            .append_log(self.job, "cairn", &[line], (self.now)())
        {
            tracing::warn!("cannot record a log line of job {}: {e}", self.job);
        }
    }
}
