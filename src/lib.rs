//! forever-native: a Node.js supervisor whose core is written in Rust.
//!
//! The arrows point one way: [`binding`] (the napi boundary) drives [`supervisor`], which
//! drives the pure [`policy`] and the leaf modules — [`process`] (spawning, signalling a
//! tree), [`output`] (pipes to destinations), [`logs`] (log files), [`ipc`] (Node's IPC
//! channel), [`stdin`] (what JS writes to a child's stdin), [`watch`] (file changes),
//! [`guardian`] (children die with the host), [`listen`] (the sockets the core holds for
//! its children). The leaves report through narrow types of their own and share only
//! [`error`], [`procfs`] (reading `/proc`), [`tag`] (the mark children carry),
//! [`runtime`] and [`sync`] (how a lock is taken). [`sd_notify`] is the host's own side of
//! systemd's notify protocol (the CLI tells its service manager how it is), and
//! [`process::reaper`] reaps the orphans a host that is pid 1 adopts.
// Linux only: off Linux, build.rs stops the build with one message, and this crate is empty.
#![cfg(target_os = "linux")]

pub mod binding;
pub mod error;
pub mod guardian;
pub mod health;
pub mod ipc;
pub mod listen;
pub mod logs;
pub mod output;
pub mod policy;
pub mod process;
pub mod procfs;
pub mod runtime;
pub mod sd_notify;
pub mod stdin;
pub mod supervisor;
pub mod sync;
pub mod tag;
pub mod watch;
