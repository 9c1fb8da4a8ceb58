//! JSON as the twin reads it from the outside: a key repeated inside one object is refused.
//!
//! RFC 8259 §4 says object names "SHOULD be unique" and leaves the meaning of repeats to the
//! reader; serde_json keeps the last one silently, so `{"fillingLevel": 0.10, "fillingLevel":
//! 0.95}` would become whichever the parser saw last. The twin refuses instead, naming the key:
//! - structs derived with serde already refuse a repeated field (`duplicate field`);
//! - maps of free keys use [`unique_keys`] (`#[serde(deserialize_with = …)]`);
//! - whole documents read as untyped JSON pass [`check_unique_keys`] first.
//!
//! A leading byte-order mark is accepted ([`strip_bom`]); nesting deeper than serde_json's
//! recursion limit (128) is refused by serde_json itself.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

/// `text` without a leading UTF-8 byte-order mark (U+FEFF).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Whether a serde_json error is a repeated key (from [`unique_keys`], [`check_unique_keys`]
/// or a derived struct's repeated field).
pub fn is_duplicate_key(error: &serde_json::Error) -> bool {
    let text = error.to_string();
    text.starts_with("duplicate key") || text.starts_with("duplicate field")
}

/// Deserialize a map of free keys, refusing a key given twice (`duplicate key `k``).
pub fn unique_keys<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct MapVisitor<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
}

/// Any JSON value, walked only to find a repeated key in some object.
struct NoRepeatedKeys;

impl<'de> Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoRepeatedKeysVisitor)
    }
}

struct NoRepeatedKeysVisitor;

impl<'de> Visitor<'de> for NoRepeatedKeysVisitor {
    type Value = NoRepeatedKeys;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_unit<E>(self) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoRepeatedKeys, A::Error> {
        while seq.next_element::<NoRepeatedKeys>()?.is_some() {}
        Ok(NoRepeatedKeys)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoRepeatedKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            map.next_value::<NoRepeatedKeys>()?;
        }
        Ok(NoRepeatedKeys)
    }
}

/// Refuse a JSON document in which some object repeats a key; the error carries serde_json's
/// line and column.
pub fn check_unique_keys(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<NoRepeatedKeys>(strip_bom(text)).map(|_| ())
}

/// Parse a JSON document read from outside: byte-order mark accepted, repeated keys refused.
pub fn from_str_strict<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    check_unique_keys(text)?;
    serde_json::from_str(strip_bom(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_with_its_name_and_place() {
        assert!(check_unique_keys(r#"{"a": 1, "b": [{"c": 1, "d": 2}]}"#).is_ok());
        let err = check_unique_keys("{\"a\": 1,\n \"b\": [{\"c\": 1, \"c\": 2}]}").unwrap_err();
        assert!(is_duplicate_key(&err), "{err}");
        assert!(err.to_string().contains("`c`"), "{err}");
        assert_eq!(err.line(), 2);
    }

    #[test]
    fn maps_of_free_keys_refuse_repeats() {
        #[derive(Deserialize, Debug)]
        struct Holder {
            #[serde(deserialize_with = "unique_keys")]
            #[allow(dead_code)]
            values: BTreeMap<String, f64>,
        }
        assert!(serde_json::from_str::<Holder>(r#"{"values": {"x": 1, "y": 2}}"#).is_ok());
        let err =
            serde_json::from_str::<Holder>(r#"{"values": {"x": 0.10, "x": 0.95}}"#).unwrap_err();
        assert!(is_duplicate_key(&err), "{err}");
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let v: serde_json::Value = from_str_strict("\u{feff}{\"a\": 1}").expect("parses");
        assert_eq!(v["a"], 1);
    }
}
