//! `[CONTROLS]`: EPANET's simple controls on tank levels, junction pressures and times, read
//! into the model's links, nodes and units (`input3.c` `controldata`, `input1.c`
//! `convertunits`).

use std::collections::HashMap;

use super::links::valve_setting;
use super::{
    Control, ControlCondition, LinkKind, LinkModel, LinkStatus, ModelError, NodeKind, Units,
    ValveType, parse_time,
};

/// One `[CONTROLS]` line (EPANET's `controldata`):
/// `LINK id OPEN|CLOSED|setting (IF NODE id ABOVE|BELOW value | AT TIME t | AT CLOCKTIME t [AM|PM])`.
pub(super) fn parse_control(
    line: &str,
    links: &[LinkModel],
    link_index: &HashMap<&str, usize>,
    node_index: &HashMap<&str, usize>,
    kind: &[NodeKind],
    elevation: &[f64],
    u: &Units,
) -> Result<Control, ModelError> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let bad = || ModelError::BadControl(line.to_string());
    if f.len() < 6 || !f[0].eq_ignore_ascii_case("LINK") {
        return Err(bad());
    }
    let k = *link_index.get(f[1]).ok_or_else(bad)?;
    let link = &links[k];
    if let LinkKind::Pipe {
        check_valve: true, ..
    } = link.kind
    {
        return Err(ModelError::Bad(format!(
            "control `{line}` acts on check valve {} (EPANET error 207)",
            link.id
        )));
    }
    let word = f[2].to_ascii_uppercase();
    let (mut status, mut setting) = (LinkStatus::Active, None);
    match (word.as_str(), &link.kind) {
        ("OPEN", LinkKind::Pump { .. }) => (status, setting) = (LinkStatus::Open, Some(1.0)),
        ("CLOSED", LinkKind::Pump { .. }) => (status, setting) = (LinkStatus::Closed, Some(0.0)),
        ("OPEN", _) => status = LinkStatus::Open,
        ("CLOSED", _) => status = LinkStatus::Closed,
        (
            _,
            LinkKind::Valve {
                valve: ValveType::Gpv { .. },
                ..
            },
        ) => {
            return Err(ModelError::Bad(format!(
                "control `{line}` gives GPV {} a setting (EPANET error 207)",
                link.id
            )));
        }
        (_, kind) => {
            let x: f64 = f[2].parse().map_err(|_| bad())?;
            if x < 0.0 {
                return Err(ModelError::Bad(format!(
                    "control `{line}`: negative setting (EPANET error 211)"
                )));
            }
            match kind {
                LinkKind::Valve { valve, .. } => setting = Some(valve_setting(valve, x, u)),
                LinkKind::Pump { .. } => {
                    setting = Some(x);
                    status = if x == 0.0 {
                        LinkStatus::Closed
                    } else {
                        LinkStatus::Open
                    };
                }
                LinkKind::Pipe { .. } => {
                    status = if x == 0.0 {
                        LinkStatus::Closed
                    } else {
                        LinkStatus::Open
                    };
                }
            }
        }
    }
    let when = f[4].to_ascii_uppercase();
    let condition = match (f[3].to_ascii_uppercase().as_str(), when.as_str()) {
        ("AT", "TIME") => ControlCondition::Timer(parse_time(&f[5..].join(" ")).ok_or_else(bad)?),
        ("AT", "CLOCKTIME") => {
            ControlCondition::TimeOfDay(parse_time(&f[5..].join(" ")).ok_or_else(bad)? % 86_400)
        }
        ("IF", "NODE") if f.len() >= 8 => {
            let node = *node_index.get(f[5]).ok_or_else(bad)?;
            let v: f64 = f[7].parse().map_err(|_| bad())?;
            let grade = match kind[node] {
                NodeKind::Tank => elevation[node] + v * u.length,
                NodeKind::Junction => elevation[node] + v * u.pressure,
                NodeKind::Reservoir => {
                    return Err(ModelError::Unsupported(format!(
                        "control `{line}` on the level of reservoir {} (a reservoir has no level)",
                        f[5]
                    )));
                }
            };
            match f[6].to_ascii_uppercase().as_str() {
                "ABOVE" => ControlCondition::HighLevel { node, grade },
                "BELOW" => ControlCondition::LowLevel { node, grade },
                _ => return Err(bad()),
            }
        }
        _ => return Err(bad()),
    };
    Ok(Control {
        link: k,
        condition,
        status,
        setting,
    })
}
