//! Reading libtest's output: the failing tests' names and their panic messages.

/// A panic as libtest's default hook prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panic {
    /// The panicking thread (libtest names test threads after their test).
    pub thread: String,
    /// `LOCATION: MESSAGE` (the message may have several lines).
    pub text: String,
}

/// Every panic in `text`, in order.
pub fn panics(text: &str) -> Vec<Panic> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        i += 1;
        let Some(rest) = l.strip_prefix("thread '") else {
            continue;
        };
        // `thread 'NAME' panicked at` or, since Rust 1.89, `thread 'NAME' (TID) panicked at`.
        let Some((before, after)) = rest.split_once(" panicked at ") else {
            continue;
        };
        let Some((thread, _tid)) = before.rsplit_once('\'') else {
            continue;
        };
        // Since Rust 1.73: "panicked at LOC:" then the message on the next lines.
        let (loc, mut msg) = match after.strip_suffix(':') {
            Some(loc) => (loc.to_string(), Vec::new()),
            None => (String::new(), vec![after.to_string()]),
        };
        while i < lines.len() {
            let m = lines[i];
            if m.is_empty()
                || m.starts_with("note: ")
                || m.starts_with("stack backtrace:")
                || m.starts_with("thread '")
                || m.starts_with("---- ")
            {
                break;
            }
            msg.push(m.to_string());
            i += 1;
        }
        let body = msg.join("\n");
        out.push(Panic {
            thread: thread.to_string(),
            text: if loc.is_empty() {
                body
            } else {
                format!("{loc}: {body}")
            },
        });
    }
    out
}

/// The tests libtest reported as failed (`test NAME ... FAILED`).
pub fn failed_tests(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("test ")?;
            let (name, verdict) = rest.rsplit_once(" ... ")?;
            (verdict.trim() == "FAILED").then(|| name.to_string())
        })
        .collect();
    v.dedup();
    v
}

/// The panic message of test `name` (or the first panic when no thread carries its name).
pub fn message_of(name: Option<&str>, stdout: &str, stderr: &str) -> Option<String> {
    let mut all = panics(stderr);
    all.extend(panics(stdout));
    name.and_then(|n| all.iter().find(|p| p.thread == n))
        .or_else(|| all.first())
        .map(|p| p.text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_of_the_current_format() {
        let err = "thread 'lost_update' panicked at tests/flaky.rs:47:5:\nassertion `left == right` failed: an increment was lost\n  left: 39\n right: 40\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let p = panics(err);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].thread, "lost_update");
        assert_eq!(
            p[0].text,
            "tests/flaky.rs:47:5: assertion `left == right` failed: an increment was lost\n  left: 39\n right: 40"
        );
    }

    #[test]
    fn panic_message_with_a_thread_id() {
        let err = "\nthread 'lost_update' (13604) panicked at tests/flaky.rs:47:5:\nboom\nstack backtrace:\n   0: x\n";
        let p = panics(err);
        assert_eq!(p[0].thread, "lost_update");
        assert_eq!(p[0].text, "tests/flaky.rs:47:5: boom");
    }

    #[test]
    fn failing_tests_of_a_whole_binary() {
        let out = "running 2 tests\ntest a ... ok\ntest m::b ... FAILED\n\nfailures:\n\n---- m::b stdout ----\n\nthread 'm::b' panicked at src/lib.rs:3:9:\nboom\n\nfailures:\n    m::b\n";
        assert_eq!(failed_tests(out), vec!["m::b"]);
        assert_eq!(
            message_of(Some("m::b"), out, "").as_deref(),
            Some("src/lib.rs:3:9: boom")
        );
    }
}
