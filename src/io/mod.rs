//! The tokio io driver: one process-wide runtime, one pair of tasks per adopted socket.

pub mod connection;
pub mod events;
pub mod runtime;
