//! Fetches a URL with `tether_hyper::Client` and prints the status, the headers and the body's
//! length: `cargo run --release -p tether-hyper --example http_client URL [--cacert PEM]
//! [--http2]`. `https` URLs are checked against webpki-roots' certificates, plus the PEM
//! certificate given with `--cacert` (the `https` example writes one); `--http2` speaks HTTP/2
//! with prior knowledge on plain `http`.
//!
//! ```text
//! $ cargo run --release -p tether-hyper --example http_client http://127.0.0.1:3000/items
//! GET http://127.0.0.1:3000/items
//! HTTP/1.1 200 OK
//! content-type: application/json
//! content-length: 2
//! date: ...
//! body: 2 bytes
//! ```

use std::convert::Infallible;
use std::process::ExitCode;

use http_body_util::BodyExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const USAGE: &str = "usage: http_client URL [--cacert PEM] [--http2]";

#[tether::main]
async fn main() -> ExitCode {
    let mut url = None;
    let mut builder = tether_hyper::Client::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cacert" => {
                let Some(path) = args.next() else {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                };
                match CertificateDer::from_pem_file(&path) {
                    Ok(cert) => builder = builder.add_root_certificate(cert),
                    Err(e) => {
                        eprintln!("cannot read a PEM certificate from {path}: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--http2" => builder = builder.http2_prior_knowledge(),
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let uri: http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => {
            eprintln!("not a URL: {url}: {e}");
            return ExitCode::from(2);
        }
    };
    println!("GET {uri}");
    // The client's connection tasks live in this scope, which ends once the client is dropped
    // and its connections have closed: nothing is left running when `main` returns.
    tether::scope::scope(|s| async move {
        let client: tether_hyper::Client = builder.build_in(&s);
        let code = fetch(&client, uri).await;
        drop(client);
        Ok::<_, Infallible>(code)
    })
    .await
    .unwrap_or(ExitCode::FAILURE)
}

/// Sends the request and prints what came back.
async fn fetch(client: &tether_hyper::Client, uri: http::Uri) -> ExitCode {
    let res = match client.get(uri).await {
        Ok(res) => res,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{:?} {}", res.version(), res.status());
    for (name, value) in res.headers() {
        println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    match res.into_body().collect().await {
        Ok(body) => {
            println!("body: {} bytes", body.to_bytes().len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error reading the body: {e}");
            ExitCode::FAILURE
        }
    }
}
