//! The server in process: the TCP application (`cairn_server::app::tcp_app`) driven with
//! `tower::ServiceExt::oneshot`, no socket, over a real daemon and state database in a
//! temporary directory.

mod auth;
mod pages;
mod roles;
mod support;
mod tls;
