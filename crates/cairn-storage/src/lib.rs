//! cairn-storage
