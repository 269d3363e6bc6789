//! The supervisor's seam to the operating system: how a child is started, signalled and
//! cleaned up after. [`System`] is the real thing; tests put a fake child behind the same
//! trait and drive the supervisor's sequences with a paused clock.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::Result;
use crate::guardian;
use crate::policy::Reach;
use crate::process::tree::{self, Leftovers};
use crate::process::{self, OutputEnd, Sockets, SpawnSpec};
use crate::tag::Tag;

/// Resolves with the child's exit status (it has then been reaped).
pub type ExitFuture = Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send>>;

/// A child that has just been started.
pub struct Launched {
  /// Its pid, which is also its process group id.
  pub pid: u32,
  /// Its exit.
  pub exit: ExitFuture,
  /// The core's end of its IPC channel.
  pub channel: Option<OwnedFd>,
  /// The write end (non-blocking) of its own stdin pipe, when its stdin is `pipe`.
  pub stdin: Option<OwnedFd>,
}

/// What an exited child left running.
pub trait Remains: Send {
  /// Sends `signal` to each leftover once.
  fn signal(&mut self, signal: i32);
  /// True once nothing is left.
  fn is_gone(&mut self) -> bool;
}

/// How the supervisor starts, signals and cleans up after children.
pub trait Processes: Send + Sync + 'static {
  /// Starts a child (inside the runtime), with `sockets` as its descriptors 3, 4, ….
  fn spawn(
    &self,
    spec: &SpawnSpec,
    tag: &Tag,
    outputs: [Option<OutputEnd>; 2],
    sockets: &Sockets<'_>,
  ) -> Result<Launched>;
  /// Sends `signal` to the child `pid` and, as `reach` says, its tree.
  fn signal(&self, pid: u32, signal: i32, reach: Reach);
  /// Finds what the child `pid` (tagged `tag`, reaped after `uptime`) left running.
  fn leftovers(&self, pid: u32, tag: &Tag, uptime: Duration) -> Option<Box<dyn Remains>>;
  /// The child's group dies with the host from now on.
  fn guard(&self, pid: u32);
  /// The child has been reaped; its group is let go once empty.
  fn release(&self, pid: u32);
}

/// The real processes.
pub struct System;

impl Processes for System {
  fn spawn(
    &self,
    spec: &SpawnSpec,
    tag: &Tag,
    outputs: [Option<OutputEnd>; 2],
    sockets: &Sockets<'_>,
  ) -> Result<Launched> {
    let spawned = process::spawn(spec, tag, outputs, sockets)?;
    let mut child = spawned.child;
    Ok(Launched {
      pid: spawned.pid,
      exit: Box::pin(async move { child.wait().await }),
      channel: spawned.channel,
      stdin: spawned.stdin,
    })
  }

  fn signal(&self, pid: u32, signal: i32, reach: Reach) {
    let Ok(signal) = Signal::try_from(signal) else {
      return;
    };
    let reach = match reach {
      Reach::Child => tree::Reach::Process,
      Reach::Tree => tree::Reach::Group,
    };
    tree::signal_tree(pid, signal, reach);
  }

  fn leftovers(&self, pid: u32, tag: &Tag, uptime: Duration) -> Option<Box<dyn Remains>> {
    let siblings = |pids: &mut Vec<i32>| guardian::retain_unwatched(pids);
    Leftovers::find(pid, tag, uptime, &siblings).map(|l| Box::new(l) as Box<dyn Remains>)
  }

  fn guard(&self, pid: u32) {
    guardian::watch(pid);
  }

  fn release(&self, pid: u32) {
    guardian::release(pid);
  }
}

impl Remains for Leftovers {
  fn signal(&mut self, signal: i32) {
    if let Ok(signal) = Signal::try_from(signal) {
      Leftovers::signal(self, signal);
    }
  }

  fn is_gone(&mut self) -> bool {
    self.look_again();
    Leftovers::is_gone(self)
  }
}
