//! Waste collection points of the synthetic Pitești: one point per ~140 residents along the
//! streets people live on, each with bins in the five streams of Salubritate 2000's colour code
//! (residual, paper, plastic-metal and bio at every point; glass at every second point).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::SynthEntityIds;
use super::streets::{EdgeKind, RoadPlan};
use super::terrain::LocalFrame;
use crate::entity::{Asset, Entity, RoadClass, WasteBin, WasteKind};
use crate::id::EntityKind;

const RESIDENTS_PER_POINT: f64 = 140.0;

pub fn plan_bins(
    plan: &RoadPlan,
    frame: &LocalFrame,
    ids: &mut SynthEntityIds,
    rng: &mut ChaCha8Rng,
) -> Vec<Entity> {
    let mut bins = Vec::new();
    let mut carry = 0.0;
    let mut point = 0u32;
    for e in &plan.edges {
        let lives_here = e.kind == EdgeKind::Grid && !matches!(e.class, RoadClass::Primary);
        if !lives_here {
            continue;
        }
        carry += e.population / RESIDENTS_PER_POINT;
        let count = carry.floor() as usize;
        carry -= count as f64;
        let (a, b) = (&plan.nodes[e.a], &plan.nodes[e.b]);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let len = dx.hypot(dy).max(1.0);
        let (ux, uy, nx, ny) = (dx / len, dy / len, -dy / len, dx / len);
        for c in 0..count {
            point += 1;
            let t = (c as f64 + 0.5) / count as f64;
            let (px, py) = (a.x + dx * t + nx * 8.0, a.y + dy * t + ny * 8.0);
            let mut streams: Vec<(WasteKind, f64)> = vec![(WasteKind::Residual, 1_100.0)];
            if rng.random_bool(0.3) {
                streams.push((WasteKind::Residual, 1_100.0));
            }
            streams.extend([
                (WasteKind::Paper, 1_100.0),
                (WasteKind::PlasticMetal, 1_100.0),
                (WasteKind::Bio, 240.0),
            ]);
            if point.is_multiple_of(2) {
                streams.push((WasteKind::Glass, 1_100.0));
            }
            for (k, (kind, volume_l)) in streams.into_iter().enumerate() {
                let along = (k as f64 - 2.0) * 1.6;
                let pos = frame.to_lonlat(px + ux * along, py + uy * along);
                let bin = WasteBin {
                    stored_waste_kind: kind,
                    volume_l,
                    collection_point: point,
                };
                bins.push(Entity::new(
                    ids.next(EntityKind::Bin, ""),
                    pos,
                    Asset::WasteBin(bin),
                ));
            }
        }
    }
    bins
}
