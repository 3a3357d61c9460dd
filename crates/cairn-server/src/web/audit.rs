//! `/audit` (admins): every change made through the server, newest first.

use std::sync::Arc;

use axum::extract::{Query, State};
use maud::{html, Markup};
use serde::Deserialize;

use super::context::PageContext;
use super::format::time;
use super::layout::{page, Section};
use super::{run_admin, WebError};
use crate::app::ServerState;

const PAGE: usize = 100;

#[derive(Deserialize)]
pub struct AuditPage {
    before: Option<i64>,
}

pub async fn list(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Query(query): Query<AuditPage>,
) -> Result<Markup, WebError> {
    let records = run_admin(&server, &context, move |s| {
        Ok(s.accounts.audit_log(PAGE, query.before)?)
    })
    .await?;
    let body = html! {
        div.table-scroll { table id="audit" {
            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "From" } th scope="col" { "What" } th scope="col" { "Result" } } }
            tbody { @for record in &records { tr data-action=(record.action) data-result=(record.result) {
                td { (time(Some(record.at))) }
                td { (record.actor) }
                td { (record.address) }
                td { code { (record.action) } }
                td { @if record.result == "ok" { span.badge.ok { "ok" } } @else { span.badge.bad { (record.result) } " " (record.detail.as_deref().unwrap_or("")) } }
            } } }
        } }
        @if records.len() == PAGE {
            @if let Some(last) = records.last() { p { a href={ "/audit?before=" (last.id) } { "Older" } } }
        }
    };
    Ok(page(&context, Section::Audit, "Audit log", body))
}
