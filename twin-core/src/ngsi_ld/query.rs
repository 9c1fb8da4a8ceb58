//! The NGSI-LD query language (`q`), parsed and evaluated on an entity in normalized form.
//!
//! Grammar of ETSI GS CIM 009 V1.8.1 clause 4.9: terms joined by `;` (and) and `|` (or), `;`
//! binding tighter, parentheses for grouping. A term is an attribute path alone (the attribute
//! exists) or compared with `==`, `!=`, `>`, `>=`, `<`, `<=` (numbers, quoted strings, dates and
//! times, `true`/`false`, URIs; `==`/`!=` also take a list `a,b,c` or a range `a..b`) or
//! matched with `~=` / `!~=` (a regular expression). A path is an attribute name, dotted
//! sub-attribute names (`speed.observedAt` reads a sub-property or the attribute's own
//! `observedAt`, `unitCode`, `datasetId`), and bracketed keys into a compound value
//! (`address[addressLocality]`). A target value that is an array matches when any element
//! does (clause 4.9).
//!
//! Errors name the byte where the query stops making sense; the HTTP layer answers them with
//! an `InvalidRequest` ProblemDetails.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveTime};
use serde_json::Value as Json;

/// A query that did not parse: what was expected and the byte offset where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("q: {what} at byte {at} of `{query}`")]
pub struct QueryError {
    pub query: String,
    pub at: usize,
    pub what: String,
}

/// A parsed `q`.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    And(Vec<Query>),
    Or(Vec<Query>),
    Term(Term),
}

/// One comparison of an attribute path.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub path: AttrPath,
    pub test: Test,
}

/// An attribute, its sub-attributes (`.`) and keys into its compound value (`[...]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub attribute: String,
    pub sub: Vec<String>,
    pub keys: Vec<String>,
}

/// What a term asks of the value at its path.
#[derive(Debug, Clone)]
pub enum Test {
    Exists,
    Compare(Op, Literal),
    /// `==` a list (any of) or a range (inclusive).
    In(Vec<Literal>),
    Range(Literal, Literal),
    NotIn(Vec<Literal>),
    NotRange(Literal, Literal),
    Matches(regex::Regex),
    NotMatches(regex::Regex),
}

