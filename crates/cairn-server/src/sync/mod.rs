//! Multihost at run time: the server's sync endpoint ([`endpoint`]), the client's dialer
//! ([`dialer`]), the driver both run a session with ([`driver`] over [`socket`]), the sync
//! crate's stores on the state database ([`stores`]), what `cairn peer …` asks of the daemon
//! ([`api`]), what a client does when its server sends a command ([`command`]), config pushed to clients and repositories shared with them ([`config`]),
//! and [`Multihost`], which holds it together ([`hub`]). The protocol itself is
//! `cairn-sync` (sans-I/O); nothing here decides what a message means.

pub mod api;
mod command;
mod config;
mod dialer;
mod driver;
pub mod endpoint;
pub mod hub;
mod socket;
pub mod stores;

pub use hub::{Multihost, MultihostError, MultihostSettings, PeerJob, PeerView};
