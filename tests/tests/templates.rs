//! The CI templates under `ci-templates/github/` validate against GitHub's published workflow and
//! action schemas, with `check-jsonschema`'s vendored copies (no network). Without
//! `check-jsonschema` on PATH the test says so loudly and passes, except under `CI=true`, where it
//! fails: install it with `python3 -m pip install check-jsonschema`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("ci-templates/github")
}

/// `check-jsonschema --builtin-schema SCHEMA FILES`: `None` when the tool is absent.
fn check(schema: &str, files: &[PathBuf]) -> Option<(bool, String)> {
    let out = Command::new("check-jsonschema")
        .arg("--builtin-schema")
        .arg(schema)
        .args(files)
        .output();
    match out {
        Ok(o) => Some((
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot run check-jsonschema: {e}"),
    }
}

fn require_tool() -> bool {
    if Command::new("check-jsonschema")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    assert!(
        !ci,
        "check-jsonschema is not installed; under CI it must be: python3 -m pip install check-jsonschema"
    );
    eprintln!(
        "\n*** SKIPPED: check-jsonschema is not installed, the CI templates were NOT validated \
         (python3 -m pip install check-jsonschema) ***\n"
    );
    false
}

#[test]
fn action_and_workflows_match_githubs_schemas() {
    if !require_tool() {
        return;
    }
    let dir = templates();
    let (ok, text) = check("vendor.github-actions", &[dir.join("action.yml")]).unwrap();
    assert!(ok, "action.yml:\n{text}");
    let workflows = [dir.join("flaky-sweep.yml"), dir.join("flaky-comment.yml")];
    let (ok, text) = check("vendor.github-workflows", &workflows).unwrap();
    assert!(ok, "workflows:\n{text}");
}

#[test]
fn the_validation_catches_a_broken_action() {
    if !require_tool() {
        return;
    }
    let text = std::fs::read_to_string(templates().join("action.yml")).unwrap();
    let broken = text.replace("using: composite", "using: teleport");
    assert_ne!(broken, text);
    let path = std::env::temp_dir().join(format!("crt-broken-action-{}.yml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (ok, text) = check("vendor.github-actions", std::slice::from_ref(&path)).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        !ok,
        "a composite action with `using: teleport` passed:\n{text}"
    );
}
