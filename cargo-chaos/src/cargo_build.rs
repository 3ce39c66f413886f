//! Cargo integration: read the workspace (`cargo metadata`), build the tests as
//! `cargo test --no-run --message-format=json-render-diagnostics` does, and take every test
//! artifact (profile.test, with an executable), with the environment `cargo test` gives it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, Metadata, MetadataCommand, Package, TargetKind};

use crate::cli::FrontArgs;
use crate::exit::Error;

/// One test binary cargo built.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// `package::kind/target`, e.g. `flaky::test/flaky`, `mylib::lib/mylib`.
    pub binary_id: String,
    pub path: PathBuf,
    /// The package directory: the working directory of its tests.
    pub cwd: PathBuf,
    /// What `cargo test` sets for it (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...).
    pub env: Vec<(String, OsString)>,
}

/// The workspace as cargo sees it.
pub struct Workspace {
    pub metadata: Metadata,
    pub target_dir: PathBuf,
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Read the workspace; a missing manifest is a usage error.
pub fn workspace(args: &FrontArgs) -> Result<Workspace, Error> {
    if let Some(m) = &args.manifest_path {
        if !m.is_file() {
            return Err(Error::Usage(format!(
                "manifest path `{}` does not exist",
                m.display()
            )));
        }
    }
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo()).no_deps();
    if let Some(m) = &args.manifest_path {
        cmd.manifest_path(m);
    }
    let mut other = Vec::new();
    if args.offline {
        other.push("--offline".to_string());
    }
    if args.locked {
        other.push("--locked".to_string());
    }
    cmd.other_options(other);
    let metadata = cmd.exec().map_err(|e| {
        let text = match &e {
            cargo_metadata::Error::CargoMetadata { stderr } => stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or(stderr.trim())
                .trim_start_matches("error: ")
                .to_string(),
            e => e.to_string(),
        };
        if text.contains("could not find `Cargo.toml`") {
            Error::Usage(text)
        } else {
            Error::Build(format!("cannot read the workspace: {text}"))
        }
    })?;
    let target_dir = args
        .target_dir
        .clone()
        .unwrap_or_else(|| metadata.target_directory.clone().into_std_path_buf());
    let target_dir = std::path::absolute(&target_dir).unwrap_or(target_dir);
    Ok(Workspace {
        metadata,
        target_dir,
    })
}

/// The `cargo test --no-run` arguments for the selection flags.
fn selection_args(args: &FrontArgs, target_dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["test".into(), "--no-run".into()];
    v.push("--message-format=json-render-diagnostics".into());
    let mut flag = |f: &str| v.push(f.into());
    if args.workspace {
        flag("--workspace");
    }
    if args.lib {
        flag("--lib");
    }
    if args.bins {
        flag("--bins");
    }
    if args.tests {
        flag("--tests");
    }
    if args.all_features {
        flag("--all-features");
    }
    if args.no_default_features {
        flag("--no-default-features");
    }
    if args.release {
        flag("--release");
    }
    if args.offline {
        flag("--offline");
    }
    if args.locked {
        flag("--locked");
    }
    let mut pair = |f: &str, vals: &[String]| {
        for x in vals {
            v.push(f.into());
            v.push(x.into());
        }
    };
    pair("--package", &args.package);
    pair("--exclude", &args.exclude);
    pair("--bin", &args.bin);
    pair("--test", &args.test);
    pair("--features", &args.features);
    if let Some(p) = &args.profile {
        pair("--profile", std::slice::from_ref(p));
    }
    if let Some(m) = &args.manifest_path {
        v.push("--manifest-path".into());
        v.push(m.into());
    }
    v.push("--target-dir".into());
    v.push(target_dir.into());
    v
}

