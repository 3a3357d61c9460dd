//! The server in process, one test binary (one link) for the crate: the TCP application
//! (`cairn_server::app::tcp_app`: sign-in, roles, pages, TLS) and the API routers (`api`:
//! config edits, offsite; `browse`: repositories, downloads, restores), driven with
//! `tower::ServiceExt::oneshot` over a real daemon and state database in a temporary
//! directory.

mod api;
mod auth;
mod browse;
mod pages;
mod rest;
mod roles;
mod support;
mod tls;
