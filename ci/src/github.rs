//! The GitHub REST calls we make, through octocrab: the token from `GITHUB_TOKEN`, the API at
//! `GITHUB_API_URL` (default `https://api.github.com`). Lists are read page by page (100 a page)
//! following the `Link` header.

use std::fmt;

use http_body_util::BodyExt;
use octocrab::{Octocrab, Page};
use serde::{Deserialize, Serialize};

use crate::error::{from_api, Error, Result};

/// `OWNER/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// Parse `OWNER/NAME`.
    pub fn parse(s: &str) -> Result<Repo> {
        let bad = || Error::BadInput(format!("{s:?} is not a repository (OWNER/NAME)"));
        let (owner, name) = s.trim().split_once('/').ok_or_else(bad)?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !ok(owner) || !ok(name) {
            return Err(bad());
        }
        Ok(Repo {
            owner: owner.into(),
            name: name.into(),
        })
    }

    /// `--repo`, else `GITHUB_REPOSITORY` (set in every workflow).
    pub fn from_arg_or_env(arg: Option<&str>) -> Result<Repo> {
        match arg {
            Some(a) => Repo::parse(a),
            None => match std::env::var("GITHUB_REPOSITORY") {
                Ok(r) if !r.is_empty() => Repo::parse(&r),
                _ => Err(Error::BadInput(
                    "no repository: pass --repo OWNER/NAME (GITHUB_REPOSITORY is not set)".into(),
                )),
            },
        }
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// An issue (or PR) comment: what we read of it.
#[derive(Clone, Debug, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A workflow run's artifact.
#[derive(Clone, Debug, Deserialize)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub size_in_bytes: u64,
    #[serde(default)]
    pub expired: bool,
    #[serde(default)]
    pub workflow_run: Option<ArtifactRun>,
}

/// The run an artifact belongs to.
#[derive(Clone, Debug, Deserialize)]
pub struct ArtifactRun {
    pub id: u64,
}

#[derive(Serialize)]
struct Body<'a> {
    body: &'a str,
}

/// What [`Client::upsert_comment`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upserted {
    Created { id: u64, url: Option<String> },
    Updated { id: u64, url: Option<String> },
}

/// The API client.
pub struct Client {
    crab: Octocrab,
}

/// The environment variable naming the API's base URL.
pub const API_URL_VAR: &str = "GITHUB_API_URL";

impl Client {
    /// A client with the token from `GITHUB_TOKEN` and the base URL from `GITHUB_API_URL`.
    /// Must be called inside a tokio runtime.
    pub fn from_env() -> Result<Client> {
        Client::from_vars(
            std::env::var("GITHUB_TOKEN").ok(),
            std::env::var(API_URL_VAR).ok(),
        )
    }

