//! Tasks for requesters: `oarn_submitTask` and `oarn_getResult`, the live network's node API
//! methods. This build runs no task pipeline yet, so both answer "No providers" (-32001),
//! as the network's API says a node without providers does.

use serde::{Deserialize, Serialize};

use crate::{TaskId, method};

/// `oarn_submitTask`: whatever its params, answered "No providers" until the pipeline exists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubmitTask {
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
}
method!(SubmitTask, "oarn_submitTask", serde_json::Value);

/// `oarn_getResult`: the consensus result of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetResult {
    pub task_id: TaskId,
}
method!(GetResult, "oarn_getResult", serde_json::Value);
