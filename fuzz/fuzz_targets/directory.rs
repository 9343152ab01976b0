//! Fuzzes `Directory::from_yaml`: no text may panic, and a loaded directory attributes an
//! event to the MSPs it lists.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_event::Directory;

const EVENT: &[u8] = br#"{"event_id":"e","time":1,"tenant_id":"t","actor":{"id":"a","type":"user"},"action":"backup.delete","outcome":"success","target_accounts":["x","y"]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(directory) = Directory::from_yaml(text) else { return };
    let Ok(Decoded::Event(mut event)) = decode_record(EVENT) else { panic!("fixed event") };
    let attribution = directory.attribute(&mut event);
    if let Some(msp_id) = &event.msp_id {
        assert!(directory.msp(msp_id).is_some());
        assert_eq!(event.supplier_tier, directory.msp(msp_id).map(|msp| msp.tier));
    }
    assert_eq!(attribution.is_unattributed(), event.msp_id.is_none());
});
