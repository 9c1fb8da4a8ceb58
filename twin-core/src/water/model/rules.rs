//! EPANET 2.2 rule-based controls (`[RULES]`, manual §3.1 and appendix C; `rules.c`): rules
//! of premises on nodes, links, system demand and time, with THEN and ELSE actions on links and
//! a priority that settles two rules acting on one link. Parsed here into the model's indices and
//! units; evaluated by the solver at the rule time step.

use std::collections::HashMap;

use super::{LinkKind, LinkModel, ModelError, NodeKind, ValveType, parse_time};

/// What a premise looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleVariable {
    Demand,
    Head,
    Level,
    Pressure,
    Flow,
    Status,
    Setting,
    Time,
    ClockTime,
    FillTime,
    DrainTime,
}

/// `=`/`IS`, `<>`/`NOT`, `<=`, `>=`, `<`/`BELOW`, `>`/`ABOVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
}

/// A link status named in a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleStatus {
    Open,
    Closed,
    Active,
}

/// One `IF`/`AND`/`OR` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Premise {
    /// Joined to the clauses before it by OR (else AND).
    pub or: bool,
    /// The node or link (None for SYSTEM).
    pub node: Option<usize>,
    pub link: Option<usize>,
    pub variable: RuleVariable,
    pub relation: Relation,
    /// A status to compare with, or a number in the file's units (times in seconds).
    pub status: Option<RuleStatus>,
    pub value: f64,
    /// Factor from the model's internal units to the file's for this variable (EPANET compares
    /// in the file's units with a tolerance of 0.001).
    pub to_file_units: f64,
}

/// One `THEN`/`ELSE`/`AND` action: a link's status or setting (setting in internal units).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAction {
    pub link: usize,
    pub status: Option<RuleStatus>,
    pub setting: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub premises: Vec<Premise>,
    pub then_actions: Vec<RuleAction>,
    pub else_actions: Vec<RuleAction>,
    pub priority: f64,
}

/// Unit factors the rules need, from internal units to the file's.
pub(super) struct RuleUnits {
    pub head: f64,
    pub pressure: f64,
    pub flow: f64,
}

/// Where a statement stands in its rule (EPANET's `RuleState`).
#[derive(PartialEq)]
enum Clause {
    Rule,
    If,
    Then,
    Else,
    Priority,
}

/// Parse `[RULES]` statements (line, text) as EPANET's `ruledata`, refusing what EPANET refuses
/// with the line and EPANET's error number.
pub(super) fn parse_rules(
    lines: &[(usize, String)],
    nodes: &HashMap<&str, usize>,
    node_kind: &[NodeKind],
    links: &[LinkModel],
    units: &RuleUnits,
) -> Result<Vec<Rule>, ModelError> {
    let link_index: HashMap<&str, usize> = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i))
        .collect();
    let mut rules: Vec<Rule> = Vec::new();
    let mut clause = None;
    for (line, text) in lines {
        let tok: Vec<&str> = text.split_ascii_whitespace().collect();
        let bad = |why: &str| ModelError::Bad(format!("[RULES] line {line}: `{text}`: {why}"));
        let keyword = tok[0].to_ascii_uppercase();
        let rule = rules.last_mut();
        match (keyword.as_str(), &clause, rule) {
            ("RULE", _, _) => {
                if tok.len() != 2 {
                    return Err(bad("RULE takes one label (EPANET error 201)"));
                }
                rules.push(Rule {
                    id: tok[1].to_string(),
                    premises: Vec::new(),
                    then_actions: Vec::new(),
                    else_actions: Vec::new(),
                    priority: 0.0,
                });
                clause = Some(Clause::Rule);
            }
            ("IF", Some(Clause::Rule), Some(r)) => {
                r.premises.push(
                    premise(&tok, false, nodes, node_kind, (links, &link_index), units)
                        .map_err(|e| bad(&e))?,
                );
                clause = Some(Clause::If);
            }
            ("AND", Some(Clause::If), Some(r)) | ("OR", Some(Clause::If), Some(r)) => {
                let or = keyword == "OR";
                r.premises.push(
                    premise(&tok, or, nodes, node_kind, (links, &link_index), units)
                        .map_err(|e| bad(&e))?,
                );
            }
            ("THEN", Some(Clause::If), Some(r)) => {
                r.then_actions
                    .push(action(&tok, links, &link_index, units).map_err(|e| bad(&e))?);
                clause = Some(Clause::Then);
            }
            ("ELSE", Some(Clause::Then), Some(r)) => {
                r.else_actions
                    .push(action(&tok, links, &link_index, units).map_err(|e| bad(&e))?);
                clause = Some(Clause::Else);
            }
            ("AND", Some(Clause::Then), Some(r)) => {
                r.then_actions
                    .push(action(&tok, links, &link_index, units).map_err(|e| bad(&e))?);
            }
            ("AND", Some(Clause::Else), Some(r)) => {
                r.else_actions
                    .push(action(&tok, links, &link_index, units).map_err(|e| bad(&e))?);
            }
            ("PRIORITY", Some(Clause::Then) | Some(Clause::Else), Some(r)) => {
                r.priority = tok
                    .get(1)
                    .and_then(|p| p.parse::<f64>().ok())
                    .ok_or_else(|| bad("PRIORITY takes a number (EPANET error 202)"))?;
                clause = Some(Clause::Priority);
            }
            ("IF" | "AND" | "OR" | "THEN" | "ELSE" | "PRIORITY", _, _) => {
                return Err(bad("misplaced clause (EPANET error 221)"));
            }
            _ => return Err(bad("unknown rule keyword (EPANET error 201)")),
        }
    }
    Ok(rules)
}

