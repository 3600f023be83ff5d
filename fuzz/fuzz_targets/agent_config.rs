//! An agent config file, HCL and JSON: the schema walk and the typed
//! settings the agent acts on. Each input is tried in both formats.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_mesh::agent_config::{parse, Format};

fuzz_target!(|text: &str| {
    for format in [Format::Json, Format::Hcl] {
        if let Ok(file) = parse(text, format) {
            let _ = file.settings();
            let _ = file.ignored();
            // A file merged over itself (a later file with the same keys).
            let mut merged = file.clone();
            merged.merge(file);
            let _ = merged.settings();
        }
    }
});
