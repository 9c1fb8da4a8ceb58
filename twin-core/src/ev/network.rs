//! Where a city's cars and buses charge: private home and workplace sockets behind each
//! transformer post, the city's public chargers and bus depot, stations and sockets added by a
//! study or a scenario, and which site each charging request goes to. The study, the scenario
//! runner and the live twin's simulated feed all charge on this one network.

use std::collections::HashMap;

use rand::Rng;

use super::charging::{ChargingSim, Sharing, SiteSpec, SocketSpec, Sockets};
use super::demand::{ChargeRequest, DemandModel, SiteType};
use super::error::EvStudyError;
use crate::CityModel;
use crate::entity::{Asset, ChargerSite};
use crate::id::AssetKind;
use crate::profiles::is_commercial;

/// A transformer post as the charging network sees it.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub(crate) entity: usize,
    pub(crate) bus_row: usize,
    pub(crate) rated_kva: f64,
    pub(crate) commercial: bool,
    pub(crate) population: u32,
}

/// Sockets a study or a scenario adds at one place (`--add-sockets`, the `add_sockets`
/// intervention).
#[derive(Debug, Clone, PartialEq)]
pub struct AddedSockets {
    /// A charger's id (`charger:11`) or name, or a transformer post's id (`power:pt-12`).
    pub at: String,
    pub count: usize,
    /// Power of each socket, kW.
    pub kw: f64,
}

/// The transformer posts of a city's grid, with their case rows.
pub(crate) fn posts_of(
    city: &CityModel,
    case: &crate::formats::matpower::MatpowerCase,
) -> Vec<Post> {
    let bus_row = case.bus_rows();
    city.entities()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.asset {
            Asset::TransformerPost(t) => Some(Post {
                entity: i,
                bus_row: *bus_row.get(&t.bus)?,
                rated_kva: t.rated_kva,
                commercial: is_commercial(t),
                population: t.population,
            }),
            _ => None,
        })
        .collect()
}

/// Where a city's cars and buses charge: private home and workplace sockets behind each post,
/// the city's public chargers and depot, and any added stations; and which site a request goes
/// to. The study and the live twin's simulated feed share it.
pub struct ChargingNetwork {
    pub sites: Vec<SiteSpec>,
    pub(crate) posts: Vec<Post>,
    /// Public chargers (city's and added), as site indices.
    pub public: Vec<usize>,
    /// The site of each of the city's chargers (entity index, site index).
    pub chargers: Vec<(usize, usize)>,
    pub added_at: Vec<String>,
    homes: Vec<(usize, f64)>,
    home_cumulative: Vec<f64>,
    work_sites: Vec<(usize, f64)>,
    ac_weights: Vec<(usize, f64)>,
    dc_weights: Vec<(usize, f64)>,
    depot_slow: Option<usize>,
    depot_fast: Option<usize>,
}

impl ChargingNetwork {
    /// The sites of `city` (its grid must be loaded), with `add_chargers` public stations (a
    /// 22 kW AC and a 50 kW DC socket each) at the residential posts with the most headroom,
    /// 400 m apart where possible, and caps on named sites.
    pub fn for_city(
        city: &CityModel,
        add_chargers: usize,
        site_caps: &[(String, f64)],
    ) -> Result<ChargingNetwork, EvStudyError> {
        let case = city.power_case.as_ref().ok_or(EvStudyError::NoGrid)?;
        ChargingNetwork::new(city, posts_of(city, case), add_chargers, site_caps)
    }

