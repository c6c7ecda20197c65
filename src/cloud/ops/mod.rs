//! Wire parameters of every typed request, and the product traits implemented over
//! [`ProductClient`].
//!
//! * this file — [`ToParams`] (a request's action, parameters, checks and idempotency), the
//!   shared checks, sending a request ([`ProductClient::run`]) and the `rpc_table!` macro that
//!   implements a product trait from one line per RPC;
//! * `dbs`, `rds`, `hbr` — the backup requests and traits of each product (with the shared
//!   observation of running work);
//! * `restore` — the restore requests and traits of the three products.

use std::future::Future;
use std::time::Duration;

use super::client::{Call, ObserveScope, ProductClient};
use super::error::CloudError;
use super::observe::Observer;
use super::params::Params;
use super::retry::Idempotency;

/// Builds the RPC parameters of a request.
pub(crate) trait ToParams {
    /// API action name.
    const ACTION: &'static str;
    /// Wire parameters.
    fn params(&self) -> Params;
    /// Whether repeating the call after an ambiguous failure is safe.
    fn idempotency(&self) -> Idempotency;
    /// Client-side checks of documented ranges (so a bad page size fails before a call).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// The ready-to-send call.
    fn call(&self) -> Call {
        Call {
            action: Self::ACTION,
            params: self.params(),
            idempotency: self.idempotency(),
        }
    }
}

pub(super) fn check_range(
    name: &str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<(), String> {
    match value {
        Some(v) if v < min || v > max => {
            Err(format!("{name} must be between {min} and {max}, got {v}"))
        }
        _ => Ok(()),
    }
}

pub(super) fn token_safe(token: &Option<String>) -> Idempotency {
    if token.as_deref().is_some_and(|t| !t.is_empty()) {
        Idempotency::Safe
    } else {
        Idempotency::Unsafe
    }
}

impl ProductClient {
    pub(super) async fn run<R: ToParams + Sync, T: serde::de::DeserializeOwned>(
        &self,
        req: &R,
    ) -> Result<T, CloudError> {
        self.execute::<T>(self.checked(req)?).await
    }

    /// [`Self::run`] for an observer round, whose token [`ProductClient::pay`] took.
    async fn run_paid<R: ToParams + Sync, T: serde::de::DeserializeOwned>(
        &self,
        req: &R,
    ) -> Result<T, CloudError> {
        self.execute_paid::<T>(self.checked(req)?, true).await
    }

    /// `req` as a call, once it passed its own checks.
    fn checked<R: ToParams + Sync>(&self, req: &R) -> Result<Call, CloudError> {
        req.validate().map_err(|m| {
            CloudError::new(
                self.product,
                R::ACTION,
                super::error::ErrorKind::InvalidRequest,
                m,
            )
        })?;
        Ok(req.call())
    }

    /// `id` from the shared `observer`, in this client's scope with `detail`: `fetch` looks
    /// up the ids of one round (its first call's token taken with [`ProductClient::pay`]).
    async fn observed<V, F, Fut>(
        &self,
        observer: &Observer<ObserveScope, V>,
        detail: &str,
        id: &str,
        max_age: Duration,
        fetch: F,
    ) -> Result<Option<V>, CloudError>
    where
        V: Clone,
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<(String, V)>, CloudError>>,
    {
        observer
            .get(&self.scope(detail), id, max_age, || self.pay(), fetch)
            .await
    }
}

/// Implements a product trait for [`ProductClient`] from a table: one line per RPC
/// (`method => Request => Response`), each sent with [`ProductClient::run`]; `then |client,
/// req| …` runs after the call whatever its answer (e.g. dropping a shared observation the call
/// made stale); the trait's other methods follow the table.
macro_rules! rpc_table {
    ($api:ident {
        $($method:ident => $req:ty => $resp:ty $(, then |$c:ident, $r:ident| $after:expr)?;)+
    } $($extra:tt)*) => {
        #[async_trait]
        impl $api for ProductClient {
            $(
                async fn $method(&self, req: &$req) -> Result<$resp, CloudError> {
                    let result = self.run::<_, $resp>(req).await;
                    $(
                        let ($c, $r) = (self, req);
                        $after;
                    )?
                    result
                }
            )+
            $($extra)*
        }
    };
}

mod dbs;
mod hbr;
mod rds;
mod restore;
