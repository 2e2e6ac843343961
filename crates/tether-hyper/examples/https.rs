//! The `axum` example's JSON API over HTTPS, served by tether: `cargo run --release -p
//! tether-hyper --example https [ADDR]` (default `127.0.0.1:3443`; `127.0.0.1:0` picks a free
//! port). At start it generates a self-signed certificate for `localhost` and `127.0.0.1`
//! (rcgen) and writes it, PEM-encoded, to the temporary directory so that clients can trust
//! it. It prints `listening on https://ADDR` first, then `certificate: PATH`. Clients choose
//! HTTP/2 or HTTP/1.1 during the TLS handshake (ALPN). Ctrl-C shuts it down gracefully, prints
//! what was cut off and removes the certificate file.
//!
//! ```text
//! $ curl -s --cacert /tmp/tether-https-example-3443.pem https://localhost:3443/items \
//!     -H 'content-type: application/json' -d '{"name":"tea"}'
//! {"id":1,"name":"tea"}
//! $ curl -s --cacert /tmp/tether-https-example-3443.pem --http1.1 https://localhost:3443/items/1
//! {"id":1,"name":"tea"}
//! ```

mod api;

use std::sync::Arc;

use rustls::pki_types::PrivatePkcs8KeyDer;

#[tether::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3443".to_string());
    let listener = tether::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;

    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(std::io::Error::other)?;
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config = tether_hyper::tls::server_config(vec![generated.cert.der().clone()], key.into())?;
    let cert_path = std::env::temp_dir().join(format!("tether-https-example-{}.pem", local.port()));
    std::fs::write(&cert_path, generated.cert.pem())?;

    println!("listening on https://{local}");
    println!("certificate: {}", cert_path.display());
    let summary = tether_hyper::serve_tls(listener, Arc::new(config).into(), api::app())
        .with_graceful_shutdown(async {
            let _ = tether::signal::ctrl_c().await;
            println!("Ctrl-C: shutting down");
        })
        .await;
    println!("{summary}");
    let _ = std::fs::remove_file(&cert_path);
    Ok(())
}
