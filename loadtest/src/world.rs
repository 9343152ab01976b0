//! The generated world: MSPs, their tenants and credentials, and the directory that lists them.

use std::collections::HashSet;

use mspwatch_event::{ActorType, Msp, SupplierTier};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::ids::{stream_rng, Stream};
use crate::names;

/// The actor id of the nightly retention robot every MSP runs.
pub const RETENTION_ROBOT_ID: &str = "svc-retention-cleanup";

/// The actor id of the sanctioned migration credential used by the `sanctioned-migration`
/// scenario.
pub const MIGRATION_ID: &str = "svc-migration";

/// How big a world to build.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// Number of MSPs.
    pub msps: usize,
    /// Fewest and most tenants per MSP.
    pub tenants: (usize, usize),
    /// Fewest and most human administrators per MSP.
    pub humans: (usize, usize),
    /// Fewest and most automation keys per MSP.
    pub automation_keys: (usize, usize),
    /// Share of tenants that are 12-digit cloud accounts rather than plain ids.
    pub cloud_account_share: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            msps: 3,
            tenants: (12, 30),
            humans: (3, 6),
            automation_keys: (1, 3),
            cloud_account_share: 0.4,
        }
    }
}

/// What a credential is for, which decides how it behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A human administrator working business hours on their own tenants.
    Human,
    /// An automation key running nightly backups.
    Automation,
    /// The retention robot deleting expired recovery points nightly.
    RetentionRobot,
    /// The sanctioned migration credential, silent unless a scenario uses it.
    Migration,
    /// A credential never seen in normal traffic, used by the `new-intermediary` scenario.
    Intermediary,
}

/// One MSP of the world.
#[derive(Debug, Clone)]
pub struct MspProfile {
    /// Identifier (`msp-northwind`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Supplier tier.
    pub tier: SupplierTier,
    /// DNS domain of its staff.
    pub domain: String,
    /// Fixed offset of its working timezone from UTC, in minutes.
    pub utc_offset_minutes: i32,
    /// The backup product its canonical events name.
    pub product: &'static str,
    /// CloudTrail role its administrators assume in tenant accounts.
    pub admin_role: String,
    /// CloudTrail role its automation assumes in tenant accounts.
    pub automation_role: String,
    /// Its tenants (indexes into [`World::tenants`]).
    pub tenants: Vec<usize>,
    /// Its human administrators (indexes into [`World::actors`]).
    pub humans: Vec<usize>,
    /// Its automation keys.
    pub automation: Vec<usize>,
    /// Its retention robot.
    pub robot: usize,
    /// Its sanctioned migration credential.
    pub migration: usize,
    /// Its never-seen intermediary credential.
    pub intermediary: usize,
    /// Local minute of the day when its retention robot starts.
    pub robot_minute: u32,
    /// Share of the world's activity it carries.
    pub activity_share: f64,
}

/// One tenant.
#[derive(Debug, Clone)]
pub struct TenantProfile {
    /// Identifier: `tn-<word>` or a 12-digit cloud account.
    pub id: String,
    /// The MSP that manages it (index into [`World::msps`]).
    pub msp: usize,
    /// The 12-digit cloud account its cloud records name (its id when it is an account).
    pub account: String,
    /// Whether its id is a cloud account.
    pub is_account: bool,
    /// Cloud region of its vaults.
    pub region: &'static str,
    /// Short word for resource names.
    pub word: String,
    /// Zipf weight of its activity within its MSP.
    pub weight: f64,
}

/// One credential.
#[derive(Debug, Clone)]
pub struct ActorProfile {
    /// Stable credential id, as every format reports it.
    pub id: String,
    /// Credential type.
    pub kind: ActorType,
    /// Human-readable name.
    pub name: String,
    /// CloudTrail role session name.
    pub session: String,
    /// What it is for.
    pub role: Role,
    /// Its MSP.
    pub msp: usize,
    /// Its stable source address.
    pub source_ip: String,
    /// Its user agent.
    pub user_agent: &'static str,
    /// Tenants it works on (humans: their own set; automation: the tenants it backs up).
    pub tenants: Vec<usize>,
    /// Relative activity among its MSP's credentials of the same role.
    pub activity: f64,
}

/// An attacker's network presence.
#[derive(Debug, Clone)]
pub struct Attacker {
    /// Source address.
    pub source_ip: String,
    /// User agent.
    pub user_agent: &'static str,
}

/// Everything the traffic is about.
#[derive(Debug, Clone)]
pub struct World {
    /// The seed the world was built from.
    pub seed: u64,
    /// MSPs.
    pub msps: Vec<MspProfile>,
    /// Tenants of every MSP.
    pub tenants: Vec<TenantProfile>,
    /// Credentials of every MSP.
    pub actors: Vec<ActorProfile>,
    /// Cloud accounts that belong to no MSP, targets of external sharing.
    pub external_accounts: Vec<String>,
    /// Attackers' addresses and clients.
    pub attackers: Vec<Attacker>,
}

