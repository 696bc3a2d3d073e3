//! Finding landing files: a recursive listing in file-name order that skips names writers use
//! while a file is incomplete, and the stable assignment of each file to one worker.

use std::io;
use std::path::{Path, PathBuf};

use crate::sink::lake::stable_hash;

/// A landing file, with its path relative to the landing root (used in dead letters and bronze
/// file names) and its size when listed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LandingFile {
    /// Path relative to the landing root, `/`-separated.
    pub rel: String,
    /// Absolute (or root-joined) path.
    pub path: PathBuf,
    /// Size in bytes when listed.
    pub len: u64,
}

/// Whether a file or directory name is one writers use for incomplete or private data:
/// hidden (`.x`), underscore-prefixed (`_x`, Spark's convention), or `*.tmp`/`*.crc`/`*~`.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || name.ends_with(".tmp")
        || name.ends_with(".crc")
        || name.ends_with('~')
}

/// Lists every non-ignored regular file under `root`, sorted by relative path.
pub fn list_files(root: &Path) -> io::Result<Vec<LandingFile>> {
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<LandingFile>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_ignored_name(name) {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            // Removed between listing and stat: it is simply not there any more.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            walk(&entry.path(), &rel, out)?;
        } else if meta.is_file() {
            out.push(LandingFile {
                rel,
                path: entry.path(),
                len: meta.len(),
            });
        }
    }
    Ok(())
}

/// The worker (of `peers`) that reads the file with relative path `rel`; the same in every
/// process, so each file is read exactly once across the cluster.
pub fn owner(rel: &str, peers: usize) -> usize {
    let peers = u64::try_from(peers.max(1)).unwrap_or(1);
    usize::try_from(stable_hash(rel.as_bytes()) % peers).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sorted_and_skips_temp_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "b.json",
            "a.json",
            "sub/c.json",
            ".x.json",
            "_tmp.json",
            "d.json.tmp",
            ".hidden/e.json",
        ] {
            std::fs::write(root.join(name), "[]").unwrap();
        }
        let rels: Vec<String> = list_files(root)
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(rels, vec!["a.json", "b.json", "sub/c.json"]);
    }

    #[test]
    fn every_file_has_exactly_one_owner() {
        for peers in 1..5 {
            for i in 0..50 {
                let rel = format!("f{i}.json");
                assert!(owner(&rel, peers) < peers);
                assert_eq!(owner(&rel, peers), owner(&rel, peers));
            }
        }
    }
}
