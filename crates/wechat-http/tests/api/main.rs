//! Black-box tests: the real server on 127.0.0.1:0, the emulator over the real WeChatFerry
//! wire, temp dirs, real HTTP.

mod accounts;
mod categories;
mod console;
mod contacts;
mod demo;
mod engine;
mod events;
mod fleet;
mod friends;
mod helpers;
mod kinds;
mod lifecycle;
mod limits;
mod media;
mod onebot11;
mod outcomes;
mod postgres;
mod protocol;
mod security;
mod send;
mod steps;
