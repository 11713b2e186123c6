//! OneBot 11 beside OneBot 12: the protocol of go-cqhttp and NapCat that nonebot2's v11
//! adapter, Koishi, AstrBot and LangBot speak — on the same listener, with the same token,
//! guard and limits, from the same durable outbox (each channel its own cursor).
//!
//! * HTTP API: `GET|POST /onebot/v11/<action>` (JSON or form bodies, or the query).
//! * Forward WebSocket: `/onebot/v11/ws` (events and actions), `/onebot/v11/ws/api`,
//!   `/onebot/v11/ws/event`.
//! * Reverse WebSocket: `onebot11.ws_reverse` (one connection per account).
//! * HTTP POST: `onebot11.http_post`, quick operations in the reply.
//!
//! OneBot 11 ids are integers: [`ids`] maps every WeChat id to a number durably.
//! [`message`] converts segments, [`events`] events, [`actions`] actions.

pub mod actions;
pub mod events;
pub mod http;
pub mod ids;
pub mod message;

pub use ids::Ids;
