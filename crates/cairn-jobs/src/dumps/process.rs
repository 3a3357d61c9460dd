//! Database client tools as child processes: a dump tool whose standard output is a backup
//! stream ([`ChildStream`]), a query whose output is read whole ([`output_of`]), a restore tool
//! fed from the repository ([`feed`]).
//!
//! Every child runs in its own process group and dies with cairn (`PR_SET_PDEATHSIG`), so a
//! cancelled or failed backup leaves no dump running against the database. Its error output is
//! kept (the last [`STDERR_TAIL`] bytes) and its last lines end the error message.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;

use cairn_crypto::Secret;
use cairn_repo::backup::StreamSource;

use super::group::DumpGroup;
use crate::{JobError, Result};

/// How much of a tool's error output is kept for the message.
pub(crate) const STDERR_TAIL: usize = 4096;

/// How many of the kept lines the message quotes.
const MESSAGE_LINES: usize = 3;

/// The first of `candidates` found on `PATH` (`mariadb-dump`, then `mysqldump`); the error
/// says which Debian package brings it.
pub(crate) fn program(candidates: &[&str], package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        for dir in std::env::split_paths(&path) {
            let file = dir.join(name);
            if is_executable(&file) {
                return Ok(file);
            }
        }
    }
    Err(JobError::Database(format!(
        "{} not found on PATH; install {package}",
        candidates.join(" or ")
    )))
}

fn is_executable(file: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Prepares `command` as every database child runs: own process group, killed when cairn
/// dies, nothing on standard input unless the caller says otherwise.
pub(crate) fn prepare(command: &mut Command) {
    command.stdin(Stdio::null()).process_group(0);
    // SAFETY: prctl(2) is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads a child's error output on a thread, keeping the last [`STDERR_TAIL`] bytes.
pub(crate) fn keep_tail(stream: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut stream = stream;
        let mut tail = Vec::with_capacity(STDERR_TAIL * 2);
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    tail.extend_from_slice(&buffer[..n]);
                    if tail.len() > STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        tail
    })
}