impl PartialEq for Test {
    fn eq(&self, other: &Test) -> bool {
        use Test::*;
        match (self, other) {
            (Exists, Exists) => true,
            (Compare(a, b), Compare(c, d)) => a == c && b == d,
            (In(a), In(b)) | (NotIn(a), NotIn(b)) => a == b,
            (Range(a, b), Range(c, d)) | (NotRange(a, b), NotRange(c, d)) => a == c && b == d,
            (Matches(a), Matches(b)) | (NotMatches(a), NotMatches(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A value in a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Text(String),
    Bool(bool),
    /// A date, time or date-time, as milliseconds for comparison (times of day: since
    /// midnight) with its original text.
    Time(i64, String),
    /// An unquoted word that is none of the above (a URI).
    Uri(String),
}

impl Query {
    /// Parse `q`. Errors: [`QueryError`] naming the byte and what was expected.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.len() > MAX_QUERY_BYTES {
            return Err(QueryError {
                query: text.chars().take(80).collect::<String>() + "…",
                at: MAX_QUERY_BYTES,
                what: format!("a query of at most {MAX_QUERY_BYTES} bytes"),
            });
        }
        let mut p = Parser {
            text,
            at: 0,
            depth: 0,
        };
        let q = p.or()?;
        if p.at < text.len() {
            return Err(p.error("`;`, `|` or the end"));
        }
        Ok(q)
    }

    /// Whether the entity (normalized NGSI-LD form: attribute name → attribute object) matches.
    pub fn matches(&self, entity: &serde_json::Map<String, Json>) -> bool {
        match self {
            Query::And(all) => all.iter().all(|q| q.matches(entity)),
            Query::Or(any) => any.iter().any(|q| q.matches(entity)),
            Query::Term(t) => t.matches(entity),
        }
    }

    /// The attribute names the query reads (to check them against what the entity types
    /// carry, and to expand them with a context).
    pub fn attributes(&self) -> Vec<&str> {
        match self {
            Query::And(all) | Query::Or(all) => all.iter().flat_map(Query::attributes).collect(),
            Query::Term(t) => vec![t.path.attribute.as_str()],
        }
    }

    /// Rename the attributes the query reads (to the names a context expands them to); a name
    /// `rename` gives None for is kept.
    pub fn rename_attributes(&mut self, rename: &impl Fn(&str) -> Option<String>) {
        match self {
            Query::And(all) | Query::Or(all) => {
                all.iter_mut().for_each(|q| q.rename_attributes(rename))
            }
            Query::Term(t) => {
                if let Some(name) = rename(&t.path.attribute) {
                    t.path.attribute = name;
                }
            }
        }
    }
}

impl Term {
    fn matches(&self, entity: &serde_json::Map<String, Json>) -> bool {
        let Some(target) = self.path.resolve(entity) else {
            // A missing attribute matches nothing, not even `!=` (clause 4.9).
            return false;
        };
        let any = |f: &dyn Fn(&Json) -> bool| match target {
            Json::Array(items) => items.iter().any(f),
            one => f(one),
        };
        // A Relationship's object is an entity's URI: equal or not, never greater or less
        // (clause 4.9).
        let relationship = self.path.sub.is_empty()
            && entity
                .get(&self.path.attribute)
                .and_then(|a| a.get("type"))
                .and_then(Json::as_str)
                == Some("Relationship");
        match &self.test {
            Test::Exists => true,
            Test::Compare(Op::Gt | Op::Ge | Op::Lt | Op::Le, _) | Test::Range(..)
                if relationship =>
            {
                false
            }
            Test::Compare(Op::Ne, lit) => !any(&|v| compare(v, lit) == Some(Ordering::Equal)),
            Test::Compare(op, lit) => any(&|v| {
                compare(v, lit).is_some_and(|o| match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                    Op::Ne => unreachable!("handled above"),
                })
            }),
            Test::In(list) => any(&|v| list.iter().any(|l| compare(v, l) == Some(Ordering::Equal))),
            Test::NotIn(list) => {
                !any(&|v| list.iter().any(|l| compare(v, l) == Some(Ordering::Equal)))
            }
            Test::Range(lo, hi) => any(&|v| in_range(v, lo, hi)),
            Test::NotRange(lo, hi) => !any(&|v| in_range(v, lo, hi)),
            Test::Matches(re) => any(&|v| v.as_str().is_some_and(|s| re.is_match(s))),
            Test::NotMatches(re) => !any(&|v| v.as_str().is_some_and(|s| re.is_match(s))),
        }
    }
}

impl AttrPath {
    /// The value this path names in a normalized entity, if present.
    fn resolve<'a>(&self, entity: &'a serde_json::Map<String, Json>) -> Option<&'a Json> {
        let mut attr = entity.get(&self.attribute)?;
        // Several instances (datasetId): the default one, else the first.
        if let Json::Array(instances) = attr {
            attr = instances
                .iter()
                .find(|i| i.get("datasetId").is_none())
                .or_else(|| instances.first())?;
        }
        for name in &self.sub {
            attr = attr.get(name)?;
        }
        let mut value = match attr {
            Json::Object(o) if o.contains_key("value") => &o["value"],
            Json::Object(o) if o.contains_key("object") => &o["object"],
            Json::Object(o) if o.contains_key("languageMap") => &o["languageMap"],
            // A system or meta attribute (`observedAt`, `unitCode`) is its own value.
            other => other,
        };
        for key in &self.keys {
            value = value.get(key)?;
        }
        Some(value)
    }
}

fn in_range(v: &Json, lo: &Literal, hi: &Literal) -> bool {
    matches!(compare(v, lo), Some(Ordering::Greater | Ordering::Equal))
        && matches!(compare(v, hi), Some(Ordering::Less | Ordering::Equal))
}

/// How an entity's value compares with a query literal, when they are comparable.
fn compare(v: &Json, lit: &Literal) -> Option<Ordering> {
    match (v, lit) {
        (Json::Number(n), Literal::Number(x)) => n.as_f64()?.partial_cmp(x),
        (Json::Bool(b), Literal::Bool(x)) => Some(b.cmp(x)),
        (Json::String(s), Literal::Text(x)) | (Json::String(s), Literal::Uri(x)) => {
            Some(s.as_str().cmp(x.as_str()))
        }
        (Json::String(s), Literal::Time(ms, _)) => time_ms(s)?.partial_cmp(ms),
        // An entity's `@value` typed literal (a DateTime property).
        (Json::Object(o), Literal::Time(ms, _)) => {
            time_ms(o.get("@value")?.as_str()?)?.partial_cmp(ms)
        }
        _ => None,
    }
}

/// A date-time, date or time of day as milliseconds (since the epoch; since midnight).
fn time_ms(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    let t = NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text.trim_end_matches('Z'), "%H:%M:%S%.f"))
        .ok()?;
    Some((t - NaiveTime::MIN).num_milliseconds())
}