const REGIONS: &[&str] = &["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-2"];
const TIERS: [SupplierTier; 3] =
    [SupplierTier::Critical, SupplierTier::High, SupplierTier::Standard];
const ZIPF_EXPONENT: f64 = 1.1;

/// Hands out unique addresses from the documentation ranges.
struct AddressPool {
    used: HashSet<String>,
}

impl AddressPool {
    /// Normal credentials use every documentation range but the top of 203.0.113.0/24, which
    /// is kept for attackers.
    fn normal(&mut self, rng: &mut ChaCha8Rng) -> String {
        loop {
            let address = match rng.gen_range(0..3) {
                0 => format!("192.0.2.{}", rng.gen_range(1..=254)),
                1 => format!("198.51.100.{}", rng.gen_range(1..=254)),
                _ => format!("203.0.113.{}", rng.gen_range(1..200)),
            };
            if self.used.len() >= 700 || self.used.insert(address.clone()) {
                return address;
            }
        }
    }
}

impl World {
    /// Builds the world for a seed.
    pub fn build(seed: u64, config: &WorldConfig) -> World {
        let mut rng = stream_rng(seed, Stream::World, 0);
        let mut world = World {
            seed,
            msps: Vec::new(),
            tenants: Vec::new(),
            actors: Vec::new(),
            external_accounts: Vec::new(),
            attackers: Vec::new(),
        };
        let mut accounts = HashSet::new();
        let mut addresses = AddressPool { used: HashSet::new() };
        let mut tenant_words: Vec<&str> = names::TENANT_WORDS.to_vec();
        tenant_words.shuffle(&mut rng);
        let mut msp_order: Vec<usize> = (0..names::MSPS.len()).collect();
        msp_order[1..].shuffle(&mut rng);

        for index in 0..config.msps {
            let template = msp_order.get(index % msp_order.len()).copied().unwrap_or(0);
            world.add_msp(index, template, config, &mut rng, &mut accounts, &mut tenant_words);
            world.add_credentials(index, config, &mut rng, &mut addresses);
        }
        let total: f64 = world.msps.iter().map(|msp| msp.activity_share).sum();
        for msp in &mut world.msps {
            msp.activity_share /= total.max(f64::MIN_POSITIVE);
        }
        for _ in 0..4 {
            world.external_accounts.push(unique_account(&mut rng, &mut accounts));
        }
        for (offset, agent) in names::ATTACKER_AGENTS.iter().cycle().take(8).enumerate() {
            let source_ip = format!("203.0.113.{}", 200 + offset * 7 + rng.gen_range(0..7));
            world.attackers.push(Attacker { source_ip, user_agent: agent });
        }
        world
    }

    fn add_msp(
        &mut self,
        index: usize,
        template: usize,
        config: &WorldConfig,
        rng: &mut ChaCha8Rng,
        accounts: &mut HashSet<String>,
        tenant_words: &mut Vec<&'static str>,
    ) {
        let (word, display, utc_offset_minutes, product) =
            names::MSPS.get(template).copied().unwrap_or(("msp", "MSP", 0, "Keystone Backup"));
        let round = index / names::MSPS.len();
        let (word, display) = if round == 0 {
            (word.to_string(), display.to_string())
        } else {
            (format!("{word}{}", round + 1), format!("{display} {}", round + 1))
        };
        let capital = capitalize(&word);
        let (fewest, most) = ordered(config.tenants);
        let tenant_count = rng.gen_range(fewest..=most).max(1);

        let mut tenants = Vec::with_capacity(tenant_count);
        let mut ranks: Vec<usize> = (0..tenant_count).collect();
        ranks.shuffle(rng);
        for rank in ranks {
            let account = unique_account(rng, accounts);
            let is_account = rng.gen_bool(config.cloud_account_share.clamp(0.0, 1.0));
            let tenant_word = tenant_words.pop().map_or_else(
                || format!("tenant{}", self.tenants.len() + 1),
                |word| word.to_string(),
            );
            let id = if is_account { account.clone() } else { format!("tn-{tenant_word}") };
            tenants.push(self.tenants.len());
            self.tenants.push(TenantProfile {
                id,
                msp: index,
                account,
                is_account,
                region: REGIONS.choose(rng).copied().unwrap_or("eu-west-1"),
                word: tenant_word,
                weight: 1.0 / ((rank + 1) as f64).powf(ZIPF_EXPONENT),
            });
        }
        self.msps.push(MspProfile {
            id: format!("msp-{word}"),
            name: display,
            tier: TIERS.choose(rng).copied().unwrap_or(SupplierTier::Standard),
            domain: format!("{word}.example"),
            utc_offset_minutes,
            product,
            admin_role: format!("{capital}MSPAdmin"),
            automation_role: format!("{capital}MSPAutomation"),
            tenants,
            humans: Vec::new(),
            automation: Vec::new(),
            robot: 0,
            migration: 0,
            intermediary: 0,
            robot_minute: rng.gen_range(60..2 * 60),
            activity_share: tenant_count as f64 * rng.gen_range(0.7..1.3),
        });
    }

