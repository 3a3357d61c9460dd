//! `/repositories/{name}/offsite`: the repository's offsite mirror: its settings (an admin
//! edits them; the S3 key pair is write-only and stored sealed), Test Connection on the
//! values as typed (each step's result), "Sync now", "Verify", restore from the mirror (a copy,
//! or in place), and repositories under the bucket that no config here knows (orphans), each
//! restorable as a copy. The script talks to `/api/v1/repositories/{name}/offsite…`.

use std::sync::Arc;

use axum::extract::{Path, State};
use cairn_access::{Action, Resource};
use cairn_config::edit::fields::OFFSITE_FIELDS;
use cairn_config::edit::ConfigEdit;
use cairn_jobs::daemon::Daemon;
use maud::{html, Markup};

use super::context::PageContext;
use super::fields_form::fields_form;
use super::layout::{page, Section};
use super::repositories::require_read;
use super::{blocking_page, WebError};
use crate::ApiError;

pub async fn show(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Result<Markup, WebError> {
    require_read(&context, &name)?;
    let values = blocking_page(&daemon, {
        let name = name.clone();
        move |daemon| {
            let config = daemon.config();
            if !config.repositories.contains_key(&name) {
                return Err(ApiError::NotFound(format!(
                    "the config has no repository {name:?}"
                )));
            }
            let edit = ConfigEdit::new(&config).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Ok(edit.offsite_fields(&name).unwrap_or_default())
        }
    })
    .await?;
    let may_edit = context.may(Action::EditConfig, Resource::Repository(&name));
    let may_run = context.may(Action::Run, Resource::Repository(&name));
    let may_restore = context.may(Action::Restore, Resource::Repository(&name));
    let api = format!("/api/v1/repositories/{name}/offsite");
    let body = html! {
        @if values.is_empty() {
            p.muted { "This repository has no offsite mirror yet." @if may_edit { " Fill in a destination to add one." } }
        }
        form id="offsite-form" data-api-put=(api) data-test={ (api) "/test" } novalidate {
            (context.csrf_field())
            div.flash.bad id="form-error" role="alert" hidden {}
            (fields_form(OFFSITE_FIELDS, &values, may_edit))
            @if may_edit {
                fieldset {
                    legend { "S3 key pair (write-only; stored sealed, never shown)" }
                    label for="access-key-id" { "Access key id" }
                    input id="access-key-id" name="access_key_id" type="password" autocomplete="off" data-secret="access_key_id";
                    label for="secret-access-key" { "Secret access key" }
                    input id="secret-access-key" name="secret_access_key" type="password" autocomplete="off" data-secret="secret_access_key";
                    p.hint { "Leave empty to keep what is stored (or the credentials_file)." }
                }
                p.actions {
                    button type="submit" { "Save" }
                    button.secondary type="button" data-action="test" { "Test connection" }
                }
            }
        }
        section aria-labelledby="test-title" {
            h2 id="test-title" { "Test connection" }
            ol.steps id="test-steps" aria-live="polite" { li.muted { "Not run yet." } }
        }
        @if may_run && !values.is_empty() {
            h2 { "Actions" }
            div.actions {
                form.inline data-api-post={ (api) "/sync" } {
                    (context.csrf_field())
                    button type="submit" { "Sync now" }
                }
                form.inline data-api-post={ (api) "/verify" } {
                    (context.csrf_field())
                    input type="hidden" name="read_sample" value="5%";
                    button.secondary type="submit" { "Verify (read back 5%)" }
                }
                button.secondary type="button" data-orphans={ "/api/v1/offsite/orphans?repository=" (name) } data-repository=(name) { "Look for orphans" }
            }
            ul id="orphans" aria-live="polite" {}
        }
        @if may_restore && !values.is_empty() {
            h2 { "Restore from the mirror" }
            form.panel id="mirror-copy" data-api-post={ (api) "/restore" } {
                (context.csrf_field())
                input type="hidden" name="mode" value="copy";
                label for="copy-target" { "A copy into a new directory" }
                input id="copy-target" name="target" type="text" required placeholder={ (name) "-from-mirror" } aria-describedby="copy-hint";
                p.hint id="copy-hint" { "Relative to the server's restore directory; the copy is a whole repository (same password)." }
                label for="copy-at" { "As it was at (optional)" }
                input id="copy-at" name="at" type="text" placeholder="2026-11-29 10:00" aria-describedby="at-hint";
                p.hint id="at-hint" { "Empty: the mirror as it is now. A time (RFC 3339, or server-local YYYY-MM-DD HH:MM): the mirror as it was then, from its object versions (a versioned bucket, e.g. under Object Lock)." }
                button type="submit" { "Restore a copy" }
            }
            @if may_edit {
                form.inline id="mirror-replace" data-api-post={ (api) "/restore" } data-replace-confirm={ "Replace repository " (name) " with its mirror's state?" } {
                    (context.csrf_field())
                    input type="hidden" name="mode" value="replace";
                    button.danger type="submit" { "Replace the repository with its mirror" }
                }
            }
        }
    };
    Ok(page(
        &context,
        Section::Repositories,
        &format!("Offsite of {name}"),
        body,
    ))
}
