//! `[plans.NAME]`: what to back up, into which repository, when, how long to keep it, what to
//! check, which databases to dump and what to run around it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use cairn_repo::backup::{Pattern, TagFile};
use cairn_repo::check::ReadData;
use cairn_repo::forget::KeepPolicy;

use crate::dumps::{self, DumpTargets, MariadbDump, PostgresDump, SqliteDump};
use crate::error::ErrorKind;
use crate::positions::KeyPath;
use crate::raw::{RawCheck, RawHooks, RawPlan};
use crate::retention::build_retention;
use crate::schedule::{Schedule, Zone};
use crate::section::Section;
use crate::suggest::nearest;
use crate::units::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    /// The name of one of the config's repositories.
    pub repository: String,
    /// Absolute paths, backed up into one snapshot together with the dumps.
    pub sources: Vec<PathBuf>,
    /// Exclude patterns, as `cairn backup --exclude` reads them.
    pub exclude: Vec<String>,
    pub exclude_if_present: Vec<TagFile>,
    pub one_file_system: bool,
    pub tags: Vec<String>,
    /// The host name recorded in snapshots; `None`: this machine's.
    pub host: Option<String>,
    /// When the daemon runs the plan; `None`: only when started by hand, cron or a timer.
    pub schedule: Option<Schedule>,
    /// The zone the schedule is read in: the plan's `timezone`, else the file's, else local.
    pub timezone: Zone,
    /// What forget keeps after each backup; `None`: nothing is forgotten.
    pub retention: Option<KeepPolicy>,
    pub check: Option<CheckPolicy>,
    pub hooks: Hooks,
    pub postgresql: Vec<PostgresDump>,
    pub mariadb: Vec<MariadbDump>,
    pub sqlite: Vec<SqliteDump>,
    /// Run once at start-up when a scheduled run was missed while the daemon was down.
    pub catch_up: bool,
    /// Times a run that failed for a passing reason (store unreachable, lock held) is tried
    /// again, with growing pauses.
    pub retries: u32,
    /// No successful backup for this long raises `stale`; `None`: twice the schedule's
    /// interval (the daemon computes it).
    pub stale_after: Option<Duration>,
    pub drill: Option<DrillPolicy>,
}

/// `[plans.NAME.drill]`: a scheduled restore of the latest snapshot into a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillPolicy {
    pub schedule: Schedule,
    pub sample: DrillSample,
}

/// How much of the snapshot a drill restores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DrillSample {
    Full,
    /// This percentage of the files, but at least `min_files` (or all when there are fewer).
    Percent {
        percent: f64,
        min_files: u64,
    },
}

/// Runs tried again after a passing failure, unless the plan says otherwise.
pub const RETRIES_DEFAULT: u32 = 3;
/// Files a sampled drill restores at least.
pub const DRILL_MIN_FILES_DEFAULT: u64 = 10;

impl Plan {
    /// A plan with nothing to back up, on a repository restic clients fill through the REST
    /// endpoint: its runs forget (over every snapshot of the repository), prune, check and
    /// mirror, and never back up. Validation allows it only on such a repository.
    pub fn is_maintenance(&self) -> bool {
        self.sources.is_empty()
            && self.postgresql.is_empty()
            && self.mariadb.is_empty()
            && self.sqlite.is_empty()
    }
}

/// Two maintenance plans on one repository would each apply their retention to every
/// snapshot, so only what both keep would survive: the second one is refused.
pub(crate) fn one_maintenance_plan_per_repository(
    reporter: &mut crate::error::Reporter<'_>,
    plans: &BTreeMap<String, Plan>,
) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for plan in plans.values().filter(|plan| plan.is_maintenance()) {
        if let Some(first) = seen.insert(plan.repository.as_str(), plan.name.as_str()) {
            seen.insert(plan.repository.as_str(), first);
            reporter.at_key(
                ErrorKind::Conflict,
                &KeyPath::of(&["plans", &plan.name, "repository"]),
                format!(
                    "plan {:?} and plan {first:?} both maintain repository {:?}; keep one plan without sources per repository",
                    plan.name, plan.repository
                ),
            );
        }
    }
}

/// `check = { every = "7d", read_data_subset = "5%" }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckPolicy {
    /// At most this often; `None`: after every run.
    pub every: Option<Duration>,
    pub read_data: ReadData,
}

