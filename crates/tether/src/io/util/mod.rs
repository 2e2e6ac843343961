//! I/O utilities a runtime's users expect and that `futures-lite` does not have: an in-memory
//! stream pair ([`duplex`]) and a two-way copy ([`copy_bidirectional`]). Everything else
//! (`read_exact`, `write_all`, `copy`, `BufReader`, `lines`, ...) is re-exported from
//! `futures-lite` by the parent module, not rewritten here.

mod copy_bidirectional;
mod duplex;

pub use copy_bidirectional::copy_bidirectional;
pub use duplex::{duplex, DuplexStream};
