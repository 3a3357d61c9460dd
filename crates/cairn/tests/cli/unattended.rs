//! Running unattended against remote storage: a store that hangs past the lock bound, objects
//! that cannot be fetched, and the metadata cache. Every test runs the cairn binary against a
//! real S3 server (moto through scripts/s3-test-server.py), often behind a fault proxy.

mod cache;
mod lock_loss;
mod strict_loading;
