//! TNTP files of the TransportationNetworks collection (bstabler/TransportationNetworks):
//! network (`_net.tntp`), demand (`_trips.tntp`) and reference link flows (`_flow.tntp`).
//!
//! Format: `<KEY> value` metadata up to `<END OF METADATA>`, `~` comments, data rows ending with
//! `;`. Nodes are numbered from 1; nodes below `<FIRST THRU NODE>` are zone centroids that must
//! not carry through traffic. The generalised-cost weights of toll and distance are the
//! metadata tags `<TOLL FACTOR>` and `<DISTANCE FACTOR>` when a file has them (the TAP-B
//! convention: cost = time + toll factor × toll + distance factor × length); many files keep
//! them in the network's README instead, and callers may pass them.
//!
//! Every metadata tag is in one of the lists of [`NETWORK_TAGS`] or [`TRIPS_TAGS`]; a tag in
//! none is refused with its line.

use super::{FormatKeys, LineError};

/// The metadata tags of a network file and what the reader does with each.
pub const NETWORK_TAGS: FormatKeys = FormatKeys {
    modelled: &[
        "NUMBER OF ZONES",
        "NUMBER OF NODES",
        "FIRST THRU NODE",
        "NUMBER OF LINKS",
        "TOLL FACTOR",
        "DISTANCE FACTOR",
    ],
    harmless: &["ORIGINAL HEADER", "END OF METADATA"],
    not_modelled: &[],
};

/// The metadata tags of a trips file and what the reader does with each.
pub const TRIPS_TAGS: FormatKeys = FormatKeys {
    // TOTAL OD FLOW is checked against the sum of the entries.
    modelled: &["NUMBER OF ZONES", "TOTAL OD FLOW"],
    harmless: &["ORIGINAL HEADER", "END OF METADATA"],
    not_modelled: &[],
};

/// One directed link, as in the file (node numbers from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct TntpLink {
    pub from: u32,
    pub to: u32,
    pub capacity: f64,
    pub length: f64,
    pub free_flow_time: f64,
    pub b: f64,
    pub power: f64,
    pub speed: f64,
    pub toll: f64,
    pub link_type: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TntpNetwork {
    pub zones: u32,
    pub nodes: u32,
    pub first_thru_node: u32,
    pub links: Vec<TntpLink>,
    /// `<TOLL FACTOR>`: minutes per unit of toll in the generalised cost, when the file says.
    pub toll_factor: Option<f64>,
    /// `<DISTANCE FACTOR>`: minutes per unit of length in the generalised cost, when the file
    /// says.
    pub distance_factor: Option<f64>,
}

/// Origin–destination flows: `(origin, destination, flow)` with zone numbers from 1.
#[derive(Debug, Clone, PartialEq)]
pub struct TntpTrips {
    pub zones: u32,
    pub total_flow: f64,
    pub entries: Vec<(u32, u32, f64)>,
}

/// Metadata tags up to `<END OF METADATA>`, and the line number where data starts; a tag not
/// in `known`'s lists is refused with its line.
fn metadata(text: &str, known: &FormatKeys) -> Result<(Vec<(String, String)>, usize), LineError> {
    let mut tags = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_ascii();
        if t.is_empty() || t.starts_with('~') {
            continue;
        }
        let Some(rest) = t.strip_prefix('<') else {
            return Err(LineError::new(
                i + 1,
                format!("expected a <TAG> or <END OF METADATA>, found `{}`", clip(t)),
            ));
        };
        let Some((key, value)) = rest.split_once('>') else {
            return Err(LineError::new(i + 1, "metadata tag without `>`"));
        };
        let key = key.trim_ascii().to_ascii_uppercase();
        if key == "END OF METADATA" {
            return Ok((tags, i + 1));
        }
        if let Some(refused) = known.refusal(&key, i + 1, "TNTP") {
            return Err(refused);
        }
        tags.push((key, value.trim_ascii().to_string()));
    }
    Err(LineError::new(
        text.lines().count().max(1),
        "no <END OF METADATA>: not a TNTP file, or truncated",
    ))
}

