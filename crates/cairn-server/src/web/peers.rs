//! `/peers`: the instances paired with this one (multihost). The list with each peer's state,
//! and a peer's page with its plans (as it reports them under `config.read`), its job history
//! (what it sent under `ops.read`), forms to run a plan, browse and restore on it, and
//! revocation for admins; the remote actions are in `peer_actions`. The same `Multihost` calls
//! as `cairn peer …` on the unix socket.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Form, Router};
use cairn_access::{Action, Resource};
use cairn_sync::CommandKind;
use maud::{html, Markup};
use serde::Deserialize;

use super::context::{percent_encode, PageContext};
use super::format::{bytes, state_badge, time};
use super::layout::{page, Section};
use super::peer_actions;
use super::{redirect_error, redirect_ok, WebError};
use crate::sync::{Multihost, MultihostError, PeerView};

pub fn routes(hub: Arc<Multihost>) -> Router {
    Router::new()
        .route("/peers", get(list))
        .route("/peers/{id}", get(show))
        .route("/peers/{id}/run", post(run))
        .route("/peers/{id}/revoke", post(revoke))
        .route("/peers/{id}/jobs/{job}/log", get(peer_actions::log))
        .route("/peers/{id}/jobs/{job}/cancel", post(peer_actions::cancel))
        .route("/peers/{id}/browse", get(peer_actions::browse))
        .route("/peers/{id}/restore", post(peer_actions::restore))
        .with_state(hub)
}

pub(super) fn require(context: &PageContext, action: Action) -> Result<(), WebError> {
    context
        .principal
        .require(action, Resource::Global)
        .map_err(|e| WebError(e.into()))
}

fn peer_state(peer: &PeerView) -> Markup {
    let class = match peer.state {
        "connected" => "ok",
        "revoked" => "bad",
        _ => "stale",
    };
    html! { span class={ "badge " (class) } data-state=(peer.state) { (peer.state) } }
}

async fn list(State(hub): State<Arc<Multihost>>, context: PageContext) -> Result<Markup, WebError> {
    require(&context, Action::Read)?;
    let peers = crate::sync::api::blocking(&hub, |hub| hub.peers()).await?;
    let body = html! {
        @if peers.is_empty() {
            p { "No instance is paired with this one. Create a pairing token with "
                code { "cairn peer token create" } " and pair a client with "
                code { "cairn peer pair TOKEN" } "." }
        } @else {
            table {
                thead { tr { th scope="col" { "Peer" } th scope="col" { "Role" } th scope="col" { "State" } th scope="col" { "Last seen" } th scope="col" { "RTT" } th scope="col" { "Permissions" } } }
                tbody { @for peer in &peers { tr data-peer=(peer.id) {
                    td { a href={ "/peers/" (percent_encode(&peer.id)) } { (peer.label) } br; code.muted { (peer.id) } }
                    td { (peer.role.as_str()) }
                    td { (peer_state(peer)) }
                    td { (time(peer.last_seen)) }
                    td { @if let Some(rtt) = peer.rtt_ms { (rtt) " ms" } @else { "—" } }
                    td { code { (peer.permissions.join(", ")) } br; span.muted { (peer.scopes) } }
                } } }
            }
        }
    };
    Ok(page(&context, Section::Peers, "Peers", body))
}

