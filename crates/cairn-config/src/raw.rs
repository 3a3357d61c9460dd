//! The file's tables as serde reads them: every key the schema knows, unknown ones refused.
//!
//! Values that have a form of their own (durations, schedules, locations, names) are read as
//! strings here and parsed while the model is built, so each bad value is reported at its own
//! position and one bad value does not hide the next. Only a value of the wrong TOML type, or
//! an unknown key, stops the reading of its table (serde stops at the first such error).

use serde::Deserialize;

/// `[repositories.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepository {
    pub location: Option<String>,
    pub password_file: Option<String>,
    pub password_command: Option<String>,
    pub password_env: Option<String>,
    pub credentials_file: Option<String>,
    pub offsite: Option<RawOffsite>,
    pub rest: Option<RawRest>,
    /// Server: the peers this repository is shared with (`["peer:ID", ...]`).
    pub share_with: Option<Vec<String>>,
    /// The password sealed with the instance key (`sealed:v1:…`): how a client keeps the
    /// password of a repository its server shared with it.
    pub password_sealed: Option<String>,
}

/// `rest = { enabled = true, append_only = true, quota = "500G" }`: the repository served in
/// restic's REST protocol at `/rest/NAME/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRest {
    pub enabled: Option<bool>,
    pub append_only: Option<bool>,
    pub quota: Option<String>,
}

/// `[repositories.NAME.offsite]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffsite {
    pub destination: Option<String>,
    pub credentials_file: Option<String>,
    /// The S3 key pair typed into the web UI, sealed with the instance key (`sealed:v1:…`).
    pub access_key_id_sealed: Option<String>,
    pub secret_access_key_sealed: Option<String>,
    pub bwlimit: Option<String>,
    pub storage_class: Option<String>,
    pub sse: Option<String>,
    pub delete_after: Option<String>,
    pub transfers: Option<i64>,
    pub stale_after: Option<String>,
    pub object_lock: Option<RawObjectLock>,
}

/// `object_lock = { mode = "governance", days = 30 }` of an offsite.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawObjectLock {
    pub mode: Option<String>,
    pub days: Option<i64>,
}

/// `[plans.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub repository: Option<String>,
    pub sources: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub exclude_if_present: Option<Vec<String>>,
    pub one_file_system: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub host: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub retention: Option<RawRetention>,
    pub check: Option<RawCheck>,
    pub hooks: Option<RawHooks>,
    pub postgresql: Option<Vec<RawPostgresql>>,
    pub mariadb: Option<Vec<RawMariadb>>,
    pub sqlite: Option<Vec<RawSqlite>>,
    pub catch_up: Option<bool>,
    pub retries: Option<i64>,
    pub stale_after: Option<String>,
    pub drill: Option<RawDrill>,
}

/// `[plans.NAME.drill]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    pub schedule: Option<String>,
    pub sample: Option<String>,
    pub sample_min_files: Option<i64>,
}

/// `[daemon]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub max_concurrent_jobs: Option<i64>,
    pub metrics_listen: Option<String>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub metrics_public: Option<bool>,
    pub require_totp: Option<bool>,
    pub session_idle_timeout: Option<String>,
    pub session_max_age: Option<String>,
    pub restore_root: Option<String>,
}

/// `[multihost]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMultihost {
    pub server: Option<String>,
    pub ca_file: Option<String>,
    pub label: Option<String>,
}

/// `[server_backup]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerBackup {
    pub destination: Option<String>,
    pub credentials_file: Option<String>,
    pub schedule: Option<String>,
    pub keep: Option<i64>,
}

/// `[[notify]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub secret_file: Option<String>,
    pub on: Option<Vec<String>>,
    pub plans: Option<Vec<String>>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<i64>,
    pub smtp_tls: Option<String>,
    pub smtp_username: Option<String>,
    pub password_file: Option<String>,
    pub password_command: Option<String>,
    pub password_env: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
}

/// `retention = { … }`: restic's `forget --keep-*` options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub keep_last: Option<i64>,
    pub keep_hourly: Option<i64>,
    pub keep_daily: Option<i64>,
    pub keep_weekly: Option<i64>,
    pub keep_monthly: Option<i64>,
    pub keep_yearly: Option<i64>,
    pub keep_within: Option<String>,
    pub keep_within_hourly: Option<String>,
    pub keep_within_daily: Option<String>,
    pub keep_within_weekly: Option<String>,
    pub keep_within_monthly: Option<String>,
    pub keep_within_yearly: Option<String>,
    pub keep_tag: Option<Vec<String>>,
}

/// `check = { … }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub every: Option<String>,
    pub read_data_subset: Option<String>,
}

/// `[plans.NAME.hooks]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHooks {
    pub before_backup: Option<Vec<String>>,
    pub after_backup: Option<Vec<String>>,
    pub on_error: Option<Vec<String>>,
    pub finally: Option<Vec<String>>,
    pub timeout: Option<String>,
}

/// `[[plans.NAME.postgresql]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPostgresql {
    pub database: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub username: Option<String>,
    pub format: Option<String>,
    pub password_file: Option<String>,
    pub password_command: Option<String>,
    pub password_env: Option<String>,
}

/// `[[plans.NAME.mariadb]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMariadb {
    pub database: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub username: Option<String>,
    pub password_file: Option<String>,
    pub password_command: Option<String>,
    pub password_env: Option<String>,
}

/// `[[plans.NAME.sqlite]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSqlite {
    pub name: Option<String>,
    pub path: Option<String>,
}

/// Keys of the top level, which is read key by key (its tables are read one by one so that
/// an error in one plan does not hide the errors of the others).
pub const TOP_LEVEL_KEYS: [&str; 9] = [
    "state_dir",
    "timezone",
    "daemon",
    "server",
    "server_backup",
    "multihost",
    "notify",
    "repositories",
    "plans",
];
