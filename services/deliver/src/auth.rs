//! Bearer tokens: the hashed tokens file, scopes, and authentication of each request.
//!
//! The tokens file is TOML with one `[[tokens]]` table per token:
//!
//! ```toml
//! [[tokens]]
//! name = "global-soc"          # shown in logs instead of the token
//! sha256 = "<64 hex digits>"   # SHA-256 of the token, from `mspwatch token hash`
//! msps = ["*"]                 # every MSP, and unattributed alerts
//!
//! [[tokens]]
//! name = "northwind-soc"
//! sha256 = "<64 hex digits>"
//! msps = ["msp-northwind"]
//! ```
//!
//! The file never holds a token itself, only its hash; the token is compared by hash, in
//! constant time, against every entry.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;
use tonic::Status;

/// The scope value that stands for every MSP.
pub const GLOBAL_SCOPE: &str = "*";

/// Longest token accepted in a request; longer ones are refused unhashed.
const MAX_TOKEN_LEN: usize = 4096;

/// A secret (a bearer token) that never shows itself in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

/// The SHA-256 of a token as 64 lowercase hex digits: what the tokens file stores.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes from the operating system, base64url without padding.
pub fn generate_token() -> Result<Secret, rand::Error> {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    Ok(Secret(URL_SAFE_NO_PAD.encode(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Which alerts, counts and baselines a token may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every MSP, unattributed alerts, detector-wide counters and administration.
    Global,
    /// These MSPs only.
    Msps(BTreeSet<String>),
}

impl Scope {
    /// True for a global SOC token.
    pub fn is_global(&self) -> bool {
        matches!(self, Scope::Global)
    }

    /// True when the scope covers an alert or baseline of `msp_id`; unattributed (`None`)
    /// data is for global tokens only.
    pub fn allows(&self, msp_id: Option<&str>) -> bool {
        match (self, msp_id) {
            (Scope::Global, _) => true,
            (Scope::Msps(msps), Some(msp_id)) => msps.contains(msp_id),
            (Scope::Msps(_), None) => false,
        }
    }
}

/// Who made a request: the token's name (never the token) and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name from the tokens file.
    pub name: String,
    /// What it may see.
    pub scope: Scope,
}

/// Why the tokens file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read tokens file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the documented shape.
    #[error("tokens file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// One entry is unusable.
    #[error("tokens file {path}: token `{name}`: {reason}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    tokens: Vec<TokenRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRecord {
    name: String,
    sha256: String,
    msps: Vec<String>,
}

struct TokenEntry {
    digest: [u8; 32],
    principal: Principal,
}

/// The accepted tokens, by hash. Cheap to clone; clones share the tokens, so `replace` on one
/// (a reload) takes effect for all.
#[derive(Clone, Default)]
pub struct TokenStore {
    entries: Arc<RwLock<Arc<[TokenEntry]>>>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("TokenStore").field("tokens", &self.len()).finish()
    }
}

