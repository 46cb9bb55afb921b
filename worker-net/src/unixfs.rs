//! UnixFS files: a file larger than one block is split into 256 KiB raw leaves under dag-pb
//! nodes (CIDv1, at most 174 links each, as Kubo lays out a balanced DAG), so a large file
//! (a model) moves as verified pieces and a fetch that stops resumes from the blocks it has.
//! Reading accepts what Kubo and Helia write: raw leaves or dag-pb leaves holding data.

use std::io::{Read, Write};
use std::path::Path;

use cid::Cid;
use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::blocks::{self, BlockError, DAG_PB, RAW, SHA2_256, Store};

/// Bytes per leaf (Kubo's and Helia's default chunk size).
pub const CHUNK: usize = 256 * 1024;
/// Links per dag-pb node (Kubo's balanced layout).
pub const LINKS: usize = 174;
/// A file up to this size stays one raw block, so its CID is the network's `bytes32` form
/// (inputs and results are single raw blocks).
pub const MAX_SINGLE: usize = 1 << 20;
/// Deepest DAG read (174^8 leaves is far beyond any file).
pub const MAX_DEPTH: usize = 8;
/// Largest file read back (a large model, with room).
pub const MAX_FILE: u64 = 256 << 30;

/// UnixFS `Data.Type` values this node reads or writes.
const TYPE_RAW: i32 = 0;
const TYPE_DIRECTORY: i32 = 1;
const TYPE_FILE: i32 = 2;

/// Why a UnixFS DAG could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A block could not be stored or read.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The file to add could not be read, or the output written.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// A node is not valid dag-pb or UnixFS.
    #[error("{cid} is not a valid UnixFS node: {why}")]
    Malformed { cid: String, why: String },
    /// A directory, symlink or other non-file.
    #[error("{0} is a UnixFS directory or special node, not a file; fetch a file inside it")]
    NotAFile(String),
    /// A block the DAG needs is not in the store.
    #[error("block {0} is missing")]
    Missing(String),
    /// Deeper or larger than any file this node reads.
    #[error("{0} is deeper or larger than this node reads")]
    TooLarge(String),
}

/// A dag-pb link.
#[derive(Clone, PartialEq, prost::Message)]
struct PbLink {
    #[prost(bytes = "vec", optional, tag = "1")]
    hash: Option<Vec<u8>>,
    #[prost(string, optional, tag = "2")]
    name: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    tsize: Option<u64>,
}

/// A dag-pb node (decoding only: canonical encoding puts links before data, see [`encode`]).
#[derive(Clone, PartialEq, prost::Message)]
struct PbNode {
    #[prost(bytes = "vec", optional, tag = "1")]
    data: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "2")]
    links: Vec<PbLink>,
}

/// UnixFS `Data` (the fields files use).
#[derive(Clone, PartialEq, prost::Message)]
struct Data {
    #[prost(int32, tag = "1")]
    r#type: i32,
    #[prost(bytes = "vec", optional, tag = "2")]
    data: Option<Vec<u8>>,
    #[prost(uint64, optional, tag = "3")]
    filesize: Option<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    blocksizes: Vec<u64>,
}

/// A dag-pb node in canonical form: links first, then data.
fn encode(links: &[PbLink], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for link in links {
        prost::encoding::message::encode(2, link, &mut out);
    }
    prost::encoding::bytes::encode(1, &data.to_vec(), &mut out);
    out
}

fn cid_of(codec: u64, bytes: &[u8]) -> Cid {
    let mh = cid::multihash::Multihash::<64>::wrap(SHA2_256, &Sha256::digest(bytes)).expect("32 bytes fit");
    Cid::new_v1(codec, mh)
}

/// One child of the node being built: its CID, file bytes under it, and encoded size.
#[derive(Clone, Copy)]
struct Child {
    cid: Cid,
    filesize: u64,
    tsize: u64,
}

/// What [`add`] stored.
#[derive(Debug, Clone, Copy)]
pub struct Added {
    /// The file's CID: raw for a single block, dag-pb for a DAG.
    pub cid: Cid,
    /// The file's size.
    pub size: u64,
    /// Blocks stored.
    pub blocks: u64,
    /// The file's sha256.
    pub hash: [u8; 32],
}

