//! Serde helpers for Consul's encodings that derive alone does not give.

use serde::de::DeserializeOwned;
use serde::de::Error as _;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;

/// An optional struct Go writes as `{}` when it is zero-valued (a struct
/// field without a pointer): `None` is written `{}`, and `{}` reads back
/// as `None`, anything else as the struct.
pub mod empty_as_none {
    use super::*;

    pub fn serialize<T: Serialize, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => v.serialize(serializer),
            None => serializer.collect_map(std::iter::empty::<((), ())>()),
        }
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        if map.is_empty() {
            return Ok(None);
        }
        T::deserialize(serde_json::Value::Object(map)).map(Some).map_err(D::Error::custom)
    }
}
