//! The model archive: how a model made of several files (Hugging Face's layout: weights,
//! `config.json`, `tokenizer.json`) is stored, hashed and sent as one file, so it has one
//! sha256 like a GGUF file and the same store, manifests and Bitswap transfer serve it.
//!
//! The archive is POSIX ustar, and its bytes depend only on the files' names and contents:
//! members are regular files at the top level, in byte order of their names, each with mode
//! 0644, uid and gid 0, mtime 0, no user or group names, ending with two zero blocks and no
//! further padding. Two nodes that import the same directory get the same sha256. Only the
//! files a backend reads are members ([`member`]); everything else in a directory (a README,
//! other formats' weights) stays out. This module holds the rule both sides share: the
//! supervisor packs ([`oarn_models`]'s `archive`), the inference worker reads
//! (`oarn_formats::archive`).

use crate::task::ModelFormat;

/// Most members one archive may hold (a checkpoint split into 200 shards still fits).
pub const MAX_MEMBERS: usize = 256;
/// Largest JSON member (`tokenizer.json` of a large vocabulary is some tens of MiB).
pub const MAX_JSON: u64 = 64 << 20;
/// The ustar magic and version at offset 257 of the first header.
pub const MAGIC: &[u8; 8] = b"ustar\x0000";
/// Where [`MAGIC`] sits in the first block.
pub const MAGIC_AT: usize = 257;

/// What a member is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// `config.json`: the architecture and its sizes.
    Config,
    /// `generation_config.json`: the model's own sampling defaults and end tokens.
    GenerationConfig,
    /// `tokenizer.json`: the tokenizer, in the `tokenizers` library's format.
    Tokenizer,
    /// `tokenizer_config.json`: the chat template and special tokens.
    TokenizerConfig,
    /// `special_tokens_map.json`.
    SpecialTokens,
    /// A weights file (`model.safetensors`, `model-00001-of-00002.safetensors`,
    /// `pytorch_model.bin`, …) of that format.
    Weights(ModelFormat),
    /// The index of a sharded checkpoint (`model.safetensors.index.json`).
    Index(ModelFormat),
}

impl Member {
    /// Whether the member is JSON (and so limited to [`MAX_JSON`]).
    pub fn is_json(self) -> bool {
        !matches!(self, Member::Weights(_))
    }
}

/// What the file named `name` is in a model archive, or `None` when it is not a member (a
/// directory's other files stay out; an archive holding one is refused).
pub fn member(name: &str) -> Option<Member> {
    match name {
        "config.json" => return Some(Member::Config),
        "generation_config.json" => return Some(Member::GenerationConfig),
        "tokenizer.json" => return Some(Member::Tokenizer),
        "tokenizer_config.json" => return Some(Member::TokenizerConfig),
        "special_tokens_map.json" => return Some(Member::SpecialTokens),
        "model.safetensors" => return Some(Member::Weights(ModelFormat::Safetensors)),
        "model.safetensors.index.json" => return Some(Member::Index(ModelFormat::Safetensors)),
        "pytorch_model.bin" => return Some(Member::Weights(ModelFormat::Pytorch)),
        "pytorch_model.bin.index.json" => return Some(Member::Index(ModelFormat::Pytorch)),
        // A decoder graph in Hugging Face Optimum's layout.
        "model.onnx" => return Some(Member::Weights(ModelFormat::Onnx)),
        _ => {}
    }
    let shard = |stem: &str, ext: &str| {
        let rest = name.strip_prefix(stem)?.strip_suffix(ext)?;
        let (i, n) = rest.split_once("-of-")?;
        let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
        (digits(i) && digits(n)).then_some(())
    };
    if shard("model-", ".safetensors").is_some() {
        Some(Member::Weights(ModelFormat::Safetensors))
    } else if shard("pytorch_model-", ".bin").is_some() {
        Some(Member::Weights(ModelFormat::Pytorch))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_a_backend_reads_are_members_and_nothing_else() {
        assert_eq!(member("config.json"), Some(Member::Config));
        assert_eq!(member("model.onnx"), Some(Member::Weights(ModelFormat::Onnx)));
        assert_eq!(
            member("model.safetensors"),
            Some(Member::Weights(ModelFormat::Safetensors))
        );
        assert_eq!(
            member("model-00001-of-00002.safetensors"),
            Some(Member::Weights(ModelFormat::Safetensors))
        );
        assert_eq!(
            member("pytorch_model-00003-of-00003.bin"),
            Some(Member::Weights(ModelFormat::Pytorch))
        );
        for other in [
            "README.md",
            ".gitattributes",
            "decoder_model.onnx",
            "../config.json",
            "onnx/model.onnx",
            "model-1-of-2.safetensors",
            "model-0000a-of-00002.safetensors",
            "config.json/",
        ] {
            assert_eq!(member(other), None, "{other}");
        }
    }
}
