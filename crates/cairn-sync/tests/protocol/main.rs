//! cairn-sync's protocol tests through the public API: reconciliation under faults, the
//! permission checks of every message, and the frame decoder on garbage.

mod common;
mod end_to_end;
mod frames;
mod permissions;
mod reconcile;
mod sessions;
