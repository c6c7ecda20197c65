//! Tests of the cloud client against local fake servers (axum on 127.0.0.1:0) and pure
//! decoding/encoding tests. Retries and rate limiting run on a manual clock: no sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod credentials;
mod decode;
mod fake;
mod observe;
mod params;
mod restore;
mod restore_dbs;
mod restore_wire;
mod transport;
