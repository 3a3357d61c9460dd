//! `[daemon]`: how the daemon runs jobs and where it serves metrics.

use std::net::SocketAddr;

use crate::raw::RawDaemon;
use crate::section::Section;

/// Jobs the daemon runs at once unless the file says otherwise.
pub const MAX_CONCURRENT_JOBS_DEFAULT: usize = 2;
const MAX_CONCURRENT_JOBS_MAX: i64 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// Jobs running at once, across repositories (one per repository in any case).
    pub max_concurrent_jobs: usize,
    /// Also serve `/metrics` on this TCP address (the unix socket always serves it).
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Daemon {
    fn default() -> Daemon {
        Daemon {
            max_concurrent_jobs: MAX_CONCURRENT_JOBS_DEFAULT,
            metrics_listen: None,
        }
    }
}

pub(crate) fn build_daemon(section: &mut Section<'_, '_>, raw: &RawDaemon) -> Option<Daemon> {
    let max_concurrent_jobs = match raw.max_concurrent_jobs {
        None => MAX_CONCURRENT_JOBS_DEFAULT,
        Some(n @ 1..=MAX_CONCURRENT_JOBS_MAX) => n as usize,
        Some(n) => {
            section.invalid(
                &section.key("max_concurrent_jobs"),
                format!("{n} is out of range; write a number from 1 to {MAX_CONCURRENT_JOBS_MAX}, e.g. 2"),
            );
            MAX_CONCURRENT_JOBS_DEFAULT
        }
    };
    let metrics_listen = section.parse("metrics_listen", raw.metrics_listen.as_deref(), |text| {
        text.parse::<SocketAddr>().map_err(|_| {
            format!("{text:?} is not an address; write IP:PORT, e.g. \"127.0.0.1:9470\"")
        })
    });
    if section.failed() {
        return None;
    }
    Some(Daemon {
        max_concurrent_jobs,
        metrics_listen,
    })
}
