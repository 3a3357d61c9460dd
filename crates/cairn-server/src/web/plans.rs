//! `/plans`: every plan with its schedule and state, and "Run now"; `POST
//! /plans/{name}/run` queues a backup as `POST /api/v1/plans/{name}/run` does.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Redirect;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobKind, Trigger};
use maud::{html, Markup};

use super::context::PageContext;
use super::dashboard::Health;
use super::format::relative;
use super::layout::{page, Section};
use super::{blocking_page, redirect_error, redirect_ok, WebError};

pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let (plans, now) = blocking_page(&daemon, {
        let context = context.clone();
        move |daemon| {
            let mut plans = daemon.plan_statuses()?;
            plans.retain(|p| {
                context.may(
                    Action::Read,
                    Resource::Plan {
                        name: &p.name,
                        repository: &p.repository,
                    },
                )
            });
            Ok((plans, daemon.now()))
        }
    })
    .await?;
    let body = html! {
        div.table-scroll {
            table {
                thead { tr {
                    th scope="col" { "Plan" }
                    th scope="col" { "Repository" }
                    th scope="col" { "Schedule" }
                    th scope="col" { "Next run" }
                    th scope="col" { "Last success" }
                    th scope="col" { span.skip { "Actions" } }
                } }
                tbody {
                    @for plan in &plans {
                        tr data-plan=(plan.name) {
                            td { a href={ "/plans/" (plan.name) } { (plan.name) } " " (health_text(Health::of(plan))) }
                            td { a href={ "/repositories/" (plan.repository) } { (plan.repository) } }
                            td { code { (plan.schedule.as_deref().unwrap_or("manual")) } }
                            td { (relative(plan.next_run, now)) }
                            td { (relative(plan.last_success, now)) }
                            td {
                                @if context.may(Action::Run, Resource::Plan { name: &plan.name, repository: &plan.repository }) {
                                    form.inline method="post" action={ "/plans/" (plan.name) "/run" } {
                                        (context.csrf_field())
                                        button type="submit" aria-label={ "Run plan " (plan.name) " now" } { "Run now" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&context, Section::Plans, "Plans", body))
}

fn health_text(health: Health) -> Markup {
    match health {
        Health::Failing => html! { span.badge.failing { "failing" } },
        Health::Stale => html! { span.badge.stale { "stale" } },
        _ => html! {},
    }
}

pub async fn run(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
    Path(name): Path<String>,
) -> Redirect {
    let result = blocking_page(&daemon, {
        let name = name.clone();
        move |daemon| {
            let config = daemon.config();
            let plan = config.plan(&name).map_err(crate::ApiError::NotFound)?;
            context
                .principal
                .require(
                    Action::Run,
                    Resource::Plan {
                        name: &name,
                        repository: &plan.repository,
                    },
                )
                .map_err(crate::ApiError::from)?;
            Ok(daemon.queue_plan(&name, JobKind::Backup, Trigger::Manual)?)
        }
    })
    .await;
    match result {
        Ok(job) => redirect_ok(
            &format!("/jobs/{}", job.id),
            &format!("plan {name} queued as job {}", job.id),
        ),
        Err(error) => redirect_error("/plans", &error.to_string()),
    }
}