    fn new(
        city: &CityModel,
        posts: Vec<Post>,
        add_chargers: usize,
        site_caps: &[(String, f64)],
    ) -> Result<ChargingNetwork, EvStudyError> {
        if posts.is_empty() {
            return Err(EvStudyError::NoPosts);
        }
        let post_of_entity: HashMap<usize, usize> = posts
            .iter()
            .enumerate()
            .map(|(k, p)| (p.entity, k))
            .collect();
        // Private homes and workplaces per post, then the city's chargers, then added ones.
        let mut sites: Vec<SiteSpec> = Vec::new();
        let mut homes = Vec::new();
        let mut work_sites = Vec::new();
        for (k, p) in posts.iter().enumerate() {
            let name = city.entities()[p.entity].id.to_string();
            if p.commercial {
                work_sites.push((sites.len(), p.rated_kva));
                sites.push(SiteSpec {
                    name: format!("workplaces at {name}"),
                    post: k,
                    sockets: Sockets::Private(SocketSpec {
                        kw: 11.0,
                        dc: false,
                    }),
                    patience_h: 0.0,
                    cap_kw: None,
                });
            } else if p.population > 0 {
                homes.push((sites.len(), f64::from(p.population)));
                sites.push(SiteSpec {
                    name: format!("homes at {name}"),
                    post: k,
                    sockets: Sockets::Private(SocketSpec { kw: 7.4, dc: false }),
                    patience_h: 0.0,
                    cap_kw: None,
                });
            }
        }
        let first_public = sites.len();
        let (mut depot_slow, mut depot_fast) = (None, None);
        let mut charger_posts = Vec::new();
        let mut chargers = Vec::new();
        for (i, e) in city.entities().iter().enumerate() {
            let Asset::EvCharger(c) = &e.asset else {
                continue;
            };
            let Some(&post) = city
                .entity_index(&c.grid_connection)
                .and_then(|j| post_of_entity.get(&j))
            else {
                continue;
            };
            charger_posts.push(post);
            let sockets: Vec<SocketSpec> = c
                .sockets
                .iter()
                .map(|s| SocketSpec {
                    kw: s.max_power_kw,
                    dc: s.max_power_kw > 22.0,
                })
                .collect();
            if c.site == ChargerSite::BusDepot {
                let fast = sockets.iter().any(|s| s.kw >= 150.0);
                *(if fast {
                    &mut depot_fast
                } else {
                    &mut depot_slow
                }) = Some(sites.len());
            }
            chargers.push((i, sites.len()));
            // Fast hubs wait less: a driver on a trip moves on.
            let patience_h = if sockets.iter().all(|x| x.dc) {
                0.25
            } else {
                0.5
            };
            sites.push(SiteSpec {
                name: e.id.to_string(),
                post,
                sockets: Sockets::Shared(sockets),
                patience_h,
                cap_kw: None,
            });
        }
        let mut added_at = Vec::new();
        if add_chargers > 0 {
            let mut candidates: Vec<usize> = (0..posts.len())
                .filter(|&k| !posts[k].commercial && posts[k].population > 0)
                .collect();
            let headroom = |k: usize| match &city.entities()[posts[k].entity].asset {
                Asset::TransformerPost(t) => t.rated_kva - t.peak_kw,
                _ => 0.0,
            };
            candidates.sort_by(|&a, &b| headroom(b).total_cmp(&headroom(a)));
            let mut taken: Vec<usize> = charger_posts;
            for min_m in [400.0, 200.0, 0.0] {
                for &k in &candidates {
                    if added_at.len() >= add_chargers {
                        break;
                    }
                    let at = city.entities()[posts[k].entity].location;
                    let clear = taken.iter().all(|&j| {
                        j != k && city.entities()[posts[j].entity].location.distance_m(at) >= min_m
                    });
                    if clear {
                        taken.push(k);
                        let name = city.entities()[posts[k].entity].id.to_string();
                        added_at.push(name.clone());
                        sites.push(SiteSpec {
                            name: format!("added station at {name}"),
                            post: k,
                            sockets: Sockets::Shared(vec![
                                SocketSpec {
                                    kw: 22.0,
                                    dc: false,
                                },
                                SocketSpec { kw: 50.0, dc: true },
                            ]),
                            patience_h: 0.5,
                            cap_kw: None,
                        });
                    }
                }
            }
        }
        for (name, cap) in site_caps {
            let site = sites.iter_mut().find(|s| &s.name == name).ok_or_else(|| {
                EvStudyError::UnknownSite(format!(
                    "a cap for `{name}`, which is not a charger of the city"
                ))
            })?;
            site.cap_kw = Some(*cap);
        }
        let public: Vec<usize> = (first_public..sites.len())
            .filter(|&s| Some(s) != depot_slow && Some(s) != depot_fast)
            .collect();
        let total: f64 = homes.iter().map(|h: &(usize, f64)| h.1).sum();
        let mut acc = 0.0;
        let home_cumulative = homes
            .iter()
            .map(|h| {
                acc += h.1 / total.max(f64::EPSILON);
                acc
            })
            .collect();
        let mut network = ChargingNetwork {
            sites,
            posts,
            public,
            chargers,
            added_at,
            homes,
            home_cumulative,
            work_sites,
            ac_weights: Vec::new(),
            dc_weights: Vec::new(),
            depot_slow,
            depot_fast,
        };
        network.weigh_public_sites();
        Ok(network)
    }

