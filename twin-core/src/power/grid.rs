//! The grid as it operates at a moment: a case's network with the loads and branch states of
//! that moment. The live twin, the scenarios and the EV study change loads and switches here and
//! solve; the MATPOWER case they came from stays as the file said.

use super::load_flow::{LoadFlowError, LoadFlowResult, solve_with};
use crate::formats::matpower::MatpowerCase;

/// A case's network with its operating state: a load per bus and a state per branch.
#[derive(Debug, Clone)]
pub struct GridState<'a> {
    case: &'a MatpowerCase,
    /// Per bus row: active (MW) and reactive (Mvar) load.
    load_mw: Vec<(f64, f64)>,
    /// Per branch row: in service (closed).
    in_service: Vec<bool>,
}

impl<'a> GridState<'a> {
    /// The case as its file states it: its own loads and branch statuses.
    pub fn new(case: &'a MatpowerCase) -> GridState<'a> {
        GridState {
            case,
            load_mw: case.bus.iter().map(|b| (b.pd_mw, b.qd_mvar)).collect(),
            in_service: case.branch.iter().map(|b| b.in_service).collect(),
        }
    }

    pub fn case(&self) -> &'a MatpowerCase {
        self.case
    }

    /// The load at bus row `row`: kW and kvar.
    pub fn load_kw(&self, row: usize) -> (f64, f64) {
        let (p, q) = self.load_mw[row];
        (p * 1000.0, q * 1000.0)
    }

    /// The apparent power of the load at bus row `row`, kVA.
    pub fn apparent_kva(&self, row: usize) -> f64 {
        let (p, q) = self.load_mw[row];
        (p.powi(2) + q.powi(2)).sqrt() * 1000.0
    }

    /// Set the load at bus row `row`, kW and kvar.
    pub fn set_load_kw(&mut self, row: usize, kw: f64, kvar: f64) {
        self.load_mw[row] = (kw / 1000.0, kvar / 1000.0);
    }

    /// Set only the active load at bus row `row`, kW.
    pub fn set_active_kw(&mut self, row: usize, kw: f64) {
        self.load_mw[row].0 = kw / 1000.0;
    }

    /// Set only the reactive load at bus row `row`, kvar.
    pub fn set_reactive_kvar(&mut self, row: usize, kvar: f64) {
        self.load_mw[row].1 = kvar / 1000.0;
    }

    /// Add active load at bus row `row` (an EV charger's power, at unity power factor), kW.
    pub fn add_active_kw(&mut self, row: usize, kw: f64) {
        self.load_mw[row].0 += kw / 1000.0;
    }

    /// The branch states, one per branch row.
    pub fn in_service(&self) -> &[bool] {
        &self.in_service
    }

    /// Set every branch's state (failed branches out, closed tie switches in).
    pub fn set_in_service(&mut self, states: Vec<bool>) -> Result<(), LoadFlowError> {
        if states.len() != self.case.branch.len() {
            return Err(LoadFlowError::StatusLength {
                got: states.len(),
                expected: self.case.branch.len(),
            });
        }
        self.in_service = states;
        Ok(())
    }

    /// The AC load flow of this state ([`super::solve_load_flow`]'s sweep).
    pub fn solve(&self) -> Result<LoadFlowResult, LoadFlowError> {
        solve_with(self.case, &self.in_service, &self.load_mw, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::solve_load_flow;

    fn case33() -> MatpowerCase {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/power/case33bw.m");
        let mut case =
            MatpowerCase::parse(&std::fs::read_to_string(path).expect("case")).expect("parse");
        case.apply_known_conversions();
        case
    }

    #[test]
    fn a_changed_load_solves_as_the_same_change_written_into_the_case() {
        let case = case33();
        let mut grid = GridState::new(&case);
        assert_eq!(
            grid.solve(),
            solve_load_flow(&case, None, 1.0),
            "as the file states it"
        );
        grid.set_load_kw(17, 500.0, 100.0);
        grid.add_active_kw(17, 22.0);
        let mut edited = case.clone();
        edited.bus[17].pd_mw = 0.522;
        edited.bus[17].qd_mvar = 0.1;
        let (a, b) = (
            grid.solve().expect("solves"),
            solve_load_flow(&edited, None, 1.0).expect("solves"),
        );
        assert!(
            (a.p_loss_kw - b.p_loss_kw).abs() < 1e-9,
            "{} {}",
            a.p_loss_kw,
            b.p_loss_kw
        );
        assert_eq!(grid.load_kw(17), (522.0, 100.0));
        assert!(grid.set_in_service(vec![true]).is_err());
    }
}
