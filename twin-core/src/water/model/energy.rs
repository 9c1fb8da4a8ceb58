//! `[ENERGY]`: pump efficiency and energy prices (EPANET 2.2 manual §3.1; `input3.c`
//! `energydata`): a global efficiency (75 % by default), price and price pattern, per-pump
//! efficiency curves, prices and patterns, and the demand charge per peak kW.

use std::collections::HashMap;

use super::{LinkModel, ModelError, keyword_is as is};

/// A pump's own energy settings; `None` takes the global one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PumpEnergySettings {
    /// Efficiency (%) against flow at relative speed 1 (cfs).
    pub efficiency_curve: Option<Vec<(f64, f64)>>,
    /// Price per kWh.
    pub price: Option<f64>,
    pub price_pattern: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnergySettings {
    /// `GLOBAL EFFIC` (%).
    pub efficiency_percent: f64,
    /// `GLOBAL PRICE` per kWh and `GLOBAL PATTERN`.
    pub price: f64,
    pub price_pattern: Option<usize>,
    /// `DEMAND CHARGE` per kW of the run's peak total pump power.
    pub demand_charge: f64,
    /// Per link (pumps only).
    pub pumps: Vec<PumpEnergySettings>,
}

/// Parse `[ENERGY]` statements (line, text) with the model's links, patterns and curves;
/// `flow` converts the file's flow units to cfs.
pub(super) fn parse_energy(
    lines: &[(usize, String)],
    links: &[LinkModel],
    patterns: &HashMap<&str, usize>,
    curve: impl Fn(&str) -> Option<Vec<(f64, f64)>>,
    flow: f64,
) -> Result<EnergySettings, ModelError> {
    let mut e = EnergySettings {
        efficiency_percent: 75.0,
        price: 0.0,
        price_pattern: None,
        demand_charge: 0.0,
        pumps: vec![PumpEnergySettings::default(); links.len()],
    };
    for (line, text) in lines {
        let tok: Vec<&str> = text.split_ascii_whitespace().collect();
        let bad = |why: &str| ModelError::Bad(format!("[ENERGY] line {line}: `{text}`: {why}"));
        if tok.len() < 3 {
            return Err(bad("too few fields (EPANET error 201)"));
        }
        let number = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| bad(&format!("`{s}` is not a number (EPANET error 202)")))
        };
        if is(tok[0], "DEMAND") {
            let y = number(tok[2])?;
            if y < 0.0 {
                return Err(bad("a negative demand charge (EPANET error 213)"));
            }
            e.demand_charge = y;
            continue;
        }
        let pump = if is(tok[0], "GLOBAL") {
            None
        } else if is(tok[0], "PUMP") {
            if tok.len() < 4 {
                return Err(bad("PUMP id key value (EPANET error 201)"));
            }
            let k = links
                .iter()
                .position(|l| l.id == tok[1] && l.is_pump())
                .ok_or_else(|| bad(&format!("{} is not a pump (EPANET error 216)", tok[1])))?;
            Some(k)
        } else {
            return Err(bad("GLOBAL, PUMP or DEMAND CHARGE (EPANET error 213)"));
        };
        let (key, value) = (tok[tok.len() - 2], tok[tok.len() - 1]);
        if is(key, "PRICE") {
            let y = number(value)?;
            if y < 0.0 {
                return Err(bad("a negative price (EPANET error 217)"));
            }
            match pump {
                None => e.price = y,
                Some(k) => e.pumps[k].price = Some(y),
            }
        } else if is(key, "PATTERN") {
            let p = *patterns
                .get(value)
                .ok_or_else(|| bad(&format!("unknown pattern {value} (EPANET error 205)")))?;
            match pump {
                None => e.price_pattern = Some(p),
                Some(k) => e.pumps[k].price_pattern = Some(p),
            }
        } else if is(key, "EFFIC") {
            match pump {
                None => {
                    let y = number(value)?;
                    if y <= 0.0 {
                        return Err(bad("efficiency must be positive (EPANET error 217)"));
                    }
                    e.efficiency_percent = y;
                }
                Some(k) => {
                    let c = curve(value)
                        .ok_or_else(|| bad(&format!("unknown curve {value} (EPANET error 206)")))?;
                    e.pumps[k].efficiency_curve =
                        Some(c.iter().map(|&(q, eff)| (q * flow, eff)).collect());
                }
            }
        } else {
            return Err(bad("PRICE, PATTERN or EFFIC (EPANET error 201)"));
        }
    }
    Ok(e)
}