/// Stores the file at `path`: one raw block up to [`MAX_SINGLE`] bytes, else a UnixFS DAG.
pub fn add(store: &Store, path: &Path) -> Result<Added, Error> {
    let io = |source| Error::Io {
        what: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size <= MAX_SINGLE as u64 {
        let mut data = Vec::with_capacity(size as usize);
        file.read_to_end(&mut data).map_err(io)?;
        let cid = store.put_raw(&data)?;
        return Ok(Added {
            cid,
            size: data.len() as u64,
            blocks: 1,
            hash: Sha256::digest(&data).into(),
        });
    }
    let mut level = Vec::new();
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut file, &mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
        let cid = store.put_raw(&chunk[..n])?;
        level.push(Child {
            cid,
            filesize: n as u64,
            tsize: n as u64,
        });
    }
    let mut blocks = level.len() as u64;
    while level.len() > 1 {
        let mut up = Vec::with_capacity(level.len().div_ceil(LINKS));
        for group in level.chunks(LINKS) {
            let data = Data {
                r#type: TYPE_FILE,
                data: None,
                filesize: Some(group.iter().map(|c| c.filesize).sum()),
                blocksizes: group.iter().map(|c| c.filesize).collect(),
            };
            let links: Vec<PbLink> = group
                .iter()
                .map(|c| PbLink {
                    hash: Some(c.cid.to_bytes()),
                    name: Some(String::new()),
                    tsize: Some(c.tsize),
                })
                .collect();
            let bytes = encode(&links, &data.encode_to_vec());
            let cid = cid_of(DAG_PB, &bytes);
            store.put(&cid, &bytes)?;
            up.push(Child {
                cid,
                filesize: data.filesize.unwrap_or(0),
                tsize: bytes.len() as u64 + group.iter().map(|c| c.tsize).sum::<u64>(),
            });
        }
        blocks += up.len() as u64;
        level = up;
    }
    let root = level.first().map(|c| c.cid).unwrap_or_else(|| cid_of(RAW, &[]));
    Ok(Added {
        cid: root,
        size,
        blocks,
        hash: hasher.finalize().into(),
    })
}

