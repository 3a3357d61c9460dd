//! cairn-chunker
