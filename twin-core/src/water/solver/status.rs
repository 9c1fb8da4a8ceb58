//! Link status changes during the trials of one period, as EPANET 2.2 makes them
//! (`hydstatus.c`: `valvestatus`, `linkstatus`, `cvstatus`, `pumpstatus`, `prvstatus`,
//! `psvstatus`, `fcvstatus`, `tankstatus`; `hydsolver.c`: `pswitch`).

use super::Hydraulics;
use crate::water::model::{ControlCondition, LinkKind, LinkStatus, NodeKind, PumpCurve, ValveType};

/// Head and flow tolerances of the status checks (EPANET's `HTOL` ft and `QTOL` cfs).
pub(super) const H_TOL: f64 = 0.0005;
pub(super) const Q_TOL: f64 = 0.0001;

/// A check valve's status from the head difference `dh` across it and its flow `q`.
fn check_valve_status(s: LinkStatus, dh: f64, q: f64) -> LinkStatus {
    if dh.abs() > H_TOL {
        if dh < -H_TOL || q < -Q_TOL {
            LinkStatus::Closed
        } else {
            LinkStatus::Open
        }
    } else if q < -Q_TOL {
        LinkStatus::Closed
    } else {
        s
    }
}

impl Hydraulics<'_> {
    /// PRVs and PSVs with a setting: active, open or closed by the heads around them.
    /// Returns whether any changed.
    pub(super) fn valve_status(&mut self) -> bool {
        let mut change = false;
        for (k, link) in self.m.links.iter().enumerate() {
            let (Some(setting), LinkKind::Valve { valve, km }) = (self.setting[k], &link.kind)
            else {
                continue;
            };
            let (h1, h2, q) = (self.head[link.from], self.head[link.to], self.flow[k]);
            let s = self.status[k];
            // Head loss of the fully open valve.
            let hml = km * q * q;
            let next = match valve {
                ValveType::Prv => {
                    prv_status(s, self.m.elevation[link.to] + setting, h1, h2, q, hml)
                }
                ValveType::Psv => {
                    psv_status(s, self.m.elevation[link.from] + setting, h1, h2, q, hml)
                }
                _ => continue,
            };
            if next != s {
                self.status[k] = next;
                change = true;
            }
        }
        change
    }

    /// Check valves, pumps, FCVs and links to full or empty tanks. Links closed for the
    /// moment (a pump that cannot deliver the head, a tank's link) are reopened first and
    /// closed again if the cause remains. Returns whether any status changed.
    pub(super) fn link_status(&mut self) -> bool {
        let mut change = false;
        for (k, link) in self.m.links.iter().enumerate() {
            let dh = self.head[link.from] - self.head[link.to];
            let before = self.status[k];
            if matches!(before, LinkStatus::XHead | LinkStatus::TempClosed) {
                self.status[k] = LinkStatus::Open;
            }
            match &link.kind {
                LinkKind::Pipe {
                    check_valve: true, ..
                } => {
                    self.status[k] = check_valve_status(self.status[k], dh, self.flow[k]);
                }
                LinkKind::Pump { curve, h_max, .. } => {
                    let speed = self.setting[k].unwrap_or(1.0);
                    if self.status[k] >= LinkStatus::Open && speed > 0.0 {
                        let shutoff = match curve {
                            PumpCurve::ConstantPower { .. } => f64::INFINITY,
                            _ => speed * speed * h_max,
                        };
                        // The head gain −dh above what the pump can deliver shuts it.
                        self.status[k] = if -dh > shutoff + H_TOL {
                            LinkStatus::XHead
                        } else {
                            LinkStatus::Open
                        };
                    }
                }
                LinkKind::Valve {
                    valve: ValveType::Fcv,
                    ..
                } => {
                    if let Some(setting) = self.setting[k] {
                        let q = self.flow[k];
                        self.status[k] = if dh < -H_TOL || q < -Q_TOL {
                            LinkStatus::XFcv
                        } else if before == LinkStatus::XFcv && q >= setting {
                            LinkStatus::Active
                        } else {
                            before
                        };
                    }
                }
                _ => {}
            }
            if self.m.kind[link.from] == NodeKind::Tank || self.m.kind[link.to] == NodeKind::Tank {
                self.tank_status(k);
            }
            if self.status[k] != before {
                change = true;
            }
        }
        change
    }

    /// Close link `k` for the moment when it would fill a full tank or drain an empty one.
    fn tank_status(&mut self, k: usize) {
        if self.status[k].is_closed() {
            return;
        }
        let link = &self.m.links[k];
        // The tank's end, and the flow out of the tank along the link.
        let (tank_node, other, q_out) = if self.m.kind[link.from] == NodeKind::Tank {
            (link.from, link.to, self.flow[k])
        } else {
            (link.to, link.from, -self.flow[k])
        };
        let Some(tank) = self.m.tanks.iter().find(|t| t.node == tank_node) else {
            return;
        };
        let h_tank = self.head[tank_node];
        let dh = h_tank - self.head[other];
        let pump = link.is_pump();
        if h_tank >= tank.h_max - H_TOL {
            let closes = if pump {
                link.to == tank_node
            } else {
                check_valve_status(LinkStatus::Open, dh, q_out) == LinkStatus::Closed
            };
            if closes {
                self.status[k] = LinkStatus::TempClosed;
            }
        }
        if h_tank <= tank.h_min + H_TOL {
            let closes = if pump {
                link.from == tank_node
            } else {
                check_valve_status(LinkStatus::Closed, dh, q_out) == LinkStatus::Open
            };
            if closes {
                self.status[k] = LinkStatus::TempClosed;
            }
        }
    }

    /// Controls on junction pressures, checked at convergence. Returns whether any changed a
    /// link.
    pub(super) fn pressure_switches(&mut self) -> bool {
        let mut any = false;
        for c in &self.m.controls {
            let fires = match c.condition {
                ControlCondition::LowLevel { node, grade }
                    if self.m.kind[node] == NodeKind::Junction =>
                {
                    self.head[node] <= grade + H_TOL
                }
                ControlCondition::HighLevel { node, grade }
                    if self.m.kind[node] == NodeKind::Junction =>
                {
                    self.head[node] >= grade - H_TOL
                }
                _ => false,
            };
            if !fires {
                continue;
            }
            let k = c.link;
            let link = &self.m.links[k];
            let change = match &link.kind {
                LinkKind::Pipe { .. } => self.status[k] != c.status,
                LinkKind::Pump { .. } => self.setting[k] != c.setting,
                LinkKind::Valve { .. } => {
                    self.setting[k] != c.setting
                        || (self.setting[k].is_none() && self.status[k] != c.status)
                }
            };
            if change {
                self.status[k] = c.status;
                if !link.is_pipe() {
                    self.setting[k] = c.setting;
                }
                any = true;
            }
        }
        any
    }
}