async fn show(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path(id): Path<String>,
) -> Result<Markup, WebError> {
    require(&context, Action::Read)?;
    let (peer, jobs, config) = crate::sync::api::blocking(&hub, {
        let id = id.clone();
        move |hub| {
            let peer = hub
                .peers()?
                .into_iter()
                .find(|p| p.id == id)
                .ok_or_else(|| {
                    MultihostError::Refused(format!("no peer {id}; `cairn peer list` shows them"))
                })?;
            let jobs = hub.peer_jobs(&id)?;
            // What the client reports of its config (with config.read); none otherwise.
            let config = hub.peer_config(&id).ok();
            Ok((peer, jobs, config))
        }
    })
    .await?;
    let action = |what: &str| format!("/peers/{}/{what}", percent_encode(&peer.id));
    let connected = peer.state == "connected";
    let body = html! {
        dl.facts {
            dt { "Instance id" } dd { code { (peer.id) } }
            dt { "Role" } dd { (peer.role.as_str()) }
            dt { "State" } dd { (peer_state(&peer)) }
            dt { "Paired" } dd { (time(Some(peer.paired_at))) }
            dt { "Last seen" } dd { (time(peer.last_seen)) }
            dt { "Permissions" } dd { code { (peer.permissions.join(", ")) } " within " code { (peer.scopes) } }
        }
        @if connected && context.may(Action::Run, Resource::Global) {
            section.panel aria-labelledby="run-on-peer" {
                h2 id="run-on-peer" { "Run a plan on " (peer.label) }
                form method="post" action=(action("run")) {
                    (context.csrf_field())
                    label for="peer-plan" { "Plan" }
                    input id="peer-plan" name="plan" type="text" required aria-describedby="peer-plan-hint";
                    p.hint id="peer-plan-hint" { "A plan of the client's own config; the client refuses it unless the pairing grants cmd.run for it." }
                    p { button type="submit" { "Run now" } }
                }
            }
        }
        @if let Some(plans) = config.as_ref().and_then(|c| c["report"]["plans"].as_array()) {
            h2 { "Its plans" }
            ul { @for plan in plans {
                li { code { (plan["name"].as_str().unwrap_or("")) } " → " (plan["repository"].as_str().unwrap_or("")) }
            } }
        }
        @if connected {
            section.panel aria-labelledby="browse-on-peer" {
                h2 id="browse-on-peer" { "Browse or restore a snapshot on " (peer.label) }
                form method="get" action=(action("browse")) {
                    label for="browse-repository" { "Repository" }
                    input id="browse-repository" name="repository" type="text" required;
                    label for="browse-snapshot" { "Snapshot" }
                    input id="browse-snapshot" name="snapshot" type="text" required value="latest";
                    label for="browse-path" { "Directory" }
                    input id="browse-path" name="path" type="text" value="/";
                    p { button type="submit" { "Browse" } }
                }
                @if context.may(Action::Restore, Resource::Global) {
                    form method="post" action=(action("restore")) {
                        (context.csrf_field())
                        label for="restore-repository" { "Repository" }
                        input id="restore-repository" name="repository" type="text" required;
                        label for="restore-snapshot" { "Snapshot" }
                        input id="restore-snapshot" name="snapshot" type="text" required value="latest";
                        label for="restore-target" { "Target directory on the client (absolute)" }
                        input id="restore-target" name="target" type="text" required;
                        label for="restore-include" { "Only these paths (comma-separated, empty: all)" }
                        input id="restore-include" name="include" type="text";
                        p { button type="submit" { "Restore on the client" } }
                    }
                }
            }
        }
        h2 { "Jobs it reported" }
        @if jobs.is_empty() {
            p { "None yet (the client sends its history when it has ops.read)." }
        } @else {
            table {
                thead { tr { th scope="col" { "Job" } th scope="col" { "Kind" } th scope="col" { "Plan" } th scope="col" { "Repository" } th scope="col" { "State" } th scope="col" { "Finished" } th scope="col" { "Added" } th scope="col" { "Snapshot / error" } th scope="col" { span.skip { "Actions" } } } }
                tbody { @for job in jobs.iter().rev() { tr data-job=(job.job.id) {
                    td { (job.job.id) }
                    td { (job.job.kind) }
                    td { (job.job.plan.as_deref().unwrap_or("—")) }
                    td { (job.job.repository.as_deref().unwrap_or("—")) }
                    td { (state_badge(&job.job.state)) }
                    td { (time(job.job.finished)) }
                    td { @if let Some(added) = job.job.bytes_added { (bytes(added)) } @else { "—" } }
                    td { @if let Some(error) = &job.job.error { span.error-text { (error) } } @else if let Some(snapshot) = &job.job.snapshot { code { (snapshot.chars().take(8).collect::<String>()) } } }
                    td { @if connected {
                        a href=(action(&format!("jobs/{}/log", job.job.id))) { "Log" }
                        @if matches!(job.job.state.as_str(), "queued" | "running") && context.may(Action::Run, Resource::Global) {
                            " "
                            form.inline method="post" action=(action(&format!("jobs/{}/cancel", job.job.id))) {
                                (context.csrf_field()) button.secondary type="submit" { "Cancel" }
                            }
                        }
                    } }
                } } }
            }
        }
        @if context.is_admin() && peer.state != "revoked" {
            form.inline method="post" action=(action("revoke")) data-confirm={ "Revoke " (peer.label) "? Its session ends and it cannot reconnect." } {
                (context.csrf_field())
                button.danger type="submit" { "Revoke" }
            }
        }
    };
    Ok(page(
        &context,
        Section::Peers,
        &format!("Peer {}", peer.label),
        body,
    ))
}

#[derive(Deserialize)]
pub struct RunForm {
    plan: String,
}

async fn run(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path(id): Path<String>,
    Form(form): Form<RunForm>,
) -> Result<Redirect, WebError> {
    require(&context, Action::Run)?;
    let back = format!("/peers/{}", percent_encode(&id));
    let plan = form.plan.trim().to_string();
    Ok(
        match hub
            .command(&id, CommandKind::RunPlan { plan: plan.clone() })
            .await
        {
            Ok(_) => redirect_ok(&back, &format!("plan {plan} queued on {id}")),
            Err(refusal) => redirect_error(&back, &refusal),
        },
    )
}

async fn revoke(
    State(hub): State<Arc<Multihost>>,
    context: PageContext,
    Path(id): Path<String>,
) -> Result<Redirect, WebError> {
    require(&context, Action::Administer)?;
    let back = format!("/peers/{}", percent_encode(&id));
    let revoked = crate::sync::api::blocking(&hub, {
        let id = id.clone();
        move |hub| hub.revoke(&id)
    })
    .await;
    Ok(match revoked {
        Ok(()) => redirect_ok(&back, &format!("{id} revoked")),
        Err(error) => redirect_error(&back, &error.to_string()),
    })
}
