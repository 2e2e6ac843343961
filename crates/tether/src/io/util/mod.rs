//! I/O utilities with tokio's names and meaning that `futures-lite` lacks or shapes differently:
//! the extension traits (`futures-lite`'s methods plus tokio's number readers and writers,
//! `shutdown`, and `Lines`/`Split` with `next_line`/`next_segment`), buffered wrappers with
//! tokio's API (`BufReader`, `BufWriter`, `BufStream`), `split` with `unsplit`, `copy_buf`, an
//! in-memory stream pair (`duplex`) and a two-way copy (`copy_bidirectional`). What
//! `futures-lite` does as tokio does (`copy`, `empty`, `repeat`, `sink`, ...) is re-exported by
//! the parent module, not rewritten here.

mod buf_read_ext;
pub(crate) mod buf_reader;
mod buf_stream;
mod buf_writer;
mod copy_bidirectional;
mod copy_buf;
mod duplex;
mod read_ext;
mod split;
mod write_ext;

pub use buf_read_ext::{AsyncBufReadExt, Lines, Split};
pub use buf_reader::BufReader;
pub use buf_stream::BufStream;
pub use buf_writer::BufWriter;
pub use copy_bidirectional::copy_bidirectional;
pub use copy_buf::copy_buf;
pub use duplex::{duplex, DuplexStream};
pub use read_ext::{AsyncReadExt, ReadNum};
pub use split::{split, ReadHalf, WriteHalf};
pub use write_ext::{AsyncWriteExt, WriteNum};