/// A pressure reducing valve's next status; `hset` the head it holds downstream.
fn prv_status(s: LinkStatus, hset: f64, h1: f64, h2: f64, q: f64, hml: f64) -> LinkStatus {
    use LinkStatus::*;
    match s {
        Active if q < -Q_TOL => Closed,
        Active if h1 - hml < hset - H_TOL => Open,
        Open if q < -Q_TOL => Closed,
        Open if h2 >= hset + H_TOL => Active,
        Closed if h1 >= hset + H_TOL && h2 < hset - H_TOL => Active,
        Closed if h1 < hset - H_TOL && h1 > h2 + H_TOL => Open,
        XPressure if q < -Q_TOL => Closed,
        s => s,
    }
}

/// A pressure sustaining valve's next status; `hset` the head it holds upstream.
fn psv_status(s: LinkStatus, hset: f64, h1: f64, h2: f64, q: f64, hml: f64) -> LinkStatus {
    use LinkStatus::*;
    match s {
        Active if q < -Q_TOL => Closed,
        Active if h2 + hml > hset + H_TOL => Open,
        Open if q < -Q_TOL => Closed,
        Open if h1 < hset - H_TOL => Active,
        Closed if h2 > hset + H_TOL && h1 > h2 + H_TOL => Open,
        Closed if h1 >= hset + H_TOL && h1 > h2 + H_TOL => Active,
        XPressure if q < -Q_TOL => Closed,
        s => s,
    }
}
