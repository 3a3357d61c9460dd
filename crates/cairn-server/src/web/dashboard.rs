//! `/`: what is failing, at a glance. Plans that failed come first, then stale ones, then
//! the rest; each with its last success, next run, offsite lag and last drill.

use std::sync::Arc;

use axum::extract::State;
use cairn_access::{Action, Resource};
use cairn_jobs::daemon::status::PlanStatus;
use cairn_jobs::daemon::Daemon;
use cairn_state::{JobKind, JobState};
use maud::{html, Markup};

use super::context::PageContext;
use super::format::{bytes, relative, state_badge};
use super::layout::{page, Section};
use super::sparkline::sparkline;
use super::{blocking_page, WebError};

/// How a plan stands, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Failing,
    Stale,
    Running,
    Ok,
    NeverRun,
}

impl Health {
    pub fn of(plan: &PlanStatus) -> Health {
        let last = plan.last_run.as_ref().map(|job| job.state);
        match last {
            Some(JobState::Running | JobState::Queued) => Health::Running,
            Some(JobState::Failed | JobState::Interrupted) => Health::Failing,
            _ if plan.alerts.iter().any(|a| a == "failure") => Health::Failing,
            _ if plan.stale => Health::Stale,
            Some(_) => Health::Ok,
            None => Health::NeverRun,
        }
    }

    fn badge(self) -> Markup {
        let (class, text) = match self {
            Health::Failing => ("failing", "failing"),
            Health::Stale => ("stale", "stale"),
            Health::Running => ("running", "running"),
            Health::Ok => ("ok", "ok"),
            Health::NeverRun => ("warn", "never run"),
        };
        html! { span class={ "badge " (class) } { (text) } }
    }
}

pub async fn dashboard(
    State(daemon): State<Arc<Daemon>>,
    context: PageContext,
) -> Result<Markup, WebError> {
    let (plans, counts, now, growth) = blocking_page(&daemon, {
        let context = context.clone();
        move |daemon| {
            let mut plans: Vec<PlanStatus> = daemon
                .plan_statuses()?
                .into_iter()
                .filter(|p| {
                    context.may(
                        Action::Read,
                        Resource::Plan {
                            name: &p.name,
                            repository: &p.repository,
                        },
                    )
                })
                .collect();
            plans.sort_by(|a, b| (Health::of(a), &a.name).cmp(&(Health::of(b), &b.name)));
            let mut growth = std::collections::HashMap::new();
            for plan in &plans {
                growth.insert(plan.name.clone(), growth_of(daemon, &plan.name)?);
            }
            Ok((plans, daemon.state().job_counts()?, daemon.now(), growth))
        }
    })
    .await?;
    let count_of = |health: Health| plans.iter().filter(|p| Health::of(p) == health).count();
    let running: u64 = counts
        .iter()
        .filter(|(s, _)| *s == JobState::Running)
        .map(|(_, n)| *n)
        .sum();
    let queued: u64 = counts
        .iter()
        .filter(|(s, _)| *s == JobState::Queued)
        .map(|(_, n)| *n)
        .sum();
    let body = html! {
        section aria-label="Counts" class="counts" {
            div.count { strong { (count_of(Health::Failing)) } "failing" }
            div.count { strong { (count_of(Health::Stale)) } "stale" }
            div.count { strong { (count_of(Health::Ok)) } "ok" }
            div.count { strong { (running) } "jobs running" }
            div.count { strong { (queued) } "jobs queued" }
        }
        h2 { "Plans" }
        @if plans.is_empty() {
            p.muted { "No plans yet. Add a [plans.NAME] table to the config, or create one on the Plans page." }
        } @else {
            div.table-scroll {
                table id="plans" {
                    thead { tr {
                        th scope="col" { "Plan" }
                        th scope="col" { "State" }
                        th scope="col" { "Last success" }
                        th scope="col" { "Next run" }
                        th scope="col" class="hide-narrow" { "Offsite" }
                        th scope="col" class="hide-narrow" { "Last drill" }
                        th scope="col" class="hide-narrow" { "Growth" }
                        th scope="col" { span.skip { "Actions" } }
                    } }
                    tbody {
                        @for plan in &plans {
                            @let health = Health::of(plan);
                            tr data-plan=(plan.name) data-health=(format!("{health:?}").to_lowercase()) {
                                td { a href={ "/plans/" (plan.name) } { (plan.name) } br; span.muted { (plan.repository) } }
                                td {
                                    (health.badge())
                                    @if let Some(error) = plan.last_run.as_ref().and_then(|j| j.error.as_deref()) {
                                        @if health == Health::Failing { p.error-text { (error) } }
                                    }
                                }
                                td { (relative(plan.last_success, now)) }
                                td { (relative(plan.next_run, now)) }
                                td class="hide-narrow" {
                                    @if plan.alerts.iter().any(|a| a == "offsite_stale") { span.badge.stale { "behind" } " " }
                                    (relative(plan.last_offsite_sync, now))
                                }
                                td class="hide-narrow" {
                                    @match &plan.last_drill {
                                        Some(job) => { (state_badge(job.state.as_str())) " " (relative(job.finished_at.or(Some(job.created_at)), now)) }
                                        None => span.muted { "none" },
                                    }
                                }
                                td class="hide-narrow" {
                                    @if let Some(series) = growth.get(&plan.name) {
                                        (sparkline(series, &format!("bytes added by the last {} backups of {}", series.len(), plan.name)))
                                        @if let Some(total) = series.last() { " " span.muted { (bytes(*total)) } }
                                    }
                                }
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
        }
    };
    Ok(page(&context, Section::Dashboard, "Dashboard", body))
}

/// How many backups the growth line covers.
const GROWTH_BACKUPS: usize = 20;

/// The repository's growth through the plan's last successful backups: the running total of
/// the bytes each added (after deduplication and compression), oldest first.
fn growth_of(daemon: &Daemon, plan: &str) -> Result<Vec<u64>, crate::ApiError> {
    let mut added: Vec<u64> = daemon
        .state()
        .jobs(Some(plan), GROWTH_BACKUPS * 3)?
        .into_iter()
        .filter(|job| job.kind == JobKind::Backup && job.state == JobState::Succeeded)
        .filter_map(|job| job.bytes_added)
        .take(GROWTH_BACKUPS)
        .collect();
    added.reverse();
    let mut total = 0;
    Ok(added
        .into_iter()
        .map(|b| {
            total += b;
            total
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::Health;

    #[test]
    fn failing_sorts_before_stale_before_ok() {
        assert!(Health::Failing < Health::Stale);
        assert!(Health::Stale < Health::Running);
        assert!(Health::Running < Health::Ok);
    }
}