impl TokenStore {
    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<TokenStore, TokenFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TokenFileError::Read { path: path.to_owned(), source })?;
        TokenStore::parse(&text, path)
    }

    /// Parses the text of a tokens file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<TokenStore, TokenFileError> {
        let file: TokenFile = toml::from_str(text).map_err(|error| TokenFileError::Syntax {
            path: path.to_owned(),
            message: error.to_string().trim_end().replace('\n', " "),
        })?;
        let mut names = BTreeSet::new();
        let mut digests = BTreeSet::new();
        let mut entries = Vec::with_capacity(file.tokens.len());
        for record in file.tokens {
            let entry_error = |reason: &str| TokenFileError::Entry {
                path: path.to_owned(),
                name: record.name.clone(),
                reason: reason.to_owned(),
            };
            let entry = token_entry(&record).map_err(&entry_error)?;
            if !names.insert(record.name.clone()) {
                return Err(entry_error("name is used twice"));
            }
            if !digests.insert(entry.digest) {
                return Err(entry_error("the same token hash appears twice"));
            }
            entries.push(entry);
        }
        Ok(TokenStore { entries: Arc::new(RwLock::new(entries.into())) })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// True when no token is accepted (every authenticated request is refused).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the accepted tokens with those of `other`, for every clone of this store.
    pub fn replace(&self, other: &TokenStore) {
        let fresh = other.snapshot();
        *self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    /// The principal a token stands for, or `None` for an unknown token.
    ///
    /// Every entry is compared, in constant time, whatever matches.
    pub fn authenticate(&self, token: &Secret) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        let entries = self.snapshot();
        let mut found: Option<&TokenEntry> = None;
        for entry in entries.iter() {
            if constant_time_eq(&entry.digest, &digest) {
                found = Some(entry);
            }
        }
        found.map(|entry| entry.principal.clone())
    }

    fn snapshot(&self) -> Arc<[TokenEntry]> {
        Arc::clone(&self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

fn token_entry(record: &TokenRecord) -> Result<TokenEntry, &'static str> {
    if record.name.trim().is_empty() {
        return Err("name is empty");
    }
    let digest = parse_digest(&record.sha256).ok_or("sha256 is not 64 hex digits")?;
    let scope = if record.msps.iter().any(|msp| msp == GLOBAL_SCOPE) {
        if record.msps.len() != 1 {
            return Err("`*` must be the only entry of msps");
        }
        Scope::Global
    } else {
        if record.msps.is_empty() {
            return Err("msps is empty: name MSP ids, or `*` for all");
        }
        if record.msps.iter().any(|msp| msp.trim().is_empty()) {
            return Err("msps holds an empty MSP id");
        }
        Scope::Msps(record.msps.iter().cloned().collect())
    };
    Ok(TokenEntry { digest, principal: Principal { name: record.name.clone(), scope } })
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (slot, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = hex_value(*pair.first()?)?;
        let low = hex_value(*pair.get(1)?)?;
        *slot = (high << 4) | low;
    }
    Some(digest)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Compares two digests without an early exit, so timing says nothing about where they differ.
fn constant_time_eq(left: &[u8; 32], right: &[u8; 32]) -> bool {
    let difference = left.iter().zip(right).fold(0u8, |acc, (l, r)| acc | (l ^ r));
    std::hint::black_box(difference) == 0
}

/// Why a request's credentials were refused; the message never repeats the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No `authorization` metadata.
    Missing,
    /// Not `Bearer <token>` in visible ASCII.
    Malformed,
    /// A well-formed token no entry matches.
    Unknown,
}

impl AuthFailure {
    fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing bearer token",
            AuthFailure::Malformed => "malformed authorization header, expected `Bearer <token>`",
            AuthFailure::Unknown => "unknown bearer token",
        }
    }
}

/// Authenticates the `authorization: Bearer <token>` metadata of a request.
pub(crate) fn authenticate_metadata(
    tokens: &TokenStore,
    metadata: &MetadataMap,
) -> Result<Principal, AuthFailure> {
    let value = metadata.get("authorization").ok_or(AuthFailure::Missing)?;
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let token = bearer_token(value).ok_or(AuthFailure::Malformed)?;
    tokens.authenticate(&token).ok_or(AuthFailure::Unknown)
}

fn bearer_token(value: &str) -> Option<Secret> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|byte| byte.is_ascii_graphic());
    well_formed.then(|| Secret::new(token))
}

/// The interceptor that authenticates every call of the alert and admin services and puts the
/// caller's [`Principal`] into the request's extensions.
#[derive(Clone)]
pub(crate) struct AuthInterceptor {
    tokens: TokenStore,
}

impl AuthInterceptor {
    pub(crate) fn new(tokens: TokenStore) -> AuthInterceptor {
        AuthInterceptor { tokens }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        match authenticate_metadata(&self.tokens, request.metadata()) {
            Ok(principal) => {
                tracing::trace!(token = %principal.name, "authenticated request");
                request.extensions_mut().insert(principal);
                Ok(request)
            }
            Err(failure) => {
                tracing::debug!(
                    peer = ?request.remote_addr(),
                    reason = failure.message(),
                    "refused unauthenticated request"
                );
                Err(Status::unauthenticated(failure.message()))
            }
        }
    }
}

