//! Placeholder: filled by the observer work.
