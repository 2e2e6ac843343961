//! The `https` example end to end: the real binary (a certificate generated at its start),
//! driven by `tether_hyper::Client` trusting that certificate, over HTTP/2 and HTTP/1.1 (as
//! ALPN decides), then stopped with SIGINT.

mod support;

use std::process::Command;
use std::time::Duration;

use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use support::child::{example_bin, Running};
use tether_hyper::Client;

/// Sends a request and reads the reply whole: status, protocol, body.
async fn send(
    client: &Client,
    method: &str,
    uri: &str,
    json: Option<&str>,
) -> (StatusCode, Version, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if json.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = Full::new(Bytes::from(json.unwrap_or("").to_string()));
    let res = client.request(req.body(body).unwrap()).await.unwrap();
    let (status, version) = (res.status(), res.version());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, version, String::from_utf8(body.to_vec()).unwrap())
}

async fn exercise(client: &Client, base: &str, version: Version, name: &str) {
    let (status, v, body) = send(client, "GET", &format!("{base}/"), None).await;
    assert_eq!(
        (status, v, body.as_str()),
        (StatusCode::OK, version, "Hello, World!")
    );

    let json = format!(r#"{{"name":"{name}"}}"#);
    let (status, v, body) = send(client, "POST", &format!("{base}/items"), Some(&json)).await;
    assert_eq!((status, v), (StatusCode::CREATED, version), "{body}");
    let item: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(item["name"], name);

    let id = item["id"].as_u64().unwrap();
    let (status, _, body) = send(client, "GET", &format!("{base}/items/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        item
    );

    let (status, _, _) = send(client, "GET", &format!("{base}/nowhere"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn the_https_example_serves_http2_and_http1_over_tls_with_its_generated_certificate() {
    let mut cmd = Command::new(example_bin("https"));
    cmd.arg("127.0.0.1:0");
    let mut server = Running::start(cmd, "https example");
    let line = server.wait_for_line("listening on https://", Duration::from_secs(30));
    let port = line
        .trim()
        .strip_prefix("listening on https://")
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .expect("the first line names the address")
        .port();
    let line = server.wait_for_line("certificate: ", Duration::from_secs(10));
    let cert_path = line
        .trim()
        .strip_prefix("certificate: ")
        .unwrap()
        .to_string();
    let cert = CertificateDer::from_pem_file(&cert_path).expect("the certificate file");

    let rt = tether::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The name in the certificate, resolved by the client.
        let base = format!("https://localhost:{port}");
        let h2: Client = Client::builder().add_root_certificate(cert.clone()).build();
        exercise(&h2, &base, Version::HTTP_2, "tea").await;

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let mut config = tether_hyper::tls::client_config(roots);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let h1: Client = Client::builder().tls_config(config).build();
        exercise(&h1, &base, Version::HTTP_11, "coffee").await;

        // A client that does not trust the certificate is refused by its own TLS check.
        let err = Client::new()
            .get(format!("{base}/").parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err}");
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "{err}"
        );
    });
    drop(rt);
    server.interrupt();
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}\n{}", server.output());
    let out = server.stdout_text();
    let summary = out
        .lines()
        .find(|l| l.starts_with("shutdown summary:"))
        .unwrap_or_else(|| panic!("no summary\n{out}"));
    assert!(summary.contains("0 cut off"), "{summary}");
    assert!(
        !std::path::Path::new(&cert_path).exists(),
        "the example removes its certificate file at shutdown"
    );
}