    /// Public sites are chosen in proportion to their sockets of each kind.
    fn weigh_public_sites(&mut self) {
        let count = |s: usize, dc: bool| match &self.sites[s].sockets {
            Sockets::Shared(v) => v.iter().filter(|x| x.dc == dc).count() as f64,
            Sockets::Private(_) => 0.0,
        };
        self.ac_weights = self.public.iter().map(|&s| (s, count(s, false))).collect();
        self.dc_weights = self.public.iter().map(|&s| (s, count(s, true))).collect();
    }

    /// Add `added.count` sockets of `added.kw` at one place: a charger of the city (its id;
    /// they join its sockets) or a transformer post (its id; a new public site there). Sockets
    /// above 22 kW are DC, as the city's own. Errors: `UnknownSite` when `at` is neither;
    /// `BadSockets` for no sockets or a power that is not a positive number of kW.
    pub fn add_sockets(
        &mut self,
        city: &CityModel,
        added: &AddedSockets,
    ) -> Result<(), EvStudyError> {
        if added.count == 0 || !(added.kw.is_finite() && added.kw > 0.0) {
            return Err(EvStudyError::BadSockets(format!(
                "{} sockets of {} kW at {}",
                added.count, added.kw, added.at
            )));
        }
        let socket = SocketSpec {
            kw: added.kw,
            dc: added.kw > 22.0,
        };
        let found = city
            .lookup(
                &added.at,
                &[AssetKind::EvCharger, AssetKind::TransformerPost],
                "an EV charger or a transformer post",
            )
            .map_err(|e| EvStudyError::UnknownSite(format!("added sockets: {e}")))?;
        let at = city.entities()[found[0]].id.to_string();
        let at_charger = self
            .chargers
            .iter()
            .map(|&(_, site)| site)
            .find(|&site| self.sites[site].name == at);
        if let Some(site) = at_charger {
            if let Sockets::Shared(v) = &mut self.sites[site].sockets {
                v.extend(std::iter::repeat_n(socket, added.count));
            }
        } else {
            let post = self
                .posts
                .iter()
                .position(|p| p.entity == found[0])
                .ok_or_else(|| {
                    EvStudyError::UnknownSite(format!(
                        "added sockets: {at} is not on the grid's case"
                    ))
                })?;
            self.public.push(self.sites.len());
            self.sites.push(SiteSpec {
                name: format!("{} sockets of {} kW at {at}", added.count, added.kw),
                post,
                sockets: Sockets::Shared(vec![socket; added.count]),
                patience_h: if socket.dc { 0.25 } else { 0.5 },
                cap_kw: None,
            });
            self.added_at.push(at);
        }
        self.weigh_public_sites();
        Ok(())
    }