fn relation(word: &str) -> Option<Relation> {
    Some(match word.to_ascii_uppercase().as_str() {
        "=" | "IS" => Relation::Eq,
        "<>" | "NOT" => Relation::Ne,
        "<=" => Relation::Le,
        ">=" => Relation::Ge,
        "<" | "BELOW" => Relation::Lt,
        ">" | "ABOVE" => Relation::Gt,
        _ => return None,
    })
}

fn status_word(word: &str) -> Option<RuleStatus> {
    match word.to_ascii_uppercase().as_str() {
        "OPEN" => Some(RuleStatus::Open),
        "CLOSED" => Some(RuleStatus::Closed),
        "ACTIVE" => Some(RuleStatus::Active),
        _ => None,
    }
}

/// `IF|AND|OR object id variable relation value` or `IF|AND|OR SYSTEM variable relation value [unit]`.
fn premise(
    tok: &[&str],
    or: bool,
    nodes: &HashMap<&str, usize>,
    node_kind: &[NodeKind],
    (link_models, links): (&[LinkModel], &HashMap<&str, usize>),
    units: &RuleUnits,
) -> Result<Premise, String> {
    if tok.len() != 5 && tok.len() != 6 {
        return Err("a premise is `object id variable relation value` (EPANET error 201)".into());
    }
    let object = tok[1].to_ascii_uppercase();
    let system = object == "SYSTEM";
    let var_word = if system { tok[2] } else { tok[3] }.to_ascii_uppercase();
    let variable = match var_word.as_str() {
        "DEMAND" => RuleVariable::Demand,
        "HEAD" | "GRADE" => RuleVariable::Head,
        "LEVEL" => RuleVariable::Level,
        "PRESSURE" => RuleVariable::Pressure,
        "FLOW" => RuleVariable::Flow,
        "STATUS" => RuleVariable::Status,
        "SETTING" => RuleVariable::Setting,
        "TIME" => RuleVariable::Time,
        "CLOCKTIME" => RuleVariable::ClockTime,
        "FILLTIME" => RuleVariable::FillTime,
        "DRAINTIME" => RuleVariable::DrainTime,
        _ => return Err(format!("unknown variable {var_word} (EPANET error 201)")),
    };
    let (mut node, mut link) = (None, None);
    if system {
        if !matches!(
            variable,
            RuleVariable::Demand | RuleVariable::Time | RuleVariable::ClockTime
        ) {
            return Err("SYSTEM has DEMAND, TIME and CLOCKTIME (EPANET error 201)".into());
        }
    } else {
        match object.as_str() {
            "NODE" | "JUNCTION" | "RESERVOIR" | "TANK" => {
                let i = *nodes
                    .get(tok[2])
                    .ok_or_else(|| format!("unknown node {} (EPANET error 203)", tok[2]))?;
                let ok = match variable {
                    RuleVariable::Demand
                    | RuleVariable::Head
                    | RuleVariable::Level
                    | RuleVariable::Pressure => true,
                    RuleVariable::FillTime | RuleVariable::DrainTime => {
                        node_kind[i] != NodeKind::Junction
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "{var_word} is not a variable of node {} (EPANET error 201)",
                        tok[2]
                    ));
                }
                node = Some(i);
            }
            "LINK" | "PIPE" | "PUMP" | "VALVE" => {
                let k = *links
                    .get(tok[2])
                    .ok_or_else(|| format!("unknown link {} (EPANET error 204)", tok[2]))?;
                if !matches!(
                    variable,
                    RuleVariable::Flow | RuleVariable::Status | RuleVariable::Setting
                ) {
                    return Err(format!(
                        "{var_word} is not a variable of link {} (EPANET error 201)",
                        tok[2]
                    ));
                }
                link = Some(k);
            }
            _ => return Err(format!("unknown object {object} (EPANET error 201)")),
        }
    }
    let at = if system { 3 } else { 4 };
    let relation = relation(tok[at])
        .ok_or_else(|| format!("unknown relation {} (EPANET error 201)", tok[at]))?;
    let last = tok[tok.len() - 1];
    let (mut status, mut value) = (None, f64::NAN);
    if matches!(variable, RuleVariable::Time | RuleVariable::ClockTime) {
        let text = tok[at + 1..].join(" ");
        value = parse_time(&text)
            .ok_or_else(|| format!("`{text}` is not a time (EPANET error 202)"))?
            as f64;
    } else if let Some(s) = status_word(last) {
        status = Some(s);
    } else {
        value = last
            .parse::<f64>()
            .map_err(|_| format!("`{last}` is not a number (EPANET error 202)"))?;
        if matches!(variable, RuleVariable::FillTime | RuleVariable::DrainTime) {
            value *= 3600.0;
        }
    }
    let to_file_units = match variable {
        RuleVariable::Demand | RuleVariable::Flow => units.flow,
        RuleVariable::Head | RuleVariable::Level => units.head,
        RuleVariable::Pressure => units.pressure,
        // A valve's setting compares in the file's pressure or flow units.
        RuleVariable::Setting => match link.and_then(|k| link_models[k].valve()) {
            Some(ValveType::Prv | ValveType::Psv | ValveType::Pbv) => units.pressure,
            Some(ValveType::Fcv) => units.flow,
            _ => 1.0,
        },
        _ => 1.0,
    };
    Ok(Premise {
        or,
        node,
        link,
        variable,
        relation,
        status,
        value,
        to_file_units,
    })
}