/// The last non-empty lines of a tool's error output as one line, with `secret` (if it ever
/// appeared) blanked out.
pub(crate) fn tail_text(tail: &[u8], secret: Option<&Secret<Vec<u8>>>) -> String {
    let mut text = String::from_utf8_lossy(tail).into_owned();
    if let Some(secret) = secret {
        let secret = String::from_utf8_lossy(secret.expose()).into_owned();
        if !secret.is_empty() {
            text = text.replace(&secret, "***");
        }
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(MESSAGE_LINES);
    lines[start..].join(" | ")
}

/// `exit 1`, `killed by signal 9`.
pub(crate) fn status_text(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// `DESCRIBE failed (exit 1): LAST LINES`.
pub(crate) fn failure(describe: &str, status: ExitStatus, tail: &str) -> String {
    let status = status_text(status);
    if tail.is_empty() {
        format!("{describe} failed ({status}) and said nothing")
    } else {
        format!("{describe} failed ({status}): {tail}")
    }
}

fn spawn_error(describe: &str, command: &Command, e: io::Error) -> JobError {
    JobError::Database(format!(
        "{describe}: cannot start {}: {e}",
        command.get_program().to_string_lossy()
    ))
}

/// SIGKILL to the child's whole process group, then reaps it.
fn kill(child: &mut Child) {
    let group = child.id() as libc::pid_t;
    // SAFETY: kill(2) on the group this child leads; not yet reaped, so the id is still ours.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// Files a child needs while it runs (a MariaDB option file); removed when it is done.
pub(crate) trait Keep: Send {}
impl<T: Send> Keep for T {}

/// A dump tool whose standard output is a backup stream.
pub(crate) struct ChildStream {
    describe: String,
    command: Command,
    secret: Option<Secret<Vec<u8>>>,
    child: Option<Child>,
    /// A second descriptor of the pipe's read end: when `finish` comes, it tells whether the
    /// backup read the stream to its end (end of file) or stopped early (bytes still there).
    probe: Option<OwnedFd>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    group: Arc<DumpGroup>,
    _keep: Vec<Box<dyn Keep>>,
}

impl ChildStream {
    /// `describe` names the dump in messages (`pg_dump of app on 127.0.0.1:5432`); `secret`
    /// is blanked out of them; `keep` lives as long as the stream (and is dropped after it).
    pub(crate) fn new(
        describe: String,
        command: Command,
        secret: Option<Secret<Vec<u8>>>,
        group: Arc<DumpGroup>,
        keep: Vec<Box<dyn Keep>>,
    ) -> ChildStream {
        ChildStream {
            describe,
            command,
            secret,
            child: None,
            probe: None,
            stderr: None,
            group,
            _keep: keep,
        }
    }

    /// Kills and reaps the child (leaving the group first, so its id is never reused while
    /// the group could still signal it).
    fn kill_child(&mut self, child: &mut Child) {
        self.group.ended(child.id() as libc::pid_t);
        kill(child);
    }

    fn stderr_text(&mut self) -> String {
        let tail = self
            .stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default();
        tail_text(&tail, self.secret.as_ref())
    }

    /// Whether the reader left bytes in the pipe (or the producer is still writing).
    fn stopped_early(&mut self) -> bool {
        let Some(probe) = self.probe.take() else {
            return false;
        };
        let fd = probe.as_raw_fd();
        // SAFETY: fcntl(2) and read(2) on a descriptor this struct owns.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            let mut byte = 0u8;
            let n = libc::read(fd, (&mut byte as *mut u8).cast(), 1);
            n != 0
        }
    }
}

impl StreamSource for ChildStream {
    fn open(&mut self) -> io::Result<OwnedFd> {
        if self.group.has_failed() {
            return Err(io::Error::other(format!(
                "{} was not started: another dump failed",
                self.describe
            )));
        }
        prepare(&mut self.command);
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.command.spawn().map_err(|e| {
            self.group.fail();
            let message = spawn_error(&self.describe, &self.command, e).to_string();
            io::Error::other(message)
        })?;
        if !self.group.started(child.id() as libc::pid_t) {
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} was stopped: another dump failed",
                self.describe
            )));
        }
        self.stderr = child.stderr.take().map(keep_tail);
        let stdout: OwnedFd = child.stdout.take().expect("piped stdout").into();
        self.child = Some(child);
        self.probe = Some(stdout.try_clone()?);
        Ok(stdout)
    }

    fn finish(&mut self) -> std::result::Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} was never started", self.describe));
        };
        if self.stopped_early() {
            self.kill_child(&mut child);
            let _ = self.stderr_text();
            return Err(format!(
                "{} was stopped: the backup ended before its end",
                self.describe
            ));
        }
        // The tool closed its output and is ending; it leaves the group before it is reaped,
        // so the group never signals an id that may have been given to another process.
        self.group.ended(child.id() as libc::pid_t);
        let status = child
            .wait()
            .map_err(|e| format!("{}: cannot wait for it: {e}", self.describe))?;
        let tail = self.stderr_text();
        if status.success() {
            Ok(())
        } else {
            self.group.fail();
            Err(failure(&self.describe, status, &tail))
        }
    }
}

impl Drop for ChildStream {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.kill_child(&mut child);
        }
        self.probe = None;
        let _ = self.stderr_text();
    }
}

/// Runs a query tool to its end; its standard output, or its error as a message.
pub(crate) fn output_of(
    mut command: Command,
    describe: &str,
    secret: Option<&Secret<Vec<u8>>>,
) -> Result<String> {
    prepare(&mut command);
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(describe, &command, e))?;
    if !output.status.success() {
        let tail = &output.stderr[output.stderr.len().saturating_sub(STDERR_TAIL)..];
        return Err(JobError::Database(failure(
            describe,
            output.status,
            &tail_text(tail, secret),
        )));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| JobError::Database(format!("{describe} printed something not UTF-8")))
}

/// Runs a restore tool with `input` on its standard input; the bytes it took.
///
/// A tool that fails early stops reading; the copy then fails on a closed pipe, and the
/// tool's own error (its exit status and last lines) is what the message says.
pub(crate) fn feed(
    mut command: Command,
    describe: &str,
    secret: Option<&Secret<Vec<u8>>>,
    input: &mut dyn Read,
) -> Result<u64> {
    prepare(&mut command);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(describe, &command, e))?;
    let stderr = child.stderr.take().map(keep_tail);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let copied = copy_all(input, &mut stdin);
    drop(stdin);
    let copy_failed_on_input = matches!(&copied, Err(CopyError::Input(_)));
    if copy_failed_on_input {
        kill(&mut child);
    }
    let status = child
        .wait()
        .map_err(|e| JobError::Database(format!("{describe}: cannot wait for it: {e}")))?;
    let tail = stderr
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default();
    let tail = tail_text(&tail, secret);
    match copied {
        Err(CopyError::Input(e)) => Err(JobError::Database(format!(
            "{describe} stopped: reading the dump from the repository failed: {e}"
        ))),
        _ if !status.success() => Err(JobError::Database(failure(describe, status, &tail))),
        Err(CopyError::Output(e)) => Err(JobError::Database(format!(
            "{describe} did not take the whole dump: {e}"
        ))),
        Ok(bytes) => Ok(bytes),
    }
}

