//! `/drills`: recent restore drills: what was restored, how fast, the estimated time to
//! recover, and whether the bytes matched.

use std::sync::Arc;

use axum::extract::State;
use cairn_jobs::daemon::Daemon;
use maud::{html, Markup};

use super::context::PageContext;
use super::format::{bytes, duration, relative, state_badge};
use super::layout::{page, Section};
use super::{blocking_page, WebError};
use crate::api::drills::recent_drills;
use crate::auth::Caller;

pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let (drills, now) = blocking_page(&daemon, {
        let caller = Caller(context.principal.clone());
        move |daemon| Ok((recent_drills(daemon, &caller, 50)?, daemon.now()))
    })
    .await?;
    let number = |report: &Option<serde_json::Value>, key: &str| {
        report
            .as_ref()
            .and_then(|r| r.get(key))
            .and_then(serde_json::Value::as_f64)
    };
    let body = html! {
        p.muted { "A drill restores a sample of a plan's latest snapshot (and loads its database dumps into throwaway databases), verifies every byte, and estimates the time a full recovery takes (RTO)." }
        @if drills.is_empty() {
            p { "No drills yet. Give a plan a " code { "[plans.NAME.drill]" } " schedule, or run " code { "cairn drills run PLAN" } "." }
        } @else {
            div.table-scroll { table {
                thead { tr {
                    th scope="col" { "Plan" } th scope="col" { "State" } th scope="col" { "When" }
                    th scope="col" class="num" { "Restored" } th scope="col" class="num" { "Rate" } th scope="col" class="num" { "RTO" }
                } }
                tbody { @for drill in &drills { tr {
                    td { a href={ "/jobs/" (drill.job.id) } { (drill.job.plan.as_deref().unwrap_or("-")) } }
                    td { (state_badge(drill.job.state.as_str())) @if let Some(e) = &drill.job.error { br; span.error-text { (e) } } }
                    td { (relative(drill.job.finished_at.or(Some(drill.job.created_at)), now)) }
                    td.num { @if let (Some(files), Some(b)) = (number(&drill.report, "files_restored"), number(&drill.report, "bytes_restored")) { (files as u64) " files · " (bytes(b as u64)) } }
                    td.num { @if let Some(rate) = number(&drill.report, "rate_bytes_per_second") { (bytes(rate as u64)) "/s" } }
                    td.num { @if let Some(rto) = number(&drill.report, "rto_seconds") { (duration(rto as u64)) } }
                } } }
            } }
        }
    };
    Ok(page(&context, Section::Drills, "Restore drills", body))
}
