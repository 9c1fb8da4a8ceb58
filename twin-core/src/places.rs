//! Names and places: what an answer calls an entity (its name, neighbourhood and street) and
//! how a name a person writes becomes the entities it means.
//!
//! - [`CityModel::place_of`] gives an entity's [`Place`]: its own name when it has one, the
//!   neighbourhood whose centre is nearest, and the nearest named street segment (within
//!   [`STREET_SEARCH_M`]).
//! - [`CityModel::lookup`] turns an id or a name into entities, wherever an id is accepted:
//!   an id is itself, a street's name is every segment of that street, any other name must
//!   be one entity's (two entities of the same name are an error listing both).
//! - [`CityModel::find`] searches ids, names, neighbourhoods and streets for `twin find`.
//!
//! Names are compared without case and without the Romanian diacritics (ă â î ș ş ț ţ), so
//! `Bulevardul Republicii`, `bulevardul republicii` and `Bulevardul Republicii` written with a
//! cedilla ş all match.

use crate::city::CityModel;
use crate::entity::Entity;
use crate::id::{AssetKind, EntityId};

/// How far from an entity the nearest named street is looked for, in metres.
pub const STREET_SEARCH_M: f64 = 400.0;

/// Where an entity is, in the words of the city.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Place {
    pub id: EntityId,
    /// The entity's own name, if its layer gives one.
    pub name: Option<String>,
    /// The neighbourhood (cartier) whose centre is nearest.
    pub neighbourhood: Option<String>,
    /// The nearest named street segment's name, within [`STREET_SEARCH_M`] (a street's own
    /// name for a street segment).
    pub street: Option<String>,
}

impl Place {
    /// `id name (neighbourhood, street)`, leaving out what is unknown: the one way answers
    /// name an entity for a person.
    pub fn label(&self) -> String {
        let mut out = self.id.to_string();
        if let Some(name) = &self.name {
            out.push(' ');
            out.push_str(name);
        }
        let mut wher: Vec<&str> = Vec::new();
        if let Some(n) = &self.neighbourhood {
            wher.push(n);
        }
        if let Some(s) = self
            .street
            .as_ref()
            .filter(|s| Some(*s) != self.name.as_ref())
        {
            wher.push(s);
        }
        if !wher.is_empty() {
            out.push_str(&format!(" ({})", wher.join(", ")));
        }
        out
    }
}

/// A name or id that does not say which entity is meant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    #[error(
        "`{text}` is neither the id nor the name of {what} of {city}{partial} (`twin find \"{text}\"` searches ids, names and places)"
    )]
    NotFound {
        text: String,
        what: String,
        city: String,
        /// Empty, or `; names that contain it: …` (the first five, of the kinds asked for).
        partial: String,
    },
    #[error("`{text}` is a {kind}, not {what}")]
    WrongKind {
        text: String,
        kind: &'static str,
        what: String,
    },
    #[error("`{text}` names {count} entities: {candidates}; write the id of the one meant")]
    Ambiguous {
        text: String,
        count: usize,
        candidates: String,
    },
}

/// A name folded for comparison: lower case, Romanian diacritics removed, runs of blanks as
/// one space.
pub fn fold_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        let c = match c {
            'ă' | 'â' | 'Ă' | 'Â' => 'a',
            'î' | 'Î' => 'i',
            'ș' | 'ş' | 'Ș' | 'Ş' => 's',
            'ț' | 'ţ' | 'Ț' | 'Ţ' => 't',
            c => c,
        };
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// One entity [`CityModel::find`] found, and what of it matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub index: usize,
    pub matched: Match,
}

/// What matched a search, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    Id,
    Name,
    NameContains,
    Place,
}

impl CityModel {
    /// The place of the entity at `index` (see [`Place`]).
    pub fn place_of(&self, index: usize) -> Place {
        let e = &self.entities()[index];
        let street = if e.kind() == AssetKind::StreetSegment && e.name.is_some() {
            e.name.clone()
        } else {
            self.nearest_named_street(e)
        };
        Place {
            id: e.id.clone(),
            name: e.name.clone(),
            neighbourhood: self
                .nearest_neighbourhood(e.location)
                .map(|k| self.meta.neighbourhoods[k].name.clone()),
            street,
        }
    }

    /// [`CityModel::place_of`] by id; `None` when the city has no such entity.
    pub fn place_of_id(&self, id: &EntityId) -> Option<Place> {
        self.entity_index(id).map(|i| self.place_of(i))
    }

    /// The label ([`Place::label`]) of `id`, or the bare id when the city does not have it.
    pub fn label_of(&self, id: &EntityId) -> String {
        self.place_of_id(id)
            .map_or_else(|| id.to_string(), |p| p.label())
    }

