//! Tasks for requesters: this build runs no task pipeline, so both methods answer
//! "No providers", with why, as the network's API says a node without providers does.

use oarn_api::rpc::Error;
use oarn_api::tasks::{GetResult, SubmitTask};

use super::errors;
use crate::state::Node;

const WHY: &str = "this build runs no task pipeline yet";

pub async fn submit(_: &Node, _: SubmitTask) -> Result<serde_json::Value, Error> {
    Err(errors::no_providers(WHY))
}

pub async fn result(_: &Node, _: GetResult) -> Result<serde_json::Value, Error> {
    Err(errors::no_providers(WHY))
}
