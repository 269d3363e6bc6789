//! The host talking to its own service manager: systemd's notify protocol, the other way
//! round from [`health`](crate::health) (where the core listens to its children).
//!
//! Under a `Type=notify` unit, systemd names a datagram socket in `NOTIFY_SOCKET` (a path,
//! or `@name` in the abstract namespace) and waits for `READY=1` before it calls the
//! service started; `STATUS=` lines show in `systemctl status`; `RELOADING=1` (with
//! `MONOTONIC_USEC=`, the time of the request on `CLOCK_MONOTONIC`) and `READY=1` frame a
//! reload; `STOPPING=1` says a stop has begun; with `WatchdogSec=`, `WATCHDOG_USEC` asks
//! for `WATCHDOG=1` at least that often, or systemd kills and restarts the service.
//!
//! Node has no Unix datagram sockets, so the CLI sends through [`send`]. The watchdog's
//! pings come from a task of the core's runtime ([`start_watchdog`]), not from JavaScript:
//! they go on while the core runs, even while the JS thread is busy, and stop with a
//! process that is gone or a runtime that no longer runs its tasks. systemd's `NotifyAccess=
//! main` hears them: the kernel gives every thread's datagrams the process's pid.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{CoreError, Result};
use crate::sync::lock;

/// The shortest ping interval: a `WATCHDOG_USEC` of a few microseconds must not turn into
/// a busy loop.
const MIN_PING: Duration = Duration::from_millis(1);

/// The address `NOTIFY_SOCKET` names: `@name` for the abstract namespace, or an absolute
/// path. systemd's other forms (`vsock:`) are refused.
pub fn address(value: &str) -> io::Result<SocketAddr> {
  if let Some(name) = value.strip_prefix('@') {
    if name.is_empty() {
      return Err(invalid("NOTIFY_SOCKET names an empty abstract address"));
    }
    SocketAddr::from_abstract_name(name.as_bytes())
  } else if value.starts_with('/') {
    SocketAddr::from_pathname(value)
  } else {
    Err(invalid(
      "NOTIFY_SOCKET must be an absolute path or an @abstract name",
    ))
  }
}

