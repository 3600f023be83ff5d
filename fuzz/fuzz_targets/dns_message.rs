//! A DNS query as the agent's DNS server sees it: the wire message, then
//! each question's name through the lookup parser.
//!
//! The parser is the server crate's own source file, compiled in here: it
//! uses only std, and building all of tessera-server under cargo fuzz takes
//! over 10 minutes on 2 cores.
#![no_main]

#[path = "../../server/src/dns/lookup.rs"]
#[allow(dead_code)]
mod lookup;

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::from_vec(data) {
        // As the answerer does: the first question, its name in ASCII.
        if let Some(query) = message.queries.first() {
            let _ = lookup::parse(&query.name().to_ascii(), "consul.", "dc1");
        }
    }
    // The name parser on its own, on any text (names the wire format cannot carry too).
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lookup::parse(text, "consul.", "dc1");
    }
});
