//! Keeping CI secrets out of traces: a trace stores the program's whole environment (and every
//! byte it reads), and a packed trace is uploaded as an artifact anyone with read access can
//! download. Under CI (`CI` set, as GitHub Actions and most CI systems do) or when asked
//! (`CRT_SCRUB_ENV=1`, which the GitHub action sets), tests run with an environment without
//! secret-looking variables; `record --keep-env NAME` keeps one.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Variables dropped by name, besides those whose name contains one of [`SECRET_WORDS`].
const SECRET_NAMES: [&str; 3] = [
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];
/// Parts of a name (upper-cased) that make a variable look secret.
const SECRET_WORDS: [&str; 6] = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"];

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Whether recordings made now get a scrubbed environment.
pub fn scrub_wanted() -> bool {
    flag("CI") || flag("CRT_SCRUB_ENV")
}

/// Whether a variable named `name` looks like it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAMES.contains(&upper.as_str()) || SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// `vars` without the secret-looking ones (except those named in `keep`), as `NAME=value`
/// entries, and the names dropped.
pub fn scrub(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    keep: &[String],
) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut env = Vec::new();
    let mut dropped = Vec::new();
    for (k, v) in vars {
        let name = k.to_string_lossy().into_owned();
        if looks_secret(&name) && !keep.contains(&name) {
            dropped.push(name);
            continue;
        }
        let mut e = k.into_vec();
        e.push(b'=');
        e.extend(v.into_vec());
        env.push(e);
    }
    dropped.sort();
    (env, dropped)
}

/// The environment to record a program with: `None` (this process's) unless scrubbing is wanted;
/// then the scrubbed one, after saying on stderr what was dropped.
pub fn record_env(keep: &[String]) -> Option<Vec<Vec<u8>>> {
    if !scrub_wanted() {
        return None;
    }
    let (env, dropped) = scrub(std::env::vars_os(), keep);
    if !dropped.is_empty() {
        eprintln!(
            "record-test: under CI, not passing secret-looking variables to the program: {} \
             (keep one with --keep-env NAME)",
            dropped.join(", ")
        );
    }
    Some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn drops_secret_looking_names_and_keeps_the_rest() {
        let (env, dropped) = scrub(
            vars(&[
                ("PATH", "/bin"),
                ("GITHUB_TOKEN", "ghs_x"),
                ("ACTIONS_RUNTIME_TOKEN", "a"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "b"),
                ("AWS_SECRET_ACCESS_KEY", "c"),
                ("db_password", "d"),
                ("NPM_AUTH_TOKEN", "e"),
                ("SSH_KEY", "f"),
                ("GIT_CREDENTIALS", "g"),
                ("HOME", "/root"),
                ("CI", "true"),
            ]),
            &["SSH_KEY".to_string()],
        );
        let env: Vec<String> = env
            .into_iter()
            .map(|e| String::from_utf8(e).unwrap())
            .collect();
        assert_eq!(env, ["PATH=/bin", "SSH_KEY=f", "HOME=/root", "CI=true"]);
        assert_eq!(
            dropped,
            [
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                "ACTIONS_RUNTIME_TOKEN",
                "AWS_SECRET_ACCESS_KEY",
                "GITHUB_TOKEN",
                "GIT_CREDENTIALS",
                "NPM_AUTH_TOKEN",
                "db_password"
            ]
        );
    }
}