    /// [`Client::from_env`] with the variables' values given.
    pub fn from_vars(token: Option<String>, base: Option<String>) -> Result<Client> {
        let token = token
            .filter(|t| !t.trim().is_empty())
            .ok_or(Error::NoToken)?;
        let base = base
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "https://api.github.com".into());
        Client::new(&base, token.trim())
    }

    /// A client for the API at `base` with `token`.
    pub fn new(base: &str, token: &str) -> Result<Client> {
        let builder = Octocrab::builder()
            .base_uri(base)
            .map_err(|_| Error::BadInput(format!("{API_URL_VAR}={base:?} is not a URL")))?
            .personal_token(token.to_string());
        let crab = builder
            .build()
            .map_err(|e| from_api(e, "set up the client"))?;
        Ok(Client { crab })
    }

    async fn all<T: serde::de::DeserializeOwned>(&self, route: &str, what: &str) -> Result<Vec<T>> {
        let first: Page<T> = self
            .crab
            .get(route, Some(&[("per_page", "100")]))
            .await
            .map_err(|e| from_api(e, what))?;
        let mut page = first;
        let mut items = page.take_items();
        // A bound against a server whose pages never end.
        for _ in 0..1000 {
            match self
                .crab
                .get_page::<T>(&page.next)
                .await
                .map_err(|e| from_api(e, what))?
            {
                Some(mut next) => {
                    items.append(&mut next.take_items());
                    page = next;
                }
                None => break,
            }
        }
        Ok(items)
    }

    /// Every comment of issue or PR `number`.
    pub async fn comments(&self, repo: &Repo, number: u64) -> Result<Vec<Comment>> {
        let route = format!(
            "/repos/{}/{}/issues/{number}/comments",
            repo.owner, repo.name
        );
        self.all(&route, &format!("the comments of {repo}#{number}"))
            .await
    }

    /// Update the comment of PR `number` whose body contains `marker`, or create one.
    pub async fn upsert_comment(
        &self,
        repo: &Repo,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<Upserted> {
        let existing = self
            .comments(repo, number)
            .await?
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        match existing {
            Some(c) => {
                let route = format!(
                    "/repos/{}/{}/issues/comments/{}",
                    repo.owner, repo.name, c.id
                );
                let c: Comment = self
                    .crab
                    .patch(route, Some(&Body { body }))
                    .await
                    .map_err(|e| from_api(e, &format!("comment {} of {repo}", c.id)))?;
                Ok(Upserted::Updated {
                    id: c.id,
                    url: c.html_url,
                })
            }
            None => {
                let route = format!(
                    "/repos/{}/{}/issues/{number}/comments",
                    repo.owner, repo.name
                );
                let c: Comment = self
                    .crab
                    .post(route, Some(&Body { body }))
                    .await
                    .map_err(|e| from_api(e, &format!("{repo}#{number}")))?;
                Ok(Upserted::Created {
                    id: c.id,
                    url: c.html_url,
                })
            }
        }
    }

    /// Every artifact of workflow run `run`.
    pub async fn run_artifacts(&self, repo: &Repo, run: u64) -> Result<Vec<Artifact>> {
        let route = format!(
            "/repos/{}/{}/actions/runs/{run}/artifacts",
            repo.owner, repo.name
        );
        self.all(&route, &format!("workflow run {run} of {repo}"))
            .await
    }

    /// One artifact.
    pub async fn artifact(&self, repo: &Repo, id: u64) -> Result<Artifact> {
        let route = format!("/repos/{}/{}/actions/artifacts/{id}", repo.owner, repo.name);
        self.crab
            .get(route, None::<&()>)
            .await
            .map_err(|e| from_api(e, &format!("artifact {id} of {repo}")))
    }

    /// The zip of `artifact` (the API answers with a redirect to the storage, which is followed
    /// without the token).
    pub async fn download(&self, repo: &Repo, artifact: &Artifact) -> Result<Vec<u8>> {
        if artifact.expired {
            return Err(expired(artifact));
        }
        let what = format!("artifact {} of {repo}", artifact.id);
        let route = format!(
            "/repos/{}/{}/actions/artifacts/{}/zip",
            repo.owner, repo.name, artifact.id
        );
        let resp = self
            .crab
            ._get(route)
            .await
            .map_err(|e| from_api(e, &what))?;
        if resp.status().as_u16() == 410 {
            return Err(expired(artifact));
        }
        let resp = octocrab::map_github_error(resp)
            .await
            .map_err(|e| from_api(e, &what))?;
        // Without the redirect layer (or a redirect it refused to follow) the Location is ours.
        let resp = if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| Error::Api {
                    what: what.clone(),
                    message: "a redirect without a usable Location".into(),
                })?
                .to_string();
            let r = self
                .crab
                ._get(location)
                .await
                .map_err(|e| from_api(e, &what))?;
            octocrab::map_github_error(r)
                .await
                .map_err(|e| from_api(e, &what))?
        } else {
            resp
        };
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::CorruptDownload {
                reason: format!("the download broke off: {}", first_line(&e.to_string())),
            })?
            .to_bytes();
        Ok(bytes.to_vec())
    }
}

fn expired(a: &Artifact) -> Error {
    Error::Expired {
        name: a.name.clone(),
        id: a.id,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        assert_eq!(Repo::parse("a/b").unwrap().to_string(), "a/b");
        for bad in ["a", "/b", "a/", "a/b/c", "a b/c", ""] {
            assert!(Repo::parse(bad).is_err(), "{bad}");
        }
    }
}
