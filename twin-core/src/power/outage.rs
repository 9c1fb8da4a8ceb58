//! Power outages on a city's grid: which posts and customers a set of failed elements cuts off,
//! and their restoration by closing normally-open tie switches.
//!
//! Restoration is greedy: at each step, among the tie switches that join a de-energised island
//! to the energised grid, close the one that brings back the most customers while every line
//! and transformer stays at or under 100 % of its rating and every energised bus keeps at least
//! the minimum voltage; repeat until no switch qualifies. Islands stay radial (a switch between
//! two energised parts is never closed). Failed elements stay out until repaired.

use super::load_flow::{LoadFlowError, solve_load_flow};
use super::reliability::Interruption;
use crate::city::CityModel;
use crate::entity::{Asset, AssetKind};
use crate::id::{EntityId, EntityKind};

/// The id of the switch on case row `k` (0-based) when the city has no entity for it.
fn sw_id(k: usize) -> EntityId {
    EntityId::new(EntityKind::Power, format!("sw-{}", k + 1)).expect("`sw-N` is a valid id")
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutageError {
    #[error("the city has no power network")]
    NoPowerNetwork,
    #[error("{0} is not an element of the power network (a line, switch, post or substation)")]
    NotAPowerElement(EntityId),
    #[error(transparent)]
    LoadFlow(#[from] LoadFlowError),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestorationLimits {
    pub min_voltage_pu: f64,
    pub max_loading_pct: f64,
}

impl Default for RestorationLimits {
    fn default() -> Self {
        // EN 50160: supply voltage within ±10 % of nominal.
        RestorationLimits {
            min_voltage_pu: 0.90,
            max_loading_pct: 100.0,
        }
    }
}

/// One switching step of the restoration.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchingStep {
    pub switch: EntityId,
    pub posts_restored: usize,
    pub customers_restored: u32,
    pub load_restored_kw: f64,
}

/// Why closing a tie switch was refused in the restoration's last round.
#[derive(Debug, Clone, PartialEq)]
pub enum TieRejection {
    /// A bus would fall below the minimum voltage: the lowest one (its post when it has one).
    Voltage {
        bus: u32,
        post: Option<EntityId>,
        vm_pu: f64,
        min_pu: f64,
    },
    /// A line or transformer would be loaded over its rating: the most loaded one.
    Loading {
        branch: EntityId,
        loading_pct: f64,
        max_pct: f64,
    },
    /// The load flow with the switch closed did not solve.
    NotSolved(String),
}

impl std::fmt::Display for TieRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TieRejection::Voltage {
                bus,
                post,
                vm_pu,
                min_pu,
            } => {
                let at = post
                    .as_ref()
                    .map_or_else(|| format!("bus {bus}"), |p| p.to_string());
                write!(
                    f,
                    "the voltage at {at} would be {vm_pu:.3} pu, under the {min_pu:.2} pu minimum"
                )
            }
            TieRejection::Loading {
                branch,
                loading_pct,
                max_pct,
            } => {
                write!(
                    f,
                    "{branch} would be loaded {loading_pct:.0} %, over its {max_pct:.0} % limit"
                )
            }
            TieRejection::NotSolved(why) => {
                write!(f, "the load flow with it closed did not solve ({why})")
            }
        }
    }
}

/// A tie switch the restoration would not close, the posts it would have brought back and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedTie {
    pub switch: EntityId,
    pub posts: Vec<EntityId>,
    pub why: TieRejection,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PowerOutage {
    pub failed: Vec<EntityId>,
    /// Transformer posts without supply right after the failure.
    pub posts_interrupted: Vec<EntityId>,
    pub customers_interrupted: u32,
    pub load_interrupted_kw: f64,
    pub switching: Vec<SwitchingStep>,
    /// Posts still without supply after switching (until repair).
    pub posts_not_restored: Vec<EntityId>,
    pub customers_not_restored: u32,
    pub load_not_restored_kw: f64,
    /// The tie switches between a dark post and the energised grid that the last round of the
    /// restoration refused, with the limit each would break. A post not restored and in none
    /// of their `posts` has no tie switch reaching it.
    pub ties_rejected: Vec<RejectedTie>,
    /// Lowest voltage on the grid after restoration, pu (`None`: no bus is energised).
    pub min_voltage_pu: Option<f64>,
    /// Highest branch loading after restoration, % of `RATE_A` (`None`: no energised branch
    /// has a rating; MATPOWER's 0 means unlimited, so loading is not assessed).
    pub max_loading_pct: Option<f64>,
    /// Branch statuses (case order) right after the failure, and after the switching.
    pub status_failed: Vec<bool>,
    pub status_restored: Vec<bool>,
}

