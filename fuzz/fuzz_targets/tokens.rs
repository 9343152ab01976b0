//! Fuzzes the gRPC tokens file loader: no text may panic, a refusal names the file, and a
//! loaded store never accepts a token that is not in it.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mspwatch_deliver::{Secret, TokenStore};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match TokenStore::parse(text, Path::new("fuzz-tokens.toml")) {
        Ok(store) => {
            // The input text never holds the token itself, only its hash.
            assert!(store.authenticate(&Secret::new("not-a-token-in-any-file")).is_none());
        }
        Err(error) => assert!(error.to_string().contains("fuzz-tokens.toml")),
    }
});
