//! EV charging stations of the synthetic Pitești: the 10 municipal public stations reported to
//! AFM (placed at neighbourhood centres), plausible private sites (shopping centres, supermarkets,
//! Dacia-Renault dealers, fuel stations, workplaces) and the Publitrans electric-bus depot with
//! 40 slow and 11 fast chargers, each tied to its transformer post.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::SynthEntityIds;
use super::streets::RoadPlan;
use super::terrain::{LocalFrame, NEIGHBOURHOODS};
use crate::entity::{Asset, ChargerSite, Entity, EvCharger, RoadClass, Socket};
use crate::id::{EntityId, EntityKind};

/// Where the bus depot is placed (local metres; the real depot's location was not verified).
pub const BUS_DEPOT_XY: (f64, f64) = (2_600.0, -1_600.0);
pub const DEPOT_SLOW_SOCKETS: usize = 40;
pub const DEPOT_FAST_SOCKETS: usize = 11;

fn sockets(spec: &[(usize, &str, f64)]) -> Vec<Socket> {
    spec.iter()
        .flat_map(|&(n, t, kw)| {
            (0..n).map(move |_| Socket {
                socket_type: t.to_string(),
                max_power_kw: kw,
            })
        })
        .collect()
}

pub struct DepotPosts {
    pub slow: EntityId,
    pub fast: EntityId,
}

pub fn plan_chargers(
    plan: &RoadPlan,
    frame: &LocalFrame,
    posts: &[(EntityId, usize)],
    depot: &DepotPosts,
    ids: &mut SynthEntityIds,
    rng: &mut ChaCha8Rng,
) -> Vec<Entity> {
    let nearest_post = |x: f64, y: f64| -> EntityId {
        posts
            .iter()
            .min_by(|a, b| {
                let da = (plan.nodes[a.1].x - x).hypot(plan.nodes[a.1].y - y);
                let db = (plan.nodes[b.1].x - x).hypot(plan.nodes[b.1].y - y);
                da.total_cmp(&db)
            })
            .map(|p| p.0.clone())
            .expect("the city has transformer posts")
    };
    let mut out = Vec::new();
    let mut add = |out: &mut Vec<Entity>,
                   name: String,
                   site: ChargerSite,
                   operator: &str,
                   x: f64,
                   y: f64,
                   socks: Vec<Socket>,
                   post: EntityId| {
        let charger = EvCharger {
            site,
            operator: operator.to_string(),
            sockets: socks,
            grid_connection: post,
        };
        out.push(
            Entity::new(
                ids.next(EntityKind::Charger, ""),
                frame.to_lonlat(x, y),
                Asset::EvCharger(charger),
            )
            .with_name(Some(name)),
        );
    };
    for &(nb, x, y, _) in NEIGHBOURHOODS.iter().take(10) {
        let (x, y) = (x + 25.0, y + 15.0);
        add(
            &mut out,
            format!("Stație publică {nb}"),
            ChargerSite::Public,
            "Primăria Municipiului Pitești",
            x,
            y,
            sockets(&[(1, "Type2", 22.0), (1, "CCS2", 50.0)]),
            nearest_post(x, y),
        );
    }
    // Private sites on arterial streets, at seeded places.
    let arterial_nodes: Vec<usize> = {
        let mut v: Vec<usize> = plan
            .edges
            .iter()
            .filter(|e| matches!(e.class, RoadClass::Primary | RoadClass::Secondary))
            .flat_map(|e| [e.a, e.b])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let private: [(&str, ChargerSite, &str, usize, &[(usize, &str, f64)]); 6] = [
        (
            "Centru comercial",
            ChargerSite::Retail,
            "private (synthetic)",
            2,
            &[(4, "Type2", 22.0), (2, "CCS2", 50.0)],
        ),
        (
            "Supermarket",
            ChargerSite::Retail,
            "private (synthetic)",
            3,
            &[(2, "Type2", 22.0), (1, "CCS2", 50.0)],
        ),
        (
            "Dealer Dacia-Renault",
            ChargerSite::Dealer,
            "Dacia-Renault dealer (synthetic)",
            3,
            &[(2, "Type2", 22.0), (1, "CCS2", 100.0)],
        ),
        (
            "Stație de carburanți",
            ChargerSite::FuelStation,
            "fuel retailer (synthetic)",
            4,
            &[(2, "CCS2", 150.0)],
        ),
        (
            "Parcare angajați",
            ChargerSite::Workplace,
            "employer (synthetic)",
            2,
            &[(4, "Type2", 11.0)],
        ),
        (
            "Parcare bloc",
            ChargerSite::Residential,
            "residents' association (synthetic)",
            2,
            &[(2, "Type2", 7.4)],
        ),
    ];
    for (label, site, operator, count, spec) in private {
        for k in 1..=count {
            let v = arterial_nodes[rng.random_range(0..arterial_nodes.len())];
            let (x, y) = (plan.nodes[v].x + 20.0, plan.nodes[v].y + 20.0);
            add(
                &mut out,
                format!("{label} {k}"),
                site,
                operator,
                x,
                y,
                sockets(spec),
                nearest_post(x, y),
            );
        }
    }
    let (dx, dy) = BUS_DEPOT_XY;
    add(
        &mut out,
        "Depou autobuze electrice Publitrans — încărcare lentă".into(),
        ChargerSite::BusDepot,
        "Publitrans 2000",
        dx + 30.0,
        dy,
        sockets(&[(DEPOT_SLOW_SOCKETS, "CCS2", 80.0)]),
        depot.slow.clone(),
    );
    add(
        &mut out,
        "Depou autobuze electrice Publitrans — încărcare rapidă".into(),
        ChargerSite::BusDepot,
        "Publitrans 2000",
        dx + 60.0,
        dy,
        sockets(&[(DEPOT_FAST_SOCKETS, "Pantograph", 300.0)]),
        depot.fast.clone(),
    );
    out
}
