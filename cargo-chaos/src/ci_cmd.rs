//! The CI subcommands: `ci comment` (create or update the one PR comment), `ci summary` (the
//! job summary's Markdown), `ci pack-failures` (pack the trace of every caught failure of a
//! report for upload), and `fetch URL|RUN_ID` (download an artifact's packed traces, verified,
//! and print or run the replay command). The work is in the `ci` crate.

use std::path::{Path, PathBuf};

use crate::exit::Error;
use crate::paths;

fn ci_err(what: impl Into<String>) -> impl FnOnce(ci::Error) -> Error {
    let what = what.into();
    move |source| Error::Ci { what, source }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}

/// The report to read: `--report`, else `target/record-test/report.json`.
fn report_path(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| paths::trace_root().join("report.json"))
}

/// `ci comment --pr N`.
pub fn comment(
    pr: u64,
    report: Option<PathBuf>,
    repo: Option<String>,
    artifact_url: Option<String>,
) -> Result<(), Error> {
    let path = report_path(report);
    let r = ci::report::read(&path).map_err(ci_err("comment"))?;
    let repo = ci::github::Repo::from_arg_or_env(repo.as_deref()).map_err(ci_err("comment"))?;
    let run_url = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        (Ok(s), Ok(id)) if !s.is_empty() && !id.is_empty() => {
            Some(format!("{s}/{repo}/actions/runs/{id}"))
        }
        _ => None,
    };
    let body = ci::comment::render(&r, artifact_url.as_deref(), run_url.as_deref());
    let what = format!("comment on {repo}#{pr}");
    let done = runtime()?.block_on(async {
        let client = ci::github::Client::from_env()?;
        client
            .upsert_comment(&repo, pr, ci::comment::MARKER, &body)
            .await
    });
    match done.map_err(ci_err(what))? {
        ci::github::Upserted::Created { id, url } => {
            eprintln!("record-test: created comment {id} on {repo}#{pr}");
            println!("{}", url.unwrap_or_default());
        }
        ci::github::Upserted::Updated { id, url } => {
            eprintln!("record-test: updated comment {id} on {repo}#{pr}");
            println!("{}", url.unwrap_or_default());
        }
    }
    Ok(())
}

/// `ci summary`: the Markdown on stdout (append it to `$GITHUB_STEP_SUMMARY`).
pub fn summary(report: Option<PathBuf>, artifact_url: Option<String>) -> Result<(), Error> {
    let r = ci::report::read(&report_path(report)).map_err(ci_err("summarize"))?;
    print!("{}", ci::summary::render(&r, artifact_url.as_deref()));
    Ok(())
}

/// `ci pack-failures --out DIR`: pack every caught failure's trace; prints the packed files.
pub fn pack_failures(report: Option<PathBuf>, out: &Path) -> Result<(), Error> {
    let r = ci::report::read(&report_path(report)).map_err(ci_err("pack the failures"))?;
    std::fs::create_dir_all(out)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", out.display())))?;
    let mut n = 0;
    for run in r.runs.iter().filter(|r| r.caught()) {
        let (Some(trace), Some(name)) = (&run.trace, run.packed_name()) else {
            continue;
        };
        crate::pack_cmd::run(trace, Some(out.join(name)))?;
        n += 1;
    }
    eprintln!(
        "record-test: packed {n} failing traces into {}",
        out.display()
    );
    Ok(())
}

/// `fetch URL|RUN_ID`.
pub fn fetch(
    source: &str,
    repo: Option<String>,
    trace: Option<String>,
    replay: bool,
) -> Result<Option<PathBuf>, Error> {
    let what = format!("fetch {source}");
    let src = ci::fetch::parse_source(source).map_err(ci_err(what.clone()))?;
    let repo = repo
        .map(|r| ci::github::Repo::parse(&r))
        .transpose()
        .map_err(ci_err(what.clone()))?;
    let dest = paths::trace_root().join("fetched");
    let fetched = runtime()?
        .block_on(async {
            let client = ci::github::Client::from_env()?;
            ci::fetch::fetch(&client, &src, repo, &dest).await
        })
        .map_err(ci_err(what.clone()))?;
    let mut all = Vec::new();
    for f in &fetched {
        eprintln!(
            "record-test: artifact {} ({}, {}) in {}",
            f.artifact.name,
            f.artifact.id,
            pack::human_bytes(f.downloaded),
            f.dir.display()
        );
        all.extend(f.traces.iter().cloned());
    }
    let chosen: Vec<&PathBuf> = match &trace {
        Some(t) => all
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == *t))
            .collect(),
        None => all.iter().collect(),
    };
    if let Some(t) = &trace {
        if chosen.is_empty() {
            let names: Vec<String> = all
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            return Err(Error::Usage(format!(
                "the artifact holds no trace {t} (it holds: {})",
                names.join(", ")
            )));
        }
    }
    for p in &chosen {
        println!("cargo record-test replay -a {}", p.display());
    }
    if !replay {
        return Ok(None);
    }
    match chosen.as_slice() {
        [one] => Ok(Some((*one).clone())),
        _ => Err(Error::Usage(format!(
            "the artifact holds {} traces: pick one with --trace NAME",
            chosen.len()
        ))),
    }
}
