//! The command-line grammar.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Deduplicated, encrypted backups in the restic repository format"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The config file of plans and repositories (default /etc/cairn/cairn.toml)
    #[arg(long, env = cairn_config::CONFIG_PATH_ENV, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Repository location: a directory, local:PATH, or s3:https://HOST/BUCKET[/PREFIX]
    #[arg(short = 'r', long = "repo", env = "CAIRN_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Read the password from the first line of this file
    #[arg(long, env = "CAIRN_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the password
    #[arg(long, env = "CAIRN_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// When the repository is locked, keep trying this long (e.g. 30s, 5m, 1h)
    #[arg(long, global = true, value_name = "DURATION")]
    pub retry_lock: Option<String>,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// S3: path-style requests (HOST/BUCKET/KEY); the default for endpoints other than AWS
    #[arg(long, global = true)]
    pub s3_path_style: bool,
    /// S3: virtual-host requests (BUCKET.HOST/KEY); the default for *.amazonaws.com
    #[arg(long, global = true)]
    pub s3_virtual_host: bool,
    /// S3: retries of a failed request (timeouts, resets, 5xx, SlowDown) with growing pauses
    #[arg(long, global = true, default_value_t = 6, value_name = "N")]
    pub s3_retries: usize,
    /// Say more (repeat for more detail)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Keep the metadata cache of remote repositories here (default ~/.cache/cairn)
    #[arg(long, global = true, env = "CAIRN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Read everything from the repository; use no metadata cache
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Refresh held repository locks this often (default 5m); for tests
    #[arg(long, global = true, hide = true, env = "CAIRN_LOCK_REFRESH")]
    pub lock_refresh: Option<String>,
    /// Give up a lock that could not be refreshed for this long (default 15m); for tests
    #[arg(long, global = true, hide = true, env = "CAIRN_LOCK_LOST_AFTER")]
    pub lock_lost_after: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new repository
    Init(InitArgs),
    /// Back up files, directories or a stream into a new snapshot
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// List the entries of a snapshot
    Ls(LsArgs),
    /// Write a file's content, or a directory as tar, to standard output
    Dump(DumpArgs),
    /// Print a repository object (config, index, snapshot, key, pack, blob)
    Cat(CatArgs),
    /// Restore a snapshot into a directory
    Restore(RestoreArgs),
    /// Verify the repository's structure and, optionally, its data
    Check(CheckArgs),
    /// Manage the passwords (keys) that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
    /// Remove stale locks
    Unlock(UnlockArgs),
    /// Remove snapshots by id or by a retention policy
    Forget(ForgetArgs),
    /// Remove data no snapshot uses
    Prune(PruneArgs),
    /// Copy snapshots from another repository
    Copy(CopyArgs),
    /// Find files and directories in snapshots
    Find(FindArgs),
    /// Show what changed between two snapshots
    Diff(DiffArgs),
    /// Sizes and counts of snapshots and the repository
    Stats(StatsArgs),
    /// Add, remove or set the tags of snapshots
    Tag(TagArgs),
    /// Repair a damaged repository
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Keep an offsite copy of the repository in another store (S3)
    #[command(subcommand)]
    Mirror(MirrorCommand),
    /// List snapshots and files from the manifest a mirror sync wrote (reads no packs)
    Catalog(CatalogArgs),
    /// Check the config file, or print an annotated example
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a plan's whole chain now: hooks, backup with dumps, retention, check, offsite
    Run(RunArgs),
    /// Bring a database back from a plan's snapshot (PostgreSQL, MariaDB or SQLite dump)
    RestoreDb(RestoreDbArgs),
    /// List the plans of the config with their schedule, next run and last result
    Plans,
    /// Run plans on their schedules: the job queue and its API on STATE_DIR/cairn.sock
    Daemon,
    /// The daemon's jobs: list them, or show, follow, cancel, start or retry one
    Jobs(JobsArgs),
    /// Each plan's last success, next run, staleness and last drill (from the daemon)
    Status(StatusArgs),
    /// Notification channels ([[notify]] entries of the config)
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Restore drills: each plan's last drill, or run one now
    Drills(DrillsArgs),
    /// Users of the web server: add, list, remove, passwd, reset-2fa
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens of the web server: create, list, revoke
    #[command(subcommand)]
    Token(TokenCommand),
    /// Logins of restic clients at the REST endpoint (/rest/NAME/): add, list, remove
    #[command(subcommand, name = "rest-user")]
    RestUser(RestUserCommand),
    /// The recovery key that opens the server's self-backups: show it once, or rotate it
    #[command(subcommand, name = "recovery-key")]
    RecoveryKey(RecoveryKeyCommand),
    /// Back up the server's own state now ([server_backup]): through the daemon when it runs
    #[command(name = "server-backup")]
    ServerBackup,
    /// Bring a lost server back on a fresh machine from its self-backup
    #[command(name = "server-restore")]
    ServerRestore(ServerRestoreArgs),
    /// Multihost peers: pairing tokens, pairing, the peer list, revocation, a peer's jobs
    #[command(subcommand)]
    Peer(PeerCommand),
}

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Pairing tokens of this server
    #[command(subcommand)]
    Token(PeerTokenCommand),
    /// Pair this instance with a server: paste the token `peer token create` printed there
    Pair { token: String },
    /// The peers: id, label, permissions, state (connected, disconnected, revoked), last seen
    List,
    /// Revoke a peer's pairing: its session ends at once and it cannot connect again
    Revoke { id: String },
    /// A client's operation history as this server received it (the fields of `cairn jobs`)
    Jobs { peer: String },
    /// Run a plan now on a connected client (the pairing needs cmd.run on the plan)
    Run { peer: String, plan: String },
    /// List a directory of a snapshot on a connected client (needs snapshots.browse)
    Ls {
        peer: String,
        /// Snapshot id, unique prefix, or latest
        snapshot: String,
        /// Snapshot-absolute directory (default /)
        path: Option<String>,
        /// The client's repository the snapshot is in
        #[arg(long)]
        repository: String,
    },
    /// Restore a snapshot on a connected client, to a directory there (needs cmd.restore)
    Restore {
        peer: String,
        /// Snapshot id, unique prefix, or latest
        snapshot: String,
        /// The client's repository the snapshot is in
        #[arg(long)]
        repository: String,
        /// Absolute directory on the client, below its restore root
        #[arg(long, value_name = "PATH")]
        target: String,
        /// Restore only what matches (repeatable)
        #[arg(long, value_name = "PATTERN")]
        include: Vec<String>,
    },
    /// Cancel a queued or running job on a connected client (needs cmd.run)
    Cancel { peer: String, job: i64 },
    /// Print a job's log from a connected client (needs logs.read)
    Log { peer: String, job: i64 },
    /// A client's config: push plans and repositories to it, or show what it runs
    #[command(subcommand)]
    Config(PeerConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum PeerConfigCommand {
    /// Push a TOML fragment ([repositories.X], [plans.Y]) as the client's managed config
    /// (needs config.write on each item; queued while the client is offline)
    Push { peer: String, file: PathBuf },
    /// What was pushed, whether the client applied it, and the client's own plans and
    /// repositories as it reports them (needs config.read; never a secret)
    Show { peer: String },
}

#[derive(Debug, Subcommand)]
pub enum PeerTokenCommand {
    /// Create a pairing token and print it, alone, on standard output (it is not shown again)
    Create {
        /// What the paired client will be called here
        #[arg(long)]
        label: String,
        /// The token stops working after this long (e.g. 1h, 7d)
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        ttl: String,
        /// How many clients may pair with it
        #[arg(long, default_value_t = 1)]
        max_uses: u32,
        /// ops.read, config.read, config.write, repo.receive_shared, cmd.run, cmd.restore,
        /// snapshots.browse, logs.read (comma-separated or repeated)
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        /// Limit the grant: *, repo:NAME, plan:NAME, !repo:NAME, !plan:NAME (repeatable)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// List the pairing tokens (never their secrets)
    List,
}

#[derive(Debug, Subcommand)]
pub enum RecoveryKeyCommand {
    /// Print the generated recovery key, once: it is then deleted from this server
    Show {
        /// Required: the key is shown this one time only
        #[arg(long, required = true)]
        once: bool,
    },
    /// Make a new recovery key (archives made before still need the old one)
    Rotate {
        /// Derive the key from the passphrase on this file's first line (argon2id) instead
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ServerRestoreArgs {
    /// Where the archives are: s3:https://HOST/BUCKET/_server-backups or a directory
    pub location: String,
    /// The newest archive made at or before this time (RFC 3339, or "2026-11-29 10:00" local)
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The recovery key (cairn-recovery-v1-…) or passphrase, on this file's first line
    #[arg(long, value_name = "FILE", required = true)]
    pub recovery_key_file: PathBuf,
    /// The new state directory (must be empty or not exist)
    #[arg(long, value_name = "DIR", required = true)]
    pub state_dir: PathBuf,
    /// Where to write the restored config (must not exist)
    #[arg(long, value_name = "FILE", required = true)]
    pub config_out: PathBuf,
    /// Also restore every repository with an offsite from it, into DIR/NAME
    #[arg(long, value_name = "DIR")]
    pub with_repositories: Option<PathBuf>,
    /// AWS_* lines for an s3: location (default: the environment)
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RestUserCommand {
    /// Add a login; without --password-file a strong password is generated and printed, alone,
    /// on standard output (it is stored only as a hash)
    Add {
        name: String,
        /// A repository the login may use (repeatable); its config must have rest enabled
        #[arg(long = "repository", value_name = "REPO", required = true)]
        repositories: Vec<String>,
    },
    /// List the logins with their repositories and last use (never a password)
    List,
    /// Remove a login: its clients are refused from their next request
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password comes from --password-file, standard input or a prompt
    Add {
        name: String,
        /// admin (everything), operator (run, restore, download) or viewer (read only)
        #[arg(long)]
        role: String,
    },
    /// List the users with their role and whether 2FA is on
    List,
    /// Remove a user and end its sessions (the last admin stays)
    Remove { name: String },
    /// Set a user's password (from --password-file, standard input or a prompt); ends its sessions
    Passwd { name: String },
    /// Turn a user's second factor off (a lost phone): TOTP and recovery codes
    #[command(name = "reset-2fa")]
    Reset2fa { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it, alone, on standard output (it is not shown again)
    Create {
        name: String,
        /// admin, operator or viewer
        #[arg(long)]
        role: String,
        /// Limit the token: *, repo:NAME, plan:NAME, !repo:NAME, !plan:NAME (repeatable)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The token stops working after this long (e.g. 90d, 12h)
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List the tokens (never the tokens themselves)
    List,
    /// Revoke a token: it stops working at once
    Revoke { name: String },
}

#[derive(Debug, Args)]
pub struct DrillsArgs {
    #[command(subcommand)]
    pub command: Option<DrillsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DrillsCommand {
    /// Run a plan's drill now, in the foreground: restore a sample of its latest snapshot into
    /// a sandbox, verify it, load its database dumps into throwaway databases
    Run {
        /// The plan (a [plans.NAME] table of the config)
        plan: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification to one channel now (one attempt) and say how it went
    Test(NotifyTestArgs),
}

#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// The channel: the `name` of a [[notify]] entry
    pub name: String,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
    /// Only this plan's jobs
    #[arg(long)]
    pub plan: Option<String>,
    /// At most this many, newest first
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// A job with its steps
    Show { id: i64 },
    /// A job's log; --follow prints new lines until the job ends
    Log {
        id: i64,
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Cancel a queued or running job (it stops within seconds and releases its lock)
    Cancel { id: i64 },
    /// Queue a finished job again
    Retry { id: i64 },
    /// Queue a plan now
    Start {
        plan: String,
        /// backup (the plan's chain), check, prune, forget, mirror or drill
        #[arg(long, default_value = "backup")]
        kind: String,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plan (a [plans.NAME] table of the config)
    pub plan: String,
    /// Say what each step would do; change nothing, run no hook and no dump
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RestoreDbArgs {
    /// The plan whose snapshot holds the dump
    pub plan: String,
    /// The database (for SQLite, the dump's name)
    #[arg(long)]
    pub database: String,
    /// postgresql, mariadb or sqlite; needed when the snapshot has dumps of several kinds
    /// with this name
    #[arg(long)]
    pub kind: Option<String>,
    /// A snapshot id or prefix; default: the plan's latest snapshot
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Restore into this new database (SQLite: this new file) and leave the original alone
    #[arg(long)]
    pub into: Option<String>,
    /// Restore to this server instead of the dump's (same credentials)
    #[arg(long)]
    pub host: Option<String>,
    /// The server's port
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the config file and the files it references; print every error, one per line
    Validate,
    /// Print an annotated example config that validates
    Example,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// A snapshot (id, prefix or `latest`) whose files to list; without it, the snapshots
    pub snapshot: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {}

#[derive(Debug, Args)]
pub struct SnapshotFilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host", short = 'H')]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags (`a,b` needs both; repeat for either)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots of exactly these paths (repeatable)
    #[arg(long = "path")]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Paths to back up; with --stdin-from-command, the command and its arguments (after `--`)
    pub paths: Vec<OsString>,
    /// Leave out paths matching this pattern (repeatable)
    #[arg(long = "exclude", short = 'e')]
    pub exclude: Vec<String>,
    /// Like --exclude, ignoring case
    #[arg(long = "iexclude")]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from this file (repeatable)
    #[arg(long = "exclude-file")]
    pub exclude_file: Vec<PathBuf>,
    /// Like --exclude-file, ignoring case
    #[arg(long = "iexclude-file")]
    pub iexclude_file: Vec<PathBuf>,
    /// Leave out the contents of directories holding this file (NAME or NAME:HEADER)
    #[arg(long = "exclude-if-present")]
    pub exclude_if_present: Vec<String>,
    /// Leave out cache directories marked with CACHEDIR.TAG
    #[arg(long)]
    pub exclude_caches: bool,
    /// Stay on the file system of each backup path
    #[arg(long, short = 'x')]
    pub one_file_system: bool,
    /// Tag the snapshot (repeatable; `a,b` adds both)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name to record (default: this host)
    #[arg(long, short = 'H')]
    pub host: Option<String>,
    /// Compare with this snapshot instead of the latest of the same host and paths
    #[arg(long)]
    pub parent: Option<String>,
    /// Read every file, ignoring the parent snapshot
    #[arg(long)]
    pub force: bool,
    /// Snapshot time, "YYYY-MM-DD HH:MM:SS" in local time (default: now)
    #[arg(long)]
    pub time: Option<String>,
    /// Do everything but write to the repository
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Back up standard input as one file
    #[arg(long)]
    pub stdin: bool,
    /// File name for --stdin and --stdin-from-command
    #[arg(long, default_value = "stdin")]
    pub stdin_filename: String,
    /// Back up the standard output of the command given after `--`; no snapshot if it fails
    #[arg(long)]
    pub stdin_from_command: bool,
    /// Record access times (default: mtime, as restic)
    #[arg(long)]
    pub with_atime: bool,
    /// auto, off or max
    #[arg(long, default_value = "auto")]
    pub compression: String,
    /// Target pack size in MiB
    #[arg(long, default_value_t = 16)]
    pub pack_size: usize,
    /// Threads reading and chunking files (default: cores + 1)
    #[arg(long)]
    pub read_threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
    /// Only these snapshots
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Snapshot id, unique prefix, or `latest`
    pub snapshot: String,
    /// Only entries below these paths
    pub dirs: Vec<OsString>,
    /// Long listing: mode, owner, size, time
    #[arg(long, short = 'l')]
    pub long: bool,
    /// List subdirectories too (default when no path is given)
    #[arg(long)]
    pub recursive: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    pub snapshot: String,
    /// Path inside the snapshot
    pub path: OsString,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// config, index, snapshot, key, pack, blob
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    pub snapshot: String,
    /// Directory to restore into
    #[arg(long, short = 't')]
    pub target: PathBuf,
    /// Restore only paths matching this pattern (repeatable)
    #[arg(long = "include", short = 'i')]
    pub include: Vec<String>,
    /// Leave out paths matching this pattern (repeatable)
    #[arg(long = "exclude", short = 'e')]
    pub exclude: Vec<String>,
    /// Read the restored files back and compare them with the repository
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Read and verify every pack
    #[arg(long)]
    pub read_data: bool,
    /// Read a subset of the packs: n/m or a percentage
    #[arg(long, conflicts_with = "read_data")]
    pub read_data_subset: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List keys
    List,
    /// Add a key for a new password
    Add(NewPasswordArgs),
    /// Remove a key (not the one in use)
    Remove { id: String },
    /// Change the password of the key in use
    Passwd(NewPasswordArgs),
}

#[derive(Debug, Args)]
pub struct NewPasswordArgs {
    /// Read the new password from this file
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove every lock, not only stale ones
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Snapshots to remove (ids or prefixes); with a policy, it decides instead
    pub ids: Vec<String>,
    /// Keep the last N snapshots
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_last: Option<i64>,
    /// Keep the last snapshot of each of the N most recent hours
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_hourly: Option<i64>,
    /// Keep the last snapshot of each of the N most recent days
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_daily: Option<i64>,
    /// Keep the last snapshot of each of the N most recent weeks
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_weekly: Option<i64>,
    /// Keep the last snapshot of each of the N most recent months
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_monthly: Option<i64>,
    /// Keep the last snapshot of each of the N most recent years
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_yearly: Option<i64>,
    /// Keep snapshots newer than the newest minus this duration (e.g. 1y2m3d4h)
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub keep_within_hourly: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub keep_within_daily: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub keep_within_weekly: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub keep_within_monthly: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub keep_within_yearly: Option<String>,
    /// Keep snapshots with these tags (`a,b` needs both; repeat for either)
    #[arg(long, value_name = "TAGS")]
    pub keep_tag: Vec<String>,
    /// Group snapshots by these fields before applying the policy
    #[arg(long, default_value = "host,paths")]
    pub group_by: String,
    /// Show what would be removed without removing anything
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Run prune afterwards
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
    #[command(flatten)]
    pub prune_options: PruneOptionsArgs,
}

#[derive(Debug, Args)]
pub struct PruneOptionsArgs {
    /// Unused data to tolerate: a percentage (5%), a size (500M) or `unlimited`
    #[arg(long, default_value = "5%")]
    pub max_unused: String,
    /// Rewrite at most this much data (e.g. 2G)
    #[arg(long, value_name = "SIZE")]
    pub max_repack_size: Option<String>,
    /// Repack packs holding uncompressed data, compressing it
    #[arg(long)]
    pub repack_uncompressed: bool,
    /// Repack packs smaller than the target size into full ones
    #[arg(long)]
    pub repack_small: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub options: PruneOptionsArgs,
    /// Show what would be removed without removing anything
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Snapshots to copy (default: all, after filters)
    pub ids: Vec<String>,
    /// The repository to copy from
    #[arg(long, env = "CAIRN_FROM_REPOSITORY", value_name = "REPO")]
    pub from_repo: String,
    /// Read the source repository's password from this file
    #[arg(long, env = "CAIRN_FROM_PASSWORD_FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Run this shell command for the source repository's password
    #[arg(long, env = "CAIRN_FROM_PASSWORD_COMMAND")]
    pub from_password_command: Option<String>,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Args)]
pub struct FindArgs {
    /// Patterns as restic's: `*.txt` matches any entry so named, `foo` also everything below
    /// a `foo`, `a/*.txt` consecutive path parts, `/home/u` anchored at the snapshot root
    #[arg(required = true)]
    pub patterns: Vec<String>,
    /// Search only these snapshots (repeatable)
    #[arg(long = "snapshot", short = 's')]
    pub snapshots: Vec<String>,
    /// Ignore case when matching
    #[arg(long, short = 'i')]
    pub ignore_case: bool,
    /// Long listing: mode, owner, size and modification time of each entry
    #[arg(long, short = 'l')]
    pub long: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub first: String,
    pub second: String,
    /// Also report entries whose metadata (mode, owner, times) changed
    #[arg(long)]
    pub metadata: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Snapshots to count (default: all, after filters)
    pub ids: Vec<String>,
    /// restore-size, files-by-contents, raw-data or blobs-per-file
    #[arg(long, default_value = "restore-size")]
    pub mode: String,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Snapshots to change (default: all, after filters)
    pub ids: Vec<String>,
    /// Tags to add (repeatable; `a,b` adds both)
    #[arg(long)]
    pub add: Vec<String>,
    /// Tags to remove (repeatable; `a,b` removes both)
    #[arg(long)]
    pub remove: Vec<String>,
    /// Replace all tags with these (repeatable; `--set ""` removes every tag); not with
    /// --add or --remove
    #[arg(long)]
    pub set: Vec<String>,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Subcommand)]
pub enum RepairCommand {
    /// Rebuild the index from the pack headers
    Index(RepairIndexArgs),
    /// Rewrite snapshots that reference missing data
    Snapshots(RepairSnapshotsArgs),
}

#[derive(Debug, Args)]
pub struct RepairIndexArgs {
    /// Read every pack's header even where the index looks fine
    #[arg(long)]
    pub read_all_packs: bool,
}

#[derive(Debug, Args)]
pub struct RepairSnapshotsArgs {
    /// Snapshots to repair (ids, prefixes or `latest`; default: all)
    pub ids: Vec<String>,
    /// Remove the damaged snapshots once their repaired copies are written
    #[arg(long)]
    pub forget: bool,
    /// Show what would be repaired without writing anything
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Upload what DEST lacks; delete what vanished locally after a grace period
    Sync(MirrorSyncArgs),
    /// Compare the mirror with the repository: listings, sizes and a sample of hashes
    Verify(MirrorVerifyArgs),
    /// Test Connection: reachability, TLS, credentials, bucket and each permission a mirror needs
    Test(MirrorTestArgs),
    /// Bring a repository back from its mirror
    Restore(MirrorRestoreArgs),
    /// List the repositories under a bucket or prefix, marking those no known repository owns
    Orphans(MirrorOrphansArgs),
}

#[derive(Debug, Args)]
pub struct MirrorOrphansArgs {
    /// Where to look: s3:https://HOST/BUCKET[/PREFIX]
    pub location: String,
    /// A local repository whose mirrors are not orphans (repeatable)
    #[arg(long, value_name = "PATH")]
    pub known: Vec<PathBuf>,
    /// How many prefix levels below the location to search
    #[arg(long, default_value_t = 6)]
    pub max_depth: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MirrorRestoreMode {
    /// Make the existing repository at --target identical to the mirror (needs the password:
    /// the mirror must hold the same repository)
    Replace,
    /// Make a new repository at --target (which must be empty or absent)
    Copy,
}

#[derive(Debug, Args)]
pub struct MirrorRestoreArgs {
    #[command(flatten)]
    pub source: MirrorDestArgs,
    /// The local repository directory to restore into
    #[arg(long)]
    pub target: PathBuf,
    #[arg(long, value_enum)]
    pub mode: MirrorRestoreMode,
    /// Show what would be fetched and deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace even when the mirror holds another repository than --target
    #[arg(long)]
    pub force_other_repository: bool,
    /// Restore the mirror as it was at this time, from its object versions (a versioned bucket,
    /// e.g. under Object Lock): RFC 3339 (2026-11-29T10:00:00Z) or local 2026-11-29 10:00
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct MirrorTestArgs {
    /// The mirror: s3:https://HOST/BUCKET[/PREFIX]
    pub dest: String,
    #[command(flatten)]
    pub object_lock: ObjectLockArgs,
}

/// S3 Object Lock on a mirror: both flags or neither.
#[derive(Debug, Args)]
pub struct ObjectLockArgs {
    /// Keep every mirrored object under S3 Object Lock in this mode: governance or compliance
    /// (with --object-lock-days; the bucket must be created with Object Lock enabled)
    #[arg(long, value_name = "MODE")]
    pub object_lock_mode: Option<String>,
    /// Days each mirrored object is locked for, extended while the repository uses it (with
    /// --object-lock-mode)
    #[arg(long, value_name = "DAYS")]
    pub object_lock_days: Option<i64>,
}

#[derive(Debug, Args)]
pub struct MirrorVerifyArgs {
    #[command(flatten)]
    pub dest: MirrorDestArgs,
    /// Download this share of the mirror's objects and check each one's SHA-256 (e.g. 10%)
    #[arg(long, default_value = "0%", value_name = "PERCENT")]
    pub read_sample: String,
}

/// Where a mirror goes and how objects are written there.
#[derive(Debug, Args)]
pub struct MirrorDestArgs {
    /// The mirror: s3:https://HOST/BUCKET[/PREFIX] (or a local directory)
    pub dest: String,
    /// Objects moved at once
    #[arg(long, default_value_t = 8)]
    pub transfers: usize,
    /// Bandwidth limit on the wire for all transfers together, uploads and downloads, paced
    /// in small chunks (smooth, no bursts per object): 512K, 10M, 1G bytes per second; 0 = none
    #[arg(long, default_value = "0", value_name = "RATE")]
    pub bwlimit: String,
}

#[derive(Debug, Args)]
pub struct MirrorSyncArgs {
    #[command(flatten)]
    pub dest: MirrorDestArgs,
    /// Delete from the mirror what has been gone locally this long (e.g. 7d, 36h, 0 = at once)
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub delete_after: String,
    /// Never delete from the mirror
    #[arg(long, conflicts_with = "delete_after")]
    pub no_delete: bool,
    /// S3 storage class for data packs (e.g. STANDARD_IA, GLACIER_IR); the rest stays STANDARD
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Server-side encryption: aes256 or kms:KEY_ID
    #[arg(long, value_name = "MODE")]
    pub sse: Option<String>,
    #[command(flatten)]
    pub object_lock: ObjectLockArgs,
    /// Show what would be sent and deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,
}