    fn nearest_named_street(&self, e: &Entity) -> Option<String> {
        self.nearest_all(e.location)
            .take_while(|(_, d)| *d <= STREET_SEARCH_M)
            .map(|(i, _)| &self.entities()[i])
            .find(|s| s.kind() == AssetKind::StreetSegment && s.name.is_some())
            .and_then(|s| s.name.clone())
    }

    /// The entities `text` means, among those of the kinds `kinds` (all kinds when empty):
    /// an id is that entity; a street's name is every segment of the street; any other name
    /// must be one entity's. `what` names the kinds in errors ("a street segment").
    ///
    /// Errors: [`LookupError::NotFound`] (with a hint to `twin find`), and
    /// [`LookupError::Ambiguous`] listing the candidates with their places.
    pub fn lookup(
        &self,
        text: &str,
        kinds: &[AssetKind],
        what: &str,
    ) -> Result<Vec<usize>, LookupError> {
        let of_kind = |e: &Entity| kinds.is_empty() || kinds.contains(&e.kind());
        let wanted = fold_name(text);
        let not_found = || LookupError::NotFound {
            text: text.trim().to_string(),
            what: what.to_string(),
            city: self.meta.name.clone(),
            partial: self.names_containing(&wanted, &of_kind),
        };
        if let Ok(id) = text.trim().parse::<EntityId>()
            && let Some(i) = self.entity_index(&id)
        {
            let e = &self.entities()[i];
            return if of_kind(e) {
                Ok(vec![i])
            } else {
                Err(LookupError::WrongKind {
                    text: text.trim().to_string(),
                    kind: e.kind().name(),
                    what: what.to_string(),
                })
            };
        }
        if wanted.is_empty() {
            return Err(not_found());
        }
        // An id of the model file the entity came from (an EPANET node or link id).
        let by_source: Vec<usize> = self
            .entities()
            .iter()
            .enumerate()
            .filter(|(_, e)| of_kind(e) && e.source_id.as_deref() == Some(text.trim()))
            .map(|(i, _)| i)
            .collect();
        match by_source.len() {
            0 => {}
            1 => return Ok(by_source),
            count => {
                return Err(LookupError::Ambiguous {
                    text: text.trim().to_string(),
                    count,
                    candidates: by_source
                        .iter()
                        .map(|&i| self.place_of(i).label())
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
        }
        let named: Vec<usize> = self
            .entities()
            .iter()
            .enumerate()
            .filter(|(_, e)| of_kind(e))
            .filter(|(_, e)| e.name.as_deref().is_some_and(|n| fold_name(n) == wanted))
            .map(|(i, _)| i)
            .collect();
        let all_streets = named
            .iter()
            .all(|&i| self.entities()[i].kind() == AssetKind::StreetSegment);
        match named.len() {
            0 => Err(not_found()),
            1 => Ok(named),
            _ if all_streets => Ok(named),
            count => Err(LookupError::Ambiguous {
                text: text.trim().to_string(),
                count,
                candidates: named
                    .iter()
                    .take(5)
                    .map(|&i| self.place_of(i).label())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }

    /// [`CityModel::lookup`], as entity ids.
    pub fn lookup_ids(
        &self,
        text: &str,
        kinds: &[AssetKind],
        what: &str,
    ) -> Result<Vec<EntityId>, LookupError> {
        let found = self.lookup(text, kinds, what)?;
        Ok(found
            .into_iter()
            .map(|i| self.entities()[i].id.clone())
            .collect())
    }

    /// `; names that contain it: A; B; …` for the distinct names of entities `keep` accepts
    /// that contain `folded` (the first five, and how many more), or an empty string.
    fn names_containing(&self, folded: &str, keep: &dyn Fn(&Entity) -> bool) -> String {
        if folded.is_empty() {
            return String::new();
        }
        let mut names: Vec<&str> = self
            .entities()
            .iter()
            .filter(|e| keep(e))
            .filter_map(|e| e.name.as_deref())
            .filter(|n| fold_name(n).contains(folded))
            .collect();
        names.sort_unstable();
        names.dedup();
        match names.len() {
            0 => String::new(),
            n if n <= 5 => format!("; names that contain it: {}", names.join("; ")),
            n => format!(
                "; names that contain it: {} and {} more",
                names[..5].join("; "),
                n - 5
            ),
        }
    }

    /// Entities whose id, name, neighbourhood or street matches `query` (folded, see
    /// [`fold_name`]), best match first, then in file order; of the kinds `kinds` (all when
    /// empty). The neighbourhood and street of an entity are only searched when nothing
    /// matched by id or name.
    pub fn find(&self, query: &str, kinds: &[AssetKind]) -> Vec<Found> {
        let q = fold_name(query);
        if q.is_empty() {
            return Vec::new();
        }
        let of_kind = |e: &Entity| kinds.is_empty() || kinds.contains(&e.kind());
        let mut found: Vec<Found> = self
            .entities()
            .iter()
            .enumerate()
            .filter(|(_, e)| of_kind(e))
            .filter_map(|(index, e)| {
                let by_id = fold_name(&e.id.to_string()) == q
                    || fold_name(e.id.local()) == q
                    || e.source_id.as_deref().is_some_and(|s| fold_name(s) == q);
                let matched = if by_id {
                    Match::Id
                } else {
                    let name = fold_name(e.name.as_deref()?);
                    if name == q {
                        Match::Name
                    } else if name.contains(&q) {
                        Match::NameContains
                    } else {
                        return None;
                    }
                };
                Some(Found { index, matched })
            })
            .collect();
        if found.is_empty() {
            found = (0..self.entities().len())
                .filter(|&i| of_kind(&self.entities()[i]))
                .filter(|&i| {
                    let p = self.place_of(i);
                    [p.neighbourhood, p.street]
                        .iter()
                        .flatten()
                        .any(|s| fold_name(s).contains(&q))
                })
                .map(|index| Found {
                    index,
                    matched: Match::Place,
                })
                .collect();
        }
        found.sort_by_key(|f| (f.matched, f.index));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pitesti() -> CityModel {
        crate::builtin::load_pitesti().expect("Pitești bundle")
    }

    #[test]
    fn names_fold_case_diacritics_and_blanks() {
        assert_eq!(fold_name("  Calea  Drăgășani "), "calea dragasani");
        assert_eq!(
            fold_name("Bulevardul Republicii ş ţ Î"),
            "bulevardul republicii s t i"
        );
    }

    #[test]
    fn a_street_name_is_every_segment_and_an_id_is_itself() {
        let city = pitesti();
        let segments = city
            .lookup("calea dragasani", &[AssetKind::StreetSegment], "a street")
            .unwrap();
        assert!(segments.len() > 1);
        assert!(
            segments
                .iter()
                .all(|&i| { city.entities()[i].name.as_deref() == Some("Calea Drăgășani") })
        );
        let id: EntityId = "street:1".parse().unwrap();
        assert_eq!(
            city.lookup("street:1", &[], "an entity").unwrap(),
            vec![city.entity_index(&id).unwrap()]
        );
    }

    #[test]
    fn a_name_of_the_wrong_kind_or_of_nothing_is_not_found_with_a_hint() {
        let city = pitesti();
        let e = city
            .lookup(
                "street:1",
                &[AssetKind::TransformerPost],
                "a transformer post",
            )
            .unwrap_err();
        assert!(matches!(e, LookupError::WrongKind { .. }), "{e}");
        assert!(e.to_string().contains("not a transformer post"), "{e}");
        let e = city
            .lookup("Strada Nicăieri", &[], "an entity")
            .unwrap_err();
        assert!(e.to_string().contains("twin find"), "{e}");
    }

    #[test]
    fn two_non_street_entities_of_one_name_are_ambiguous() {
        let mut city = pitesti();
        let chargers: Vec<usize> = (0..city.entities().len())
            .filter(|&i| city.entities()[i].kind() == AssetKind::EvCharger)
            .take(2)
            .collect();
        for &i in &chargers {
            city.entity_mut(i).name = Some("Stația Gemenii".into());
        }
        let e = city
            .lookup("statia gemenii", &[AssetKind::EvCharger], "a charger")
            .unwrap_err();
        match e {
            LookupError::Ambiguous {
                count, candidates, ..
            } => {
                assert_eq!(count, 2);
                assert!(candidates.contains("charger:"), "{candidates}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_post_is_placed_in_a_neighbourhood_on_a_named_street() {
        let city = pitesti();
        let i = (0..city.entities().len())
            .find(|&i| city.entities()[i].kind() == AssetKind::TransformerPost)
            .unwrap();
        let place = city.place_of(i);
        assert!(place.neighbourhood.is_some());
        assert!(place.street.is_some());
        let label = place.label();
        assert!(label.starts_with("power:pt-"), "{label}");
        assert!(
            label.contains(place.neighbourhood.as_deref().unwrap()),
            "{label}"
        );
    }

    #[test]
    fn find_ranks_ids_and_names_before_places() {
        let city = pitesti();
        let found = city.find("charger:1", &[]);
        assert_eq!(found[0].matched, Match::Id);
        let found = city.find("Trivale", &[AssetKind::TransformerPost]);
        assert!(!found.is_empty());
        assert!(found.iter().all(|f| f.matched == Match::Place));
        let found = city.find("drăgășani", &[AssetKind::StreetSegment]);
        assert!(found.iter().all(|f| f.matched <= Match::NameContains));
        assert!(!found.is_empty());
    }
}
