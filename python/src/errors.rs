//! The exceptions of the `oarn` package, one per thing that can go wrong, each carrying the
//! node's message; the API's error codes (`oarn_api::rpc::Code`) map onto them here, once.

use oarn_api::ClientError;
use oarn_api::rpc::Code;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _oarn,
    OarnError,
    PyException,
    "Anything the node or its API refused or could not do."
);
create_exception!(
    _oarn,
    NodeNotRunning,
    OarnError,
    "No node answers on the node home's socket: start it with `oarn start`."
);
create_exception!(
    _oarn,
    NotConnected,
    OarnError,
    "The node is not connected to the peer-to-peer network (no network worker, no swarm, no peer)."
);
create_exception!(
    _oarn,
    NoProviders,
    OarnError,
    "The node cannot reach the chain (no chain worker or RPC provider), or runs no task pipeline."
);
create_exception!(
    _oarn,
    InvalidRequest,
    OarnError,
    "The request is malformed or out of range; the message names the field."
);
create_exception!(
    _oarn,
    NotFound,
    OarnError,
    "What was asked for does not exist: a model, a pin, a task."
);
create_exception!(
    _oarn,
    Busy,
    OarnError,
    "The worker that does this is busy, restarting or did not answer in time; try again."
);
create_exception!(_oarn, Cancelled, OarnError, "The request was cancelled.");
create_exception!(
    _oarn,
    Timeout,
    OarnError,
    "The node did not answer in time, or the request's own deadline passed."
);
create_exception!(
    _oarn,
    Refused,
    OarnError,
    "The contract refused the transaction; the message carries its reason."
);
create_exception!(
    _oarn,
    Locked,
    OarnError,
    "The wallet is locked: the node holds no signing key (`oarn wallet unlock`)."
);
create_exception!(
    _oarn,
    InvalidConfig,
    OarnError,
    "The node's configuration file is invalid."
);
create_exception!(
    _oarn,
    ProtocolError,
    OarnError,
    "The conversation with the node broke, or an answer was not what its method answers."
);

/// The exception for a failed call.
pub fn raise(e: &ClientError) -> PyErr {
    let message = e.to_string();
    match e {
        ClientError::NotRunning { .. } => NodeNotRunning::new_err(message),
        ClientError::Timeout { .. } => Timeout::new_err(message),
        ClientError::Protocol { .. } => ProtocolError::new_err(message),
        ClientError::Rpc(_) => match e.code() {
            Some(Code::ParseError | Code::InvalidRequest | Code::MethodNotFound | Code::InvalidParams) => {
                InvalidRequest::new_err(message)
            }
            Some(Code::NotConnected) => NotConnected::new_err(message),
            Some(Code::NoProviders) => NoProviders::new_err(message),
            Some(Code::NotFound) => NotFound::new_err(message),
            Some(Code::Busy) => Busy::new_err(message),
            Some(Code::Cancelled) => Cancelled::new_err(message),
            Some(Code::DeadlineExceeded) => Timeout::new_err(message),
            Some(Code::Refused) => Refused::new_err(message),
            Some(Code::Locked) => Locked::new_err(message),
            Some(Code::InvalidConfig) => InvalidConfig::new_err(message),
            Some(Code::InternalError) | None => OarnError::new_err(message),
        },
    }
}

/// An argument Python gave that the API would refuse.
pub fn invalid(message: String) -> PyErr {
    InvalidRequest::new_err(message)
}

/// An answer that does not read.
pub fn protocol(message: String) -> PyErr {
    ProtocolError::new_err(message)
}

/// Adds every exception to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OarnError", py.get_type::<OarnError>())?;
    m.add("NodeNotRunning", py.get_type::<NodeNotRunning>())?;
    m.add("NotConnected", py.get_type::<NotConnected>())?;
    m.add("NoProviders", py.get_type::<NoProviders>())?;
    m.add("InvalidRequest", py.get_type::<InvalidRequest>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("Busy", py.get_type::<Busy>())?;
    m.add("Cancelled", py.get_type::<Cancelled>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Refused", py.get_type::<Refused>())?;
    m.add("Locked", py.get_type::<Locked>())?;
    m.add("InvalidConfig", py.get_type::<InvalidConfig>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    Ok(())
}