/// Shell commands run around a backup, each with `sh -c`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    pub before_backup: Vec<String>,
    pub after_backup: Vec<String>,
    pub on_error: Vec<String>,
    pub finally: Vec<String>,
    /// Per command; a command still running then is killed with its process group.
    pub timeout: Duration,
}

/// Long enough for stopping a service or flushing a cache, short enough that a hung hook is
/// noticed the same night.
pub const HOOK_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10 * 60);

impl Default for Hooks {
    fn default() -> Hooks {
        Hooks {
            before_backup: Vec::new(),
            after_backup: Vec::new(),
            on_error: Vec::new(),
            finally: Vec::new(),
            timeout: HOOK_TIMEOUT_DEFAULT,
        }
    }
}

/// What a plan may refer to outside its own table.
pub(crate) struct PlanContext<'c> {
    /// Every repository table in the file, including ones with errors (a plan naming one of
    /// those is not reported a second time).
    pub repository_names: &'c BTreeSet<String>,
    /// Repositories served to restic clients (`rest` enabled): a plan on one of them may
    /// back up nothing and only maintain it.
    pub rest_repositories: &'c BTreeSet<String>,
    pub default_zone: Zone,
}

pub(crate) fn build_plan(
    section: &mut Section<'_, '_>,
    name: &str,
    raw: &RawPlan,
    context: &PlanContext<'_>,
) -> Option<Plan> {
    let repository = repository_reference(section, raw.repository.as_deref(), context);
    let sources = sources(section, raw.sources.as_deref().unwrap_or_default());
    let exclude = raw.exclude.clone().unwrap_or_default();
    for (index, pattern) in exclude.iter().enumerate() {
        if let Err(error) = Pattern::new(pattern, false) {
            section.invalid(
                &section.key("exclude").index(index),
                format!("{error}; write a glob such as \"*.tmp\" or \"/srv/www/cache\""),
            );
        }
    }
    let mut exclude_if_present = Vec::new();
    for (index, spec) in raw.exclude_if_present.iter().flatten().enumerate() {
        match TagFile::parse(spec) {
            Ok(tag) => exclude_if_present.push(tag),
            Err(_) => section.invalid(
                &section.key("exclude_if_present").index(index),
                format!("{spec:?} is not a file name; write a name such as \".nobackup\", optionally followed by :HEADER"),
            ),
        }
    }
    let tags = raw.tags.clone().unwrap_or_default();
    for (index, tag) in tags.iter().enumerate() {
        if tag.is_empty() || tag.contains(',') {
            section.invalid(
                &section.key("tags").index(index),
                format!("{tag:?} is not one tag; write each tag as its own list item, e.g. [\"web\", \"daily\"]"),
            );
        }
    }
    if let Some(host) = &raw.host {
        section.non_empty(&section.key("host"), host, "web-1");
    }
    let schedule = section.parse("schedule", raw.schedule.as_deref(), str::parse::<Schedule>);
    let timezone = section
        .parse("timezone", raw.timezone.as_deref(), Zone::parse)
        .unwrap_or(context.default_zone);
    let retention = raw.retention.as_ref().and_then(|raw| {
        let path = section.key("retention");
        build_retention(&mut Section::new(section.reporter(), path), raw)
    });
    let check = raw.check.as_ref().and_then(|raw| {
        let path = section.key("check");
        build_check(&mut Section::new(section.reporter(), path), raw)
    });
    let hooks = match &raw.hooks {
        None => Some(Hooks::default()),
        Some(raw) => {
            let path = section.key("hooks");
            build_hooks(&mut Section::new(section.reporter(), path), raw)
        }
    };
    let (postgresql, mariadb, sqlite) = build_dumps(section, raw);
    let retries = match raw.retries {
        None => RETRIES_DEFAULT,
        Some(n @ 0..=100) => n as u32,
        Some(n) => {
            section.invalid(
                &section.key("retries"),
                format!(
                    "{n} is out of range; write a number from 0 to 100, e.g. {RETRIES_DEFAULT}"
                ),
            );
            RETRIES_DEFAULT
        }
    };
    let stale_after = section.parse(
        "stale_after",
        raw.stale_after.as_deref(),
        str::parse::<Duration>,
    );
    let drill = raw.drill.as_ref().and_then(|raw| {
        let path = section.key("drill");
        build_drill(&mut Section::new(section.reporter(), path), raw)
    });
    let backs_up_nothing =
        sources.is_empty() && postgresql.is_empty() && mariadb.is_empty() && sqlite.is_empty();
    let maintains_rest_repository = repository
        .as_ref()
        .is_some_and(|name| context.rest_repositories.contains(name));
    if backs_up_nothing && maintains_rest_repository {
        // A maintenance plan: no backup runs, so hooks around one would never run either.
        for (key, commands) in [
            (
                "before_backup",
                &raw.hooks.as_ref().and_then(|h| h.before_backup.clone()),
            ),
            (
                "after_backup",
                &raw.hooks.as_ref().and_then(|h| h.after_backup.clone()),
            ),
        ] {
            if commands.as_ref().is_some_and(|c| !c.is_empty()) {
                section.wrong(
                    &section.key("hooks").key(key),
                    "never runs: this plan has no sources and only maintains a rest repository; \
                     use on_error or finally",
                );
            }
        }
    } else if backs_up_nothing && !section.failed() {
        let label = section.label();
        section.report(
            ErrorKind::MissingKey,
            &section.key("sources"),
            format!(
                "{label} backs up nothing; add sources = [\"/etc\"] or a [[plans.{name}.postgresql]], \
                 [[plans.{name}.mariadb]] or [[plans.{name}.sqlite]] dump"
            ),
        );
    }
    if section.failed() {
        return None;
    }
    Some(Plan {
        name: name.to_string(),
        repository: repository?,
        sources,
        exclude,
        exclude_if_present,
        one_file_system: raw.one_file_system.unwrap_or(false),
        tags,
        host: raw.host.clone(),
        schedule,
        timezone,
        retention,
        check,
        hooks: hooks?,
        postgresql,
        mariadb,
        sqlite,
        catch_up: raw.catch_up.unwrap_or(true),
        retries,
        stale_after,
        drill,
    })
}

