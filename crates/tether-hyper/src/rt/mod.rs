//! hyper's runtime traits on tether: an executor ([`TetherExecutor`]), a timer
//! ([`TetherTimer`]) and I/O ([`TetherIo`]). With these three, hyper's and hyper-util's
//! connection builders run on tether; [`serve`](crate::serve) puts them together.

mod executor;
mod io;
mod timer;

pub(crate) use executor::CatchUnwind;
pub use executor::TetherExecutor;
pub use io::{TetherIo, TetherStream};
pub use timer::TetherTimer;
