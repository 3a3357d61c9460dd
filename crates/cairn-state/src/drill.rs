//! Restore drill reports: one per drill job that got as far as restoring, kept as the JSON the
//! drill wrote, so the report can grow fields without a migration.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::job::JobId;
use crate::store::{from_millis, millis, StateStore};
use crate::Result;

/// A drill's report as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillRecord {
    pub job: JobId,
    pub plan: String,
    pub at: DateTime<Utc>,
    pub report: serde_json::Value,
}

impl StateStore {
    /// Records (or replaces) the report of drill job `job`.
    pub fn record_drill(
        &self,
        job: JobId,
        plan: &str,
        at: DateTime<Utc>,
        report: &serde_json::Value,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO drill_reports (job, plan, at, report) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![job, plan, millis(at), report.to_string()],
            )?;
            Ok(())
        })
    }

    /// The report of drill job `job`, if it wrote one.
    pub fn drill_report(&self, job: JobId) -> Result<Option<DrillRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT job, plan, at, report FROM drill_reports WHERE job = ?1",
                params![job],
                row_to_record,
            )
            .optional()
        })
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<DrillRecord> {
    let text: String = row.get(3)?;
    Ok(DrillRecord {
        job: row.get(0)?,
        plan: row.get(1)?,
        at: from_millis(row.get(2)?),
        report: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    })
}