/// The principal the interceptor attached to a request.
pub(crate) fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| Status::unauthenticated(AuthFailure::Missing.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(text: &str) -> Result<TokenStore, TokenFileError> {
        TokenStore::parse(text, Path::new("tokens.toml"))
    }

    fn two_tokens() -> TokenStore {
        let text = format!(
            "[[tokens]]\nname = \"soc\"\nsha256 = \"{}\"\nmsps = [\"*\"]\n\n\
             [[tokens]]\nname = \"northwind\"\nsha256 = \"{}\"\nmsps = [\"msp-northwind\"]\n",
            hash_token("global-secret"),
            hash_token("northwind-secret").to_uppercase()
        );
        store(&text).unwrap_or_default()
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn tokens_authenticate_to_their_scope() {
        let tokens = two_tokens();
        assert_eq!(tokens.len(), 2);
        let global = tokens.authenticate(&Secret::new("global-secret"));
        assert_eq!(global.map(|principal| principal.scope), Some(Scope::Global));
        let scoped = tokens.authenticate(&Secret::new("northwind-secret"));
        let expected = Scope::Msps(BTreeSet::from(["msp-northwind".to_owned()]));
        assert_eq!(scoped.map(|principal| principal.scope), Some(expected));
        assert_eq!(tokens.authenticate(&Secret::new("northwind-secret ")), None);
        assert_eq!(tokens.authenticate(&Secret::new("")), None);
    }

    #[test]
    fn scoped_tokens_never_see_unattributed_or_other_msps() {
        let scope = Scope::Msps(BTreeSet::from(["a".to_owned()]));
        assert!(scope.allows(Some("a")));
        assert!(!scope.allows(Some("b")));
        assert!(!scope.allows(None));
        assert!(Scope::Global.allows(None));
    }

    #[test]
    fn bad_token_files_are_refused_with_the_entry_name() {
        let hash = hash_token("x");
        let head = "[[tokens]]\nname = \"a\"\n";
        let cases = [
            ("[[tokens]]\nname = \"a\"\nsha256 = \"abc\"\nmsps = [\"*\"]\n", "64 hex"),
            (&format!("[[tokens]]\nname = \"a\"\nsha256 = \"{hash}\"\nmsps = []\n"), "empty"),
            (&format!("{head}sha256 = \"{hash}\"\nmsps = [\"*\", \"m\"]\n"), "only"),
            (
                &format!("{head}sha256 = \"{hash}\"\nmsps = [\"m\"]\ntoken = \"x\"\n"),
                "unknown field",
            ),
            (
                &format!(
                    "[[tokens]]\nname = \"a\"\nsha256 = \"{hash}\"\nmsps = [\"m\"]\n\
                     [[tokens]]\nname = \"b\"\nsha256 = \"{hash}\"\nmsps = [\"m\"]\n"
                ),
                "twice",
            ),
        ];
        for (text, expected) in cases {
            let error = store(text).map(|_| ()).err().map(|error| error.to_string());
            assert!(
                error.as_deref().is_some_and(|error| error.contains(expected)),
                "{text}: {error:?}"
            );
        }
    }

    #[test]
    fn replacing_tokens_reaches_every_clone() {
        let tokens = two_tokens();
        let clone = tokens.clone();
        tokens.replace(&TokenStore::default());
        assert!(clone.is_empty());
        assert_eq!(clone.authenticate(&Secret::new("global-secret")), None);
    }

    #[test]
    fn authorization_metadata_must_be_bearer() {
        let tokens = two_tokens();
        let check = |value: Option<&str>| {
            let mut metadata = MetadataMap::new();
            if let Some(value) = value {
                if let Ok(value) = value.parse() {
                    metadata.insert("authorization", value);
                }
            }
            authenticate_metadata(&tokens, &metadata).map(|principal| principal.name)
        };
        assert_eq!(check(None), Err(AuthFailure::Missing));
        assert_eq!(check(Some("global-secret")), Err(AuthFailure::Malformed));
        assert_eq!(check(Some("Basic global-secret")), Err(AuthFailure::Malformed));
        assert_eq!(check(Some("Bearer ")), Err(AuthFailure::Malformed));
        assert_eq!(check(Some("Bearer wrong")), Err(AuthFailure::Unknown));
        assert_eq!(check(Some("bearer global-secret")), Ok("soc".to_owned()));
    }

    #[test]
    fn secrets_never_print_themselves() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret} {secret:?}").contains("hunter2"));
    }

    #[test]
    fn generated_tokens_differ() {
        let first = generate_token().map(|token| token.expose().to_owned()).ok();
        let second = generate_token().map(|token| token.expose().to_owned()).ok();
        assert!(first.as_ref().is_some_and(|token| token.len() == 43));
        assert_ne!(first, second);
    }
}
