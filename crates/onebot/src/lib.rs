//! OneBot 12 protocol types, pure serde, no I/O: the action request and response envelopes,
//! the retcode table, events and message segments.

#![warn(missing_docs)]

pub mod action;
pub mod event;
pub mod retcode;
pub mod segment;
pub mod v11;

pub use action::{Action, BotSelf, Resp, Status};
pub use event::Event;
pub use segment::{Message, Segment};

#[cfg(test)]
mod tests;
