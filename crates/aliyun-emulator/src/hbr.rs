//! HBR placeholder (being written).
use crate::api::{ApiResult, Params};
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use serde_json::Value;
/// Actions.
pub const ACTIONS: &[&str] = &[];
/// HBR state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HbrState {
    /// ECS
    pub ecs_instances: Vec<String>,
}
impl HbrState {
    /// Seed.
    pub fn seeded(e: &[String]) -> Self {
        Self {
            ecs_instances: e.to_vec(),
        }
    }
    /// View.
    pub fn view(&self, _now: i64) -> Value {
        Value::Null
    }
    /// Apply.
    pub fn apply_now(&mut self, _s: &Scenario, _now: i64) -> bool {
        false
    }
    /// Handle.
    pub fn handle(
        &mut self,
        _a: &str,
        _p: &Params,
        _n: i64,
        _j: i64,
        _pe: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        None
    }
}