/// Build the tests; diagnostics go to our stderr as cargo renders them.
pub fn build(args: &FrontArgs, ws: &Workspace) -> Result<Vec<TestBinary>, Error> {
    let mut cmd = Command::new(cargo());
    cmd.args(selection_args(args, &ws.target_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| Error::Io {
        message: "cannot run cargo".into(),
        source: e,
    })?;
    let stdout = child.stdout.take().expect("piped");
    let mut tests = Vec::new();
    let mut bins: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    for msg in Message::parse_stream(std::io::BufReader::new(stdout)) {
        let Ok(Message::CompilerArtifact(a)) = msg else {
            continue;
        };
        let Some(exe) = a.executable.clone() else {
            continue;
        };
        if a.profile.test {
            tests.push(a);
        } else if a.target.kind.contains(&TargetKind::Bin) {
            bins.entry(a.package_id.repr.clone())
                .or_default()
                .push((a.target.name.clone(), exe.into_std_path_buf()));
        }
    }
    let status = child.wait().map_err(|e| Error::Io {
        message: "cannot wait for cargo".into(),
        source: e,
    })?;
    if !status.success() {
        return Err(Error::Build(format!(
            "building the tests failed (`cargo test --no-run` ended with {status})"
        )));
    }
    let packages: BTreeMap<&str, &Package> = ws
        .metadata
        .packages
        .iter()
        .map(|p| (p.id.repr.as_str(), p))
        .collect();
    let mut out = Vec::new();
    for a in tests {
        let Some(pkg) = packages.get(a.package_id.repr.as_str()) else {
            continue;
        };
        let kind = match a.target.kind.first() {
            Some(TargetKind::Lib | TargetKind::RLib | TargetKind::ProcMacro) => "lib",
            Some(TargetKind::Bin) => "bin",
            Some(TargetKind::Test) => "test",
            Some(TargetKind::Bench) => "bench",
            Some(TargetKind::Example) => "example",
            _ => "lib",
        };
        let binary_id = format!("{}::{kind}/{}", pkg.name, a.target.name);
        let mut env = package_env(pkg, &a.target.name);
        for (name, exe) in bins.get(a.package_id.repr.as_str()).into_iter().flatten() {
            env.push((format!("CARGO_BIN_EXE_{name}"), exe.into()));
        }
        out.push(TestBinary {
            binary_id,
            path: a.executable.expect("checked").into_std_path_buf(),
            cwd: pkg
                .manifest_path
                .parent()
                .map(|p| p.as_std_path().to_path_buf())
                .unwrap_or_default(),
            env,
        });
    }
    out.sort_by(|a, b| a.binary_id.cmp(&b.binary_id));
    out.dedup_by(|a, b| a.binary_id == b.binary_id && a.path == b.path);
    Ok(out)
}

/// The variables `cargo test` sets when it runs a package's test binary.
fn package_env(pkg: &Package, target: &str) -> Vec<(String, OsString)> {
    let s = |x: &Option<String>| OsString::from(x.clone().unwrap_or_default());
    let v = &pkg.version;
    let dir = pkg
        .manifest_path
        .parent()
        .map(|p| p.to_string())
        .unwrap_or_default();
    vec![
        ("CARGO".into(), cargo()),
        ("CARGO_MANIFEST_DIR".into(), dir.into()),
        (
            "CARGO_MANIFEST_PATH".into(),
            pkg.manifest_path.as_str().into(),
        ),
        ("CARGO_PKG_NAME".into(), pkg.name.as_str().into()),
        ("CARGO_CRATE_NAME".into(), target.replace('-', "_").into()),
        ("CARGO_PKG_VERSION".into(), v.to_string().into()),
        ("CARGO_PKG_VERSION_MAJOR".into(), v.major.to_string().into()),
        ("CARGO_PKG_VERSION_MINOR".into(), v.minor.to_string().into()),
        ("CARGO_PKG_VERSION_PATCH".into(), v.patch.to_string().into()),
        ("CARGO_PKG_VERSION_PRE".into(), v.pre.as_str().into()),
        ("CARGO_PKG_AUTHORS".into(), pkg.authors.join(":").into()),
        ("CARGO_PKG_DESCRIPTION".into(), s(&pkg.description)),
        ("CARGO_PKG_HOMEPAGE".into(), s(&pkg.homepage)),
        ("CARGO_PKG_REPOSITORY".into(), s(&pkg.repository)),
        ("CARGO_PKG_LICENSE".into(), s(&pkg.license)),
        (
            "CARGO_PKG_LICENSE_FILE".into(),
            s(&pkg.license_file.as_ref().map(|p| p.to_string())),
        ),
        (
            "CARGO_PKG_RUST_VERSION".into(),
            s(&pkg.rust_version.as_ref().map(|v| v.to_string())),
        ),
        (
            "CARGO_PKG_README".into(),
            s(&pkg.readme.as_ref().map(|p| p.to_string())),
        ),
    ]
}
