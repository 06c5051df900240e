//! RESP2/RESP3 wire format: request decoding and reply encoding.
//!
//! This layer turns bytes into argument lists and [`Reply`] values into bytes. It knows nothing about
//! commands or data.

mod decoder;
mod encoder;
mod reply;

pub use decoder::{parse_request, split_inline_args, Args, OwnedArgs, ParseLimits, ProtocolError, RequestBuf};
pub use encoder::{encode, format_double, format_human_double, Protocol};
pub use reply::Reply;