impl PowerOutage {
    /// Why `post` (one of [`PowerOutage::posts_not_restored`]) stays without supply until the
    /// repair: the tie switch that would reach it and the limit it would break, or that none
    /// reaches it.
    pub fn why_not_restored(&self, post: &EntityId) -> String {
        if self.failed.contains(post) {
            return "it is the failed element: back at the repair".to_string();
        }
        match self.ties_rejected.iter().find(|t| t.posts.contains(post)) {
            Some(t) => format!("closing {} would break a limit: {}", t.switch, t.why),
            None => "no tie switch reaches it from the energised grid".to_string(),
        }
    }

    /// The interruptions this outage causes: restored customers wait for the switching,
    /// the others for the repair.
    pub fn interruptions(&self, switching_min: f64, repair_min: f64) -> [Interruption; 2] {
        let restored_customers = self.customers_interrupted - self.customers_not_restored;
        [
            Interruption {
                customers: restored_customers,
                duration_min: switching_min.min(repair_min),
                load_kw: self.load_interrupted_kw - self.load_not_restored_kw,
            },
            Interruption {
                customers: self.customers_not_restored,
                duration_min: repair_min,
                load_kw: self.load_not_restored_kw,
            },
        ]
    }
}

/// The power elements an outage can fail: lines, switches, transformer posts, substations.
pub const FAILABLE_POWER: [AssetKind; 4] = [
    AssetKind::PowerLine,
    AssetKind::PowerSwitch,
    AssetKind::TransformerPost,
    AssetKind::Substation,
];

/// What an outage or a scenario can fail: the power elements and water pipes.
pub const FAILABLE: [AssetKind; 5] = [
    AssetKind::PowerLine,
    AssetKind::PowerSwitch,
    AssetKind::TransformerPost,
    AssetKind::Substation,
    AssetKind::Pipe,
];

/// Customers served by the city's transformer posts: the denominator of SAIFI and SAIDI.
pub fn customers_served(city: &CityModel) -> u32 {
    city.entities()
        .iter()
        .map(|e| match &e.asset {
            Asset::TransformerPost(t) => t.customers,
            _ => 0,
        })
        .sum()
}

/// Customers and peak load (kW, times `load_factor`) of each case bus, from the posts on it.
fn bus_customers(city: &CityModel, load_factor: f64) -> Vec<(Option<EntityId>, u32, f64)> {
    let Some(case) = &city.power_case else {
        return Vec::new();
    };
    case.bus
        .iter()
        .map(|b| {
            let post = city
                .power
                .bus_index(b.id)
                .and_then(|n| city.power.graph[n].entity)
                .map(|i| &city.entities()[i]);
            match post.map(|e| (&e.id, &e.asset)) {
                Some((id, Asset::TransformerPost(t))) => (
                    Some(id.clone()),
                    t.customers,
                    b.pd_mw * 1000.0 * load_factor,
                ),
                Some((id, _)) => (Some(id.clone()), 0, b.pd_mw * 1000.0 * load_factor),
                None => (None, 0, b.pd_mw * 1000.0 * load_factor),
            }
        })
        .collect()
}

