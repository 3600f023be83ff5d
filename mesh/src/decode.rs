//! JSON decoding with Go's `encoding/json` rules, which every Consul client
//! is written against: a key matches a field whatever its case (an exact
//! match first), and `null` for a field leaves it at its default. Serde is
//! case-sensitive and treats `null` as a value, so bodies from Go, Python or
//! Java clients (`"Checks": null`, `"enabletagoverride"`) would be refused.
//!
//! [`from_value`] runs any `Deserialize` type through a wrapper around
//! [`serde_json::Value`] that, wherever serde asks for a struct (it then
//! names the struct's fields), renames keys to the field they fold to and
//! drops `null` ones. Folding ignores case and underscores, so one rule
//! serves API bodies (`ServiceID`, `serviceid`) and config files
//! (`service_id`). Unknown keys still reach serde, so `deny_unknown_fields`
//! refuses them; [`go_error`] words that as Go does (`json: unknown field
//! "X"`).

use std::collections::HashMap;

use serde::de;
use serde::de::DeserializeOwned;
use serde::de::IntoDeserializer;
use serde::de::Visitor;
use serde::forward_to_deserialize_any;
use serde_json::Map;
use serde_json::Value;

/// Decodes `value` as `T` with Go's key matching and `null` handling.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(GoValue(value))
}

/// Parses JSON text and decodes it as [`from_value`] does.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    from_value(serde_json::from_slice(bytes)?)
}

/// A decoding error as Go's decoder words the common cases, so messages
/// match what Consul users see (`json: unknown field "Prot"`).
pub fn go_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.strip_prefix("unknown field `").and_then(|rest| rest.split_once('`')) {
        Some((field, _)) => format!("json: unknown field \"{field}\""),
        None => text,
    }
}

/// A key as Go and mapstructure compare it: case and underscores ignored.
fn fold(key: &str) -> String {
    key.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

/// An object's keys renamed to the `fields` they fold to (an exact key is
/// kept as it is), and the `null` values of known fields dropped: absent, so
/// the field keeps its default, as Go leaves it. Other keys pass unchanged,
/// for serde's aliases or its unknown-field error.
fn canonical(object: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    let by_fold: HashMap<String, &str> = fields.iter().map(|f| (fold(f), *f)).collect();
    let mut out = Map::new();
    for (key, value) in object {
        let field = match fields.contains(&key.as_str()) {
            true => Some(key.clone()),
            false => by_fold.get(&fold(&key)).map(|f| f.to_string()),
        };
        match field {
            // Go checks that the field exists before it looks at the value.
            Some(_) if value.is_null() => {}
            Some(field) => {
                out.insert(field, value);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    out
}

struct GoValue(Value);

struct Entries(serde_json::map::IntoIter, Option<Value>);

struct Items(std::vec::IntoIter<Value>);

impl<'de> de::Deserializer<'de> for GoValue {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.into_iter())),
            Value::Object(object) => visitor.visit_map(Entries(object.into_iter(), None)),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(GoValue(other)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(object) => visitor.visit_map(Entries(canonical(object, fields).into_iter(), None)),
            other => GoValue(other).deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    // Scalars: the value's own conversions (numbers, strings, bytes).
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_bool(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u8(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u16(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u32(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_u64(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_i64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_f64(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_str(visitor)
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i128 u128 f32 char bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        ignored_any
    }
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = serde_json::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        match self.0.next() {
            Some((key, value)) => {
                self.1 = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let value = self.1.take().ok_or_else(|| de::Error::custom("a map value was asked for before its key"))?;
        seed.deserialize(GoValue(value))
    }
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = serde_json::Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(GoValue(item))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        service_id: String,
        #[serde(default)]
        port: u16,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        name: String,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        meta: BTreeMap<String, String>,
        #[serde(default)]
        check: Option<Inner>,
        #[serde(default)]
        checks: Vec<Inner>,
        #[serde(default)]
        enable_tag_override: bool,
        #[serde(default)]
        config: BTreeMap<String, Value>,
    }

    fn decode(text: &str) -> Result<Outer, String> {
        from_slice(text.as_bytes()).map_err(|e| go_error(&e))
    }

    #[test]
    fn keys_match_fields_in_any_case_and_with_or_without_underscores() {
        let want = Outer {
            name: "web".into(),
            enable_tag_override: true,
            check: Some(Inner { service_id: "web-1".into(), port: 80 }),
            ..Outer::default()
        };
        for body in [
            r#"{"Name": "web", "EnableTagOverride": true, "Check": {"ServiceID": "web-1", "Port": 80}}"#,
            r#"{"name": "web", "enabletagoverride": true, "check": {"serviceid": "web-1", "port": 80}}"#,
            r#"{"NAME": "web", "enable_tag_override": true, "CHECK": {"service_id": "web-1", "PORT": 80}}"#,
        ] {
            assert_eq!(decode(body).unwrap(), want, "{body}");
        }
    }

    #[test]
    fn null_leaves_a_field_at_its_default_as_go_does() {
        let body = r#"{"Name": "web", "Tags": null, "Meta": null, "Check": null, "Checks": null, "Port": null}"#;
        let err = decode(body).unwrap_err();
        assert_eq!(err, r#"json: unknown field "Port""#, "null is skipped, but an unknown key is still refused");
        let body = r#"{"Name": "web", "Tags": null, "Meta": null, "Check": null, "Checks": null}"#;
        assert_eq!(decode(body).unwrap(), Outer { name: "web".into(), ..Outer::default() });
    }

    #[test]
    fn unknown_fields_are_refused_in_go_words_at_any_depth() {
        assert_eq!(decode(r#"{"Name": "x", "Prot": 1}"#).unwrap_err(), r#"json: unknown field "Prot""#);
        assert_eq!(decode(r#"{"Checks": [{"Bogus": 1}]}"#).unwrap_err(), r#"json: unknown field "Bogus""#);
    }

    #[test]
    fn free_form_maps_keep_their_keys_and_nulls() {
        let outer = decode(r#"{"Config": {"Protocol": "http", "Unset": null}, "Meta": {"Env": "prod"}}"#).unwrap();
        assert_eq!(outer.config.get("Protocol"), Some(&Value::from("http")));
        assert_eq!(outer.config.get("Unset"), Some(&Value::Null));
        assert_eq!(outer.meta.get("Env").map(String::as_str), Some("prod"), "map keys are data, not fields");
    }

    #[test]
    fn wrong_types_are_still_errors() {
        let err = decode(r#"{"Check": {"Port": "eighty"}}"#).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }
}
