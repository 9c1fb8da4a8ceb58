//! The twin's entity ids for the elements of an EPANET network.
//!
//! EPANET keeps two id spaces: a node and a link may share an id (EPANET 2.2 manual, §3.1:
//! "ID labels … must be unique among nodes, and among links"; Net3 has node `10` and pipe `10`),
//! and an id is up to 31 characters of any non-blank bytes. An entity id is one space per
//! family (`water:<local>`) with `[A-Za-z0-9._-]` only. [`WaterIds::assign`] gives every
//! element an entity id that cannot collide, deterministically from the file alone:
//!
//! 1. a node keeps its EPANET id when that is a valid local id (so the Pitești bundle's
//!    `water:j-12` are their own EPANET ids); otherwise every other character becomes `_`;
//! 2. a link does the same, but a link whose id is also a node's id becomes `link-<id>`;
//! 3. an id already taken gets `-2`, `-3`, … appended.
//!
//! Every renamed element is listed ([`WaterIds::renamed`]) so that `twin import epanet` can say
//! so element by element; the original id stays on the entity (`Entity::source_id`) and is
//! accepted wherever a user gives an id ([`crate::CityModel::lookup`]).

use std::collections::{HashMap, HashSet};

use crate::formats::epanet::EpanetNetwork;
use crate::id::{EntityId, EntityKind, MAX_LOCAL_ID_LEN};

/// Which EPANET id space an element is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaterSpace {
    /// Junctions, reservoirs and tanks.
    Node,
    /// Pipes, pumps and valves.
    Link,
}

impl WaterSpace {
    pub fn name(self) -> &'static str {
        match self {
            WaterSpace::Node => "node",
            WaterSpace::Link => "link",
        }
    }
}

/// An element whose entity id is not its EPANET id, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Renamed {
    pub space: WaterSpace,
    pub epanet_id: String,
    pub entity: EntityId,
    pub why: &'static str,
}

/// The entity id of every node and link of one EPANET network, both ways.
#[derive(Debug, Clone, Default)]
pub struct WaterIds {
    nodes: HashMap<String, EntityId>,
    links: HashMap<String, EntityId>,
    epanet: HashMap<EntityId, (WaterSpace, String)>,
    renamed: Vec<Renamed>,
}

impl WaterIds {
    /// Assign entity ids to the nodes (junctions, reservoirs, tanks) then the links (pipes,
    /// pumps, valves) of `net`, by the rules of this module's documentation.
    pub fn assign(net: &EpanetNetwork) -> WaterIds {
        let mut ids = WaterIds::default();
        let node_ids: HashSet<&str> = net.node_ids().into_iter().collect();
        let mut taken: HashSet<String> = HashSet::new();
        for id in net.node_ids() {
            ids.add(WaterSpace::Node, id, &mut taken, false);
        }
        for id in net.link_ids() {
            ids.add(WaterSpace::Link, id, &mut taken, node_ids.contains(id));
        }
        ids
    }

    fn add(
        &mut self,
        space: WaterSpace,
        epanet_id: &str,
        taken: &mut HashSet<String>,
        shared_with_node: bool,
    ) {
        let clean = sanitise(epanet_id);
        let mut why = if clean != epanet_id {
            Some("its EPANET id has characters an entity id cannot hold")
        } else {
            None
        };
        let mut base = clean;
        if shared_with_node {
            base = truncate(&format!("link-{base}"));
            why = Some("a node has the same EPANET id");
        }
        let mut local = base.clone();
        let mut n = 2;
        while taken.contains(&local) {
            let suffix = format!("-{n}");
            local = format!(
                "{}{suffix}",
                truncate_to(&base, MAX_LOCAL_ID_LEN - suffix.len())
            );
            why.get_or_insert("another element's id, cleaned, is the same");
            n += 1;
        }
        taken.insert(local.clone());
        let entity = EntityId::new(EntityKind::Water, local).expect("sanitised ids are valid");
        if let Some(why) = why {
            self.renamed.push(Renamed {
                space,
                epanet_id: epanet_id.to_string(),
                entity: entity.clone(),
                why,
            });
        }
        self.epanet
            .insert(entity.clone(), (space, epanet_id.to_string()));
        match space {
            WaterSpace::Node => self.nodes.insert(epanet_id.to_string(), entity),
            WaterSpace::Link => self.links.insert(epanet_id.to_string(), entity),
        };
    }

