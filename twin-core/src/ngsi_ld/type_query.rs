//! The entity type selection of a query (ETSI GS CIM 009 clause 4.17): type names joined by
//! `,` or `|` (any of) and `;` (all of, for entities with several types), grouped with
//! parentheses: `(Building;Vehicle)|Shop`.

/// A parsed `type` parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeQuery {
    Name(String),
    All(Vec<TypeQuery>),
    Any(Vec<TypeQuery>),
}

/// Nesting a type selection may have: parentheses deeper than this are refused.
const MOST_DEPTH: usize = 32;

impl TypeQuery {
    /// Parse a `type` parameter. Errors name what is wrong.
    pub fn parse(text: &str) -> Result<TypeQuery, String> {
        let mut parser = Parser { text, at: 0 };
        let query = parser.any(0)?;
        if parser.at < text.len() {
            return Err(format!(
                "type `{text}`: unexpected `{}`",
                &text[parser.at..]
            ));
        }
        Ok(query)
    }

    /// Whether an entity of `types` is selected.
    pub fn matches(&self, types: &[&str]) -> bool {
        match self {
            TypeQuery::Name(n) => types.contains(&n.as_str()),
            TypeQuery::All(all) => all.iter().all(|q| q.matches(types)),
            TypeQuery::Any(any) => any.iter().any(|q| q.matches(types)),
        }
    }

    /// Every type name the selection mentions.
    pub fn names(&self) -> Vec<String> {
        match self {
            TypeQuery::Name(n) => vec![n.clone()],
            TypeQuery::All(qs) | TypeQuery::Any(qs) => {
                qs.iter().flat_map(TypeQuery::names).collect()
            }
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn any(&mut self, depth: usize) -> Result<TypeQuery, String> {
        let mut items = vec![self.all(depth)?];
        while matches!(self.peek(), Some(',' | '|')) {
            self.at += 1;
            items.push(self.all(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            TypeQuery::Any(items)
        })
    }

    fn all(&mut self, depth: usize) -> Result<TypeQuery, String> {
        let mut items = vec![self.atom(depth)?];
        while self.peek() == Some(';') {
            self.at += 1;
            items.push(self.atom(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            TypeQuery::All(items)
        })
    }

    fn atom(&mut self, depth: usize) -> Result<TypeQuery, String> {
        if self.peek() == Some('(') {
            if depth >= MOST_DEPTH {
                return Err(format!(
                    "type `{}`: nested more than {MOST_DEPTH} deep",
                    self.text
                ));
            }
            self.at += 1;
            let inner = self.any(depth + 1)?;
            if self.peek() != Some(')') {
                return Err(format!("type `{}`: a `(` is not closed", self.text));
            }
            self.at += 1;
            return Ok(inner);
        }
        let rest = &self.text[self.at..];
        let len = rest.find([',', '|', ';', '(', ')']).unwrap_or(rest.len());
        let name = rest[..len].trim();
        if name.is_empty() {
            return Err(format!(
                "type `{}`: a type name is missing at byte {}",
                self.text,
                self.at + 1
            ));
        }
        self.at += len;
        Ok(TypeQuery::Name(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn any_all_and_groups_select_as_clause_4_17_says() {
        let q = TypeQuery::parse("(Building;Vehicle)|Shop").expect("valid");
        assert!(q.matches(&["Building", "Vehicle"]));
        assert!(!q.matches(&["Building"]));
        assert!(q.matches(&["Shop"]));
        assert_eq!(q.names(), ["Building", "Vehicle", "Shop"]);
        assert!(TypeQuery::parse("A,B").expect("valid").matches(&["B"]));
        for bad in ["", "(A", "A,,B", "A)", "A;"] {
            assert!(TypeQuery::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Any text parses or is refused, never panics; deep nesting is refused.
        #[test]
        fn any_text_parses_or_is_refused(text in "[A-Za-z(),|; ]{0,40}") {
            let _ = TypeQuery::parse(&text);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "(".repeat(1000) + "A" + &")".repeat(1000);
        assert!(TypeQuery::parse(&deep).is_err());
    }
}
