//! The API in-process: `cairn_server::router` over a real `Daemon` on a temporary state
//! directory and config file, called with `tower::ServiceExt::oneshot` (no socket): config
//! edits and the offsite (settings, Test Connection, jobs) against the moto S3 server.

mod config_edit;
mod offsite;
mod support;
