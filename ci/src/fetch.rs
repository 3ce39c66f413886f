//! `fetch URL|RUN_ID`: from the PR comment's artifact link
//! (`https://github.com/OWNER/NAME/actions/runs/RUN/artifacts/ID`) or a run id (its artifacts
//! named `record-test-traces*`), download each zip, unzip it under the destination, and verify every
//! packed trace's checksum before anyone replays it.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::github::{Artifact, Client, Repo};

/// What to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// One artifact (its page URL names the repository).
    Artifact { repo: Option<Repo>, id: u64 },
    /// The `record-test-traces*` artifacts of a workflow run.
    Run { repo: Option<Repo>, id: u64 },
}

/// Artifacts of a run whose name starts with this are the traces.
pub const ARTIFACT_PREFIX: &str = "record-test-traces";

/// Parse `URL|RUN_ID`: a run id, an artifact page URL, or a run page URL.
pub fn parse_source(s: &str) -> Result<Source> {
    let s = s.trim();
    if let Ok(id) = s.parse::<u64>() {
        return Ok(Source::Run { repo: None, id });
    }
    let bad = || {
        Error::BadInput(format!(
            "{s:?} is neither a run id nor a link like https://github.com/OWNER/NAME/actions/runs/RUN/artifacts/ID"
        ))
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    // host / owner / name / actions / runs / RUN [/ artifacts / ID]
    if parts.len() < 6 || parts[3] != "actions" || parts[4] != "runs" {
        return Err(bad());
    }
    let repo = Some(Repo::parse(&format!("{}/{}", parts[1], parts[2]))?);
    let run: u64 = parts[5].parse().map_err(|_| bad())?;
    match &parts[6..] {
        [] => Ok(Source::Run { repo, id: run }),
        ["artifacts", id] => Ok(Source::Artifact {
            repo,
            id: id.parse().map_err(|_| bad())?,
        }),
        _ => Err(bad()),
    }
}

/// One downloaded artifact.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub artifact: Artifact,
    /// Where its files went.
    pub dir: PathBuf,
    /// Its packed traces, checksums verified.
    pub traces: Vec<PathBuf>,
    /// The zip's size.
    pub downloaded: u64,
}

/// Fetch `source` (`repo` for a bare run id) into `dest/<artifact id>/`.
pub async fn fetch(
    client: &Client,
    source: &Source,
    repo: Option<Repo>,
    dest: &Path,
) -> Result<Vec<Fetched>> {
    let (src_repo, artifacts) = match source {
        Source::Artifact { repo: r, id } => {
            let repo = pick_repo(r, repo)?;
            let a = client.artifact(&repo, *id).await?;
            (repo, vec![a])
        }
        Source::Run { repo: r, id } => {
            let repo = pick_repo(r, repo)?;
            let all = client.run_artifacts(&repo, *id).await?;
            let ours: Vec<Artifact> = all
                .iter()
                .filter(|a| a.name.starts_with(ARTIFACT_PREFIX))
                .cloned()
                .collect();
            if ours.is_empty() {
                let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
                return Err(Error::BadInput(format!(
                    "workflow run {id} of {repo} has no artifact named {ARTIFACT_PREFIX}* ({})",
                    if names.is_empty() {
                        "it has no artifacts".to_string()
                    } else {
                        format!("it has: {}", names.join(", "))
                    }
                )));
            }
            (repo, ours)
        }
    };
    let mut out = Vec::new();
    for a in artifacts {
        let zip = client.download(&src_repo, &a).await?;
        let dir = dest.join(a.id.to_string());
        let traces = unzip(&zip, &dir)?;
        out.push(Fetched {
            artifact: a,
            dir,
            traces,
            downloaded: zip.len() as u64,
        });
    }
    Ok(out)
}

fn pick_repo(from_source: &Option<Repo>, arg: Option<Repo>) -> Result<Repo> {
    match (arg, from_source) {
        (Some(a), _) => Ok(a),
        (None, Some(r)) => Ok(r.clone()),
        (None, None) => Repo::from_arg_or_env(None),
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Unpack the artifact zip `bytes` into `dir` (replacing what a previous fetch left there) and
/// check each packed trace; returns the packed traces.
pub fn unzip(bytes: &[u8], dir: &Path) -> Result<Vec<PathBuf>> {
    let corrupt = |reason: String| Error::CorruptDownload { reason };
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| corrupt(format!("not a zip archive ({e})")))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io("remove", dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut traces = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| corrupt(format!("member {i} is unreadable ({e})")))?;
        if f.is_dir() {
            continue;
        }
        let name = f
            .enclosed_name()
            .ok_or_else(|| corrupt(format!("member {i} has a path outside the destination")))?;
        let path = dir.join(&name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io("create", p))?;
        }
        let mut data = Vec::new();
        f.read_to_end(&mut data)
            .map_err(|e| corrupt(format!("{} does not decompress ({e})", name.display())))?;
        std::fs::write(&path, &data).map_err(io("write", &path))?;
        if path.extension().is_some_and(|e| e == pack::PACK_EXTENSION) {
            pack::read_packed_header(&path)
                .map_err(|e| corrupt(format!("{}: {e}", name.display())))?;
            traces.push(path);
        }
    }
    if traces.is_empty() {
        return Err(corrupt(format!(
            "it holds no packed trace (*.{})",
            pack::PACK_EXTENSION
        )));
    }
    traces.sort();
    Ok(traces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let r = Some(Repo::parse("o/r").unwrap());
        assert_eq!(
            parse_source("https://github.com/o/r/actions/runs/12/artifacts/34").unwrap(),
            Source::Artifact {
                repo: r.clone(),
                id: 34
            }
        );
        assert_eq!(
            parse_source("https://github.com/o/r/actions/runs/12/").unwrap(),
            Source::Run { repo: r, id: 12 }
        );
        assert_eq!(
            parse_source("77").unwrap(),
            Source::Run { repo: None, id: 77 }
        );
        for bad in [
            "",
            "x",
            "https://github.com/o/r",
            "https://github.com/o/r/actions/runs/x",
            "https://github.com/o/r/actions/runs/1/logs/2",
            "ftp://github.com/o/r/actions/runs/1",
        ] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_is_a_corrupt_download() {
        let d = std::env::temp_dir().join(format!("ci-unzip-{}", std::process::id()));
        let e = unzip(b"PK\x03\x04 not really", &d).unwrap_err();
        assert!(matches!(e, Error::CorruptDownload { .. }), "{e}");
    }
}
