//! The schema, one numbered step at a time.
//!
//! `PRAGMA user_version` records how many steps a database has had. Opening applies the missing
//! ones in one transaction each; a database with more steps than this list (written by a newer
//! cairn) is refused. Steps are only ever appended: an old database must come out of the chain
//! exactly like a new one, which the tests check.

/// Step N (from 1) is `MIGRATIONS[N - 1]`.
pub const MIGRATIONS: &[&str] = &[
    // 1: jobs, their steps and their log.
    r#"
    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT    NOT NULL,
        plan        TEXT,
        repository  TEXT,
        state       TEXT    NOT NULL,
        trigger     TEXT    NOT NULL,
        dry_run     INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        finished_at INTEGER,
        snapshot    TEXT,
        bytes_added INTEGER,
        error       TEXT
    );
    CREATE INDEX jobs_by_plan ON jobs (plan, kind, state, finished_at);
    CREATE INDEX jobs_by_state ON jobs (state);
    CREATE TABLE job_steps (
        job         INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        name        TEXT    NOT NULL,
        state       TEXT    NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        detail      TEXT,
        error       TEXT,
        PRIMARY KEY (job, seq)
    );
    CREATE TABLE job_log (
        job    INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq    INTEGER NOT NULL,
        at     INTEGER NOT NULL,
        source TEXT    NOT NULL,
        line   TEXT    NOT NULL,
        PRIMARY KEY (job, seq)
    );
    "#,
    // 2: the daemon's queue (attempts, retries, a time before which a retry waits, the latest
    // progress), its own remembered values, and alerts raised for plans.
    r#"
    ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE jobs ADD COLUMN retry_of INTEGER;
    ALTER TABLE jobs ADD COLUMN not_before INTEGER;
    ALTER TABLE jobs ADD COLUMN progress TEXT;
    CREATE TABLE daemon_values (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE plan_alerts (
        plan      TEXT    NOT NULL,
        alert     TEXT    NOT NULL,
        raised_at INTEGER NOT NULL,
        PRIMARY KEY (plan, alert)
    );
    "#,
    // 3: notification deliveries, one row per delivery (after its last attempt).
    r#"
    CREATE TABLE notify_deliveries (
        id       INTEGER PRIMARY KEY,
        channel  TEXT    NOT NULL,
        event    TEXT    NOT NULL,
        plan     TEXT,
        job      INTEGER,
        at       INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        ok       INTEGER NOT NULL,
        error    TEXT
    );
    CREATE INDEX notify_deliveries_by_channel ON notify_deliveries (channel, id);
    "#,
    // 4: restore drills: what each drill restored, verified and measured (a JSON report).
    r#"
    CREATE TABLE drill_reports (
        job     INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        plan    TEXT    NOT NULL,
        at      INTEGER NOT NULL,
        report  TEXT    NOT NULL
    );
    CREATE INDEX drill_reports_by_plan ON drill_reports (plan, at);
    "#,
    // 5: accounts of the web server: users (argon2id hashes; TOTP seeds sealed with the
    // instance key), their recovery codes and sessions (SHA-256 of the cookie), API tokens
    // (SHA-256 of the token), the audit log, and the one-time setup token.
    r#"
    CREATE TABLE users (
        id                  INTEGER PRIMARY KEY,
        name                TEXT    NOT NULL UNIQUE,
        role                TEXT    NOT NULL,
        password_hash       TEXT    NOT NULL,
        totp_secret_sealed  TEXT,
        totp_pending_sealed TEXT,
        totp_last_step      INTEGER,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL
    );
    CREATE TABLE recovery_codes (
        user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        code_hash TEXT    NOT NULL,
        used_at   INTEGER,
        PRIMARY KEY (user_id, code_hash)
    );
    CREATE TABLE sessions (
        id_hash            TEXT    PRIMARY KEY,
        user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf_token         TEXT    NOT NULL,
        address            TEXT    NOT NULL,
        created_at         INTEGER NOT NULL,
        last_seen_at       INTEGER NOT NULL,
        second_factor_done INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions (user_id);
    CREATE TABLE api_tokens (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL UNIQUE,
        role         TEXT    NOT NULL,
        scopes       TEXT    NOT NULL,
        token_hash   TEXT    NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        created_by   TEXT    NOT NULL,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER
    );
    CREATE TABLE audit_log (
        id      INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        actor   TEXT    NOT NULL,
        address TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        result  TEXT    NOT NULL,
        detail  TEXT
    );
    CREATE TABLE setup_tokens (
        token_hash TEXT    PRIMARY KEY,
        created_at INTEGER NOT NULL
    );
    "#,
    // 6: what a job was asked to do,
    // beyond its kind, plan and repository (a restore's snapshot, path, target and patterns),
    // as JSON, so a queued job runs, and a retry repeats, exactly what was asked.
    r#"
    ALTER TABLE jobs ADD COLUMN request TEXT;
    "#,
    // 7: logins of restic clients at the REST endpoint: an argon2id hash of the password and
    // the repositories (a JSON list of names) each may use.
    r#"
    CREATE TABLE rest_users (
        id            INTEGER PRIMARY KEY,
        name          TEXT    NOT NULL UNIQUE,
        password_hash TEXT    NOT NULL,
        repositories  TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        created_by    TEXT    NOT NULL,
        last_used_at  INTEGER
    );
    "#,
    // 8: multihost. On a server: pairing tokens (SHA-256 of the secret only), the peers paired
    // with them, and each peer's replicas of operation history (per client incarnation, a
    // high-water mark and the latest record of each job, NULL for a tombstone). On a client:
    // the server it paired with (also a `peers` row) and the change log of its job records,
    // kept by triggers so that every writer of `jobs` feeds it in its own transaction. The
    // log holds each job's latest change; AUTOINCREMENT keeps `seq` from ever going back.
    r#"
    CREATE TABLE pairing_tokens (
        id          TEXT    PRIMARY KEY,
        label       TEXT    NOT NULL,
        secret_hash BLOB    NOT NULL,
        permissions TEXT    NOT NULL,
        scopes      TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        max_uses    INTEGER NOT NULL,
        uses        INTEGER NOT NULL DEFAULT 0,
        revoked_at  INTEGER
    );
    CREATE TABLE peers (
        id          TEXT    PRIMARY KEY,
        public_key  BLOB,
        label       TEXT    NOT NULL,
        permissions TEXT    NOT NULL,
        scopes      TEXT    NOT NULL,
        role        TEXT    NOT NULL,
        urls        TEXT,
        fingerprint BLOB,
        token       TEXT,
        paired_at   INTEGER NOT NULL,
        last_seen   INTEGER,
        revoked_at  INTEGER
    );
    CREATE TABLE sync_changes (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        job        INTEGER NOT NULL UNIQUE,
        deleted    INTEGER NOT NULL,
        plan       TEXT,
        repository TEXT
    );
    INSERT INTO sync_changes (job, deleted, plan, repository)
        SELECT id, 0, plan, repository FROM jobs ORDER BY id;
    CREATE TRIGGER jobs_sync_insert AFTER INSERT ON jobs BEGIN
        INSERT OR REPLACE INTO sync_changes (job, deleted, plan, repository)
            VALUES (NEW.id, 0, NEW.plan, NEW.repository);
    END;
    CREATE TRIGGER jobs_sync_update AFTER UPDATE OF kind, plan, repository, state, trigger,
        dry_run, created_at, started_at, finished_at, snapshot, bytes_added, error, attempt
        ON jobs BEGIN
        INSERT OR REPLACE INTO sync_changes (job, deleted, plan, repository)
            VALUES (NEW.id, 0, NEW.plan, NEW.repository);
    END;
    CREATE TRIGGER jobs_sync_delete AFTER DELETE ON jobs BEGIN
        INSERT OR REPLACE INTO sync_changes (job, deleted, plan, repository)
            VALUES (OLD.id, 1, OLD.plan, OLD.repository);
    END;
    CREATE TABLE sync_replicas (
        peer        TEXT    NOT NULL,
        incarnation TEXT    NOT NULL,
        high_water  INTEGER NOT NULL,
        PRIMARY KEY (peer, incarnation)
    );
    CREATE TABLE sync_replica_jobs (
        peer        TEXT    NOT NULL,
        incarnation TEXT    NOT NULL,
        job         INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        record      TEXT,
        PRIMARY KEY (peer, incarnation, job)
    );
    "#,
    // 9: multihost config. On a server, per client: the desired config pushed to it (a
    // generation, its plans and repositories as JSON lists of items), the last generation it
    // acknowledged and how applying it went, and the config it last reported (secrets left
    // out by the client).
    r#"
    CREATE TABLE peer_configs (
        peer              TEXT PRIMARY KEY,
        generation        INTEGER NOT NULL DEFAULT 0,
        plans             TEXT    NOT NULL DEFAULT '[]',
        repositories      TEXT    NOT NULL DEFAULT '[]',
        pushed_at         INTEGER,
        acked_generation  INTEGER NOT NULL DEFAULT 0,
        ack_error         TEXT,
        acked_at          INTEGER,
        report            TEXT,
        reported_at       INTEGER
    );
    "#,
];

/// The schema version this cairn writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}
