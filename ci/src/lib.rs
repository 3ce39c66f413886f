//! cargo-record-test in CI: reading `report.json`, the one PR comment listing the caught
//! failures, the step summary, and getting a packed trace back from a run's artifacts, over
//! GitHub's REST API through octocrab (`GITHUB_TOKEN`; `GITHUB_API_URL` moves the API, as
//! GitHub Enterprise and the tests' local server need).
//!
//! * [`report`]: the report's serde types.
//! * [`comment`] / [`summary`]: the Markdown of the PR comment and of `$GITHUB_STEP_SUMMARY`.
//! * [`github`]: the client: create-or-update the comment, list and download artifacts.
//! * [`fetch`]: from an artifact URL or a run id to verified packed files on disk.

pub mod comment;
mod error;
pub mod fetch;
pub mod github;
pub mod report;
pub mod summary;

pub use error::{Error, Result};
