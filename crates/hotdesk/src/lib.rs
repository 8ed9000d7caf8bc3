//! hotdesk: an Extension Mobility service that speaks Cisco's EM API.
//!
//! Layers (docs/architecture.md): [`domain`] holds the rules over a [`domain::Store`] and a
//! [`domain::Clock`]; [`store`] holds the database backends; [`http`] is the wire.

pub mod cli;
pub mod client;
pub mod domain;
pub mod http;
pub mod keyfile;
pub mod metrics;
pub mod store;
