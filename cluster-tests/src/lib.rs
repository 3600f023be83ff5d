//! Harness for multi-node tests.
