//! A request's raw query string and the lookups every endpoint makes on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_server::http::query::QueryParams;

fuzz_target!(|query: &str| {
    let params = QueryParams::parse(query);
    for name in ["filter", "dc", "index", "wait", "stale", "tag", ""] {
        let _ = params.get(name);
        let _ = params.all(name).count();
        let _ = params.contains_key(name);
    }
});
