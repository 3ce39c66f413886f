//! The GitHub side against a local fake of the REST API (wiremock on 127.0.0.1): the PR comment
//! is created once then updated, found again across pages; run artifacts are listed across
//! pages; a download follows the API's redirect and yields verified packed traces; every error
//! case gives its own error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ci::github::{Client, Repo, Upserted};
use ci::{fetch, Error};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn repo() -> Repo {
    Repo::parse("octo/proj").unwrap()
}

fn client(server: &MockServer) -> Client {
    Client::new(&server.uri(), "test-token").unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ci-test-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn page_param(req: &Request) -> usize {
    req.url
        .query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
}

/// `items[page]` of a list served `per` at a time, with GitHub's `Link` header.
fn paged(
    base: &str,
    req: &Request,
    items: &[serde_json::Value],
    per: usize,
    key: Option<&str>,
) -> ResponseTemplate {
    let page = page_param(req);
    let chunk: Vec<_> = items
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect();
    let pages = items.len().div_ceil(per).max(1);
    let url = |n: usize| format!("{base}{}?per_page=100&page={n}", req.url.path());
    let mut links = Vec::new();
    if page < pages {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", url(pages)));
    }
    let body = match key {
        Some(k) => serde_json::json!({ "total_count": items.len(), k: chunk }),
        None => serde_json::Value::Array(chunk),
    };
    let mut t = ResponseTemplate::new(200).set_body_json(body);
    if !links.is_empty() {
        t = t.insert_header("Link", links.join(", ").as_str());
    }
    t
}

/// A PR's comments, kept between requests: GET lists them two a page, POST adds, PATCH edits.
#[derive(Clone)]
struct Comments(Arc<Mutex<Vec<(u64, String)>>>, String);

impl Comments {
    fn new(server: &MockServer) -> Comments {
        Comments(Arc::default(), server.uri())
    }
}

impl Respond for Comments {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut list = self.0.lock().unwrap();
        let json = |id: u64, body: &str| serde_json::json!({"id": id, "body": body, "html_url": format!("https://github.com/c/{id}")});
        match req.method.as_str() {
            "GET" => {
                let items: Vec<_> = list.iter().map(|(i, b)| json(*i, b)).collect();
                paged(&self.1, req, &items, 2, None)
            }
            "POST" => {
                let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                let id = 1000 + list.len() as u64;
                list.push((id, body["body"].as_str().unwrap().to_string()));
                ResponseTemplate::new(201).set_body_json(json(id, &list.last().unwrap().1))
            }
            "PATCH" => {
                let id: u64 = req.url.path().rsplit('/').next().unwrap().parse().unwrap();
                let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                let Some(c) = list.iter_mut().find(|(i, _)| *i == id) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(serde_json::json!({"message": "Not Found"}));
                };
                c.1 = body["body"].as_str().unwrap().to_string();
                ResponseTemplate::new(200).set_body_json(json(id, &c.1))
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

#[tokio::test]
async fn comment_is_created_then_updated_never_duplicated() {
    let server = MockServer::start().await;
    let state = Comments::new(&server);
    {
        let mut l = state.0.lock().unwrap();
        for i in 0..5 {
            l.push((10 + i, format!("a human comment {i}")));
        }
    }
    Mock::given(path("/repos/octo/proj/issues/7/comments"))
        .respond_with(state.clone())
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/proj/issues/comments/1005"))
        .respond_with(state.clone())
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let marker = ci::comment::MARKER;
    let first = c
        .upsert_comment(&repo(), 7, marker, &format!("{marker}\nfirst"))
        .await
        .unwrap();
    assert!(
        matches!(first, Upserted::Created { id: 1005, .. }),
        "{first:?}"
    );
    // Now on the third page of two: found there, so updated, not added.
    for body in ["second", "third"] {
        let again = c
            .upsert_comment(&repo(), 7, marker, &format!("{marker}\n{body}"))
            .await
            .unwrap();
        assert!(
            matches!(again, Upserted::Updated { id: 1005, .. }),
            "{again:?}"
        );
    }
    let l = state.0.lock().unwrap();
    assert_eq!(l.len(), 6);
    assert_eq!(l.iter().filter(|(_, b)| b.contains(marker)).count(), 1);
    assert!(l[5].1.ends_with("third"));
}

#[tokio::test]
async fn all_comments_are_read_across_pages() {
    let server = MockServer::start().await;
    let state = Comments::new(&server);
    state
        .0
        .lock()
        .unwrap()
        .extend((0..7).map(|i| (i, format!("c{i}"))));
    Mock::given(path("/repos/octo/proj/issues/3/comments"))
        .respond_with(state)
        .mount(&server)
        .await;
    let got = client(&server).comments(&repo(), 3).await.unwrap();
    let ids: Vec<u64> = got.iter().map(|c| c.id).collect();
    assert_eq!(ids, (0..7).collect::<Vec<_>>());
}

/// A packed trace of a minimal recording (no events; /bin/true as its stored executable).
fn packed_trace(dir: &Path) -> PathBuf {
    let header = pack::Header {
        format_version: pack::FORMAT_VERSION,
        tool_version: "0.1.0".into(),
        program: b"/usr/bin/true".to_vec(),
        argv: vec![b"true".to_vec()],
        env: vec![],
        cwd: b"/".to_vec(),
        start_time_ns: 1,
        duration_ns: 0,
        cpuid: vec![],
        xcr0: 0,
        kernel_release: "test".into(),
        chaos: None,
        exit: None,
        complete: false,
        incomplete_reason: String::new(),
    };
    let trace = dir.join("t.trace");
    let mut w = pack::TraceWriter::create(&trace, &header).unwrap();
    w.store_program(Path::new("/usr/bin/true")).unwrap();
    let mut h = header.clone();
    h.complete = true;
    h.exit = Some(pack::ExitStatus::Exited(0));
    w.finish(&h).unwrap();
    let out = dir.join("flaky-lost_update-0.crtpack");
    pack::pack(&trace, &out, "test").unwrap();
    out
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn artifact(id: u64, name: &str, expired: bool) -> serde_json::Value {
    serde_json::json!({"id": id, "name": name, "size_in_bytes": 100, "expired": expired,
                       "workflow_run": {"id": 55}, "unknown_field": [1, 2]})
}

/// Serve run 55's artifacts one a page and artifact `id`'s zip through a redirect.
async fn serve_run(
    server: &MockServer,
    artifacts: Vec<serde_json::Value>,
    id: u64,
    zip: Vec<u8>,
    downloads: u64,
) {
    Mock::given(method("GET"))
        .and(path("/repos/octo/proj/actions/runs/55/artifacts"))
        .respond_with({
            let base = server.uri();
            move |req: &Request| paged(&base, req, &artifacts, 1, Some("artifacts"))
        })
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/octo/proj/actions/artifacts/{id}/zip")))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/storage/blob-{id}.zip", server.uri()).as_str(),
        ))
        .expect(downloads)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/storage/blob-{id}.zip")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(zip))
        .expect(downloads)
        .mount(server)
        .await;
}

#[tokio::test]
async fn run_artifacts_across_pages_and_a_redirected_download() {
    let dir = scratch("run");
    let packed = packed_trace(&dir);
    let bytes = std::fs::read(&packed).unwrap();
    let zip = zip_of(&[
        ("flaky-lost_update-0.crtpack", &bytes),
        ("junit.xml", b"<testsuites/>"),
    ]);
    let server = MockServer::start().await;
    let list = vec![
        artifact(1, "junit", false),
        artifact(2, "coverage", false),
        artifact(3, "record-test-traces", false),
    ];
    serve_run(&server, list, 3, zip, 1).await;
    let dest = dir.join("fetched");
    let got = fetch::fetch(
        &client(&server),
        &fetch::parse_source("55").unwrap(),
        Some(repo()),
        &dest,
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].artifact.id, 3);
    assert_eq!(
        got[0].traces,
        vec![dest.join("3/flaky-lost_update-0.crtpack")]
    );
    assert_eq!(std::fs::read(&got[0].traces[0]).unwrap(), bytes);
    assert!(dest.join("3/junit.xml").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn artifact_link_of_the_comment() {
    let dir = scratch("link");
    let bytes = std::fs::read(packed_trace(&dir)).unwrap();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/proj/actions/artifacts/3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(artifact(
            3,
            "record-test-traces",
            false,
        )))
        .mount(&server)
        .await;
    serve_run(&server, vec![], 3, zip_of(&[("a/x.crtpack", &bytes)]), 1).await;
    let src =
        fetch::parse_source("https://github.com/octo/proj/actions/runs/55/artifacts/3").unwrap();
    let got = fetch::fetch(&client(&server), &src, None, &dir.join("f"))
        .await
        .unwrap();
    assert_eq!(got[0].traces, vec![dir.join("f/3/a/x.crtpack")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn fetch_err(server: &MockServer, source: &str) -> Error {
    let dir = scratch("err");
    let e = fetch::fetch(
        &client(server),
        &fetch::parse_source(source).unwrap(),
        Some(repo()),
        &dir,
    )
    .await
    .unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    // The binary prints it as its one `caused by:` line.
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
    e
}

fn github_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "message": message, "documentation_url": "https://docs.github.com/rest"
    }))
}

