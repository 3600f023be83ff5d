//! The part of an item's JSON a filter can see: only the paths its
//! selectors name, built straight from the item's `Serialize` impl.
//!
//! Evaluation walks objects by key and lists element by element, and
//! looks at nothing off the selectors' paths, so evaluating over this
//! pruned JSON answers exactly as over the whole item's JSON, at a fraction
//! of the cost: for `Checks.Status == passing` a health entry becomes
//! `{"Checks": [{"Status": "passing"}]}` rather than its node, service and
//! checks in full. Where a selector ends, the value is taken whole (the
//! operator may look at all of it: `Service.Meta is empty`).

use std::collections::BTreeMap;

use serde::ser::Impossible;
use serde::ser::SerializeMap;
use serde::ser::SerializeSeq;
use serde::ser::SerializeStruct;
use serde::ser::SerializeTuple;
use serde::ser::SerializeTupleStruct;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use super::ast::Expr;

use serde_json::value::Serializer as Json;
type Error = serde_json::Error;

/// The selectors of a filter as a tree of keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Paths {
    /// A selector ends here: the value is needed whole.
    whole: bool,
    children: BTreeMap<Box<str>, Paths>,
}

impl Paths {
    pub(super) fn of(expr: &Expr) -> Paths {
        let mut root = Paths::default();
        for m in expr.match_exprs() {
            let mut node = &mut root;
            for segment in m.selector.path.iter() {
                node = node.children.entry(segment.clone()).or_default();
            }
            node.whole = true;
        }
        root
    }

    /// `item`'s JSON, keeping only these paths.
    pub(super) fn project<T: Serialize + ?Sized>(&self, item: &T) -> Result<Value, Error> {
        match self.whole {
            true => serde_json::to_value(item),
            false => item.serialize(Pruned(self)),
        }
    }

    fn child(&self, key: &str) -> Option<&Paths> {
        self.children.get(key)
    }
}

/// Serializes into a `Value`, dropping object keys off the paths; lists
/// keep every element (each pruned the same way), scalars stay whole.
struct Pruned<'p>(&'p Paths);

macro_rules! whole {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<Value, Error> { Json.$method(v) })*
    };
}

impl<'p> serde::Serializer for Pruned<'p> {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = PrunedSeq<'p>;
    type SerializeTuple = PrunedSeq<'p>;
    type SerializeTupleStruct = PrunedSeq<'p>;
    type SerializeTupleVariant = <Json as serde::Serializer>::SerializeTupleVariant;
    type SerializeMap = PrunedMap<'p>;
    type SerializeStruct = PrunedMap<'p>;
    type SerializeStructVariant = <Json as serde::Serializer>::SerializeStructVariant;

    whole!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Result<Value, Error> {
        Json.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }

    // Enums with data are rare in answers; they are kept whole.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        Json.serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<PrunedSeq<'p>, Error> {
        Ok(PrunedSeq { paths: self.0, items: Vec::with_capacity(len.unwrap_or(0)) })
    }

    fn serialize_tuple(self, len: usize) -> Result<PrunedSeq<'p>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<PrunedSeq<'p>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Json.serialize_tuple_variant(name, index, variant, len)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<PrunedMap<'p>, Error> {
        Ok(PrunedMap { paths: self.0, map: Map::new(), key: None })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<PrunedMap<'p>, Error> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Json.serialize_struct_variant(name, index, variant, len)
    }
}

struct PrunedSeq<'p> {
    paths: &'p Paths,
    items: Vec<Value>,
}

impl SerializeSeq for PrunedSeq<'_> {
    type Ok = Value;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(value.serialize(Pruned(self.paths))?);
        Ok(())
    }

    fn end(self) -> Result<Value, Error> {
        Ok(Value::Array(self.items))
    }
}

impl SerializeTuple for PrunedSeq<'_> {
    type Ok = Value;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<Value, Error> {
        SerializeSeq::end(self)
    }
}

impl SerializeTupleStruct for PrunedSeq<'_> {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<Value, Error> {
        SerializeSeq::end(self)
    }
}

/// An object (struct or map) keeping only the keys on the paths; values off
/// them are never serialized at all.
struct PrunedMap<'p> {
    paths: &'p Paths,
    map: Map<String, Value>,
    /// The key whose value comes next, if it is kept.
    key: Option<(String, &'p Paths)>,
}

impl PrunedMap<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: String, paths: &Paths, value: &T) -> Result<(), Error> {
        self.map.insert(key, paths.project(value)?);
        Ok(())
    }
}

impl SerializeMap for PrunedMap<'_> {
    type Ok = Value;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let key = key.serialize(MapKey)?;
        self.key = self.paths.child(&key).map(|paths| (key, paths));
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match self.key.take() {
            Some((key, paths)) => self.field(key, paths, value),
            None => Ok(()),
        }
    }

    fn end(self) -> Result<Value, Error> {
        Ok(Value::Object(self.map))
    }
}

impl SerializeStruct for PrunedMap<'_> {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        match self.paths.child(key) {
            Some(paths) => self.field(key.to_string(), paths, value),
            None => Ok(()),
        }
    }

    fn end(self) -> Result<Value, Error> {
        Ok(Value::Object(self.map))
    }
}

/// A map key as JSON writes it: strings as they are, numbers and booleans
/// as their text (serde_json's rule); anything else cannot be a key.
struct MapKey;

macro_rules! key_text {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<String, Error> { Ok(v.to_string()) })*
    };
}

impl serde::Serializer for MapKey {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    key_text!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
    );

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Error> {
        Ok(variant.to_string())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<String, Error> {
        value.serialize(self)
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<String, Error> {
        Err(not_a_key())
    }

    fn serialize_none(self) -> Result<String, Error> {
        Err(not_a_key())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Error> {
        Err(not_a_key())
    }

    fn serialize_unit(self) -> Result<String, Error> {
        Err(not_a_key())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Error> {
        Err(not_a_key())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(not_a_key())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_key())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_key())
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_key())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_key())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_key())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_key())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_key())
    }
}

fn not_a_key() -> Error {
    serde::ser::Error::custom("key must be a string")
}