fn invalid(message: &'static str) -> io::Error {
  io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Sends `message` in one datagram to the service manager at `notify_socket` (the value of
/// `NOTIFY_SOCKET`), from a socket of its own, as `sd_notify(3)` does. Never blocks: a
/// manager that does not read its socket makes this fail (`EAGAIN`), not wait.
pub fn send(notify_socket: &str, message: &str) -> io::Result<()> {
  let to = address(notify_socket)?;
  let socket = UnixDatagram::unbound()?;
  socket.set_nonblocking(true)?;
  let sent = socket.send_to_addr(message.as_bytes(), &to)?;
  if sent != message.len() {
    return Err(io::Error::new(
      io::ErrorKind::WriteZero,
      "the notify datagram was cut short",
    ));
  }
  Ok(())
}

/// `CLOCK_MONOTONIC` now, in microseconds: the clock `MONOTONIC_USEC=` is read on.
pub fn monotonic_usec() -> u64 {
  let mut now = libc::timespec {
    tv_sec: 0,
    tv_nsec: 0,
  };
  // SAFETY: clock_gettime writes one timespec; CLOCK_MONOTONIC always exists on Linux.
  unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
  (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1000
}

/// One notify message from `fields` (`READY=1`, `STATUS=…`, …), one per line. A value's
/// line breaks become spaces (each line is one assignment); a field that is not
/// `NAME=value`, with a name of capitals, digits and `_`, is left out. `RELOADING=1` gets the
/// `MONOTONIC_USEC=` systemd wants with it, `now_usec`, unless one is given. `None` when no
/// field is left.
pub fn compose(fields: &[String], now_usec: u64) -> Option<String> {
  let mut lines: Vec<String> = Vec::with_capacity(fields.len() + 1);
  for field in fields {
    let Some((name, value)) = field.split_once('=') else {
      continue;
    };
    let good_name = !name.is_empty()
      && name
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !good_name {
      continue;
    }
    let value: String = value
      .chars()
      .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
      .filter(|&c| c != '\0')
      .collect();
    lines.push(format!("{name}={value}"));
  }
  let reloading = lines.iter().any(|l| l == "RELOADING=1");
  if reloading && !lines.iter().any(|l| l.starts_with("MONOTONIC_USEC=")) {
    lines.push(format!("MONOTONIC_USEC={now_usec}"));
  }
  (!lines.is_empty()).then(|| lines.join("\n"))
}

/// How often to ping, as `sd_watchdog_enabled(3)` reads the environment: half of
/// `WATCHDOG_USEC` (a whole number of microseconds > 0), when `WATCHDOG_PID` is absent or
/// names `me`; `None` when no watchdog is asked of this process.
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
  let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
  if let Some(pid) = pid {
    if pid.trim().parse::<u32>().ok() != Some(me) {
      return None;
    }
  }
  Some((Duration::from_micros(usec) / 2).max(MIN_PING))
}

/// Receives the watchdog's failures (the first of each run of failures).
pub type Warn = Arc<dyn Fn(String) + Send + Sync>;

/// Pings tried so far (sent or not).
static PINGS: AtomicU64 = AtomicU64::new(0);

/// The running ping task, replaced by a later [`start_watchdog`].
static WATCHDOG: Mutex<Option<tokio::task::JoinHandle<()>>> = Mutex::new(None);

/// Pings `WATCHDOG=1` to `notify_socket` every `every`, the first at once, from a task of
/// the core's runtime, for as long as the host runs (or until the next call replaces it).
/// A ping that fails goes to `warn`, once until one succeeds again; pinging goes on.
pub fn start_watchdog(notify_socket: String, every: Duration, warn: Warn) -> Result<()> {
  address(&notify_socket).map_err(|e| CoreError::sys("connect", Some(notify_socket.clone()), e))?;
  let runtime = crate::runtime::get()?;
  let task = runtime.spawn(async move {
    let mut tick = tokio::time::interval(every);
    // A late tick (a stopped process, a busy machine) is one ping, not a burst.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
      tick.tick().await;
      PINGS.fetch_add(1, Ordering::Relaxed);
      match send(&notify_socket, "WATCHDOG=1") {
        Ok(()) => failing = false,
        Err(e) if !failing => {
          failing = true;
          warn(format!(
            "cannot ping the systemd watchdog at {notify_socket}: {e}"
          ));
        }
        Err(_) => {}
      }
    }
  });
  let old = lock(&WATCHDOG).replace(task);
  if let Some(old) = old {
    old.abort();
  }
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;

  fn fields(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
  }

  #[test]
  fn messages_are_one_assignment_a_line() {
    assert_eq!(
      compose(&fields(&["READY=1", "STATUS=app.js: running (pid 12)"]), 5).as_deref(),
      Some("READY=1\nSTATUS=app.js: running (pid 12)")
    );
    // A line break in a value would start another assignment.
    assert_eq!(
      compose(&fields(&["STATUS=one\ntwo\r\nthree\0"]), 5).as_deref(),
      Some("STATUS=one two  three")
    );
    // What is not NAME=value is left out.
    assert_eq!(
      compose(
        &fields(&["ready", "=1", "lower=1", "X Y=1", "STOPPING=1"]),
        5
      )
      .as_deref(),
      Some("STOPPING=1")
    );
    assert_eq!(compose(&fields(&["nothing"]), 5), None);
    assert_eq!(compose(&[], 5), None);
  }

  #[test]
  fn reloading_carries_the_monotonic_time() {
    assert_eq!(
      compose(&fields(&["RELOADING=1", "STATUS=reloading"]), 1234).as_deref(),
      Some("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=1234")
    );
    assert_eq!(
      compose(&fields(&["RELOADING=1", "MONOTONIC_USEC=7"]), 1234).as_deref(),
      Some("RELOADING=1\nMONOTONIC_USEC=7")
    );
    let before = monotonic_usec();
    std::thread::sleep(Duration::from_millis(2));
    assert!(monotonic_usec() > before);
  }

  #[test]
  fn the_watchdog_is_asked_of_this_process_only() {
    let s = Duration::from_secs;
    assert_eq!(watchdog_interval(Some("20000000"), None, 7), Some(s(10)));
    assert_eq!(
      watchdog_interval(Some("20000000"), Some("7"), 7),
      Some(s(10))
    );
    assert_eq!(watchdog_interval(Some("20000000"), Some("8"), 7), None);
    assert_eq!(watchdog_interval(Some("20000000"), Some("x"), 7), None);
    assert_eq!(watchdog_interval(None, Some("7"), 7), None);
    assert_eq!(watchdog_interval(Some("0"), None, 7), None);
    assert_eq!(watchdog_interval(Some("-5"), None, 7), None);
    assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
    assert_eq!(
      watchdog_interval(Some("3"), None, 7),
      Some(MIN_PING),
      "a tiny interval is not a busy loop"
    );
  }

  #[test]
  fn addresses_are_paths_or_abstract_names() {
    assert!(address("/run/systemd/notify")
      .unwrap()
      .as_pathname()
      .is_some());
    assert_eq!(
      address("@fn/test").unwrap().as_abstract_name(),
      Some(&b"fn/test"[..])
    );
    for bad in ["", "@", "relative/path", "vsock:2:1234"] {
      assert_eq!(
        address(bad).unwrap_err().kind(),
        io::ErrorKind::InvalidInput,
        "{bad}"
      );
    }
  }

  #[test]
  fn a_datagram_reaches_the_socket_and_a_missing_one_is_an_error() {
    let name = format!("forever-native-sd-test/{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let receiver = UnixDatagram::bind_addr(&addr).unwrap();
    send(&format!("@{name}"), "READY=1\nSTATUS=up").unwrap();
    let mut buf = [0u8; 64];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
    drop(receiver);
    let err = send(&format!("@{name}"), "READY=1").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
  async fn the_watchdog_pings_from_the_core() {
    let name = format!("forever-native-sd-watchdog/{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let receiver = UnixDatagram::bind_addr(&addr).unwrap();
    receiver
      .set_read_timeout(Some(Duration::from_secs(10)))
      .unwrap();
    let warned = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&warned);
    start_watchdog(
      format!("@{name}"),
      Duration::from_millis(5),
      Arc::new(move |w| seen.lock().unwrap().push(w)),
    )
    .unwrap();
    let receiver = tokio::task::spawn_blocking(move || {
      let mut buf = [0u8; 64];
      for _ in 0..3 {
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
      }
      receiver
    })
    .await
    .unwrap();
    assert!(warned.lock().unwrap().is_empty());
    // Gone, the socket makes one warning, not one per ping.
    drop(receiver);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while warned.lock().unwrap().is_empty() {
      assert!(std::time::Instant::now() < deadline);
      tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after = PINGS.load(Ordering::Relaxed);
    while PINGS.load(Ordering::Relaxed) < after + 3 {
      assert!(std::time::Instant::now() < deadline);
      tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(warned.lock().unwrap().len(), 1);
    if let Some(task) = WATCHDOG.lock().unwrap().take() {
      task.abort();
    }
  }
}
