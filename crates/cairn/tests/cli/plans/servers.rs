//! The database servers the dump tests use (PostgreSQL and MariaDB on 127.0.0.1, trust/empty
//! root password), through their command-line clients: databases with unique names dropped at
//! the end, queries, and a writer moving money between accounts while a dump runs.
//!
//! A server that cannot be reached fails the test (the clients' error is in the message).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub const HOST: &str = "127.0.0.1";
/// Accounts of the money-moving tables; each starts with `START_BALANCE`.
pub const ACCOUNTS: i64 = 20;
pub const START_BALANCE: i64 = 1000;

/// `cairn_PREFIX_PID_N`: unique across tests and test processes.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "cairn_{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn output(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed (is the server running?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn psql_command(database: &str) -> Command {
    let mut command = Command::new("psql");
    command
        .args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", HOST, "-U", "postgres", "-d", database]);
    command
}

/// Runs SQL in a PostgreSQL database as postgres; its unaligned output.
pub fn psql(database: &str, sql: &str) -> String {
    output(
        psql_command(database).arg("-c").arg(sql),
        &format!("psql {sql}"),
    )
}

fn mariadb_command() -> Command {
    let mut command = Command::new("mariadb");
    command.args(["-h", HOST, "-u", "root", "--batch", "--skip-column-names"]);
    command
}

/// Runs SQL on MariaDB as root; its output.
pub fn mariadb(sql: &str) -> String {
    output(
        mariadb_command().arg("-e").arg(sql),
        &format!("mariadb {sql}"),
    )
}

/// A database created for one test and dropped when it ends.
pub struct Database {
    pub name: String,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Postgres,
    Mariadb,
}

impl Database {
    pub fn postgres(prefix: &str) -> Database {
        let name = unique_name(prefix);
        psql("test", &format!("create database {name}"));
        Database {
            name,
            kind: Kind::Postgres,
        }
    }

    pub fn mariadb(prefix: &str) -> Database {
        let name = unique_name(prefix);
        mariadb(&format!("CREATE DATABASE {name}"));
        Database {
            name,
            kind: Kind::Mariadb,
        }
    }

    /// A name for a database the test will create (restore `--into`), dropped at the end.
    pub fn later(kind: Kind, prefix: &str) -> Database {
        Database {
            name: unique_name(prefix),
            kind,
        }
    }

    pub fn query(&self, sql: &str) -> String {
        match self.kind {
            Kind::Postgres => psql(&self.name, sql),
            Kind::Mariadb => mariadb(&format!("USE {}; {sql}", self.name)),
        }
    }

    /// `accounts` (ids 1..=ACCOUNTS, START_BALANCE each), `transfers` (what moved where), and
    /// `filler` (`filler_rows` rows of 1 KiB, so the dump takes a while).
    pub fn create_bank(&self, filler_rows: u32) {
        let engine = match self.kind {
            Kind::Postgres => "",
            Kind::Mariadb => " ENGINE=InnoDB",
        };
        let serial = match self.kind {
            Kind::Postgres => "bigserial",
            Kind::Mariadb => "bigint auto_increment",
        };
        self.query(&format!(
            "CREATE TABLE accounts (id bigint primary key, balance bigint not null){engine}; \
             CREATE TABLE transfers (id {serial} primary key, from_id bigint not null, \
             to_id bigint not null, amount bigint not null){engine}; \
             CREATE TABLE filler (id bigint primary key, pad text){engine};"
        ));
        let accounts: Vec<String> = (1..=ACCOUNTS)
            .map(|id| format!("({id}, {START_BALANCE})"))
            .collect();
        self.query(&format!(
            "INSERT INTO accounts VALUES {}",
            accounts.join(", ")
        ));
        match self.kind {
            Kind::Postgres => {
                self.query(&format!(
                    "INSERT INTO filler SELECT g, repeat(md5(g::text), 32) \
                     FROM generate_series(1, {filler_rows}) g"
                ));
            }
            Kind::Mariadb => {
                self.query(&format!(
                    "INSERT INTO filler SELECT seq, repeat(md5(seq), 32) FROM seq_1_to_{filler_rows}"
                ));
            }
        }
    }

    /// Starts a writer moving money between accounts, one transfer per transaction, until the
    /// returned writer is stopped.
    pub fn start_writer(&self) -> Writer {
        let mut command = match self.kind {
            Kind::Postgres => {
                let mut c = psql_command(&self.name);
                c.arg("-f").arg("-");
                c
            }
            Kind::Mariadb => {
                let mut c = mariadb_command();
                c.arg(&self.name);
                c
            }
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the writer's client");
        let mut stdin = child.stdin.take().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let kind = self.kind;
        let thread = std::thread::spawn(move || {
            let mut n: i64 = 0;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                let (from, to, amount) = transfer(n);
                let begin = if kind == Kind::Postgres {
                    "BEGIN"
                } else {
                    "START TRANSACTION"
                };
                let sql = format!(
                    "{begin}; UPDATE accounts SET balance = balance - {amount} WHERE id = {from}; \
                     UPDATE accounts SET balance = balance + {amount} WHERE id = {to}; \
                     INSERT INTO transfers (from_id, to_id, amount) VALUES ({from}, {to}, {amount}); \
                     COMMIT;\n"
                );
                if stdin.write_all(sql.as_bytes()).is_err() {
                    break;
                }
                if n % 20 == 0 {
                    let _ = stdin.flush();
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        });
        Writer {
            stop,
            thread: Some(thread),
            child,
        }
    }
}

/// The `n`th transfer: from, to, amount (deterministic, from != to).
pub fn transfer(n: i64) -> (i64, i64, i64) {
    let from = n % ACCOUNTS + 1;
    let to = (n * 7 + 3) % ACCOUNTS + 1;
    let to = if to == from { to % ACCOUNTS + 1 } else { to };
    (from, to, n % 50 + 1)
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = match self.kind {
            Kind::Postgres => psql_command("test")
                .arg("-c")
                .arg(format!(
                    "drop database if exists {} with (force)",
                    self.name
                ))
                .output(),
            Kind::Mariadb => mariadb_command()
                .arg("-e")
                .arg(format!("DROP DATABASE IF EXISTS {}", self.name))
                .output(),
        };
    }
}

pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    child: Child,
}

impl Writer {
    /// Stops writing and waits until the client committed what it was sent.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the writer's client failed: {status}");
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts the bank in `db` is consistent: the balances sum to the start, and each account's
/// balance is the start replayed by the transfers the same database holds (so accounts and
/// transfers come from one point in time). Returns the number of transfers.
pub fn assert_bank_consistent(db: &Database) -> i64 {
    let sum: i64 = db
        .query("SELECT sum(balance) FROM accounts")
        .parse()
        .unwrap();
    assert_eq!(sum, ACCOUNTS * START_BALANCE, "the sum is invariant");
    let mismatches = db.query(&format!(
        "SELECT count(*) FROM accounts a WHERE a.balance <> {START_BALANCE} \
         + coalesce((SELECT sum(amount) FROM transfers WHERE to_id = a.id), 0) \
         - coalesce((SELECT sum(amount) FROM transfers WHERE from_id = a.id), 0)"
    ));
    assert_eq!(
        mismatches, "0",
        "every balance is what the restored transfers made it"
    );
    db.query("SELECT count(*) FROM transfers").parse().unwrap()
}
