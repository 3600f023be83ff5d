//! Tests of the ACL module: parsing, decisions, and a property test
//! against a brute-force reference.

mod decide;
mod parse;
mod property;
