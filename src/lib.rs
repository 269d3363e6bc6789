//! forever-native: a Node.js supervisor whose core is written in Rust.
//!
//! `binding` is the napi boundary; everything else is plain Rust. `supervisor` runs one
//! task per monitor, asking the pure `policy` what to do when a child exits; `process`
//! spawns and signals children, `output` moves their output (`logs` writes the log files),
//! `ipc` speaks Node's IPC channel, `watch` restarts on file changes, and `guardian` makes
//! sure no child outlives the host.
// Linux only: off Linux, build.rs stops the build with one message, and this crate is empty.
#![cfg(target_os = "linux")]

pub mod binding;
pub mod error;
pub mod guardian;
pub mod ipc;
pub mod logs;
pub mod output;
pub mod policy;
pub mod process;
pub mod supervisor;
pub mod watch;
