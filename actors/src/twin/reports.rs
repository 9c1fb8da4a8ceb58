//! Citizen reports through the pipeline: validated, numbered and made durable before they are
//! answered, resolved by an operator or by a reading that shows the bin emptied; one alert per
//! open report.

use chrono::{DateTime, Utc};
use twin_core::waste::report::{CitizenReport, ReportBook, ReportError, parse_report};
use twin_core::{EntityKind, Quantity, Reading};

use super::Rejection;
use super::pipeline::Pipeline;
use crate::network::Alert;

/// A report refused: the same shape as a refused reading.
fn report_rejection(e: &ReportError) -> Rejection {
    Rejection {
        reason: e.reason().to_string(),
        message: e.to_string(),
    }
}

/// A report that could not be made durable: the store's part of the reason.
fn store_rejection(message: String) -> Rejection {
    Rejection {
        reason: "store_error".into(),
        message,
    }
}

impl Pipeline {
    /// Validate, number and persist a citizen report. Refusals are counted as `report_<reason>`.
    pub(super) fn report(&mut self, body: &[u8]) -> Result<CitizenReport, Rejection> {
        let now = Utc::now();
        let accepted = parse_report(body, &self.city)
            .and_then(|draft| self.shared.reports().accept(draft, &self.city, now));
        match accepted {
            Ok(report) => {
                if let Err(rej) = self.persist_reports(std::slice::from_ref(&report)) {
                    self.shared.reports().withdraw(report.id);
                    return Err(rej);
                }
                tracing::info!(id = report.id, kind = report.kind.name(), bin = ?report.bin, "citizen report");
                Ok(report)
            }
            Err(e) => {
                *self
                    .rejected_pending
                    .entry(format!("report_{}", e.reason()))
                    .or_default() += 1;
                if self
                    .store
                    .count_rejections(&self.rejected_pending)
                    .and_then(|_| self.store.flush())
                    .is_ok()
                {
                    self.rejected_pending.clear();
                }
                tracing::debug!(reason = e.reason(), "{e}");
                Err(report_rejection(&e))
            }
        }
    }

    /// An operator resolves a report; answered once durable.
    pub(super) fn resolve_report(
        &mut self,
        id: u64,
        resolution: &str,
    ) -> Result<CitizenReport, Rejection> {
        // Checked before the book changes: a resolution that cannot be stored is not made.
        if let Some(why) = self.disk_too_full() {
            return Err(store_rejection(why));
        }
        let report = self
            .shared
            .reports()
            .resolve(id, resolution, Utc::now())
            .map_err(|e| report_rejection(&e))?;
        self.persist_reports(std::slice::from_ref(&report))?;
        Ok(report)
    }

    /// Make new or changed reports durable and refresh their alerts.
    pub(super) fn persist_reports(&mut self, reports: &[CitizenReport]) -> Result<(), Rejection> {
        if let Some(why) = self.disk_too_full() {
            return Err(store_rejection(why));
        }
        let written = reports
            .iter()
            .try_for_each(|r| self.store.put_report(r))
            .and_then(|_| self.store.flush());
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot store citizen reports");
            return Err(store_rejection(e.to_string()));
        }
        self.shared
            .networks
            .set_report_alerts(report_alerts(&self.shared.reports()));
        Ok(())
    }

    /// Readings that show a reported bin emptied resolve its overflowing reports.
    pub(super) fn resolve_emptied_bins(&mut self, readings: &[Reading], now: DateTime<Utc>) {
        let resolved: Vec<CitizenReport> = {
            let mut book = self.shared.reports();
            if !book.any_open_overflow() {
                return;
            }
            readings
                .iter()
                .filter(|r| r.entity.kind() == EntityKind::Bin)
                .filter_map(|r| {
                    let level = r
                        .values
                        .iter()
                        .find(|(q, _)| *q == Quantity::FillingLevel)
                        .and_then(|(_, v)| v.as_f64())?;
                    Some((r.entity.to_string(), level))
                })
                .flat_map(|(bin, level)| book.bin_level(&bin, level, now))
                .collect()
        };
        if !resolved.is_empty() {
            tracing::info!(
                reports = resolved.len(),
                "citizen reports resolved by emptying"
            );
            // A failure is logged; the book keeps them resolved and the next change retries.
            let _ = self.persist_reports(&resolved);
        }
    }
}

/// One `citizen_report` alert per open report.
pub(super) fn report_alerts(book: &ReportBook) -> Vec<Alert> {
    book.open()
        .map(|r| Alert {
            code: "citizen_report",
            entities: r.bin.iter().cloned().collect(),
            message: format!(
                "report {}: {} at {:.5}, {:.5} ({}){}",
                r.id,
                r.kind.name().replace('_', " "),
                r.lat,
                r.lon,
                r.neighbourhood,
                r.bin.as_ref().map_or(String::new(), |b| format!(", {b}"))
            ),
        })
        .collect()
}
