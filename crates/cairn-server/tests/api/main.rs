//! The API in-process: `cairn_server::router` over a real `Daemon` on a temporary state
//! directory and config file, called with `tower::ServiceExt::oneshot` (no socket).

mod config_edit;
mod offsite;
mod support;
