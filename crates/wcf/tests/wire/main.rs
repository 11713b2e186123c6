//! Client ↔ emulator over the real wire (SP/TCP PAIR1 + protobuf on 127.0.0.1).

mod helpers;
mod receiver;
mod rpc;
mod transport;
