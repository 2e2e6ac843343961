//! I/O utilities with tokio's names and meaning that `futures-lite` lacks or shapes differently:
//! the extension traits (`futures-lite`'s methods plus tokio's number readers and writers,
//! `shutdown`, `Lines`/`Split` with `next_line`/`next_segment`, and `read_line`/`read_to_string`
//! that append), buffered wrappers with tokio's API (`BufReader`, `BufWriter`, `BufStream`),
//! `split` with `unsplit`, `copy` (which flushes while its reader waits) and `copy_buf`,
//! `empty`/`repeat`/`sink` (which spend the cooperative budget), an in-memory stream pair
//! (`duplex`) and a two-way copy (`copy_bidirectional`). What `futures-lite` does as tokio does
//! (`Cursor`, `Take`, `Chain`, ...) is re-exported by the parent module, not rewritten here.

mod buf_read_ext;
pub(crate) mod buf_reader;
mod buf_stream;
mod buf_writer;
mod copy;
mod copy_bidirectional;
mod copy_buf;
mod duplex;
mod empty_repeat_sink;
mod read_ext;
mod split;
mod write_ext;

pub use buf_read_ext::{AsyncBufReadExt, FillBuf, Lines, ReadLine, Split};
pub use buf_reader::BufReader;
pub use buf_stream::BufStream;
pub use buf_writer::BufWriter;
pub use copy::copy;
pub use copy_bidirectional::copy_bidirectional;
pub use copy_buf::copy_buf;
pub use duplex::{duplex, DuplexStream};
pub use empty_repeat_sink::{empty, repeat, sink, Empty, Repeat, Sink};
pub use read_ext::{AsyncReadExt, ReadNum, ReadToString};
pub use split::{split, ReadHalf, WriteHalf};
pub use write_ext::{AsyncWriteExt, WriteNum};
