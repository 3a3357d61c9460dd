//! `/users` (admins): every user with role and second factor; add, change role, reset the
//! second factor, remove.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::Form;
use cairn_access::{Action, Resource, Role};
use maud::{html, Markup};
use serde::Deserialize;

use super::context::PageContext;
use super::format::time;
use super::layout::{page, Section};
use super::{redirect_error, redirect_ok, run_admin, WebError};
use crate::app::ServerState;

pub async fn list(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let users = run_admin(&server, &context, |s| Ok(s.accounts.users()?)).await?;
    let body = html! {
        table {
            thead { tr { th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Second factor" } th scope="col" { "Created" } th scope="col" { span.skip { "Actions" } } } }
            tbody { @for user in &users { tr data-user=(user.name) {
                td { (user.name) }
                td {
                    form.inline method="post" action={ "/users/" (user.name) "/role" } {
                        (context.csrf_field())
                        label.skip for={ "role-" (user.name) } { "Role of " (user.name) }
                        select id={ "role-" (user.name) } name="role" {
                            @for role in Role::ALL { option value=(role) selected[role == user.role] { (role) } }
                        }
                        " " button.secondary type="submit" { "Set" }
                    }
                }
                td { @if user.totp_enabled { span.badge.ok { "on" } } @else { span.badge.warn { "off" } } }
                td { (time(Some(user.created_at))) }
                td.actions {
                    @if user.totp_enabled {
                        form.inline method="post" action={ "/users/" (user.name) "/reset-2fa" } data-confirm={ "Remove the second factor of " (user.name) "?" } {
                            (context.csrf_field()) button.secondary type="submit" { "Reset 2FA" }
                        }
                    }
                    form.inline method="post" action={ "/users/" (user.name) "/remove" } data-confirm={ "Remove user " (user.name) "?" } {
                        (context.csrf_field()) button.danger type="submit" { "Remove" }
                    }
                }
            } } }
        }
        section.panel aria-labelledby="add-user" {
            h2 id="add-user" { "Add a user" }
            form method="post" action="/users" {
                (context.csrf_field())
                label for="user-name" { "Name" }
                input id="user-name" name="name" type="text" required;
                label for="user-role" { "Role" }
                select id="user-role" name="role" { @for role in Role::ALL { option value=(role) selected[role == Role::Viewer] { (role) } } }
                p.hint { "viewer: reads everything · operator: also runs, cancels, downloads and restores · admin: everything" }
                label for="user-password" { "Password" }
                input id="user-password" name="password" type="password" autocomplete="new-password" minlength="12" required;
                p { button type="submit" { "Add user" } }
            }
        }
    };
    Ok(page(&context, Section::Users, "Users", body))
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    role: String,
    password: String,
}

pub async fn add(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Form(form): Form<NewUserForm>,
) -> Redirect {
    let result = run_admin(&server, &context, move |s| {
        let role: Role = form.role.parse()?;
        Ok(s.accounts.add_user(&form.name, role, &form.password)?)
    })
    .await;
    match result {
        Ok(user) => redirect_ok(
            "/users",
            &format!("user {} added as {}", user.name, user.role),
        ),
        Err(error) => redirect_error("/users", &error.to_string()),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Path(name): Path<String>,
    Form(form): Form<RoleForm>,
) -> Redirect {
    let message = format!("{name} is now {}", form.role);
    let result = run_admin(&server, &context, move |s| {
        let role: Role = form.role.parse()?;
        Ok(s.accounts.set_role(&name, role)?)
    })
    .await;
    match result {
        Ok(()) => redirect_ok("/users", &message),
        Err(error) => redirect_error("/users", &error.to_string()),
    }
}

pub async fn reset_second_factor(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Redirect {
    let message = format!("the second factor of {name} is removed");
    let result = run_admin(&server, &context, move |s| {
        Ok(s.accounts.reset_second_factor(&name)?)
    })
    .await;
    match result {
        Ok(()) => redirect_ok("/users", &message),
        Err(error) => redirect_error("/users", &error.to_string()),
    }
}

pub async fn remove(
    State(server): State<Arc<ServerState>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Redirect {
    let message = format!("user {name} removed");
    let result = run_admin(&server, &context, move |s| {
        Ok(s.accounts.remove_user(&name)?)
    })
    .await;
    match result {
        Ok(()) => redirect_ok("/users", &message),
        Err(error) => redirect_error("/users", &error.to_string()),
    }
}

/// Whether the page may show admin pages (used by the layout as well).
pub fn is_admin(context: &PageContext) -> bool {
    context.may(Action::Administer, Resource::Global)
}
