//! A Raft log entry's command: decode, the proposer's bounds, and the
//! round trip. A command that decodes must encode and decode back to
//! itself, or an entry written to the log could not be applied on replay.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_store::command::Command;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = Command::decode(data) else { return };
    let _ = command.check_limits();
    let again = Command::decode(&command.encode()).expect("an encoded command decodes");
    assert_eq!(again, command);
});