    fn add_credentials(
        &mut self,
        msp: usize,
        config: &WorldConfig,
        rng: &mut ChaCha8Rng,
        addresses: &mut AddressPool,
    ) {
        let Some(profile) = self.msps.get(msp) else { return };
        let domain = profile.domain.clone();
        let tenants = profile.tenants.clone();
        let (fewest, most) = ordered(config.humans);
        let human_count = rng.gen_range(fewest..=most).max(1);
        let (fewest, most) = ordered(config.automation_keys);
        let automation_count = rng.gen_range(fewest..=most).max(1);

        let mut humans = Vec::with_capacity(human_count);
        let mut used_names = HashSet::new();
        for _ in 0..human_count {
            let (first, last) = loop {
                let first = names::FIRST_NAMES.choose(rng).copied().unwrap_or("alex");
                let last = names::LAST_NAMES.choose(rng).copied().unwrap_or("smith");
                if used_names.insert((first, last)) {
                    break (first, last);
                }
            };
            let session = format!("{first}.{last}");
            humans.push(self.actors.len());
            self.actors.push(ActorProfile {
                id: format!("{session}@{domain}"),
                kind: ActorType::User,
                name: format!("{} {}", capitalize(first), capitalize(last)),
                session,
                role: Role::Human,
                msp,
                source_ip: addresses.normal(rng),
                user_agent: names::HUMAN_AGENTS.choose(rng).copied().unwrap_or("aws-cli/2.15.0"),
                tenants: Vec::new(),
                activity: rng.gen_range(0.5..2.0),
            });
        }
        self.assign_human_tenants(&humans, &tenants, rng);

        let mut automation = Vec::with_capacity(automation_count);
        let mut words: Vec<&str> = names::AUTOMATION_WORDS.to_vec();
        words.shuffle(rng);
        for (position, word) in words.iter().cycle().take(automation_count).enumerate() {
            let kind = if rng.gen_bool(0.5) { ActorType::ApiKey } else { ActorType::Service };
            let id = if position < words.len() {
                format!("svc-{word}")
            } else {
                format!("svc-{word}-{}", position + 1)
            };
            let assigned = tenants.iter().copied().skip(position).step_by(automation_count);
            automation.push(self.push_service(id, kind, Role::Automation, msp, rng, addresses));
            if let Some(actor) = automation.last().and_then(|&index| self.actors.get_mut(index)) {
                actor.tenants = assigned.collect();
            }
        }

        let robot = self.push_service(
            RETENTION_ROBOT_ID.to_string(),
            ActorType::Service,
            Role::RetentionRobot,
            msp,
            rng,
            addresses,
        );
        let migration = self.push_service(
            MIGRATION_ID.to_string(),
            ActorType::Service,
            Role::Migration,
            msp,
            rng,
            addresses,
        );
        let word = names::INTERMEDIARY_WORDS.choose(rng).copied().unwrap_or("bridge");
        let intermediary = self.push_service(
            format!("svc-{word}"),
            ActorType::ApiKey,
            Role::Intermediary,
            msp,
            rng,
            addresses,
        );
        for actor in [robot, migration] {
            if let Some(actor) = self.actors.get_mut(actor) {
                actor.tenants = tenants.clone();
            }
        }
        if let Some(profile) = self.msps.get_mut(msp) {
            profile.humans = humans;
            profile.automation = automation;
            profile.robot = robot;
            profile.migration = migration;
            profile.intermediary = intermediary;
        }
    }

    /// Gives every tenant a primary administrator and sometimes a second one, so that each
    /// human sticks to a set of their own.
    fn assign_human_tenants(&mut self, humans: &[usize], tenants: &[usize], rng: &mut ChaCha8Rng) {
        if humans.is_empty() {
            return;
        }
        let mut order: Vec<usize> = tenants.to_vec();
        order.shuffle(rng);
        for (position, &tenant) in order.iter().enumerate() {
            let primary = humans.get(position % humans.len()).copied();
            let secondary = if humans.len() > 1 && rng.gen_bool(0.35) {
                let offset = rng.gen_range(1..humans.len());
                humans.get((position + offset) % humans.len()).copied()
            } else {
                None
            };
            for actor in [primary, secondary].into_iter().flatten() {
                if let Some(actor) = self.actors.get_mut(actor) {
                    actor.tenants.push(tenant);
                }
            }
        }
    }

