use std::path::PathBuf;

use thiserror::Error;

use crate::gate::GateFailure;

/// Result type of the registry crate.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Errors of the tracking store, the model registry and the artifact store.
///
/// Every message says what was wrong, where, and what to do about it. When
/// an operation fails, the store is left as it was: each change runs in one
/// transaction.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The SQLite file is held by another process for longer than the busy
    /// timeout.
    #[error(
        "{}: the store is locked by another fathom process (waited {waited_ms} ms); wait for it to finish, or stop it, and try again",
        path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// How long fathom waited for the lock.
        waited_ms: u64,
    },
    /// The database file or its folder cannot be written.
    #[error(
        "{}: the store is read-only ({detail}); make the file and its folder writable, or point FATHOM_DATABASE_URL at a writable store",
        path.display()
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The file is not an SQLite database, or is damaged.
    #[error(
        "{}: not a readable fathom store ({detail}); the file may be truncated or overwritten: restore it from a backup, or move it away to start a new store",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The database engine's message.
        detail: String,
    },
    /// The store was written by a newer fathom with a schema this build
    /// does not know.
    #[error(
        "{location}: the store has schema version {found}, but this fathom knows versions up to {supported}; upgrade fathom (the store was left unchanged)"
    )]
    NewerSchema {
        /// The store (file path or URL without password).
        location: String,
        /// Highest schema version recorded in the store.
        found: i64,
        /// Highest schema version this build knows.
        supported: i64,
    },
    /// The PostgreSQL server could not be reached or refused the login.
    #[error(
        "{location}: cannot connect to PostgreSQL ({detail}); check that the server runs and that the URL, user and password are right"
    )]
    Unreachable {
        /// The URL without password.
        location: String,
        /// The client's message.
        detail: String,
    },
    /// A store location string could not be understood.
    #[error(
        "'{location}': not a store location; use a path to a folder or .db file (SQLite) or a postgres:// URL"
    )]
    BadLocation {
        /// What was given.
        location: String,
    },
    /// A file of the store could not be created, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// Any other database error. The message is the engine's.
    #[error("{location}: database error: {detail}")]
    Database {
        /// The store.
        location: String,
        /// The engine's message.
        detail: String,
    },
    /// A named thing does not exist.
    #[error("{kind} '{name}' does not exist{}", hint_suffix(hint))]
    NotFound {
        /// What kind of thing: experiment, run, model, version, alias.
        kind: &'static str,
        /// Its name or id.
        name: String,
        /// The valid choices or what to do, when known.
        hint: Option<String>,
    },
    /// A thing with this name already exists.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists {
        /// What kind of thing.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// An argument is not acceptable.
    #[error("{what}: {message}")]
    InvalidInput {
        /// Which argument.
        what: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A run filter expression could not be parsed.
    #[error("filter '{filter}' at character {position}: {message}")]
    BadFilter {
        /// The whole expression.
        filter: String,
        /// 1-based character position of the problem.
        position: usize,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The promotion gate refused a promotion. `failures` holds each rule
    /// that failed with its numbers; `force` would override it (audited).
    #[error(
        "promotion of {model} version {version} to '{alias}' refused: {}; fix the candidate or promote with force (audited)",
        failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")
    )]
    PromotionRefused {
        /// The registered model.
        model: String,
        /// The candidate version.
        version: i64,
        /// The alias it was to get.
        alias: String,
        /// Every rule that failed.
        failures: Vec<GateFailure>,
    },
    /// A stored artifact's bytes no longer match the recorded checksum.
    #[error(
        "{uri}: artifact checksum mismatch: expected sha256 {expected}, found {actual}; the file was changed or damaged after it was recorded, so it is refused"
    )]
    ChecksumMismatch {
        /// The artifact.
        uri: String,
        /// The recorded SHA-256.
        expected: String,
        /// The SHA-256 of the bytes found.
        actual: String,
    },
    /// A recorded artifact is not where its URI says.
    #[error(
        "{uri}: artifact not found: nothing is stored there (an archived version's artifact is removed by `fathom gc --apply` once its retention has passed; moving an artifact store leaves old URIs pointing nowhere)"
    )]
    ArtifactMissing {
        /// The artifact.
        uri: String,
    },
    /// The object store could not be reached, or refused a request.
    #[error(
        "{location}: object storage error: {detail}; check that the bucket exists and that AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are right"
    )]
    ObjectStore {
        /// The bucket or object.
        location: String,
        /// The client's message.
        detail: String,
    },
    /// An operation is not allowed in the current state.
    #[error("{0}")]
    Conflict(String),
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("; {h}"),
        None => String::new(),
    }
}

impl RegistryError {
    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        RegistryError::InvalidInput {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }
}
