//! `[RULES]` at the rule time step (EPANET 2.2 `hydraul.c` `ruletimestep`, `rules.c`
//! `checkrules`): within a hydraulic step the tanks advance one rule step at a time and the
//! rules are checked after each; the step ends where a rule changes a link.

use super::Hydraulics;
use crate::water::model::rules::{Premise, Relation, RuleAction, RuleStatus, RuleVariable};
use crate::water::model::{LinkStatus, NodeKind};

/// Tolerance of rule comparisons and setting changes (file units, as EPANET).
const TOL: f64 = 1e-3;

impl Hydraulics<'_> {
    /// Advance the tanks from `now` through at most `step` seconds in rule steps, stopping
    /// after the first rule step in which a rule acts; returns the step taken.
    pub(super) fn step_rules(&mut self, now: u64, step: u64) -> u64 {
        let rule_step = self.m.rule_step_s;
        let end = now + step;
        let mut dt = rule_step.min(step);
        // The first increment reaches the next multiple of the rule step.
        let mut dt1 = (rule_step - now % rule_step).min(step);
        if dt1 == 0 {
            dt1 = dt;
        }
        let mut t = now;
        loop {
            t += dt1;
            self.update_tanks(dt1);
            if self.check_rules(t, dt1) > 0 {
                break;
            }
            dt = dt.min(end - t);
            dt1 = dt;
            if dt == 0 {
                break;
            }
        }
        t - now
    }

    /// Evaluate every rule at time `t` over the interval of `dt` seconds just passed and take
    /// the actions of the rules that fire (THEN) or not (ELSE), a link acted on by several
    /// rules following the one of highest priority. Returns the number of links changed.
    fn check_rules(&mut self, t: u64, dt: u64) -> usize {
        let m = self.m;
        let since = t + 1 - dt;
        // (action, rule index), most recently added first as EPANET's list.
        let mut list: Vec<(&RuleAction, usize)> = Vec::new();
        for (i, rule) in m.rules.iter().enumerate() {
            let actions = if self.premises_hold(&rule.premises, since, t) {
                &rule.then_actions
            } else {
                &rule.else_actions
            };
            for a in actions {
                match list.iter_mut().find(|(b, _)| b.link == a.link) {
                    Some(entry) => {
                        if rule.priority > m.rules[entry.1].priority {
                            *entry = (a, i);
                        }
                    }
                    None => list.insert(0, (a, i)),
                }
            }
        }
        let mut changed = 0;
        for (a, _) in list {
            let k = a.link;
            let closed = self.status[k].is_closed();
            let acted = match (a.status, a.setting) {
                (Some(RuleStatus::Open), _) if closed => {
                    self.set_link_status(k, true);
                    true
                }
                (Some(RuleStatus::Closed), _) if !closed => {
                    self.set_link_status(k, false);
                    true
                }
                (_, Some(x)) if self.setting[k].is_none_or(|v| (x - v).abs() > TOL) => {
                    self.set_link_setting(k, x);
                    true
                }
                _ => false,
            };
            changed += usize::from(acted);
        }
        changed
    }

    /// The premises of a rule, AND and OR read left to right as EPANET does.
    fn premises_hold(&self, premises: &[Premise], since: u64, now: u64) -> bool {
        let mut result = true;
        for p in premises {
            if p.or {
                if !result {
                    result = self.premise_holds(p, since, now);
                }
            } else {
                if !result {
                    return false;
                }
                result = self.premise_holds(p, since, now);
            }
        }
        result
    }

    fn premise_holds(&self, p: &Premise, since: u64, now: u64) -> bool {
        let m = self.m;
        match p.variable {
            RuleVariable::Time | RuleVariable::ClockTime => {
                let (t1, t2) = if p.variable == RuleVariable::Time {
                    (since, now)
                } else {
                    (
                        (since + m.start_clock_s) % 86_400,
                        (now + m.start_clock_s) % 86_400,
                    )
                };
                let x = p.value as u64;
                match p.relation {
                    Relation::Lt => t2 < x,
                    Relation::Le => t2 <= x,
                    Relation::Gt => t2 > x,
                    Relation::Ge => t2 >= x,
                    Relation::Eq | Relation::Ne => {
                        // Equality holds when the time passed within the interval.
                        let within = if t2 < t1 {
                            x >= t1 || x <= t2
                        } else {
                            x >= t1 && x <= t2
                        };
                        within == (p.relation == Relation::Eq)
                    }
                }
            }
            _ if p.status.is_some() => {
                let Some(k) = p.link else { return false };
                let s = match self.status[k] {
                    s if s.is_closed() => RuleStatus::Closed,
                    LinkStatus::Active => RuleStatus::Active,
                    _ => RuleStatus::Open,
                };
                match p.relation {
                    Relation::Eq => Some(s) == p.status,
                    Relation::Ne => Some(s) != p.status,
                    _ => false,
                }
            }
            _ => {
                let Some(x) = self.premise_value(p) else {
                    return false;
                };
                let v = p.value;
                // EPANET's comparisons with its tolerance, including its `<=` and `>=`.
                match p.relation {
                    Relation::Eq => (x - v).abs() <= TOL,
                    Relation::Ne => (x - v).abs() >= TOL,
                    Relation::Lt => x <= v + TOL,
                    Relation::Le => x <= v - TOL,
                    Relation::Gt => x >= v - TOL,
                    Relation::Ge => x >= v + TOL,
                }
            }
        }
    }

    /// The value a numeric premise looks at, in the file's units (None: the premise is false).
    fn premise_value(&self, p: &Premise) -> Option<f64> {
        let m = self.m;
        const TINY: f64 = 1e-6;
        let x = match (p.variable, p.node, p.link) {
            (RuleVariable::Demand, None, None) => self.system_demand,
            (RuleVariable::Demand, Some(i), _) => self.node_demand[i],
            (RuleVariable::Head, Some(i), _) => self.head[i],
            (RuleVariable::Level, Some(i), _) | (RuleVariable::Pressure, Some(i), _) => {
                self.head[i] - m.elevation[i]
            }
            (RuleVariable::Flow, _, Some(k)) => self.flow[k].abs(),
            (RuleVariable::Setting, _, Some(k)) => self.setting[k]?,
            (RuleVariable::FillTime | RuleVariable::DrainTime, Some(i), _) => {
                if m.kind[i] != NodeKind::Tank {
                    return None;
                }
                let k = m.tanks.iter().position(|t| t.node == i)?;
                let q = self.node_demand[i];
                let tank = &m.tanks[k];
                return if p.variable == RuleVariable::FillTime {
                    (q > TINY).then(|| (tank.v_max - self.tank_volume[k]) / q)
                } else {
                    (q < -TINY).then(|| (tank.v_min - self.tank_volume[k]) / q)
                };
            }
            _ => return None,
        };
        Some(x * p.to_file_units)
    }
}
