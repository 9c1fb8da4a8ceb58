//! The city's live key figures, from each entity's published state: the rules the viewer's
//! KPI bar and `/api/kpis` show (congestion, grid load and voltage, water pressure, bin fill,
//! EV charging). The edge crates hold the state and the wire format; the rules live here.

use crate::entity::{Asset, Entity};
use crate::id::EntityKind;
use crate::live::BIN_FULL_LEVEL;

/// A street at or above this congestion level (0–1) counts as congested.
pub const CONGESTED_LEVEL: f64 = 0.8;
/// A bin at or above this filling level (0–1) counts as nearly full.
pub const BIN_NEARLY_FULL: f64 = 0.8;
/// Below this pressure a supplied junction is a low-pressure junction, m (a common minimum
/// service pressure for distribution networks; planners set their own).
pub const LOW_PRESSURE_M: f64 = 15.0;

/// What the KPI rules read of an entity's published state (field names as published:
/// `congestionLevel`, `activePower`, `voltage`, `pressure`, `fillingLevel`, …).
pub trait PublishedState {
    fn number(&self, field: &str) -> Option<f64>;
    fn text(&self, field: &str) -> Option<&str>;
    fn flag(&self, field: &str) -> Option<bool>;
}

/// The city's live key figures (serialised as `/api/kpis` and the `kpi` message carry them).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CityKpis {
    pub streets_reporting: usize,
    pub mean_congestion: Option<f64>,
    pub congested_streets: usize,
    pub closed_streets: usize,
    /// Sum of the transformer posts' measured active power, kW.
    pub power_load_kw: f64,
    pub min_voltage_pu: Option<f64>,
    pub de_energised_nodes: usize,
    pub overloaded_elements: usize,
    /// Sum of the demand meters' readings, l/s (not every junction is metered).
    pub water_demand_l_s: f64,
    pub min_pressure_m: Option<f64>,
    pub low_pressure_junctions: usize,
    pub mean_bin_fill: Option<f64>,
    pub bins_above_80pct: usize,
    pub bins_overflowing: usize,
    pub charging_power_kw: f64,
    pub chargers_in_use: usize,
}

/// The key figures of `entities` with their published `states` (in the same order).
pub fn city_kpis<'a, S: PublishedState + 'a>(
    entities: &[Entity],
    states: impl IntoIterator<Item = &'a S>,
) -> CityKpis {
    let mut k = CityKpis::default();
    let (mut congestion_sum, mut fill_sum, mut fills) = (0.0, 0.0, 0usize);
    let lowest = |m: Option<f64>, x: f64| Some(m.map_or(x, |m| m.min(x)));
    for (e, v) in entities.iter().zip(states) {
        match e.id.kind() {
            EntityKind::Street => {
                if let Some(c) = v.number("congestionLevel") {
                    k.streets_reporting += 1;
                    congestion_sum += c;
                    if c >= CONGESTED_LEVEL {
                        k.congested_streets += 1;
                    }
                }
                if v.flag("closed") == Some(true) {
                    k.closed_streets += 1;
                }
            }
            EntityKind::Power => {
                if matches!(e.asset, Asset::TransformerPost(_)) {
                    k.power_load_kw += v.number("activePower").unwrap_or(0.0);
                }
                if let Some(u) = v.number("voltage") {
                    k.min_voltage_pu = lowest(k.min_voltage_pu, u);
                }
                if v.number("energised") == Some(0.0) {
                    k.de_energised_nodes += 1;
                }
                if v.number("loading").is_some_and(|l| l > 100.0) {
                    k.overloaded_elements += 1;
                }
            }
            EntityKind::Water => {
                k.water_demand_l_s += v.number("demand").unwrap_or(0.0);
                if matches!(e.asset, Asset::Junction(_))
                    && let Some(p) = v.number("pressure")
                {
                    k.min_pressure_m = lowest(k.min_pressure_m, p);
                    if p < LOW_PRESSURE_M {
                        k.low_pressure_junctions += 1;
                    }
                }
            }
            EntityKind::Bin => {
                if let Some(f) = v.number("fillingLevel") {
                    fills += 1;
                    fill_sum += f;
                    if f >= BIN_NEARLY_FULL {
                        k.bins_above_80pct += 1;
                    }
                    if f >= BIN_FULL_LEVEL {
                        k.bins_overflowing += 1;
                    }
                }
            }
            EntityKind::Charger => {
                let p = v.number("chargingPower").unwrap_or(0.0);
                k.charging_power_kw += p;
                if p > 0.0 || v.text("status") == Some("occupied") {
                    k.chargers_in_use += 1;
                }
            }
        }
    }
    if k.streets_reporting > 0 {
        k.mean_congestion = Some(congestion_sum / k.streets_reporting as f64);
    }
    if fills > 0 {
        k.mean_bin_fill = Some(fill_sum / fills as f64);
    }
    k
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::bundle::load_city;

    struct Fields(HashMap<&'static str, f64>);

    impl PublishedState for Fields {
        fn number(&self, field: &str) -> Option<f64> {
            self.0.get(field).copied()
        }
        fn text(&self, _: &str) -> Option<&str> {
            None
        }
        fn flag(&self, field: &str) -> Option<bool> {
            self.0.get(field).map(|x| *x != 0.0)
        }
    }

    #[test]
    fn the_rules_count_congested_streets_and_full_bins() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/testville");
        let city = load_city(&root).expect("Testville");
        let states: Vec<Fields> = city
            .entities()
            .iter()
            .map(|e| {
                Fields(match e.id.kind() {
                    EntityKind::Street if e.id.local() == "1" => {
                        [("congestionLevel", 0.9), ("closed", 1.0)].into()
                    }
                    EntityKind::Street => [("congestionLevel", 0.1)].into(),
                    EntityKind::Bin if e.id.local() == "1" => [("fillingLevel", 0.97)].into(),
                    EntityKind::Bin => [("fillingLevel", 0.5)].into(),
                    _ => HashMap::new(),
                })
            })
            .collect();
        let k = city_kpis(city.entities(), &states);
        assert_eq!(
            (k.streets_reporting, k.congested_streets, k.closed_streets),
            (31, 1, 1)
        );
        assert_eq!((k.bins_above_80pct, k.bins_overflowing), (1, 1));
        let fill = k.mean_bin_fill.expect("bins reported");
        assert!((fill - (0.97 + 15.0 * 0.5) / 16.0).abs() < 1e-12, "{fill}");
        assert_eq!((k.min_pressure_m, k.min_voltage_pu), (None, None));
    }
}