    /// Day `day`'s requests of `demand` (the study's start being day 0, `weekday` Monday = 0)
    /// with the site each goes to; requests with no such site in the city are dropped.
    pub fn day_requests(
        &self,
        demand: &DemandModel,
        day: u32,
        weekday: u32,
        rng: &mut impl Rng,
    ) -> Vec<(usize, ChargeRequest)> {
        let fleet = demand.fleet;
        demand
            .day(day, weekday, rng)
            .into_iter()
            .filter_map(|r| Some((self.site_of(&r, fleet, rng)?, r)))
            .collect()
    }

    /// The site a request goes to: the car's home, a workplace, a public charger of the kind
    /// it needs (weighted by sockets), the depot. None when the city has no such site.
    pub fn site_of(&self, r: &ChargeRequest, fleet: usize, rng: &mut impl Rng) -> Option<usize> {
        match r.site {
            SiteType::Home => self.home_site(r.vehicle, fleet),
            SiteType::Workplace => pick(&self.work_sites, rng),
            SiteType::PublicAc => pick(&self.ac_weights, rng),
            SiteType::FastHub => pick(&self.dc_weights, rng),
            SiteType::BusDepotSlow => self.depot_slow,
            SiteType::BusDepotFast => self.depot_fast,
        }
    }

    /// Car k's home: posts in proportion to the people behind them, cars spread over them by a
    /// fixed permutation (so neighbouring car numbers, which share a model, live apart).
    pub fn home_site(&self, k: usize, fleet: usize) -> Option<usize> {
        if self.homes.is_empty() || fleet == 0 {
            return None;
        }
        let spread = (k.wrapping_mul(7_919) % fleet) as f64;
        let x = (spread + 0.5) / fleet as f64;
        let i = self
            .home_cumulative
            .partition_point(|&c| c < x)
            .min(self.homes.len() - 1);
        Some(self.homes[i].0)
    }

    pub fn posts(&self) -> usize {
        self.posts.len()
    }

    /// The entity index of each post, in the network's post order (the order of the charging
    /// load it returns; the city's order of transformer posts on its grid).
    pub fn post_entities(&self) -> impl Iterator<Item = usize> + '_ {
        self.posts.iter().map(|p| p.entity)
    }

    /// A charging simulation over these sites, in which a car that gives up waiting may try
    /// another public charger once.
    pub fn simulation(&self, dt_h: f64, sharing: Sharing) -> ChargingSim {
        ChargingSim::new(self.sites.clone(), self.posts.len(), dt_h, sharing)
            .with_alternatives(self.public.clone())
    }

    /// Take chargers (entity indices) out of service: their sites keep no socket and get no
    /// more cars.
    pub fn remove_chargers(&mut self, entities: &[usize]) {
        for &(e, site) in &self.chargers {
            if entities.contains(&e) {
                self.sites[site].sockets = Sockets::Shared(Vec::new());
                for (s, w) in self.ac_weights.iter_mut().chain(self.dc_weights.iter_mut()) {
                    if *s == site {
                        *w = 0.0;
                    }
                }
            }
        }
    }
}

/// A weighted random choice among (item, weight).
fn pick(items: &[(usize, f64)], rng: &mut impl Rng) -> Option<usize> {
    let total: f64 = items.iter().map(|i| i.1).sum();
    if total <= 0.0 {
        return None;
    }
    let mut x = rng.random::<f64>() * total;
    for &(item, w) in items {
        if x < w {
            return Some(item);
        }
        x -= w;
    }
    items.last().map(|i| i.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn picks_follow_their_weights() {
        let items = [(10, 1.0), (11, 3.0)];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let picks = (0..10_000)
            .filter(|_| pick(&items, &mut rng) == Some(11))
            .count();
        assert!((picks as f64 / 10_000.0 - 0.75).abs() < 0.02);
        assert_eq!(pick(&[(1, 0.0)], &mut rng), None);
    }
}