/// Analyse the failure of `failed` (lines, switches, posts or substations) at `load_factor`
/// times peak load.
pub fn analyse_power_outage(
    city: &CityModel,
    failed: &[EntityId],
    limits: &RestorationLimits,
    load_factor: f64,
) -> Result<PowerOutage, OutageError> {
    let case = city
        .power_case
        .as_ref()
        .ok_or(OutageError::NoPowerNetwork)?;
    let mut status: Vec<bool> = case.branch.iter().map(|b| b.in_service).collect();
    let mut failed_branch = vec![false; case.branch.len()];
    for id in failed {
        let entity = city
            .entity(id)
            .ok_or_else(|| OutageError::NotAPowerElement(id.clone()))?;
        match &entity.asset {
            Asset::PowerLine(_) | Asset::PowerSwitch(_) => {
                let row: usize = id
                    .local()
                    .rsplit('-')
                    .next()
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(|| OutageError::NotAPowerElement(id.clone()))?;
                failed_branch[row - 1] = true;
            }
            Asset::TransformerPost(_) | Asset::Substation(_) => {
                let bus = match &entity.asset {
                    Asset::TransformerPost(t) => t.bus,
                    Asset::Substation(s) => s.bus,
                    _ => unreachable!(),
                };
                for (k, b) in case.branch.iter().enumerate() {
                    if b.from == bus || b.to == bus {
                        failed_branch[k] = true;
                    }
                }
            }
            _ => return Err(OutageError::NotAPowerElement(id.clone())),
        }
    }
    for (k, f) in failed_branch.iter().enumerate() {
        if *f {
            status[k] = false;
        }
    }
    let status_failed = status.clone();
    let customers = bus_customers(city, load_factor);
    let base = solve_load_flow(case, None, load_factor)?;
    let mut current = solve_load_flow(case, Some(&status), load_factor)?;
    let lost: Vec<usize> = (0..case.bus.len())
        .filter(|&i| base.energised[i] && !current.energised[i])
        .collect();
    let sum = |buses: &[usize]| -> (u32, f64) {
        buses.iter().fold((0, 0.0), |(c, l), &i| {
            (c + customers[i].1, l + customers[i].2)
        })
    };
    let (customers_interrupted, load_interrupted_kw) = sum(&lost);
    let posts = |buses: &[usize]| -> Vec<EntityId> {
        buses
            .iter()
            .filter(|&&i| customers[i].1 > 0)
            .filter_map(|&i| customers[i].0.clone())
            .collect()
    };
    let index = case.bus_rows();
    let branch_id = |k: usize| {
        ["line", "sw"]
            .iter()
            .filter_map(|kind| EntityId::new(EntityKind::Power, format!("{kind}-{}", k + 1)).ok())
            .find(|id| city.entity(id).is_some())
    };
    let mut switching = Vec::new();
    let mut ties_rejected: Vec<RejectedTie>;
    loop {
        ties_rejected = Vec::new();
        let mut best: Option<(u32, f64, usize, super::LoadFlowResult)> = None;
        for (k, b) in case.branch.iter().enumerate() {
            if status[k] || failed_branch[k] || b.in_service {
                continue;
            }
            let (f, t) = (index[&b.from], index[&b.to]);
            if current.energised[f] == current.energised[t] {
                continue;
            }
            let mut trial = status.clone();
            trial[k] = true;
            let switch = branch_id(k).unwrap_or_else(|| sw_id(k));
            let dark_end = [if current.energised[f] { t } else { f }];
            let r = match solve_load_flow(case, Some(&trial), load_factor) {
                Ok(r) => r,
                Err(e) => {
                    ties_rejected.push(RejectedTie {
                        switch,
                        posts: posts(&dark_end),
                        why: TieRejection::NotSolved(e.to_string()),
                    });
                    continue;
                }
            };
            let gained: Vec<usize> = (0..case.bus.len())
                .filter(|&i| r.energised[i] && !current.energised[i])
                .collect();
            let low = (0..case.bus.len())
                .filter(|&i| r.energised[i] && r.vm_pu[i] < limits.min_voltage_pu)
                .min_by(|&a, &b| r.vm_pu[a].total_cmp(&r.vm_pu[b]));
            let over = r
                .branches
                .iter()
                .enumerate()
                .filter_map(|(k, br)| br.loading_pct.map(|l| (k, l)))
                .filter(|(_, l)| *l > limits.max_loading_pct)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let why = if let Some(i) = low {
                Some(TieRejection::Voltage {
                    bus: case.bus[i].id,
                    post: customers[i].0.clone(),
                    vm_pu: r.vm_pu[i],
                    min_pu: limits.min_voltage_pu,
                })
            } else {
                over.map(|(k, l)| TieRejection::Loading {
                    branch: branch_id(k).unwrap_or_else(|| sw_id(k)),
                    loading_pct: l,
                    max_pct: limits.max_loading_pct,
                })
            };
            if let Some(why) = why {
                ties_rejected.push(RejectedTie {
                    switch,
                    posts: posts(&gained),
                    why,
                });
                continue;
            }
            let (c, l) = sum(&gained);
            if best
                .as_ref()
                .is_none_or(|(bc, bl, _, _)| (c, l) > (*bc, *bl))
            {
                best = Some((c, l, k, r));
            }
        }
        let Some((c, l, k, r)) = best else { break };
        let gained = (0..case.bus.len())
            .filter(|&i| r.energised[i] && !current.energised[i])
            .count();
        status[k] = true;
        current = r;
        switching.push(SwitchingStep {
            switch: branch_id(k).unwrap_or_else(|| sw_id(k)),
            posts_restored: gained,
            customers_restored: c,
            load_restored_kw: l,
        });
    }
    let still: Vec<usize> = lost
        .iter()
        .copied()
        .filter(|&i| !current.energised[i])
        .collect();
    let (customers_not_restored, load_not_restored_kw) = sum(&still);
    let min_voltage_pu = (0..case.bus.len())
        .filter(|&i| current.energised[i])
        .map(|i| current.vm_pu[i])
        .reduce(f64::min);
    let max_loading_pct = current
        .branches
        .iter()
        .filter_map(|b| b.loading_pct)
        .reduce(f64::max);
    Ok(PowerOutage {
        failed: failed.to_vec(),
        posts_interrupted: posts(&lost),
        customers_interrupted,
        load_interrupted_kw,
        switching,
        posts_not_restored: posts(&still),
        customers_not_restored,
        load_not_restored_kw,
        ties_rejected,
        min_voltage_pu,
        max_loading_pct,
        status_failed,
        status_restored: status,
    })
}
