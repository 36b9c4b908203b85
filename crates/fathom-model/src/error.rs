use thiserror::Error;

/// Errors of the model crate.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The file does not start with the model header.
    #[error(
        "{file} is not a fathom model (it lacks the FATHOM-MODEL header); pass a file written by `fathom train`"
    )]
    NotAModel {
        /// The file.
        file: String,
    },
    /// The file was written by a newer or older format.
    #[error(
        "{file} has model format version {found}, but this fathom reads version {supported}; use the fathom version that wrote it, or retrain"
    )]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// Its version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The body does not match its recorded checksum.
    #[error(
        "{file}: the checksum does not match (recorded {expected}, computed {actual}); the file was changed or damaged after it was written, so it is refused: restore it from the registry or retrain"
    )]
    ChecksumMismatch {
        /// The file.
        file: String,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the body as read.
        actual: String,
    },
    /// The body is not a valid model.
    #[error(
        "{file}: the model body cannot be read ({detail}); the file may come from an incompatible fathom version"
    )]
    Decode {
        /// The file.
        file: String,
        /// The decoder's message.
        detail: String,
    },
    /// The file could not be read.
    #[error("{file}: cannot read the model file: {detail}")]
    Io {
        /// The file.
        file: String,
        /// The operating-system error.
        detail: String,
    },
    /// The model could not be encoded.
    #[error(
        "internal error: the model could not be encoded ({0}); this is a bug, please report it"
    )]
    Encode(String),
    /// Input data does not fit the model's contract.
    #[error(
        "the input does not fit the model's schema contract:\n{}\nsupply the columns and types the model was trained with (see `fathom model inspect`)",
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    InputMismatch {
        /// One line per problem, naming the column.
        problems: Vec<String>,
    },
    /// The estimator cannot be compiled for scoring.
    #[error("the model cannot be prepared for scoring: {0}")]
    Compile(String),
}