fn read_full(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// A node's file data and children, read from its block.
#[derive(Debug, Default)]
pub struct Node {
    /// Bytes of the file held in the node itself (before its children's).
    pub data: Vec<u8>,
    /// Children, in file order.
    pub links: Vec<Cid>,
    /// The file size the node declares (its data plus its children's).
    pub filesize: Option<u64>,
}

/// Reads the block of `cid` as a UnixFS file node: a raw block is all data.
pub fn node(cid: &Cid, block: &[u8]) -> Result<Node, Error> {
    let bad = |why: String| Error::Malformed {
        cid: cid.to_string(),
        why,
    };
    match cid.codec() {
        RAW => Ok(Node {
            data: block.to_vec(),
            links: Vec::new(),
            filesize: Some(block.len() as u64),
        }),
        DAG_PB => {
            let pb = PbNode::decode(block).map_err(|e| bad(e.to_string()))?;
            let data = Data::decode(pb.data.as_deref().unwrap_or_default()).map_err(|e| bad(e.to_string()))?;
            if !matches!(data.r#type, TYPE_RAW | TYPE_FILE) {
                return Err(if data.r#type == TYPE_DIRECTORY {
                    Error::NotAFile(cid.to_string())
                } else {
                    Error::NotAFile(format!("{cid} (UnixFS type {})", data.r#type))
                });
            }
            let links = pb
                .links
                .iter()
                .map(|l| {
                    let hash = l.hash.as_deref().ok_or_else(|| bad("a link without a hash".into()))?;
                    let child = Cid::try_from(hash).map_err(|e| bad(format!("a link's CID: {e}")))?;
                    blocks::hash_of_cid(&child)?;
                    Ok(child)
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(Node {
                data: data.data.unwrap_or_default(),
                links,
                filesize: data.filesize,
            })
        }
        other => Err(bad(format!("codec 0x{other:x} is neither raw nor dag-pb"))),
    }
}

/// Reads the node of `cid` from the store.
pub fn stored(store: &Store, cid: &Cid) -> Result<Node, Error> {
    let block = store.get(cid)?.ok_or_else(|| Error::Missing(cid.to_string()))?;
    node(cid, &block)
}

/// Writes the file under `root` from the store to `out`, depth first, checking each node's
/// declared size; returns the file's size and sha256. Raw leaves, the bulk of a file, are
/// read into one reused buffer and written from it as they are.
pub fn assemble(store: &Store, root: &Cid, out: &mut impl Write) -> Result<(u64, [u8; 32]), Error> {
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut leaf = Vec::with_capacity(CHUNK);
    let mut stack: Vec<(Cid, usize)> = vec![(*root, 0)];
    let mut emit = |data: &[u8]| {
        if data.is_empty() {
            return Ok(());
        }
        out.write_all(data).map_err(|source| Error::Io {
            what: "the output file".into(),
            source,
        })?;
        hasher.update(data);
        written += data.len() as u64;
        if written > MAX_FILE {
            return Err(Error::TooLarge(root.to_string()));
        }
        Ok(())
    };
    // Each entry: a node still to write and its depth; children pushed in reverse.
    while let Some((cid, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::TooLarge(root.to_string()));
        }
        if cid.codec() == RAW {
            if !store.read_into(&cid, &mut leaf)? {
                return Err(Error::Missing(cid.to_string()));
            }
            emit(&leaf)?;
            continue;
        }
        let n = stored(store, &cid)?;
        emit(&n.data)?;
        stack.extend(n.links.iter().rev().map(|c| (*c, depth + 1)));
    }
    let declared = stored(store, root)?.filesize;
    if declared.is_some_and(|d| d != written) {
        return Err(Error::Malformed {
            cid: root.to_string(),
            why: format!("it declares {} bytes but holds {written}", declared.unwrap_or(0)),
        });
    }
    Ok((written, hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 1000) as u8).collect()
    }

    #[test]
    fn small_files_stay_one_raw_block() {
        let (dir, store) = store();
        let path = dir.path().join("small");
        std::fs::write(&path, b"hello world\n").unwrap();
        let added = add(&store, &path).unwrap();
        assert_eq!(
            added.cid.to_string(),
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
        );
        assert_eq!(added.blocks, 1);
    }

    #[test]
    fn large_files_split_into_a_dag_and_read_back_whole() {
        let (dir, store) = store();
        // 200 leaves: two levels (174 + 26 under the root), the last leaf short.
        let bytes = pattern(199 * CHUNK + 1234);
        let path = dir.path().join("large");
        std::fs::write(&path, &bytes).unwrap();
        let added = add(&store, &path).unwrap();
        assert_eq!(added.cid.codec(), DAG_PB);
        assert_eq!(added.blocks, 200 + 2 + 1);
        let root = stored(&store, &added.cid).unwrap();
        assert_eq!(root.links.len(), 2);
        assert_eq!(root.filesize, Some(bytes.len() as u64));
        let mut out = Vec::new();
        let (size, hash) = assemble(&store, &added.cid, &mut out).unwrap();
        assert_eq!(
            (size, hash),
            (bytes.len() as u64, <[u8; 32]>::from(Sha256::digest(&bytes)))
        );
        assert!(out == bytes);
    }

    #[test]
    fn nodes_are_canonical_dag_pb_links_first() {
        let link = PbLink {
            hash: Some(cid_of(RAW, b"x").to_bytes()),
            name: Some(String::new()),
            tsize: Some(1),
        };
        let bytes = encode(&[link], b"\x08\x02");
        assert_eq!(bytes[0], 0x12, "field 2 (Links) first");
        assert_eq!(&bytes[bytes.len() - 4..], b"\x0a\x02\x08\x02", "then field 1 (Data)");
        let decoded = PbNode::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.links.len(), 1);
    }

    #[test]
    fn missing_blocks_malformed_nodes_and_directories_are_refused() {
        let (dir, store) = store();
        let path = dir.path().join("f");
        std::fs::write(&path, pattern(3 * CHUNK + MAX_SINGLE)).unwrap();
        let added = add(&store, &path).unwrap();
        let leaf = stored(&store, &added.cid).unwrap().links[2];
        std::fs::remove_file(dir.path().join("blocks").join(leaf.to_string())).unwrap();
        assert!(matches!(
            assemble(&store, &added.cid, &mut Vec::new()),
            Err(Error::Missing(_))
        ));

        let garbage = b"\xff\xff\xff";
        let cid = cid_of(DAG_PB, garbage);
        assert!(matches!(node(&cid, garbage), Err(Error::Malformed { .. })));
        let dir_data = Data {
            r#type: TYPE_DIRECTORY,
            ..Default::default()
        };
        let bytes = encode(&[], &dir_data.encode_to_vec());
        assert!(matches!(node(&cid_of(DAG_PB, &bytes), &bytes), Err(Error::NotAFile(_))));
    }
}