/// `THEN|ELSE|AND LINK id STATUS|SETTING IS value`.
fn action(
    tok: &[&str],
    links: &[LinkModel],
    index: &HashMap<&str, usize>,
    units: &RuleUnits,
) -> Result<RuleAction, String> {
    if tok.len() != 6 {
        return Err(
            "an action is `THEN LINK id STATUS|SETTING IS value` (EPANET error 201)".into(),
        );
    }
    let k = *index
        .get(tok[2])
        .ok_or_else(|| format!("unknown link {} (EPANET error 204)", tok[2]))?;
    let link = &links[k];
    if let LinkKind::Pipe {
        check_valve: true, ..
    } = link.kind
    {
        return Err(format!(
            "a rule cannot act on check valve {} (EPANET error 207)",
            link.id
        ));
    }
    let mut status = status_word(tok[5]);
    let mut setting = None;
    if status.is_none() {
        let x: f64 = tok[5]
            .parse()
            .ok()
            .filter(|x: &f64| *x >= 0.0)
            .ok_or_else(|| {
                format!(
                    "`{}` is not a status or a setting (EPANET error 202)",
                    tok[5]
                )
            })?;
        match &link.kind {
            LinkKind::Valve {
                valve: ValveType::Gpv { .. },
                ..
            } => {
                return Err(format!(
                    "a GPV's setting cannot change ({}; EPANET error 202)",
                    link.id
                ));
            }
            LinkKind::Pipe { .. } => {
                status = Some(if x == 0.0 {
                    RuleStatus::Closed
                } else {
                    RuleStatus::Open
                })
            }
            LinkKind::Valve { valve, .. } => {
                setting = Some(match valve {
                    ValveType::Prv | ValveType::Psv | ValveType::Pbv => x / units.pressure,
                    ValveType::Fcv => x / units.flow,
                    _ => x,
                })
            }
            LinkKind::Pump { .. } => setting = Some(x),
        }
    }
    Ok(RuleAction {
        link: k,
        status,
        setting,
    })
}
