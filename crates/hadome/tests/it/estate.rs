//! Placeholder: filled by the estate work.
