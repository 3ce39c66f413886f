//! shared helpers for end-to-end tests