fn build_drill(section: &mut Section<'_, '_>, raw: &crate::raw::RawDrill) -> Option<DrillPolicy> {
    let schedule = section
        .required("schedule", raw.schedule.as_deref(), "\"0 5 * * 0\"")
        .and_then(|text| section.parse("schedule", Some(text), str::parse::<Schedule>));
    let min_files = match raw.sample_min_files {
        None => DRILL_MIN_FILES_DEFAULT,
        Some(n) if n >= 1 => n as u64,
        Some(n) => {
            section.invalid(
                &section.key("sample_min_files"),
                format!(
                    "{n} is not a count of files; write 1 or more, e.g. {DRILL_MIN_FILES_DEFAULT}"
                ),
            );
            DRILL_MIN_FILES_DEFAULT
        }
    };
    let sample = match raw.sample.as_deref() {
        None => Some(DrillSample::Percent {
            percent: 2.0,
            min_files,
        }),
        Some("full") => Some(DrillSample::Full),
        Some(text) => section.parse("sample", Some(text), |text| {
            text.strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .map(|percent| DrillSample::Percent { percent, min_files })
                .ok_or_else(|| {
                    format!(
                        "{text:?} is not a sample; write a percentage such as \"2%\", or \"full\""
                    )
                })
        }),
    };
    if section.failed() {
        return None;
    }
    Some(DrillPolicy {
        schedule: schedule?,
        sample: sample?,
    })
}

/// `repository = "NAME"`, which the file must define.
fn repository_reference(
    section: &mut Section<'_, '_>,
    text: Option<&str>,
    context: &PlanContext<'_>,
) -> Option<String> {
    let example = match context.repository_names.first() {
        Some(first) => format!("{first:?}"),
        None => "\"NAME\" naming a [repositories.NAME] table".to_string(),
    };
    let name = section.required("repository", text, &example)?;
    if context.repository_names.contains(name) {
        return Some(name.to_string());
    }
    let known = context.repository_names.iter().map(String::as_str);
    let message = match (nearest(name, known), context.repository_names.is_empty()) {
        (Some(near), _) => format!("unknown repository {name:?}; did you mean {near:?}?"),
        (None, true) => format!(
            "unknown repository {name:?}; the file defines no repository: add a [repositories.{name}] table"
        ),
        (None, false) => format!(
            "unknown repository {name:?}; the file defines {}",
            quoted_list(context.repository_names)
        ),
    };
    section.report(
        ErrorKind::UnknownReference,
        &section.key("repository"),
        message,
    );
    None
}