fn tag_number(tags: &[(String, String)], key: &str) -> Result<Option<f64>, LineError> {
    match tags.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => {
            let first = v.split_ascii_whitespace().next().unwrap_or("");
            first
                .parse::<f64>()
                .map(Some)
                .map_err(|_| LineError::new(0, format!("<{key}> `{v}` is not a number")))
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

impl TntpNetwork {
    pub fn parse(text: &str) -> Result<TntpNetwork, LineError> {
        let (tags, start) = metadata(text, &NETWORK_TAGS)?;
        let need = |key: &str| -> Result<u32, LineError> {
            let v = tag_number(&tags, key)?
                .ok_or_else(|| LineError::new(1, format!("no <{key}> in the metadata")))?;
            if v < 0.0 || v.fract() != 0.0 {
                return Err(LineError::new(1, format!("<{key}> {v} is not a count")));
            }
            Ok(v as u32)
        };
        let zones = need("NUMBER OF ZONES")?;
        let nodes = need("NUMBER OF NODES")?;
        let link_count = need("NUMBER OF LINKS")?;
        // Some networks (Munich) omit FIRST THRU NODE: every node may carry through traffic.
        let first_thru_node = match tag_number(&tags, "FIRST THRU NODE")? {
            Some(v) => v as u32,
            None => 1,
        };
        let factor = |key: &str| -> Result<Option<f64>, LineError> {
            match tag_number(&tags, key)? {
                Some(v) if !v.is_finite() || v < 0.0 => Err(LineError::new(
                    1,
                    format!("<{key}> {v} must be a finite number, zero or more"),
                )),
                v => Ok(v),
            }
        };
        let toll_factor = factor("TOLL FACTOR")?;
        let distance_factor = factor("DISTANCE FACTOR")?;
        let mut links = Vec::with_capacity(link_count as usize);
        for (i, line) in text.lines().enumerate().skip(start) {
            let line_no = i + 1;
            let data = line.split('~').next().unwrap_or("").trim_ascii();
            if data.is_empty() {
                continue;
            }
            let data = data.trim_end_matches(';').trim_ascii();
            let f: Vec<&str> = data.split_ascii_whitespace().collect();
            if f.len() < 10 {
                return Err(LineError::new(
                    line_no,
                    format!("link row has {} columns, 10 expected", f.len()),
                ));
            }
            let num = |k: usize, what: &str| -> Result<f64, LineError> {
                f[k].parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| {
                        LineError::new(line_no, format!("{what} `{}` is not a number", clip(f[k])))
                    })
            };
            let node = |k: usize, what: &str| -> Result<u32, LineError> {
                let v = num(k, what)?;
                if v.fract() != 0.0 || v < 1.0 || v > f64::from(nodes) {
                    return Err(LineError::new(
                        line_no,
                        format!("{what} {v} is not a node of this network (1..={nodes})"),
                    ));
                }
                Ok(v as u32)
            };
            let link = TntpLink {
                from: node(0, "init_node")?,
                to: node(1, "term_node")?,
                capacity: num(2, "capacity")?,
                length: num(3, "length")?,
                free_flow_time: num(4, "free_flow_time")?,
                b: num(5, "b")?,
                power: num(6, "power")?,
                speed: num(7, "speed")?,
                toll: num(8, "toll")?,
                link_type: num(9, "link_type")? as i64,
            };
            if link.capacity <= 0.0 {
                return Err(LineError::new(
                    line_no,
                    format!("capacity {} must be positive", link.capacity),
                ));
            }
            if link.free_flow_time < 0.0 || link.b < 0.0 || link.power < 0.0 || link.length < 0.0 {
                return Err(LineError::new(
                    line_no,
                    "free_flow_time, length, b and power must not be negative",
                ));
            }
            if link.from == link.to {
                return Err(LineError::new(
                    line_no,
                    format!("link {0}→{0} is a loop", link.from),
                ));
            }
            links.push(link);
        }
        if links.len() != link_count as usize {
            return Err(LineError::new(
                text.lines().count(),
                format!(
                    "<NUMBER OF LINKS> says {link_count} but the file holds {}: truncated?",
                    links.len()
                ),
            ));
        }
        if zones > nodes || first_thru_node < 1 {
            return Err(LineError::new(
                1,
                format!("{zones} zones on {nodes} nodes, first thru node {first_thru_node}"),
            ));
        }
        Ok(TntpNetwork {
            zones,
            nodes,
            first_thru_node,
            links,
            toll_factor,
            distance_factor,
        })
    }
}

impl TntpTrips {
    pub fn parse(text: &str) -> Result<TntpTrips, LineError> {
        let (tags, start) = metadata(text, &TRIPS_TAGS)?;
        let zones = tag_number(&tags, "NUMBER OF ZONES")?
            .ok_or_else(|| LineError::new(1, "no <NUMBER OF ZONES>"))? as u32;
        let total_flow = tag_number(&tags, "TOTAL OD FLOW")?;
        let mut entries = Vec::new();
        let mut origin: Option<u32> = None;
        let mut last_line = start;
        for (i, line) in text.lines().enumerate().skip(start) {
            let line_no = i + 1;
            last_line = line_no;
            let data = line.split('~').next().unwrap_or("").trim_ascii();
            if data.is_empty() {
                continue;
            }
            let zone = |s: &str| -> Result<u32, LineError> {
                let v: f64 = s.trim_ascii().parse().map_err(|_| {
                    LineError::new(line_no, format!("zone `{}` is not a number", clip(s)))
                })?;
                if v.fract() != 0.0 || v < 1.0 || v > f64::from(zones) {
                    return Err(LineError::new(
                        line_no,
                        format!("zone {v} is not in 1..={zones}"),
                    ));
                }
                Ok(v as u32)
            };
            if let Some(rest) = data.strip_prefix("Origin") {
                origin = Some(zone(rest)?);
                continue;
            }
            let o = origin.ok_or_else(|| {
                LineError::new(line_no, "destination flows before any `Origin` line")
            })?;
            for entry in data.split(';').map(str::trim).filter(|e| !e.is_empty()) {
                let (d, flow) = entry.split_once(':').ok_or_else(|| {
                    LineError::new(
                        line_no,
                        format!("`{}` is not `destination : flow`", clip(entry)),
                    )
                })?;
                let d = zone(d)?;
                let flow: f64 = flow
                    .trim_ascii()
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        LineError::new(
                            line_no,
                            format!(
                                "flow `{}` is not a non-negative number",
                                clip(flow.trim_ascii())
                            ),
                        )
                    })?;
                if flow > 0.0 && d != o {
                    entries.push((o, d, flow));
                }
            }
        }
        let sum: f64 = entries.iter().map(|e| e.2).sum();
        if let Some(total) = total_flow {
            // The total includes intrazonal flows, which never load the network.
            if sum > total * (1.0 + 1e-6) + 1e-6 || sum < total * 0.5 {
                return Err(LineError::new(
                    last_line,
                    format!(
                        "the flows add up to {sum} but <TOTAL OD FLOW> says {total}: truncated?"
                    ),
                ));
            }
        }
        Ok(TntpTrips {
            zones,
            total_flow: total_flow.unwrap_or(sum),
            entries,
        })
    }
}

