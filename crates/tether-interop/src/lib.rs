//! tether with the real crates of the tokio ecosystem. This crate has no code: its tests
//! (`tests/tokio_io.rs`, `tests/compat.rs`) run tokio-util, hyper, tokio-rustls and reqwest over
//! tether's streams through the `tokio-io` and `tokio-compat` features, and `cargo test
//! --workspace` runs them. They are a crate of their own so that those crates are not
//! dev-dependencies of `tether` itself.
