//! Word lists for the invented MSPs, tenants and people of the generated world.

/// Invented MSPs: id word, display name, UTC offset in minutes, product name.
pub const MSPS: &[(&str, &str, i32, &str)] = &[
    ("northwind", "Northwind IT", 60, "Keystone Backup"),
    ("bluepeak", "Bluepeak Managed Services", -300, "Arcvault"),
    ("harborline", "Harborline Systems", 600, "Tidewater Protect"),
    ("ironbridge", "Ironbridge Cloud", -480, "Keystone Backup"),
    ("suncrest", "Suncrest Networks", 330, "Arcvault"),
    ("tallgrass", "Tallgrass Technology", 0, "Tidewater Protect"),
    ("riverstone", "Riverstone Partners", 120, "Keystone Backup"),
    ("oakfield", "Oakfield Digital", -360, "Arcvault"),
];

/// Words for plain tenant ids (`tn-<word>`).
pub const TENANT_WORDS: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "alder",
    "birchwood",
    "cedarline",
    "dunmore",
    "elmstead",
    "fernhill",
    "granite",
    "hollis",
    "ivory",
    "juniper",
    "kestrel",
    "larkspur",
    "maple",
    "norland",
    "ostara",
    "pinecrest",
    "quarry",
    "redfern",
    "sorrel",
    "thistle",
    "umber",
    "vantage",
    "willow",
    "yarrow",
    "zephyr",
    "ashford",
    "brookside",
    "clearwater",
    "driftwood",
    "eastgate",
    "foxglove",
    "greenvale",
    "highmoor",
    "inglewood",
    "jasper",
    "kingsley",
    "lakeview",
    "meadow",
    "northgate",
    "orchard",
    "peregrine",
    "quill",
    "rosehill",
    "saltmarsh",
    "timber",
    "upland",
    "valemont",
    "westbrook",
    "wexford",
    "yellowpine",
    "zinnia",
    "arbor",
    "beacon",
    "cobalt",
    "delta",
    "ember",
    "falcon",
    "garnet",
    "harrow",
    "indigo",
    "jetty",
    "keel",
    "lumen",
    "mistral",
    "nimbus",
    "onyx",
    "prairie",
    "quartz",
    "ridgeway",
    "summit",
    "tundra",
    "ultra",
    "verdant",
    "wharf",
    "anchor",
    "bramble",
    "citadel",
    "dovetail",
    "estuary",
    "flint",
    "glade",
    "heron",
    "islet",
    "kelp",
    "lichen",
    "moraine",
    "nettle",
    "osprey",
    "pebble",
    "rampart",
    "shale",
    "tarn",
    "vireo",
    "wren",
    "axle",
    "bastion",
    "crag",
    "dune",
    "fjord",
];

/// Given names for administrators.
pub const FIRST_NAMES: &[&str] = &[
    "alice", "bruno", "chloe", "dmitri", "elena", "farid", "grace", "hugo", "ines", "jonas",
    "keiko", "liam", "maya", "nils", "olivia", "pavel", "quinn", "rosa", "samir", "tara", "umar",
    "vera", "wade", "xenia", "yusuf", "zoe", "anton", "bea", "carlos", "dana",
];

/// Family names for administrators.
pub const LAST_NAMES: &[&str] = &[
    "moreau",
    "silva",
    "okafor",
    "lindqvist",
    "nakamura",
    "haddad",
    "kowalski",
    "brennan",
    "fischer",
    "duarte",
    "varga",
    "osei",
    "petrov",
    "ramos",
    "sato",
    "tanaka",
    "ward",
    "young",
    "abbott",
    "baker",
    "castillo",
    "dubois",
    "eriksen",
    "ferreira",
    "garcia",
    "holm",
];

/// Names of nightly automation keys (`svc-<word>`).
pub const AUTOMATION_WORDS: &[&str] =
    &["backup-nightly", "backup-agent", "snapshot-scheduler", "vault-sync", "job-runner"];

/// Names of never-before-seen intermediary credentials (`svc-<word>`).
pub const INTERMEDIARY_WORDS: &[&str] =
    &["sync-bridge", "integration-hub", "reporting-connector", "partner-gateway"];

/// User agents of human administrators: a console browser or a command-line client.
pub const HUMAN_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) \
     Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "aws-cli/2.15.0 Python/3.11.6 Windows/10 exe/AMD64",
    "aws-cli/2.17.40 Python/3.11.9 Darwin/23.6.0 exe/x86_64",
];

/// User agents of automation.
pub const AUTOMATION_AGENTS: &[&str] = &[
    "backup-orchestrator/4.2.1",
    "Boto3/1.34.0 Python/3.11.6 Linux/5.15.0",
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5",
];

/// User agents seen from attackers.
pub const ATTACKER_AGENTS: &[&str] = &[
    "python-requests/2.31.0",
    "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-21-generic",
    "curl/8.5.0",
];
