//! Faults: processes killed mid-write, corrupted bytes, concurrent writers, stale locks.
