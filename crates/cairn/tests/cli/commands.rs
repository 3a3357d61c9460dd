//! The commands and their options, as a user runs them.
