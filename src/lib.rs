//! Wire types shared by the minicode server and its browser client.
//!
//! Everything here serialises to the JSON described in `docs/protocol.md` and
//! compiles to `wasm32-unknown-unknown`: no server-only dependencies.

pub mod error;
pub mod model;
pub mod paths;
pub mod protocol;
pub mod usage;

pub use error::{ApiError, ErrorCode};
pub use model::*;