#[tokio::test]
async fn missing_token() {
    let e = Client::from_vars(None, Some("http://127.0.0.1:9".into()))
        .err()
        .unwrap();
    assert!(matches!(e, Error::NoToken));
    assert!(Client::from_vars(Some("  ".into()), None).is_err());
    assert!(e.to_string().contains("GITHUB_TOKEN"));
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
}

#[tokio::test]
async fn unauthorized_and_forbidden() {
    for status in [401, 403] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(github_error(status, "Bad credentials"))
            .mount(&server)
            .await;
        let e = fetch_err(&server, "55").await;
        assert!(
            matches!(e, Error::Unauthorized { status: s, .. } if s == status),
            "{status}: {e}"
        );
        assert!(e.to_string().contains("Bad credentials"), "{e}");
        let e = client(&server)
            .upsert_comment(&repo(), 1, "m", "b")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    }
}

#[tokio::test]
async fn not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(github_error(404, "Not Found"))
        .mount(&server)
        .await;
    let e = fetch_err(
        &server,
        "https://github.com/octo/proj/actions/runs/55/artifacts/9",
    )
    .await;
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("artifact 9"), "{e}");
}

#[tokio::test]
async fn expired_artifact_by_its_flag_and_by_410() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/proj/actions/artifacts/4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(artifact(
            4,
            "record-test-traces",
            true,
        )))
        .mount(&server)
        .await;
    let e = fetch_err(
        &server,
        "https://github.com/octo/proj/actions/runs/55/artifacts/4",
    )
    .await;
    assert!(matches!(e, Error::Expired { id: 4, .. }), "{e}");

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/proj/actions/artifacts/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(artifact(
            5,
            "record-test-traces",
            false,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/proj/actions/artifacts/5/zip"))
        .respond_with(github_error(410, "Artifact has expired"))
        .mount(&server)
        .await;
    let e = fetch_err(
        &server,
        "https://github.com/octo/proj/actions/runs/55/artifacts/5",
    )
    .await;
    assert!(matches!(e, Error::Expired { id: 5, .. }), "{e}");
}

#[tokio::test]
async fn corrupt_downloads() {
    let dir = scratch("corrupt");
    let mut bytes = std::fs::read(packed_trace(&dir)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a zip", b"<html>oops</html>".to_vec()),
        ("damaged trace", zip_of(&[("x.crtpack", &bytes)])),
        ("no trace", zip_of(&[("junit.xml", b"<x/>")])),
    ];
    for (what, zip) in cases {
        let server = MockServer::start().await;
        serve_run(
            &server,
            vec![artifact(8, "record-test-traces", false)],
            8,
            zip,
            1,
        )
        .await;
        let e = fetch_err(&server, "55").await;
        assert!(matches!(e, Error::CorruptDownload { .. }), "{what}: {e}");
        assert_eq!(e.to_string().lines().count(), 1, "{what}: {e}");
    }
    let server = MockServer::start().await;
    serve_run(&server, vec![artifact(8, "junit", false)], 8, vec![], 0).await;
    let e = fetch_err(&server, "55").await;
    assert!(
        e.to_string()
            .contains("has no artifact named record-test-traces"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