/// The longest `q` taken, and the deepest nesting of parentheses: the parser recurses per
/// parenthesis, and a hostile query must not exhaust a server thread's stack.
pub const MAX_QUERY_BYTES: usize = 8192;
pub const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, expected: &str) -> QueryError {
        QueryError {
            query: self.text.to_string(),
            at: self.at,
            what: format!("expected {expected}"),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Query, QueryError> {
        let mut terms = vec![self.and()?];
        while self.eat("|") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Query::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Query, QueryError> {
        let mut terms = vec![self.factor()?];
        while self.eat(";") {
            terms.push(self.factor()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Query::And(terms)
        })
    }

    fn factor(&mut self) -> Result<Query, QueryError> {
        if self.eat("(") {
            if self.depth == MAX_DEPTH {
                return Err(self.error(&format!("at most {MAX_DEPTH} nested parentheses")));
            }
            self.depth += 1;
            let q = self.or()?;
            self.depth -= 1;
            if !self.eat(")") {
                return Err(self.error("`)`"));
            }
            return Ok(q);
        }
        let path = self.path()?;
        // Longest operators first.
        let test = if self.eat("!~=") {
            Test::NotMatches(self.regex()?)
        } else if self.eat("~=") {
            Test::Matches(self.regex()?)
        } else if self.eat("==") {
            self.equality(false)?
        } else if self.eat("!=") {
            self.equality(true)?
        } else if self.eat(">=") {
            Test::Compare(Op::Ge, self.comparable()?)
        } else if self.eat("<=") {
            Test::Compare(Op::Le, self.comparable()?)
        } else if self.eat(">") {
            Test::Compare(Op::Gt, self.comparable()?)
        } else if self.eat("<") {
            Test::Compare(Op::Lt, self.comparable()?)
        } else {
            Test::Exists
        };
        Ok(Query::Term(Term { path, test }))
    }

    fn name(&mut self) -> Result<String, QueryError> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || "_:/#@-".contains(c)))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error("an attribute name"));
        }
        let name = self.rest()[..len].to_string();
        self.at += len;
        Ok(name)
    }

    fn path(&mut self) -> Result<AttrPath, QueryError> {
        let attribute = self.name()?;
        let mut sub = Vec::new();
        while self.eat(".") {
            sub.push(self.name()?);
        }
        let mut keys = Vec::new();
        while self.eat("[") {
            keys.push(self.name()?);
            if !self.eat("]") {
                return Err(self.error("`]`"));
            }
            // `a[b].c` is not in the grammar, but `a[b][c]` is.
        }
        Ok(AttrPath {
            attribute,
            sub,
            keys,
        })
    }

    fn equality(&mut self, negated: bool) -> Result<Test, QueryError> {
        let first = self.value()?;
        if self.eat("..") {
            let hi = self.value()?;
            return Ok(if negated {
                Test::NotRange(first, hi)
            } else {
                Test::Range(first, hi)
            });
        }
        if self.rest().starts_with(',') {
            let mut list = vec![first];
            while self.eat(",") {
                list.push(self.value()?);
            }
            return Ok(if negated {
                Test::NotIn(list)
            } else {
                Test::In(list)
            });
        }
        Ok(Test::Compare(if negated { Op::Ne } else { Op::Eq }, first))
    }

    fn comparable(&mut self) -> Result<Literal, QueryError> {
        let at = self.at;
        match self.value()? {
            Literal::Bool(_) | Literal::Uri(_) => {
                self.at = at;
                Err(self.error("a number, a quoted string, a date or a time"))
            }
            v => Ok(v),
        }
    }

    fn regex(&mut self) -> Result<regex::Regex, QueryError> {
        let at = self.at;
        let pattern = match self.value()? {
            Literal::Text(s) | Literal::Uri(s) => s,
            _ => {
                self.at = at;
                return Err(self.error("a regular expression"));
            }
        };
        regex::Regex::new(&pattern).map_err(|e| QueryError {
            query: self.text.to_string(),
            at,
            what: format!("not a regular expression: {e}"),
        })
    }

    /// One value: a quoted string, a number, true/false, a date-time, a date, a time, or a
    /// URI-like word.
    fn value(&mut self) -> Result<Literal, QueryError> {
        if self.eat("\"") {
            let Some(end) = self.rest().find('"') else {
                return Err(self.error("a closing `\"`"));
            };
            let s = self.rest()[..end].to_string();
            self.at += end + 1;
            return Ok(Literal::Text(s));
        }
        // A word runs to the next operator of the grammar (`..` ends it too).
        let rest = self.rest();
        let mut len = rest
            .find(|c: char| matches!(c, ';' | '|' | ')' | ','))
            .unwrap_or(rest.len());
        if let Some(dots) = rest[..len].find("..") {
            len = dots;
        }
        if len == 0 {
            return Err(self.error("a value"));
        }
        let word = &rest[..len];
        self.at += len;
        Ok(match word {
            "true" => Literal::Bool(true),
            "false" => Literal::Bool(false),
            w => {
                if let Ok(x) = w.parse::<f64>()
                    && x.is_finite()
                {
                    Literal::Number(x)
                } else if let Some(ms) = time_ms(w) {
                    Literal::Time(ms, w.to_string())
                } else {
                    Literal::Uri(w.to_string())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bin() -> serde_json::Map<String, Json> {
        json!({
            "id": "urn:ngsi-ld:WasteContainer:bin:17",
            "type": "WasteContainer",
            "fillingLevel": {"type": "Property", "value": 0.83, "observedAt": "2026-12-01T08:00:00Z"},
            "status": {"type": "Property", "value": "ok"},
            "wasteType": {"type": "Property", "value": ["paper", "plastic"]},
            "address": {"type": "Property", "value": {"addressLocality": "Pitești", "streetAddress": "Bd. Republicii 12"}},
            "refWasteContainerModel": {"type": "Relationship", "object": "urn:ngsi-ld:WasteContainerModel:m1"},
            "isLocked": {"type": "Property", "value": false},
        })
        .as_object()
        .cloned()
        .expect("object")
    }

    fn q(text: &str) -> bool {
        Query::parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(&bin())
    }

    #[test]
    fn comparisons_lists_ranges_and_patterns_match_as_the_specification_says() {
        assert!(q("fillingLevel>0.8"));
        assert!(!q("fillingLevel<0.8"));
        assert!(q("fillingLevel>=0.83;fillingLevel<=0.83"));
        assert!(q("fillingLevel==0.5..0.9"));
        assert!(!q("fillingLevel!=0.5..0.9"));
        assert!(q("status==\"ok\""));
        assert!(q("status==\"full\",\"ok\""));
        assert!(q("status!=\"full\""));
        assert!(q("wasteType==\"plastic\""), "any element of an array");
        assert!(q("status~=\"^o\""));
        assert!(q("status!~=\"^x\""));
        assert!(q("isLocked==false"));
        assert!(q(
            "refWasteContainerModel==urn:ngsi-ld:WasteContainerModel:m1"
        ));
        assert!(
            !q("refWasteContainerModel>\"urn:a\""),
            "no ordering on a Relationship"
        );
        assert!(q("address[addressLocality]==\"Pitești\""));
        assert!(q("fillingLevel.observedAt>2026-11-30T00:00:00Z"));
        assert!(!q("fillingLevel.observedAt>2026-12-02"));
        assert!(q("fillingLevel"), "existence");
        assert!(!q("temperature"), "a missing attribute");
        assert!(!q("temperature!=3"), "a missing attribute matches nothing");
        // `;` binds tighter than `|`; parentheses group.
        assert!(q("temperature>1|fillingLevel>0.8;status==\"ok\""));
        assert!(!q("(temperature>1|fillingLevel>0.8);status==\"full\""));
    }

    #[test]
    fn deep_nesting_and_huge_queries_are_refused_not_a_stack_overflow() {
        let deep = "(".repeat(50_000) + "a" + &")".repeat(50_000);
        assert!(Query::parse(&deep).is_err());
        let nested = "(".repeat(MAX_DEPTH) + "a" + &")".repeat(MAX_DEPTH);
        assert!(Query::parse(&nested).is_ok());
        let nested = "(".repeat(MAX_DEPTH + 1) + "a" + &")".repeat(MAX_DEPTH + 1);
        assert!(Query::parse(&nested).unwrap_err().what.contains("nested"));
        let long = vec!["a==1"; 3000].join(";");
        assert!(Query::parse(&long).unwrap_err().what.contains("bytes"));
    }

    #[test]
    fn malformed_queries_name_the_byte_and_what_was_expected() {
        for (text, at) in [
            ("", 0),
            ("fillingLevel>", 13),
            ("(fillingLevel>1", 15),
            ("fillingLevel>true", 13),
            ("status==\"ok", 9),
            ("status~=\"(\"", 8),
            ("a[b", 3),
            ("fillingLevel>1;;", 15),
        ] {
            let e = Query::parse(text).expect_err(text);
            assert_eq!(e.at, at, "{text}: {e}");
        }
    }

    proptest::proptest! {
        /// The parser never panics, and a query it accepts evaluates without panicking.
        #[test]
        fn any_text_parses_or_fails_cleanly(text in "[a-z\\[\\]().;|=<>!~\",0-9:TZ-]{0,40}") {
            if let Ok(query) = Query::parse(&text) {
                let _ = query.matches(&bin());
            }
        }
    }
}
