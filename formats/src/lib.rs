//! `oarn-formats`: readers of file formats whose bytes come from outside (a model file from
//! anywhere), linked only by the sandboxed workers that parse them; the `oarn` binary and the
//! daemon never link this crate, so no parser of untrusted bytes runs outside a sandbox.
//!
//! - [`gguf`]: a GGUF model file's header, bounded and checked (run by the inference worker).
//! - [`hf`]: a Hugging Face model in an archive: its `config.json`, bounded, and its weights'
//!   headers (run by the inference worker).
//! - [`pickle`]: a data-only, bounded Python pickle reader, which runs nothing (run by the
//!   inference worker).
//! - [`pytorch`]: a PyTorch checkpoint (`torch.save`'s zip): its state dict's tensors and where
//!   their bytes lie (run by the inference worker).
//! - [`safetensors`]: a Safetensors checkpoint's header, bounded and checked (run by the
//!   inference worker).
//! - [`archive`]: a model archive's members (a model of several files), listed and checked (run
//!   by the inference worker).
//! - [`announce`]: the live network's task announcements (run by the network worker).
//! - [`task`]: a task's input block, model block and requirements (run by the network worker).
//! - [`tensor`]: the network's ONNX tensor tasks: input tensors and result bytes (run by the
//!   inference worker).

pub mod announce;
pub mod archive;
pub mod gguf;
pub mod hf;
pub mod pickle;
pub mod pytorch;
pub mod safetensors;
pub mod task;
pub mod tensor;
