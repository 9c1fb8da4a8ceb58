//! NGSI-LD entities as requests carry them: checked and brought to normalized form (clause
//! 4.5), and the write operations on a stored entity (append, update, partial attribute
//! update, merge; clauses 5.6.2–5.6.5 and 5.6.17), on `serde_json` maps in normalized form.
//!
//! A request may use the normalized or the concise representation (clause 4.5.2.3: a Property
//! without sub-attributes may be given as its bare value, `type` may be left out where `value`,
//! `object` or `languageMap` says which kind an attribute is, a GeoJSON geometry is a
//! GeoProperty). What is stored is always normalized, so one reader serves both.
//!
//! Refused with a reason rather than half-kept: multi-attributes (`datasetId`), `scope`,
//! attribute types other than those of clause 4.5, geometries that are not GeoJSON or lie
//! outside WGS84's longitude and latitude ranges, `null` values.

use serde_json::{Map, Value as Json};

use super::model::valid_attribute_name;

/// Why a request's entity or attribute cannot be taken: answered as `BadRequestData`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EntityError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, EntityError> {
    Err(EntityError(why.into()))
}

/// The members of an attribute that are not sub-attributes (clause 4.5.2–4.5.6, 4.8).
const ATTRIBUTE_MEMBERS: &[&str] = &[
    "type",
    "value",
    "object",
    "languageMap",
    "vocab",
    "valueList",
    "objectList",
    "json",
    "observedAt",
    "unitCode",
    "datasetId",
    "createdAt",
    "modifiedAt",
    "objectType",
    "lang",
];

/// System attributes (clause 4.8): the broker sets them; in a request they are ignored.
const SYSTEM_ATTRIBUTES: &[&str] = &["createdAt", "modifiedAt", "deletedAt"];

/// Attributes that must be GeoProperties wherever they appear (clause 4.7.1).
const GEO_ATTRIBUTES: &[&str] = &["location", "observationSpace", "operationSpace"];

/// Whether `text` is an absolute URI as NGSI-LD ids must be (RFC 3986: a scheme, `:`, and no
/// white space).
pub fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut s = scheme.chars();
    s.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        && !text.contains(['<', '>', '"', '{', '}', '|', '\\', '^', '`'])
}

/// Code points an id must not hide (RFC 3987 clause 4.1 and Unicode's noncharacters):
/// format characters (zero-width, bidirectional controls, the byte-order mark), variation
/// selectors, characters drawn as blank (Hangul fillers, the Braille blank, the combining
/// grapheme joiner, Mongolian selectors), private use, and noncharacters.
fn is_invisible(c: char) -> bool {
    let n = u32::from(c);
    matches!(
        n,
        0xAD | 0x034F
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x2800
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x061C
            | 0xE0000..=0xE0FFF
            | 0xF0000..=0x10FFFF
    ) || (0xE000..=0xF8FF).contains(&n)
        || (0xFDD0..=0xFDEF).contains(&n)
        || (n & 0xFFFE) == 0xFFFE
}

/// The members each attribute type may carry besides sub-attributes and the common ones
/// (`type`, `observedAt`, `datasetId`, system attributes), per clause 4.5.2–4.5.10: a
/// Property has `value` and `unitCode`, a Relationship `object` and `objectType`, …
fn allowed_members(kind: &str) -> &'static [&'static str] {
    match kind {
        "Property" => &["value", "unitCode"],
        "GeoProperty" => &["value"],
        "Relationship" => &["object", "objectType"],
        "LanguageProperty" => &["languageMap"],
        "VocabProperty" => &["vocab"],
        "ListProperty" => &["valueList", "unitCode"],
        "ListRelationship" => &["objectList", "objectType"],
        "JsonProperty" => &["json"],
        _ => &[],
    }
}

/// Names an attribute cannot have: the members of attributes and entities the core context
/// defines as keywords (clause 4.6.2).
const RESERVED_NAMES: &[&str] = &[
    "id",
    "type",
    "value",
    "object",
    "observedAt",
    "unitCode",
    "datasetId",
    "instanceId",
    "languageMap",
    "valueList",
    "objectList",
    "json",
    "vocab",
    "objectType",
    "lang",
    "previousValue",
    "previousObject",
    "previousLanguageMap",
    "previousValueList",
    "previousObjectList",
    "previousJson",
    "previousVocab",
];

