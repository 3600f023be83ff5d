//! The HCL 1 mending pass: never panics, and text that is already HCL 2
//! reads the same after it (its doc's promise; config files and ACL rules
//! both go through it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|text: &str| {
    let mended = tessera_mesh::hcl1::split_one_line_attributes(text);
    if let Ok(before) = hcl::from_str::<Value>(text) {
        let after = hcl::from_str::<Value>(&mended);
        assert_eq!(
            after.as_ref().ok(),
            Some(&before),
            "mending changed valid HCL 2 {text:?} into {mended:?}: {after:?}"
        );
    }
});
