//! `?filter=` expressions: parse (as the endpoints do, with their fields,
//! and unchecked), then evaluate against a health-entry-shaped item, both
//! on the whole JSON and on the projection `matches_item` builds; the two
//! must agree, since the typed path stands in for the JSON one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tessera_mesh::filter::Filter;

fn item() -> &'static Value {
    static ITEM: OnceLock<Value> = OnceLock::new();
    ITEM.get_or_init(|| {
        json!({
            "Node": {"Node": "n1", "Address": "10.0.0.1", "Meta": {"rack": "a"}, "TaggedAddresses": {"lan": "10.0.0.1"}},
            "Service": {"ID": "web-1", "Service": "web", "Tags": ["v1", "primary"], "Port": 8080,
                        "Meta": {"version": "1"}, "Weights": {"Passing": 1, "Warning": 1},
                        "EnableTagOverride": false, "Proxy": null},
            "Checks": [{"CheckID": "serfHealth", "Status": "passing", "ServiceTags": []}]
        })
    })
}

fuzz_target!(|expr: &str| {
    let _ = Filter::from_query(expr, &["Node", "Service", "Checks"]);
    let Ok(filter) = Filter::parse(expr) else { return };
    let whole = filter.matches(item());
    let projected = filter.matches_item(item());
    assert_eq!(whole, projected, "matches and matches_item disagree on {expr:?}");
});