/// A reference flow file: `(from, to, volume, cost)` rows after a `From To Volume Cost` header.
pub fn parse_flow_file(text: &str) -> Result<Vec<(u32, u32, f64, f64)>, LineError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() || f[0].eq_ignore_ascii_case("from") || f[0].starts_with('~') {
            continue;
        }
        if f.len() < 4 {
            return Err(LineError::new(
                i + 1,
                "flow row needs from, to, volume, cost",
            ));
        }
        let n = |k: usize| {
            f[k].trim_end_matches(';')
                .parse::<f64>()
                .map_err(|_| LineError::new(i + 1, format!("`{}` is not a number", clip(f[k]))))
        };
        out.push((n(0)? as u32, n(1)? as u32, n(2)?, n(3)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "<NUMBER OF ZONES> 2\n<NUMBER OF NODES> 3\n<FIRST THRU NODE> 3\n<NUMBER OF LINKS> 2\n<END OF METADATA>\n\n~ a comment\n\t1\t3\t100\t1\t2\t0.15\t4.5\t0\t0\t1\t;\n\t3\t2\t100\t1\t2\t0\t4\t0\t0\t1\t;\n";
    const TRIPS: &str = "<NUMBER OF ZONES> 2\n<TOTAL OD FLOW> 10.0\n<END OF METADATA>\n\nOrigin 1\n   1 : 0.0;  2 : 10.0;\n";

    #[test]
    fn reads_networks_with_fractional_powers_and_zero_b() {
        let net = TntpNetwork::parse(NET).unwrap();
        assert_eq!(net.first_thru_node, 3);
        assert_eq!(net.links[0].power, 4.5);
        assert_eq!(net.links[1].b, 0.0);
        let trips = TntpTrips::parse(TRIPS).unwrap();
        assert_eq!(trips.entries, vec![(1, 2, 10.0)]);
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = TntpNetwork::parse(&NET.replace("\t3\t2\t100", "\t3\t9\t100")).unwrap_err();
        assert_eq!(err.line, 9);
        assert!(
            err.to_string().contains("term_node 9 is not a node"),
            "{err}"
        );
        let err = TntpNetwork::parse(&NET.replace("\t1\t3\t100", "\t1\t3\t-100")).unwrap_err();
        assert!(
            err.to_string().contains("capacity -100 must be positive"),
            "{err}"
        );
        let truncated = &NET[..NET.rfind("\t3\t2").unwrap()];
        assert!(
            TntpNetwork::parse(truncated)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        let err = TntpTrips::parse(&TRIPS.replace("2 : 10.0", "2 : ten")).unwrap_err();
        assert_eq!(err.line, 6);
    }

    #[test]
    fn every_documented_tag_is_in_a_list_and_unknown_tags_are_refused() {
        // The tags of the TransportationNetworks collection and of TAP-B's files.
        for tag in [
            "NUMBER OF ZONES",
            "NUMBER OF NODES",
            "FIRST THRU NODE",
            "NUMBER OF LINKS",
            "TOLL FACTOR",
            "DISTANCE FACTOR",
            "ORIGINAL HEADER",
            "END OF METADATA",
        ] {
            assert_ne!(
                NETWORK_TAGS.classify(tag),
                super::super::KeyUse::Unknown,
                "{tag}"
            );
        }
        for tag in ["NUMBER OF ZONES", "TOTAL OD FLOW", "END OF METADATA"] {
            assert_ne!(
                TRIPS_TAGS.classify(tag),
                super::super::KeyUse::Unknown,
                "{tag}"
            );
        }
        let err = TntpNetwork::parse(&NET.replacen(
            "<NUMBER OF NODES>",
            "<TIME FACTOR> 2\n<NUMBER OF NODES>",
            1,
        ))
        .unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("TIME FACTOR"), "{err}");
    }

    #[test]
    fn toll_and_distance_factors_are_read() {
        let net = TntpNetwork::parse(&NET.replacen(
            "<NUMBER OF NODES>",
            "<TOLL FACTOR> 0.5\n<DISTANCE FACTOR> 0.1\n<NUMBER OF NODES>",
            1,
        ))
        .unwrap();
        assert_eq!(
            (net.toll_factor, net.distance_factor),
            (Some(0.5), Some(0.1))
        );
        assert_eq!(TntpNetwork::parse(NET).unwrap().toll_factor, None);
        assert!(
            TntpNetwork::parse(&NET.replacen(
                "<NUMBER OF NODES>",
                "<TOLL FACTOR> -1\n<NUMBER OF NODES>",
                1
            ))
            .is_err()
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::formats::mutate::config(300))]
        /// Mutated real networks give a clean error or an assignment with finite flows.
        #[test]
        fn mutated_real_files_give_an_error_or_finite_flows(
            edit_net in proptest::prelude::any::<bool>(),
            edits in crate::formats::mutate::edits(),
        ) {
            let (net, trips) = (
                include_str!("../../../data/field/tntp-toll-factor-net.tntp"),
                include_str!("../../../data/field/tntp-toll-factor-trips.tntp"),
            );
            let (net, trips) = if edit_net {
                (crate::formats::mutate::apply(net, &edits), trips.to_string())
            } else {
                (net.to_string(), crate::formats::mutate::apply(trips, &edits))
            };
            let (Ok(net), Ok(trips)) = (TntpNetwork::parse(&net), TntpTrips::parse(&trips)) else {
                return Ok(());
            };
            let Ok((network, demand)) = crate::traffic::AssignmentNetwork::from_tntp(&net, &trips) else {
                return Ok(());
            };
            let options = crate::traffic::AssignmentOptions { max_iterations: 50, ..Default::default() };
            if let Ok(r) = crate::traffic::assign(&network, &demand, &options, &mut |_| {}) {
                proptest::prop_assert!(r.flows.iter().chain(&r.costs).all(|x| x.is_finite()), "{:?}", r.flows);
                proptest::prop_assert!(r.relative_gap.is_finite());
            }
        }
    }
}
