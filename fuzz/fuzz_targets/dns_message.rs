//! A DNS query as the agent's DNS server sees it: the wire message, then
//! each question's name through the lookup parser.
#![no_main]

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use tessera_server::dns::lookup::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::from_vec(data) {
        for query in message.queries() {
            let _ = parse(&query.name().to_string(), "consul.", "dc1");
        }
    }
    // The name parser on its own, on any text (names the wire format cannot carry too).
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(text, "consul.", "dc1");
    }
});
