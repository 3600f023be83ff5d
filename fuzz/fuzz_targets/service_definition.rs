//! Service and check definitions as the agent reads them: the HTTP API's
//! JSON body (`decode::from_slice` then `validate`), and a config file's
//! `service`/`check` blocks in JSON or HCL. The first byte picks the path,
//! so one corpus covers all three.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_mesh::agent_config::{parse, Format};
use tessera_mesh::catalog::definition::{Scripts, ServiceDefinition};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    // Script checks allowed, so their definitions are checked too.
    let scripts = Scripts::Allowed;
    match which % 3 {
        0 => {
            if let Ok(def) = tessera_mesh::decode::from_slice::<ServiceDefinition>(rest) {
                if def.validate(scripts).is_ok() {
                    // What registration does with a valid definition.
                    let _ = def.to_service();
                }
            }
        }
        n => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let format = if n == 1 { Format::Json } else { Format::Hcl };
            if let Ok(file) = parse(text, format) {
                for def in &file.services {
                    if def.validate(scripts).is_ok() {
                        let _ = def.to_service();
                    }
                }
            }
        }
    }
});
