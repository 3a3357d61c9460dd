//! Tests of the `cairn` binary against real components: the restic binary as the format
//! oracle, real file trees, real processes killed mid-write.

mod support;

mod accounts;
mod browse_more;
mod commands;
mod config;
mod copy_tag;
mod daemon;
mod disaster_recovery;
mod drills;
mod errors;
mod faults;
mod format_compat;
mod mirror;
mod multihost;
mod multihost_commands;
mod multihost_config;
mod multihost_storm;
mod notify;
mod offsite_lock;
mod oracle;
mod plans;
mod repair;
mod rest_endpoint;
mod retention;
mod s3;
mod unattended;
mod web_ui;
mod web_ui_pages;
mod wire;