fn quoted_list(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sources(section: &mut Section<'_, '_>, texts: &[String]) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let key = section.key("sources").index(index);
        if let Some(path) = section.absolute_path(&key, text, "/srv/www") {
            sources.push(path);
        }
    }
    sources
}

fn build_check(section: &mut Section<'_, '_>, raw: &RawCheck) -> Option<CheckPolicy> {
    let every = section.parse("every", raw.every.as_deref(), str::parse::<Duration>);
    let read_data = section
        .parse("read_data_subset", raw.read_data_subset.as_deref(), |text| {
            text.parse::<ReadData>().map_err(|_| {
                format!("{text:?} is not a subset; write a percentage such as \"5%\" or a part such as \"1/5\"")
            })
        })
        .unwrap_or(ReadData::None);
    if section.failed() {
        return None;
    }
    Some(CheckPolicy { every, read_data })
}

fn build_hooks(section: &mut Section<'_, '_>, raw: &RawHooks) -> Option<Hooks> {
    let mut list = |key: &str, commands: &Option<Vec<String>>| {
        let commands = commands.clone().unwrap_or_default();
        for (index, command) in commands.iter().enumerate() {
            let path = section.key(key).index(index);
            section.non_empty(&path, command, "systemctl stop app-worker");
        }
        commands
    };
    let before_backup = list("before_backup", &raw.before_backup);
    let after_backup = list("after_backup", &raw.after_backup);
    let on_error = list("on_error", &raw.on_error);
    let finally = list("finally", &raw.finally);
    let timeout = section
        .parse("timeout", raw.timeout.as_deref(), |text| {
            match text.parse::<Duration>() {
                Ok(duration) if duration.is_zero() => Err(
                    "0 would kill every hook at once; write a duration such as \"10m\"".to_string(),
                ),
                other => other.map_err(|e| e.to_string()),
            }
        })
        .unwrap_or(HOOK_TIMEOUT_DEFAULT);
    if section.failed() {
        return None;
    }
    Some(Hooks {
        before_backup,
        after_backup,
        on_error,
        finally,
        timeout,
    })
}

type Dumps = (Vec<PostgresDump>, Vec<MariadbDump>, Vec<SqliteDump>);

fn build_dumps(section: &mut Section<'_, '_>, raw: &RawPlan) -> Dumps {
    let mut targets = DumpTargets::new();
    let mut postgresql = Vec::new();
    for (index, raw) in raw.postgresql.iter().flatten().enumerate() {
        let entry = section.key("postgresql").index(index);
        let mut entry_section = Section::new(section.reporter(), entry.clone());
        if let Some(dump) = dumps::build_postgres(&mut entry_section, raw) {
            targets.claim(
                &mut entry_section,
                "postgresql",
                &dump.host,
                &dump.database,
                &entry,
            );
            postgresql.push(dump);
        }
    }
    let mut mariadb = Vec::new();
    for (index, raw) in raw.mariadb.iter().flatten().enumerate() {
        let entry = section.key("mariadb").index(index);
        let mut entry_section = Section::new(section.reporter(), entry.clone());
        if let Some(dump) = dumps::build_mariadb(&mut entry_section, raw) {
            targets.claim(
                &mut entry_section,
                "mariadb",
                &dump.host,
                &dump.database,
                &entry,
            );
            mariadb.push(dump);
        }
    }
    let mut sqlite: Vec<SqliteDump> = Vec::new();
    let mut sqlite_names: BTreeMap<String, KeyPath> = BTreeMap::new();
    for (index, raw) in raw.sqlite.iter().flatten().enumerate() {
        let entry = section.key("sqlite").index(index);
        let mut entry_section = Section::new(section.reporter(), entry.clone());
        if let Some(dump) = dumps::build_sqlite(&mut entry_section, raw) {
            if let Some(other) = sqlite_names.get(&dump.name) {
                let key = if raw.name.is_some() {
                    entry.key("name")
                } else {
                    entry.key("path")
                };
                entry_section.report(
                    ErrorKind::Conflict,
                    &key,
                    format!(
                        "sqlite dump name {:?} is already used by {}; give one of them another name = \"…\"",
                        dump.name,
                        crate::section::label_of(other)
                    ),
                );
            } else {
                sqlite_names.insert(dump.name.clone(), entry);
                sqlite.push(dump);
            }
        }
    }
    (postgresql, mariadb, sqlite)
}