    /// The entity of the node with EPANET id `epanet_id`.
    pub fn node(&self, epanet_id: &str) -> Option<&EntityId> {
        self.nodes.get(epanet_id)
    }

    /// The entity of the link with EPANET id `epanet_id`.
    pub fn link(&self, epanet_id: &str) -> Option<&EntityId> {
        self.links.get(epanet_id)
    }

    /// The EPANET space and id of `entity`, if it is an element of the network.
    pub fn epanet_id(&self, entity: &EntityId) -> Option<(WaterSpace, &str)> {
        self.epanet.get(entity).map(|(s, id)| (*s, id.as_str()))
    }

    /// The elements whose entity id differs from their EPANET id, in file order.
    pub fn renamed(&self) -> &[Renamed] {
        &self.renamed
    }
}

/// `id` with every character outside `[A-Za-z0-9._-]` replaced by `_`, cut to the longest
/// local id (EPANET's 31 characters always fit).
fn sanitise(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = if clean.is_empty() { "_".into() } else { clean };
    truncate(&clean)
}

fn truncate(s: &str) -> String {
    truncate_to(s, MAX_LOCAL_ID_LEN)
}

/// The first `max` bytes of an ASCII string.
fn truncate_to(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> EpanetNetwork {
        EpanetNetwork::parse(text).expect("parses")
    }

    const SHARED: &str = "[JUNCTIONS]\n10 100 1\n20 100 1\nJ#3 100 1\n[RESERVOIRS]\nR 150\n\
        [PIPES]\n10 R 10 100 300 100\n20 10 20 100 300 100\nJ_3 20 J#3 100 300 100\n[END]\n";

    #[test]
    fn nodes_keep_their_ids_and_links_sharing_one_are_renamed() {
        let ids = WaterIds::assign(&net(SHARED));
        assert_eq!(ids.node("10").unwrap().to_string(), "water:10");
        assert_eq!(ids.link("10").unwrap().to_string(), "water:link-10");
        assert_eq!(ids.link("20").unwrap().to_string(), "water:link-20");
        assert_eq!(ids.node("R").unwrap().to_string(), "water:R");
        // `J#3` cleans to `J_3`; the pipe really called `J_3` then takes `J_3-2`.
        assert_eq!(ids.node("J#3").unwrap().to_string(), "water:J_3");
        assert_eq!(ids.link("J_3").unwrap().to_string(), "water:J_3-2");
        let back = ids.epanet_id(ids.link("10").unwrap()).unwrap();
        assert_eq!(back, (WaterSpace::Link, "10"));
        let renamed: Vec<(&str, &str)> = ids
            .renamed()
            .iter()
            .map(|r| (r.epanet_id.as_str(), r.why))
            .collect();
        assert_eq!(renamed.len(), 4, "{renamed:?}");
        assert!(renamed.contains(&("10", "a node has the same EPANET id")));
    }

    #[test]
    fn every_element_of_net3_has_its_own_entity() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data/water/epanet/Net3.inp"
        ))
        .unwrap();
        let n = net(&text);
        let ids = WaterIds::assign(&n);
        let all: HashSet<String> = n
            .node_ids()
            .iter()
            .map(|i| ids.node(i).unwrap().to_string())
            .chain(
                n.link_ids()
                    .iter()
                    .map(|i| ids.link(i).unwrap().to_string()),
            )
            .collect();
        assert_eq!(all.len(), n.node_count() + n.link_count());
        assert!(
            !ids.renamed().is_empty(),
            "Net3 shares ids between nodes and links"
        );
    }
}