enum CopyError {
    Input(io::Error),
    Output(io::Error),
}

fn copy_all(input: &mut dyn Read, output: &mut dyn Write) -> std::result::Result<u64, CopyError> {
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Input(e)),
        };
        output.write_all(&buffer[..n]).map_err(CopyError::Output)?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    #[test]
    fn a_complete_stream_succeeds_and_a_failing_one_says_why() {
        let mut ok = ChildStream::new(
            "dump".into(),
            sh("echo hello"),
            None,
            DumpGroup::new(),
            vec![],
        );
        let fd = ok.open().unwrap();
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello\n");
        assert_eq!(ok.finish(), Ok(()));

        let script = "echo partial; echo 'first' >&2; echo 'bad pw hunter2' >&2; exit 3";
        let secret = Secret::new(b"hunter2".to_vec());
        let mut bad = ChildStream::new(
            "pg_dump of app".into(),
            sh(script),
            Some(secret),
            DumpGroup::new(),
            vec![],
        );
        let fd = bad.open().unwrap();
        std::io::copy(&mut std::fs::File::from(fd), &mut std::io::sink()).unwrap();
        let error = bad.finish().unwrap_err();
        assert_eq!(error, "pg_dump of app failed (exit 3): first | bad pw ***");
    }

    #[test]
    fn a_stream_left_unread_kills_its_producer() {
        let mut stream = ChildStream::new("dump".into(), sh("yes"), None, DumpGroup::new(), vec![]);
        let fd = stream.open().unwrap();
        let pid = stream.child.as_ref().unwrap().id() as libc::pid_t;
        let mut first = [0u8; 10];
        std::fs::File::from(fd).read_exact(&mut first).unwrap();
        let error = stream.finish().unwrap_err();
        assert!(error.contains("stopped"), "{error}");
        // SAFETY: signal 0 only asks whether the process exists.
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "the producer is gone");

        let mut never_read = ChildStream::new(
            "dump".into(),
            sh("sleep 60"),
            None,
            DumpGroup::new(),
            vec![],
        );
        let _fd = never_read.open().unwrap();
        let pid = never_read.child.as_ref().unwrap().id() as libc::pid_t;
        drop(never_read);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "dropped means killed");
    }

    #[test]
    fn a_failing_dump_kills_a_silent_one_of_its_group() {
        let group = DumpGroup::new();
        let mut silent =
            ChildStream::new("silent".into(), sh("sleep 60"), None, group.clone(), vec![]);
        let mut failing =
            ChildStream::new("failing".into(), sh("exit 2"), None, group.clone(), vec![]);
        let silent_fd = silent.open().unwrap();
        let reader = std::thread::spawn(move || {
            let mut rest = Vec::new();
            std::fs::File::from(silent_fd)
                .read_to_end(&mut rest)
                .unwrap();
        });
        let fd = failing.open().unwrap();
        std::io::copy(&mut std::fs::File::from(fd), &mut std::io::sink()).unwrap();
        assert!(failing.finish().unwrap_err().contains("exit 2"));
        // The silent tool's reader sees the end instead of waiting a minute.
        reader.join().unwrap();
        let error = silent.finish().unwrap_err();
        assert!(error.contains("killed by signal 9"), "{error}");
        let mut later = ChildStream::new("later".into(), sh("echo"), None, group, vec![]);
        assert!(later.open().is_err(), "nothing starts after a failure");
    }

    #[test]
    fn feeding_a_tool_that_fails_reports_its_error() {
        let mut input: &[u8] = &[b'x'; 3 << 20];
        let error = feed(
            sh("echo 'ERROR: nope' >&2; exit 1"),
            "psql",
            None,
            &mut input,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(error, "psql failed (exit 1): ERROR: nope");
        let mut input: &[u8] = b"abc";
        assert_eq!(
            feed(sh("cat >/dev/null"), "cat", None, &mut input).unwrap(),
            3
        );
    }
}
