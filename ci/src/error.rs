//! Errors of the CI side, each one line (the binary adds `caused by:` lines).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("GITHUB_TOKEN is not set (in a workflow: `env: GITHUB_TOKEN: ${{{{ github.token }}}}`; locally: `export GITHUB_TOKEN=$(gh auth token)`)")]
    NoToken,
    #[error("github refused the token ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("not found on github: {what} (404; a private repository also answers 404 to a token that cannot read it)")]
    NotFound { what: String },
    #[error("artifact {name} ({id}) has expired; re-run the workflow to record it again")]
    Expired { name: String, id: u64 },
    #[error("the downloaded artifact is corrupt: {reason}")]
    CorruptDownload { reason: String },
    #[error("github api: {what}: {message}")]
    Api { what: String, message: String },
    #[error("{0}")]
    BadInput(String),
    #[error("cannot read report {}: {reason}", path.display())]
    Report { path: PathBuf, reason: String },
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether this is the user's input or environment (exit 2) rather than a failure of ours.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Error::Io { .. })
    }
}

/// An octocrab error, while doing `what`, as one of ours.
pub(crate) fn from_api(e: octocrab::Error, what: &str) -> Error {
    if let octocrab::Error::GitHub { source, .. } = &e {
        let status = source.status_code.as_u16();
        let message = source
            .message
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        return match status {
            401 | 403 => Error::Unauthorized { status, message },
            404 => Error::NotFound { what: what.into() },
            _ => Error::Api {
                what: what.into(),
                message: format!("{status} {message}"),
            },
        };
    }
    let text = e.to_string();
    Error::Api {
        what: what.into(),
        message: text.lines().next().unwrap_or("unknown error").to_string(),
    }
}
