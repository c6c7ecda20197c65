//! DBS placeholder (being written).
use crate::api::{ApiResult, Params};
use crate::rds::RdsState;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use serde_json::Value;
/// Actions.
pub const ACTIONS: &[&str] = &[];
/// DBS state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbsState {}
impl DbsState {
    /// View.
    pub fn view(&self, _now: i64) -> Value {
        Value::Null
    }
    /// Apply.
    pub fn apply_now(&mut self, _s: &Scenario, _now: i64) -> bool {
        false
    }
    /// Handle.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        _a: &str,
        _p: &Params,
        _n: i64,
        _j: i64,
        _pe: &mut Vec<Scenario>,
        _r: &RdsState,
        _e: &[String],
    ) -> Option<ApiResult> {
        None
    }
}
