//! `/plans/{name}`: one plan: its state, "Run now", and its settings as a form that an
//! admin edits. The form is sent by the script to `PUT /api/v1/plans/{name}` (validated,
//! written back into the config file with comments kept, the daemon reloaded); errors come
//! back per field and are shown at the field.

use std::sync::Arc;

use axum::extract::{Path, State};
use cairn_access::{Action, Resource};
use cairn_config::edit::fields::PLAN_FIELDS;
use cairn_config::edit::ConfigEdit;
use cairn_jobs::daemon::Daemon;
use maud::{html, Markup};

use super::context::PageContext;
use super::dashboard::Health;
use super::fields_form::fields_form;
use super::format::relative;
use super::layout::{page, Section};
use super::{blocking_page, WebError};
use crate::ApiError;

pub async fn show(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Result<Markup, WebError> {
    let (status, values, config_path, now) = blocking_page(&daemon, {
        let (name, context) = (name.clone(), context.clone());
        move |daemon| {
            let config = daemon.config();
            let plan = config.plan(&name).map_err(ApiError::NotFound)?;
            context
                .principal
                .require(
                    Action::Read,
                    Resource::Plan {
                        name: &name,
                        repository: &plan.repository,
                    },
                )
                .map_err(ApiError::from)?;
            let status = daemon.plan_statuses()?.into_iter().find(|p| p.name == name);
            let edit = ConfigEdit::new(&config).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let values = edit.plan_fields(&name).unwrap_or_default();
            Ok((
                status,
                values,
                config.source().path().to_path_buf(),
                daemon.now(),
            ))
        }
    })
    .await?;
    let repository = status
        .as_ref()
        .map(|s| s.repository.clone())
        .unwrap_or_default();
    let resource = Resource::Plan {
        name: &name,
        repository: &repository,
    };
    let may_edit = context.may(Action::EditConfig, resource);
    let may_run = context.may(Action::Run, resource);
    let body = html! {
        @if let Some(status) = &status {
            div.panel {
                p { "State " (super::format::state_badge(match Health::of(status) { Health::Failing => "failed", Health::Stale => "stale", Health::Running => "running", Health::Ok => "succeeded", Health::NeverRun => "queued" }))
                    " · last success " (relative(status.last_success, now)) " · next run " (relative(status.next_run, now)) }
                div.actions {
                    @if may_run {
                        form.inline method="post" action={ "/plans/" (name) "/run" } {
                            (context.csrf_field())
                            button type="submit" { "Run now" }
                        }
                    }
                    a href={ "/repositories/" (status.repository) } { "Snapshots in " (status.repository) }
                }
            }
        }
        h2 { "Settings" }
        p.muted { "From " code { (config_path.display()) } ". Saving validates the whole file, writes it back with your comments kept, and reloads the daemon. Database dumps are edited in the file." }
        form id="plan-form" data-api-edit={ "/api/v1/plans/" (name) } data-validate={ "/api/v1/plans/" (name) "/validate" } novalidate {
            (context.csrf_field())
            div.flash.bad id="form-error" role="alert" hidden {}
            (fields_form(PLAN_FIELDS, &values, may_edit))
            @if may_edit {
                p.actions {
                    button type="submit" { "Save" }
                    button.secondary type="button" data-action="validate" { "Check" }
                }
            }
        }
    };
    Ok(page(
        &context,
        Section::Plans,
        &format!("Plan {name}"),
        body,
    ))
}
