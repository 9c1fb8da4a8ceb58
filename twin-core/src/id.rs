//! Typed entity ids: `<kind>:<local-id>`, e.g. `street:1042`, `power:pt-117`, `bin:3310`.
//!
//! The kind prefix is the asset family (street, power, water, bin, charger); the finer asset
//! type (a transformer post or a substation, a pipe or a tank) lives on the entity itself.

use std::fmt;
use std::str::FromStr;

/// The asset family an id belongs to: the part before the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Street,
    Power,
    Water,
    Bin,
    Charger,
}

impl EntityKind {
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Street,
        EntityKind::Power,
        EntityKind::Water,
        EntityKind::Bin,
        EntityKind::Charger,
    ];

    /// The prefix used in ids and MQTT topics.
    pub fn prefix(self) -> &'static str {
        match self {
            EntityKind::Street => "street",
            EntityKind::Power => "power",
            EntityKind::Water => "water",
            EntityKind::Bin => "bin",
            EntityKind::Charger => "charger",
        }
    }

    pub fn from_prefix(prefix: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.prefix() == prefix)
    }
}

/// The finer type of an asset, below its [`EntityKind`] family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetKind {
    StreetSegment,
    Substation,
    TransformerPost,
    PowerLine,
    PowerSwitch,
    WaterSource,
    Tank,
    Junction,
    Pump,
    Valve,
    Pipe,
    WasteBin,
    EvCharger,
}

impl AssetKind {
    pub const ALL: [AssetKind; 13] = [
        AssetKind::StreetSegment,
        AssetKind::Substation,
        AssetKind::TransformerPost,
        AssetKind::PowerLine,
        AssetKind::PowerSwitch,
        AssetKind::WaterSource,
        AssetKind::Tank,
        AssetKind::Junction,
        AssetKind::Pump,
        AssetKind::Valve,
        AssetKind::Pipe,
        AssetKind::WasteBin,
        AssetKind::EvCharger,
    ];

    pub fn family(self) -> EntityKind {
        match self {
            AssetKind::StreetSegment => EntityKind::Street,
            AssetKind::Substation
            | AssetKind::TransformerPost
            | AssetKind::PowerLine
            | AssetKind::PowerSwitch => EntityKind::Power,
            AssetKind::WaterSource
            | AssetKind::Tank
            | AssetKind::Junction
            | AssetKind::Pump
            | AssetKind::Valve
            | AssetKind::Pipe => EntityKind::Water,
            AssetKind::WasteBin => EntityKind::Bin,
            AssetKind::EvCharger => EntityKind::Charger,
        }
    }

    /// A short snake-case name used in CLI output and error messages.
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::StreetSegment => "street segment",
            AssetKind::Substation => "substation",
            AssetKind::TransformerPost => "transformer post",
            AssetKind::PowerLine => "power line",
            AssetKind::PowerSwitch => "switch",
            AssetKind::WaterSource => "water source",
            AssetKind::Tank => "tank",
            AssetKind::Junction => "junction",
            AssetKind::Pump => "pump",
            AssetKind::Valve => "valve",
            AssetKind::Pipe => "pipe",
            AssetKind::WasteBin => "waste bin",
            AssetKind::EvCharger => "EV charger",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// A stable entity id. The local part is non-empty, at most 64 bytes of `[A-Za-z0-9._-]`,
/// so it is safe in MQTT topics, NATS subjects, URLs and file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId {
    kind: EntityKind,
    local: String,
}

/// Why a string is not an entity id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("entity id `{0}` has no `<kind>:` prefix")]
    MissingKind(String),
    #[error(
        "entity id `{id}` has unknown kind `{kind}` (expected street, power, water, bin or charger)"
    )]
    UnknownKind { id: String, kind: String },
    #[error("entity id `{0}` has an empty or over-long local part (1 to 64 characters)")]
    BadLength(String),
    #[error("entity id `{0}` contains a character outside [A-Za-z0-9._-]")]
    BadCharacter(String),
}

pub const MAX_LOCAL_ID_LEN: usize = 64;

impl EntityId {
    pub fn new(kind: EntityKind, local: impl Into<String>) -> Result<EntityId, IdError> {
        let local = local.into();
        let id = EntityId { kind, local };
        id.check()?;
        Ok(id)
    }

    fn check(&self) -> Result<(), IdError> {
        if self.local.is_empty() || self.local.len() > MAX_LOCAL_ID_LEN {
            return Err(IdError::BadLength(self.to_string()));
        }
        if !self
            .local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(IdError::BadCharacter(self.to_string()));
        }
        Ok(())
    }

    pub fn kind(&self) -> EntityKind {
        self.kind
    }

    pub fn local(&self) -> &str {
        &self.local
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.prefix(), self.local)
    }
}

/// An id serializes as its text, `kind:local`.
impl serde::Serialize for EntityId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for EntityId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<EntityId, IdError> {
        let (prefix, local) = s
            .split_once(':')
            .ok_or_else(|| IdError::MissingKind(s.to_string()))?;
        let kind = EntityKind::from_prefix(prefix).ok_or_else(|| IdError::UnknownKind {
            id: s.to_string(),
            kind: prefix.to_string(),
        })?;
        EntityId::new(kind, local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Result<(&str, &str), &str>) {
        let got = input.parse::<EntityId>();
        match (got, expected) {
            (Ok(id), Ok((kind, local))) => {
                assert_eq!(id.kind().prefix(), kind);
                assert_eq!(id.local(), local);
            }
            (Err(e), Err(fragment)) => assert!(
                e.to_string().contains(fragment),
                "error `{e}` should mention `{fragment}`"
            ),
            (got, expected) => panic!("{input}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn parses_ids() {
        check("street:1042", Ok(("street", "1042")));
        check("power:pt-117", Ok(("power", "pt-117")));
        check("water:j-88", Ok(("water", "j-88")));
        check("bin:3310", Ok(("bin", "3310")));
        check("charger:12", Ok(("charger", "12")));
        check("bin3310", Err("no `<kind>:` prefix"));
        check("tram:1", Err("unknown kind `tram`"));
        check("bin:", Err("empty or over-long"));
        check("bin:a/b", Err("outside [A-Za-z0-9._-]"));
        check("bin:a:b", Err("outside"));
    }

    proptest! {
        #[test]
        fn display_round_trips(kind in 0usize..5, local in "[A-Za-z0-9._-]{1,64}") {
            let id = EntityId::new(EntityKind::ALL[kind], local).unwrap();
            let back: EntityId = id.to_string().parse().unwrap();
            prop_assert_eq!(back, id);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<EntityId>();
        }
    }
}
