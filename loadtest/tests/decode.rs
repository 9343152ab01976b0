//! Every action, written in every format that can carry it, decodes to the event the
//! generator meant: same credential, tenant, class, outcome, bytes and target accounts.

use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_event::{Event, Outcome, SourceFormat};
use mspwatch_loadtest::action::Action;
use mspwatch_loadtest::activity::{Activity, GIB};
use mspwatch_loadtest::render::{can_carry, render};
use mspwatch_loadtest::world::Role;
use mspwatch_loadtest::{Format, World, WorldConfig};

fn decode(world: &World, activity: &Activity, format: Format, include_msp: bool) -> Event {
    let mut line = Vec::new();
    render(world, activity, 42, format, include_msp, &mut line).expect("renders");
    match decode_record(&line) {
        Ok(Decoded::Event(event)) => *event,
        other => panic!("{other:?}: {}", String::from_utf8_lossy(&line)),
    }
}

fn source_format(format: Format) -> SourceFormat {
    match format {
        Format::Canonical => SourceFormat::Canonical,
        Format::Cloudtrail => SourceFormat::Cloudtrail,
        Format::Ocsf => SourceFormat::Ocsf,
    }
}

#[test]
fn every_action_decodes_to_its_class_in_every_format() {
    let world = World::build(8, &WorldConfig { cloud_account_share: 1.0, ..Default::default() });
    let msp = &world.msps[0];
    let actors = [msp.humans[0], msp.automation[0], msp.robot, msp.intermediary];
    let tenant = msp.tenants[0];
    // A share names the accounts it shares with; the next test covers it.
    for action in Action::ALL.into_iter().filter(|&action| action != Action::SnapshotShare) {
        for &actor in &actors {
            for failed in [false, true] {
                let mut activity = Activity::new(1_793_610_300_123, actor, tenant, action, 7);
                if failed {
                    activity = activity.failed("AccessDenied");
                }
                for format in [Format::Canonical, Format::Cloudtrail, Format::Ocsf] {
                    if !can_carry(&world, &activity, format) {
                        continue;
                    }
                    let event = decode(&world, &activity, format, true);
                    let context = format!("{action:?} by {actor} in {format}, failed {failed}");
                    assert_eq!(event.class, action.class(), "{context}");
                    assert_eq!(event.actor.id, world.actors[actor].id, "{context}");
                    assert_eq!(event.tenant_ids, vec![world.tenants[tenant].id.clone()]);
                    assert_eq!(event.outcome == Outcome::Failure, failed, "{context}");
                    assert_eq!(event.format, source_format(format));
                    assert_eq!(
                        event.source_ip.as_deref(),
                        Some(world.actors[actor].source_ip.as_str())
                    );
                    if format == Format::Cloudtrail {
                        let role = if world.actors[actor].role == Role::Human {
                            &msp.admin_role
                        } else {
                            &msp.automation_role
                        };
                        assert_eq!(event.via_role.as_deref(), Some(role.as_str()), "{context}");
                    } else {
                        assert_eq!(event.msp_id.as_deref(), Some(msp.id.as_str()), "{context}");
                    }
                }
            }
        }
    }
}

#[test]
fn bytes_and_shared_accounts_survive_the_formats_that_carry_them() {
    let world = World::build(8, &WorldConfig { cloud_account_share: 1.0, ..Default::default() });
    let msp = &world.msps[0];
    let (actor, tenant) = (msp.humans[0], msp.tenants[1]);
    let export = Activity::new(1_793_610_300_000, actor, tenant, Action::BackupExport, 3)
        .objects(1)
        .bytes(37 * GIB + 5);
    let share = Activity {
        target: Some(0),
        target_external: true,
        ..Activity::new(1_793_610_300_000, actor, tenant, Action::SnapshotShare, 4)
    };
    for format in [Format::Canonical, Format::Cloudtrail] {
        let event = decode(&world, &export, format, true);
        assert_eq!(event.bytes, Some(37 * GIB + 5), "{format}");
        let event = decode(&world, &share, format, true);
        assert_eq!(event.target_accounts, vec![world.external_accounts[0].clone()], "{format}");
        assert_eq!(event.class, mspwatch_event::ActionClass::Export, "{format}");
    }
    assert!(!can_carry(&world, &export, Format::Ocsf));
    assert!(!can_carry(&world, &share, Format::Ocsf));
}

#[test]
fn records_without_their_msp_leave_attribution_to_the_directory() {
    let world = World::build(8, &WorldConfig::default());
    let msp = &world.msps[1];
    let activity =
        Activity::new(1_793_610_300_000, msp.humans[0], msp.tenants[0], Action::BackupList, 1);
    for format in [Format::Canonical, Format::Ocsf] {
        assert_eq!(decode(&world, &activity, format, false).msp_id, None, "{format}");
    }
}