    fn push_service(
        &mut self,
        id: String,
        kind: ActorType,
        role: Role,
        msp: usize,
        rng: &mut ChaCha8Rng,
        addresses: &mut AddressPool,
    ) -> usize {
        let name = match role {
            Role::RetentionRobot => "retention cleanup".to_string(),
            Role::Migration => "data migration".to_string(),
            _ => id.trim_start_matches("svc-").replace('-', " "),
        };
        self.actors.push(ActorProfile {
            session: id.clone(),
            id,
            kind,
            name,
            role,
            msp,
            source_ip: addresses.normal(rng),
            user_agent: names::AUTOMATION_AGENTS
                .choose(rng)
                .copied()
                .unwrap_or("backup-orchestrator"),
            tenants: Vec::new(),
            activity: 1.0,
        });
        self.actors.len() - 1
    }

    /// The directory listing every MSP, its tier, tenants and CloudTrail roles.
    pub fn directory(&self) -> Vec<Msp> {
        self.msps
            .iter()
            .map(|msp| Msp {
                id: msp.id.clone(),
                name: Some(msp.name.clone()),
                tier: msp.tier,
                tenants: msp
                    .tenants
                    .iter()
                    .filter_map(|&tenant| self.tenants.get(tenant))
                    .map(|tenant| tenant.id.clone())
                    .collect(),
                cloudtrail_roles: vec![msp.admin_role.clone(), msp.automation_role.clone()],
            })
            .collect()
    }

    /// The directory as YAML (`msps: [...]`), as the detector reads it.
    pub fn directory_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        #[derive(Serialize)]
        struct DirectoryFile {
            msps: Vec<Msp>,
        }
        let header =
            "# MSP directory of a generated world: tenants and CloudTrail roles per MSP.\n";
        let body = serde_yaml_ng::to_string(&DirectoryFile { msps: self.directory() })?;
        Ok(format!("{header}{body}"))
    }
}

fn unique_account(rng: &mut ChaCha8Rng, accounts: &mut HashSet<String>) -> String {
    loop {
        let account = format!("{:012}", rng.gen_range(100_000_000_000_u64..1_000_000_000_000));
        if accounts.insert(account.clone()) {
            return account;
        }
    }
}

fn ordered((low, high): (usize, usize)) -> (usize, usize) {
    (low.min(high), low.max(high))
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_world_has_three_msps_with_their_ranges_of_people_and_tenants() {
        let world = World::build(11, &WorldConfig::default());
        assert_eq!(world.msps.len(), 3);
        for msp in &world.msps {
            assert!((12..=30).contains(&msp.tenants.len()), "{}", msp.tenants.len());
            assert!((3..=6).contains(&msp.humans.len()));
            assert!((1..=3).contains(&msp.automation.len()));
        }
        let ids: HashSet<&str> = world.tenants.iter().map(|tenant| tenant.id.as_str()).collect();
        assert_eq!(ids.len(), world.tenants.len(), "tenant ids are unique");
        assert!(world.tenants.iter().any(|tenant| tenant.is_account));
        assert!(world.tenants.iter().any(|tenant| tenant.id.starts_with("tn-")));
    }

    #[test]
    fn every_tenant_has_an_administrator_and_automation() {
        let world = World::build(5, &WorldConfig::default());
        for msp in &world.msps {
            for tenant in &msp.tenants {
                let has_human =
                    msp.humans.iter().any(|&human| world.actors[human].tenants.contains(tenant));
                let has_automation =
                    msp.automation.iter().any(|&key| world.actors[key].tenants.contains(tenant));
                assert!(has_human && has_automation, "tenant {tenant}");
            }
        }
    }

    #[test]
    fn directory_yaml_reads_back_as_the_directory_schema() {
        #[derive(serde::Deserialize)]
        struct DirectoryFile {
            msps: Vec<Msp>,
        }
        let world =
            World::build(3, &WorldConfig { cloud_account_share: 1.0, ..Default::default() });
        let yaml = world.directory_yaml().unwrap();
        let parsed: DirectoryFile = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(parsed.msps, world.directory());
        assert!(parsed.msps.iter().all(|msp| msp.tenants.iter().all(|t| t.len() == 12)));
        assert!(parsed.msps.iter().all(|msp| msp.cloudtrail_roles.len() == 2));
    }

    #[test]
    fn external_accounts_belong_to_no_msp() {
        let world = World::build(9, &WorldConfig::default());
        for account in &world.external_accounts {
            assert!(world.tenants.iter().all(|tenant| &tenant.account != account));
        }
    }
}
