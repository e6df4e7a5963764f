//! What can go wrong reading a configuration: each error names the file and line, what was
//! expected there, and how to fix it. Reading never panics; a refusal changes nothing.

use crate::Place;

/// Why a configuration dump could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The text does not start with a `# configuration file PATH:` marker.
    #[error(
        "the text is not an `nginx -T` dump: its first line is not `# configuration file PATH:`\n\
         hint: give hadome the standard output of `nginx -T` (or `nginx -T -c FILE -p PREFIX`)"
    )]
    NotADump,
    /// The dump is larger than hadome reads.
    #[error(
        "the dump is {size_bytes} bytes, more than the {limit_bytes} bytes hadome reads\n\
         hint: an nginx configuration this large is unexpected; check that the input is `nginx -T` output"
    )]
    TooLarge {
        /// The dump's size.
        size_bytes: usize,
        /// The most hadome reads.
        limit_bytes: usize,
    },
    /// A syntax error in one file of the dump.
    #[error("{place}: {message}\nhint: {hint}")]
    Syntax {
        /// Where the error is.
        place: Place,
        /// What was found and what was expected.
        message: String,
        /// How to fix it.
        hint: String,
    },
}

impl ReadError {
    pub(crate) fn syntax(
        place: Place,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ReadError::Syntax {
            place,
            message: message.into(),
            hint: hint.into(),
        }
    }
}
