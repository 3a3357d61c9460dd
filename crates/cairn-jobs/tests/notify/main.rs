//! Notifications delivered to receivers the tests start on 127.0.0.1: HTTP receivers for
//! webhook, ntfy and healthchecks channels, an SMTP sink (aiosmtpd) for mail; retries and
//! give-ups on a fake clock; every delivery read back from the state database.

mod email;
mod http_channels;
mod retries;
mod support;