/// An entity as a request gives it, its attributes in normalized form.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityBody {
    /// The entity id, when the body carries one.
    pub id: Option<String>,
    /// Its types (one or more); empty when the body gives none.
    pub types: Vec<String>,
    /// Attribute name → normalized attribute (`{"type": "Property", "value": …}`, …).
    pub attributes: Map<String, Json>,
}

impl EntityBody {
    /// The entity in normalized form: id, type (a string when one, else the array) and the
    /// attributes.
    pub fn into_normalized(self) -> Map<String, Json> {
        let mut out = Map::new();
        if let Some(id) = self.id {
            out.insert("id".into(), Json::String(id));
        }
        if !self.types.is_empty() {
            out.insert("type".into(), types_value(&self.types));
        }
        out.extend(self.attributes);
        out
    }
}

/// The `type` member for a list of types: a string for one, an array for several.
pub fn types_value(types: &[String]) -> Json {
    match types {
        [one] => Json::String(one.clone()),
        many => Json::Array(many.iter().cloned().map(Json::String).collect()),
    }
}

/// The types of a stored (normalized) entity.
pub fn types_of(entity: &Map<String, Json>) -> Vec<&str> {
    match entity.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Check an entity (or an entity fragment: `id` and `type` optional) from a request and bring
/// its attributes to normalized form. `@context` is left to the HTTP layer and skipped here.
pub fn parse_entity(body: &Json) -> Result<EntityBody, EntityError> {
    let Json::Object(members) = body else {
        return refuse("an entity must be a JSON object");
    };
    let mut entity = EntityBody {
        id: None,
        types: Vec::new(),
        attributes: Map::new(),
    };
    for (name, value) in members {
        match name.as_str() {
            "@context" => {}
            "id" | "@id" => match value.as_str() {
                Some(id) if is_uri(id) => entity.id = Some(id.to_string()),
                _ => return refuse(format!("id {value} is not a URI (clause 4.6.2)")),
            },
            "type" | "@type" => entity.types = parse_types(value)?,
            "scope" => {
                return refuse("scope is not supported by this broker (clause 4.18)");
            }
            n if SYSTEM_ATTRIBUTES.contains(&n) => {}
            n => {
                entity
                    .attributes
                    .insert(n.to_string(), parse_attribute(n, value)?);
            }
        }
    }
    Ok(entity)
}

fn parse_types(value: &Json) -> Result<Vec<String>, EntityError> {
    let list: Vec<&Json> = match value {
        Json::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if list.is_empty() {
        return refuse("type must name at least one entity type");
    }
    list.into_iter()
        .map(|t| match t.as_str() {
            Some(t) if RESERVED_NAMES.contains(&t) => refuse(format!(
                "type `{t}` is an NGSI-LD keyword, not an entity type"
            )),
            Some(t) if valid_attribute_name(t) || is_uri(t) => Ok(t.to_string()),
            _ => refuse(format!("type {t} is not a name or a URI (clause 4.6.2)")),
        })
        .collect()
}

/// NGSI-LD Null (clause 4.5.0, V1.6.1 on): as an attribute's value, object, or the whole
/// concise attribute, it asks a merge or an update to delete the attribute.
pub const NGSI_LD_NULL: &str = "urn:ngsi-ld:null";

/// Whether a normalized attribute is NGSI-LD Null (its value or object).
pub fn is_null_attribute(attribute: &Json) -> bool {
    ["value", "object", "json", "vocab"]
        .iter()
        .any(|m| attribute.get(*m).and_then(Json::as_str) == Some(NGSI_LD_NULL))
}

/// Refuse NGSI-LD Null where it means nothing (creating or replacing an entity: there is no
/// attribute to delete), naming the attribute.
pub fn refuse_nulls(body: &EntityBody) -> Result<(), EntityError> {
    match body.attributes.iter().find(|(_, a)| is_null_attribute(a)) {
        Some((name, _)) => refuse(format!(
            "attribute {name}: NGSI-LD Null deletes an attribute in an update or a merge; it is not a value to create"
        )),
        None => Ok(()),
    }
}

/// Check one attribute and bring it to normalized form.
pub fn parse_attribute(name: &str, value: &Json) -> Result<Json, EntityError> {
    if RESERVED_NAMES.contains(&name) {
        return refuse(format!(
            "`{name}` is an NGSI-LD keyword, not an attribute name (clause 4.6.2)"
        ));
    }
    if !valid_attribute_name(name) && !is_uri(name) {
        return refuse(format!(
            "attribute name `{name}` is not valid (clause 4.6.2: a letter, then letters, digits or _)"
        ));
    }
    // NGSI-LD Null: kept as it is given, for the write to delete the attribute.
    match value {
        Json::String(s) if s == NGSI_LD_NULL => {
            return Ok(serde_json::json!({"type": "Property", "value": NGSI_LD_NULL}));
        }
        Json::Object(o) if is_null_attribute(value) => {
            let mut out = o.clone();
            out.entry("type").or_insert_with(|| "Property".into());
            return Ok(Json::Object(out));
        }
        _ => {}
    }
    let attribute = match value {
        Json::Null => {
            return refuse(format!("attribute {name}: null is not a value"));
        }
        Json::Array(items) if items.iter().all(is_attribute_instance) && !items.is_empty() => {
            return refuse(format!(
                "attribute {name}: several instances (multi-attributes with datasetId) are not supported"
            ));
        }
        Json::Object(o) => normalize_object(name, o)?,
        bare => {
            let mut o = Map::new();
            o.insert("type".into(), Json::String("Property".into()));
            o.insert("value".into(), bare.clone());
            o
        }
    };
    if GEO_ATTRIBUTES.contains(&name) && attribute.get("type") != Some(&"GeoProperty".into()) {
        return refuse(format!(
            "attribute {name} must be a GeoProperty (clause 4.7.1)"
        ));
    }
    Ok(Json::Object(attribute))
}

fn is_attribute_instance(item: &Json) -> bool {
    item.get("datasetId").is_some()
        || item.get("type").and_then(Json::as_str).is_some_and(|t| {
            matches!(
                t,
                "Property" | "Relationship" | "GeoProperty" | "LanguageProperty"
            )
        })
}

const GEOMETRY_TYPES: &[&str] = &[
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
];

fn normalize_object(name: &str, o: &Map<String, Json>) -> Result<Map<String, Json>, EntityError> {
    let declared = o.get("type").and_then(Json::as_str);
    // A bare GeoJSON geometry (concise form) is a GeoProperty's value.
    if let Some(t) = declared
        && GEOMETRY_TYPES.contains(&t)
    {
        check_geometry(name, &Json::Object(o.clone()))?;
        let mut out = Map::new();
        out.insert("type".into(), "GeoProperty".into());
        out.insert("value".into(), Json::Object(o.clone()));
        return Ok(out);
    }
    let kind = match declared {
        Some(t) => t,
        None if o.contains_key("value") => "Property",
        None if o.contains_key("object") => "Relationship",
        None if o.contains_key("languageMap") => "LanguageProperty",
        None if o.contains_key("vocab") => "VocabProperty",
        None if o.contains_key("valueList") => "ListProperty",
        None if o.contains_key("objectList") => "ListRelationship",
        None if o.contains_key("json") => "JsonProperty",
        None => {
            // A JSON object given as a concise Property's value.
            let mut out = Map::new();
            out.insert("type".into(), "Property".into());
            out.insert("value".into(), Json::Object(o.clone()));
            return Ok(out);
        }
    };
    let needs = match kind {
        "Property" => "value",
        "GeoProperty" => "value",
        "Relationship" => "object",
        "LanguageProperty" => "languageMap",
        "VocabProperty" => "vocab",
        "ListProperty" => "valueList",
        "ListRelationship" => "objectList",
        "JsonProperty" => "json",
        other => {
            return refuse(format!(
                "attribute {name}: type {other} is not an NGSI-LD attribute type (clause 4.5)"
            ));
        }
    };
    let Some(main) = o.get(needs).filter(|v| !v.is_null()) else {
        return refuse(format!("attribute {name}: a {kind} needs `{needs}`"));
    };
    match kind {
        "GeoProperty" => {
            check_geometry(name, main)?;
        }
        "Relationship" => check_objects(name, main)?,
        "LanguageProperty" => {
            let ok = main
                .as_object()
                .is_some_and(|m| m.values().all(|v| v.is_string() || v.is_array()));
            if !ok {
                return refuse(format!(
                    "attribute {name}: languageMap must map language tags to strings"
                ));
            }
        }
        _ => {}
    }
    if kind == "JsonProperty" && !(main.is_object() || main.is_array()) {
        return refuse(format!(
            "attribute {name}: a JsonProperty's json is an object or an array"
        ));
    }
    if kind == "ListRelationship" {
        let ok = main.as_array().is_some_and(|items| {
            items.iter().all(|i| {
                i.as_str()
                    .or_else(|| i.get("object").and_then(Json::as_str))
                    .is_some_and(is_uri)
            })
        });
        if !ok {
            return refuse(format!("attribute {name}: objectList holds entity URIs"));
        }
    }
    let allowed = allowed_members(kind);
    if let Some(wrong) = o.keys().find(|m| {
        ATTRIBUTE_MEMBERS.contains(&m.as_str())
            && !matches!(
                m.as_str(),
                "type" | "observedAt" | "datasetId" | "createdAt" | "modifiedAt"
            )
            && !allowed.contains(&m.as_str())
            || (m.starts_with("previous") && RESERVED_NAMES.contains(&m.as_str()))
    }) {
        return refuse(format!(
            "attribute {name}: a {kind} has no `{wrong}` (clause 4.5)"
        ));
    }
    let mut out = Map::new();
    out.insert("type".into(), kind.into());
    for (member, value) in o {
        match member.as_str() {
            "type" => {}
            "datasetId" => {
                return refuse(format!(
                    "attribute {name}: datasetId (multi-attributes) is not supported"
                ));
            }
            "observedAt" => {
                // Clause 4.6.3: DateTime values are UTC, written with `Z`.
                if !value.as_str().is_some_and(|t| {
                    chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with(['Z', 'z'])
                }) {
                    return refuse(format!(
                        "attribute {name}: observedAt {value} is not a UTC DateTime (ISO 8601 ending in Z)"
                    ));
                }
                out.insert(member.clone(), value.clone());
            }
            "unitCode" => {
                if !value.is_string() {
                    return refuse(format!("attribute {name}: unitCode must be a string"));
                }
                out.insert(member.clone(), value.clone());
            }
            m if SYSTEM_ATTRIBUTES.contains(&m) => {}
            m if ATTRIBUTE_MEMBERS.contains(&m) => {
                out.insert(member.clone(), value.clone());
            }
            sub => {
                out.insert(sub.to_string(), parse_attribute(sub, value)?);
            }
        }
    }
    Ok(out)
}

fn check_objects(name: &str, object: &Json) -> Result<(), EntityError> {
    let ok = match object {
        Json::String(s) => is_uri(s),
        Json::Array(items) => {
            !items.is_empty() && items.iter().all(|i| i.as_str().is_some_and(is_uri))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        refuse(format!(
            "attribute {name}: a Relationship's object must be a URI (clause 4.5.3)"
        ))
    }
}

/// A GeoJSON geometry (RFC 7946) with WGS84 longitudes and latitudes: the NGSI-LD GeoProperty
/// value (clause 4.7.1). Coordinates outside ±180/±90 are refused: they are projected or
/// swapped, and a query over them would answer wrongly.
pub fn check_geometry(name: &str, value: &Json) -> Result<geo::Geometry<f64>, EntityError> {
    let geometry = geojson::Geometry::from_json_value(value.clone())
        .map_err(|e| EntityError(format!("attribute {name}: not a GeoJSON geometry: {e}")))?;
    if let geojson::Value::GeometryCollection(_) = geometry.value {
        return refuse(format!(
            "attribute {name}: GeometryCollection is not an NGSI-LD geometry"
        ));
    }
    let shape: geo::Geometry<f64> = geometry
        .try_into()
        .map_err(|e| EntityError(format!("attribute {name}: {e}")))?;
    use geo::CoordsIter;
    if let Some(c) = shape
        .coords_iter()
        .find(|c| !(c.x.abs() <= 180.0 && c.y.abs() <= 90.0))
    {
        return refuse(format!(
            "attribute {name}: coordinate [{}, {}] is not a WGS84 longitude and latitude",
            c.x, c.y
        ));
    }
    Ok(shape)
}

/// What became of each attribute of a write (clause 5.2.18 UpdateResult).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateResult {
    pub updated: Vec<String>,
    /// Attribute name and why it was not written.
    pub not_updated: Vec<(String, String)>,
}

/// Append attributes (clause 5.6.3): new ones added; existing ones replaced, or left with a
/// reason when `no_overwrite`.
pub fn append(
    entity: &mut Map<String, Json>,
    attributes: Map<String, Json>,
    no_overwrite: bool,
) -> UpdateResult {
    let mut result = UpdateResult::default();
    for (name, attribute) in attributes {
        if is_null_attribute(&attribute) {
            result.not_updated.push((
                name,
                "NGSI-LD Null deletes an attribute in an update or a merge, not in an append"
                    .into(),
            ));
        } else if no_overwrite && entity.contains_key(&name) {
            result.not_updated.push((
                name,
                "the attribute exists and noOverwrite was asked".into(),
            ));
        } else {
            entity.insert(name.clone(), attribute);
            result.updated.push(name);
        }
    }
    result
}

/// Update attributes (clause 5.6.2): existing ones replaced; absent ones left with a reason.
pub fn update(entity: &mut Map<String, Json>, attributes: Map<String, Json>) -> UpdateResult {
    let mut result = UpdateResult::default();
    for (name, attribute) in attributes {
        if entity.contains_key(&name) {
            if is_null_attribute(&attribute) {
                entity.remove(&name);
            } else {
                entity.insert(name.clone(), attribute);
            }
            result.updated.push(name);
        } else {
            result
                .not_updated
                .push((name, "the entity has no such attribute".into()));
        }
    }
    result
}

/// Partial attribute update (clause 5.6.4) and merge (clause 5.6.17) of one attribute: the
/// members given replace the stored ones, sub-attributes are merged the same way, the rest is
/// kept. A changed attribute type replaces the attribute.
pub fn merge_attribute(stored: &mut Json, given: Json) {
    match (stored.as_object_mut(), given) {
        (Some(old), Json::Object(new)) if old.get("type") == new.get("type") => {
            for (member, value) in new {
                match (old.get_mut(&member), value) {
                    // A sub-attribute given as NGSI-LD Null is deleted.
                    (_, value)
                        if !ATTRIBUTE_MEMBERS.contains(&member.as_str())
                            && (is_null_attribute(&value)
                                || value.as_str() == Some(NGSI_LD_NULL)) =>
                    {
                        old.remove(&member);
                    }
                    (Some(sub), value @ Json::Object(_))
                        if !ATTRIBUTE_MEMBERS.contains(&member.as_str()) =>
                    {
                        merge_attribute(sub, value);
                    }
                    (_, value) => {
                        old.insert(member, value);
                    }
                }
            }
        }
        (_, given) => *stored = given,
    }
}

/// Merge an entity fragment (clause 5.6.17): existing attributes merged member by member, new
/// ones added; types given replace the entity's.
pub fn merge(entity: &mut Map<String, Json>, fragment: EntityBody) -> UpdateResult {
    if !fragment.types.is_empty() {
        entity.insert("type".into(), types_value(&fragment.types));
    }
    let mut result = UpdateResult::default();
    for (name, attribute) in fragment.attributes {
        if is_null_attribute(&attribute) {
            entity.remove(&name);
        } else {
            match entity.get_mut(&name) {
                Some(stored) => merge_attribute(stored, attribute),
                None => {
                    entity.insert(name.clone(), attribute);
                }
            }
        }
        result.updated.push(name);
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn concise_and_normalized_bodies_become_the_same_entity() {
        let concise = json!({
            "id": "urn:ngsi-ld:Building:1",
            "type": "Building",
            "name": "Primăria",
            "floors": {"value": 4, "unitCode": "C62"},
            "owner": {"object": "urn:ngsi-ld:Organization:pitesti"},
            "location": {"type": "Point", "coordinates": [24.87, 44.85]},
            "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
        });
        let normalized = json!({
            "id": "urn:ngsi-ld:Building:1",
            "type": "Building",
            "name": {"type": "Property", "value": "Primăria"},
            "floors": {"type": "Property", "value": 4, "unitCode": "C62"},
            "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Organization:pitesti"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [24.87, 44.85]}},
        });
        let a = parse_entity(&concise).expect("concise");
        let b = parse_entity(&normalized).expect("normalized");
        assert_eq!(a, b);
        assert_eq!(
            Json::Object(a.into_normalized()),
            normalized,
            "stored as normalized"
        );
    }

    #[test]
    fn what_cannot_be_kept_is_refused_with_the_attribute_named() {
        let cases = [
            (json!({"id": "not a uri", "type": "T"}), "id"),
            (json!({"id": "urn:x:1", "type": []}), "type"),
            (json!({"id": "urn:x:1", "type": "T", "a": null}), "null"),
            (json!({"id": "urn:x:1", "type": "T", "2a": 1}), "2a"),
            (
                json!({"id": "urn:x:1", "type": "T", "a": {"type": "Property"}}),
                "needs `value`",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "a": {"type": "Thing", "value": 1}}),
                "Thing",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "r": {"type": "Relationship", "object": "x"}}),
                "URI",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "a": {"type": "Property", "value": 1, "datasetId": "urn:d:1"}}),
                "datasetId",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "a": {"type": "Property", "value": 1, "observedAt": "yesterday"}}),
                "observedAt",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "location": {"type": "Point", "coordinates": [500000.0, 4_970_000.0]}}),
                "WGS84",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "location": {"type": "Property", "value": 1}}),
                "GeoProperty",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "scope": "/Pitesti"}),
                "scope",
            ),
            (json!([1]), "object"),
        ];
        for (body, needle) in cases {
            let e = parse_entity(&body).expect_err(&body.to_string());
            assert!(e.0.contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn sub_attributes_are_normalized_and_system_attributes_ignored() {
        let body = json!({"id": "urn:x:1", "type": "T", "createdAt": "2020-01-01T00:00:00Z",
            "speed": {"type": "Property", "value": 3, "accuracy": 0.5, "observedAt": "2026-12-01T10:00:00Z"}});
        let e = parse_entity(&body).expect("ok");
        assert!(!e.attributes.contains_key("createdAt"));
        assert_eq!(
            e.attributes["speed"]["accuracy"],
            json!({"type": "Property", "value": 0.5})
        );
    }

    #[test]
    fn what_an_attribute_type_does_not_have_is_refused() {
        for (body, why) in [
            (json!({"id": "urn:x", "type": "type"}), "keyword"),
            (
                json!({"id": "urn:x", "type": "T", "observedAt": {"type": "Property", "value": 1}}),
                "keyword",
            ),
            (json!({"id": "urn:x\u{200B}", "type": "T"}), "not a URI"),
            (json!({"id": "urn:x\u{FFFF}", "type": "T"}), "not a URI"),
            (json!({"id": "urn:x\u{FE0F}y", "type": "T"}), "not a URI"),
            (json!({"id": "urn:x\u{3164}y", "type": "T"}), "not a URI"),
            (
                json!({"id": "urn:x", "type": "T", "a": {"type": "Property", "value": 1, "object": "urn:y"}}),
                "no `object`",
            ),
            (
                json!({"id": "urn:x", "type": "T", "a": {"type": "Relationship", "object": "urn:y", "unitCode": "MTR"}}),
                "no `unitCode`",
            ),
            (
                json!({"id": "urn:x", "type": "T", "a": {"type": "JsonProperty", "json": 3}}),
                "object or an array",
            ),
            (
                json!({"id": "urn:x", "type": "T", "a": {"type": "ListRelationship", "objectList": ["nope"]}}),
                "URIs",
            ),
            (
                json!({"id": "urn:x", "type": "T", "a": {"type": "Property", "value": 1, "observedAt": "2026-01-01T10:00:00+02:00"}}),
                "UTC",
            ),
        ] {
            let err = parse_entity(&body).expect_err(why);
            assert!(err.0.contains(why), "{body}: {}", err.0);
        }
        assert!(parse_entity(&json!({"id": "urn:x", "type": "T", "a": {"type": "Property", "value": 1, "unitCode": "MTR", "observedAt": "2026-01-01T10:00:00Z"}})).is_ok());
    }

    #[test]
    fn ngsi_ld_null_deletes_in_updates_and_merges_and_is_refused_on_create() {
        let mut entity = json!({"id": "urn:x", "type": "T",
            "a": {"type": "Property", "value": 1, "note": {"type": "Property", "value": "n"}},
            "b": {"type": "Property", "value": 2},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}}})
            .as_object()
            .cloned()
            .expect("object");
        let fragment = parse_entity(
            &json!({"b": NGSI_LD_NULL, "location": {"type": "GeoProperty", "value": NGSI_LD_NULL}}),
        )
        .expect("a fragment");
        assert!(refuse_nulls(&fragment).is_err());
        merge(&mut entity, fragment);
        assert!(!entity.contains_key("b") && !entity.contains_key("location"));
        let mut a = entity["a"].clone();
        merge_attribute(&mut a, json!({"type": "Property", "note": NGSI_LD_NULL}));
        assert_eq!(a, json!({"type": "Property", "value": 1}));
        let gone = update(
            &mut entity,
            Map::from_iter([(
                "a".into(),
                json!({"type": "Property", "value": NGSI_LD_NULL}),
            )]),
        );
        assert_eq!(gone.updated, ["a"]);
        assert_eq!(entity.keys().collect::<Vec<_>>(), ["id", "type"]);
    }

    #[test]
    fn append_update_and_merge_follow_their_clauses() {
        let mut stored = parse_entity(&json!({"id": "urn:x:1", "type": "T",
            "a": {"type": "Property", "value": 1, "unitCode": "MTR", "q": 5}, "b": 2}))
        .expect("ok")
        .into_normalized();
        let fragment = |v: Json| parse_entity(&v).expect("fragment").attributes;
        let r = append(&mut stored, fragment(json!({"b": 3, "c": 4})), true);
        assert_eq!(r.updated, vec!["c"]);
        assert_eq!(r.not_updated[0].0, "b");
        assert_eq!(stored["b"]["value"], 2);
        let r = update(&mut stored, fragment(json!({"b": 5, "d": 6})));
        assert_eq!(
            (r.updated, r.not_updated[0].0.as_str()),
            (vec!["b".to_string()], "d")
        );
        assert_eq!(stored["b"]["value"], 5);
        assert!(!stored.contains_key("d"));
        // Merge keeps the unit and the sub-property it was not given.
        merge(
            &mut stored,
            parse_entity(&json!({"a": {"type": "Property", "value": 9}})).expect("ok"),
        );
        assert_eq!(stored["a"]["value"], 9);
        assert_eq!(stored["a"]["unitCode"], "MTR");
        assert_eq!(stored["a"]["q"]["value"], 5);
    }

    #[test]
    fn uris_are_checked_as_rfc_3986_schemes() {
        for ok in ["urn:ngsi-ld:T:1", "http://example.org/a", "urn:a"] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in ["", "abc", ":x", "1x:y", "urn:", "urn:a b", "urn:<a>"] {
            assert!(!is_uri(bad), "{bad}");
        }
    }
}
