//! Listening sockets held by the core (`listen`): bound once when supervision starts, kept
//! open across every crash, restart and reload, closed when supervision ends.
//!
//! Each child inherits them as descriptors 3, 4, … with systemd's socket-activation
//! variables (see `process::activation`), so it accepts on sockets it never bound. The core
//! itself never accepts: while no child runs, new connections wait in the kernel's accept
//! queue (up to the backlog) and the next child takes them, so a restart refuses nothing.
//! During a reload the old and the new child accept from the same queue.
//!
//! TCP listeners get `SO_REUSEADDR` (a restart of the whole supervisor rebinds at once,
//! despite connections in `TIME_WAIT`). A port alone listens on every interface: `[::]`
//! with `IPV6_V6ONLY` off, or `0.0.0.0` where the host has no IPv6, as Node's
//! `server.listen(port)` does. A Unix socket's file is replaced only when it is a stale
//! socket that nobody listens on, and removed when the listener closes, if it is still
//! the one bound; with a `mode` (`listenMode`), it gets that mode before anyone can
//! connect (between bind and listen), never through a symlink.
//!
//! Several monitors may share their sockets (`instances`, see [`Share`]): either one socket
//! per address for all of them, bound by the first and closed with the last (a registry
//! keyed by the group's key and the address), or one socket each with `SO_REUSEPORT`, among
//! which the kernel spreads new connections.
//!
//! A listening socket this process inherited (systemd's socket activation, `fd:3`) is
//! taken as it is: a close-on-exec copy, after checking that it listens; it is never
//! bound, re-listened or unlinked, so whoever passed it keeps it open across restarts of
//! this process too.

use std::ffi::c_int;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use nix::sys::socket::{
  bind, connect, getsockname, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType,
  SockaddrIn, SockaddrIn6, SockaddrStorage, UnixAddr,
};

use crate::error::{CoreError, Result};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
  /// One IP address and port.
  Tcp(SocketAddr),
  /// A port on every interface (`[::]` dual-stack, else `0.0.0.0`).
  Port(u16),
  /// A Unix socket at this path.
  Unix(PathBuf),
  /// A listening socket this process inherited, at this descriptor (socket activation).
  Inherited(RawFd),
}

impl Address {
  /// The address as Node shows it in errors: `127.0.0.1:8080`, `[::1]:8080`, `:::8080`, a path.
  fn shown(&self) -> String {
    match self {
      Address::Tcp(addr) => addr.to_string(),
      Address::Port(port) => format!(":::{port}"),
      Address::Unix(path) => path.display().to_string(),
      Address::Inherited(fd) => format!("fd {fd}"),
    }
  }

  fn port(&self) -> Option<u16> {
    match self {
      Address::Tcp(addr) => Some(addr.port()),
      Address::Port(port) => Some(*port),
      Address::Unix(_) | Address::Inherited(_) => None,
    }
  }
}

/// Whether, and how, a listening socket is shared with other monitors (the instances of
/// one group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Share {
  /// A socket of this monitor's own (a plain `listen`).
  #[default]
  Own,
  /// One socket for every monitor that gives this key and the same address: the first
  /// binds it, the others hold the same socket, and it closes with the last holder. All
  /// their children accept from one queue, so a crashed child's share of new connections
  /// goes to the others at once.
  Group(String),
  /// A TCP socket of this monitor's own with `SO_REUSEPORT`, bound beside the others on
  /// the same address: the kernel spreads new connections over them by a hash of the
  /// connection's addresses. The key (the group's and the instance's) lets [`release`] let
  /// go of it early. A Unix socket cannot be shared this way (bind it with
  /// [`Share::Group`]); there the option is ignored, and a second bind is `EADDRINUSE`.
  ReusePort(String),
}

/// One address to listen on, and the name the child knows its descriptor by
/// (`LISTEN_FDNAMES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
  /// Where.
  pub address: Address,
  /// The descriptor's name (no `:`, which separates names in `LISTEN_FDNAMES`).
  pub name: String,
  /// The mode of a Unix socket's file (`listenMode`); none: what bind(2) makes of the
  /// umask. Unused for TCP.
  pub mode: Option<u32>,
  /// Shared with other monitors, or not.
  pub share: Share,
}

/// What a listener is bound to (the port the kernel chose, for port 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
  /// A TCP address.
  Tcp(SocketAddr),
  /// A Unix socket path.
  Unix(PathBuf),
}

/// A Unix socket's file, removed with the listener if it is still the one bound.
#[derive(Debug)]
struct SocketFile {
  path: PathBuf,
  dev: u64,
  ino: u64,
}

impl SocketFile {
  /// Gives the file `mode`, only if the path still names the socket bound (device and
  /// inode) and never through a symlink: chmod(2) follows one, so the file is opened with
  /// `O_PATH | O_NOFOLLOW` and changed through its `/proc/self/fd` entry.
  fn set_mode(&self, mode: u32) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
      .open(&self.path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_socket() || meta.dev() != self.dev || meta.ino() != self.ino {
      return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    std::fs::set_permissions(
      format!("/proc/self/fd/{}", file.as_raw_fd()),
      std::fs::Permissions::from_mode(mode),
    )
  }
}

impl Drop for SocketFile {
  fn drop(&mut self) {
    // Someone may have replaced it meanwhile (another supervisor): leave theirs alone.
    if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
      if meta.dev() == self.dev && meta.ino() == self.ino {
        let _ = std::fs::remove_file(&self.path);
      }
    }
  }
}

/// A bound, listening socket: of one monitor, or shared by a group's ([`Share::Group`]).
#[derive(Debug)]
struct Socket {
  fd: OwnedFd,
  bound: Bound,
  // Dropped after the descriptor is closed (fields drop in order): the file goes last.
  _file: Option<SocketFile>,
}

/// One listening socket, as one monitor holds it.
#[derive(Debug)]
pub struct Listener {
  socket: Arc<Socket>,
  name: String,
}

/// The sockets shared under [`Share::Group`]: the group's key, the address as given (port 0
/// included, so every instance gets the port the first one was given), and the socket while
/// anyone holds it.
struct SharedSocket {
  key: String,
  address: Address,
  backlog: i32,
  socket: Weak<Socket>,
}

/// Every shared socket of this process. The lock is held while a missing one is bound, so
/// two monitors starting at once on two threads cannot both bind it.
static SHARED: Mutex<Vec<SharedSocket>> = Mutex::new(Vec::new());

/// The `SO_REUSEPORT` sockets, by key, that [`release`] may let go of.
static RELEASABLE: Mutex<Vec<(String, Weak<Socket>)>> = Mutex::new(Vec::new());

/// Lets go of the `SO_REUSEPORT` sockets bound under `key` (an instance that leaves its
/// group), before supervision ends; returns how many. The socket then lives only as long as
/// the child's own descriptor: it leaves the kernel's `SO_REUSEPORT` group when the child
/// stops listening, so new connections stop landing in a queue nobody will accept from, and
/// only those queued at that instant are reset (the core's copy would have kept it in the
/// group, taking its share of connections, until the child had drained and exited).
///
/// The descriptor number stays the monitor's: `/dev/null` is put in its place (`dup3`), so
/// a spawn that borrows it meanwhile never gets another file that took its number.
pub fn release(key: &str) -> usize {
  let mut releasable = RELEASABLE.lock().unwrap_or_else(PoisonError::into_inner);
  releasable.retain(|(_, s)| s.strong_count() > 0);
  let mut released = 0;
  for (_, socket) in releasable.iter().filter(|(k, _)| k == key) {
    let Some(socket) = socket.upgrade() else {
      continue;
    };
    let Ok(null) = nix::fcntl::open(
      "/dev/null",
      nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
      nix::sys::stat::Mode::empty(),
    ) else {
      continue;
    };
    // SAFETY: dup3(2) of two descriptors we own onto each other's number: the socket's
    // number now refers to /dev/null (still owned by `socket.fd`), and `null` is closed.
    let done = unsafe { libc::dup3(null.as_raw_fd(), socket.fd.as_raw_fd(), libc::O_CLOEXEC) };
    if done >= 0 {
      released += 1;
    }
  }
  releasable.retain(|(k, _)| k != key);
  released
}

/// Whether someone still holds a socket shared under `key` (tests).
#[cfg(test)]
fn shared_held(key: &str) -> bool {
  let shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
  shared
    .iter()
    .any(|s| s.key == key && s.socket.strong_count() > 0)
}

/// The listening sockets of one supervision run, in the order given: the child's fds 3, 4, ….
#[derive(Debug, Default)]
pub struct Listeners {
  sockets: Vec<Listener>,
}

impl Listeners {
  /// Binds and listens on every address, in order, with `backlog`. On a failure the
  /// sockets already bound are closed again, and the error names the address.
  pub fn bind(specs: &[ListenSpec], backlog: i32) -> Result<Listeners> {
    let mut sockets = Vec::with_capacity(specs.len());
    for spec in specs {
      sockets.push(listen_on(spec, backlog)?);
    }
    Ok(Listeners { sockets })
  }

  /// How many there are.
  pub fn len(&self) -> usize {
    self.sockets.len()
  }

  /// Whether there are none.
  pub fn is_empty(&self) -> bool {
    self.sockets.is_empty()
  }

  /// Each socket's descriptor and name, in order.
  pub fn fds(&self) -> Vec<(BorrowedFd<'_>, &str)> {
    self
      .sockets
      .iter()
      .map(|l| (l.socket.fd.as_fd(), l.name.as_str()))
      .collect()
  }

  /// Each socket's name and what it is bound to, in order.
  pub fn bound(&self) -> Vec<(String, Bound)> {
    self
      .sockets
      .iter()
      .map(|l| (l.name.clone(), l.socket.bound.clone()))
      .collect()
  }
}

fn failed(syscall: &'static str, address: &Address, e: impl Into<io::Error>) -> CoreError {
  CoreError::Listen {
    syscall,
    address: address.shown(),
    port: address.port(),
    source: e.into(),
  }
}

fn listen_on(spec: &ListenSpec, backlog: i32) -> Result<Listener> {
  let socket = match &spec.share {
    Share::Own => Arc::new(bind_socket(spec, backlog, false)?),
    Share::ReusePort(key) => {
      let socket = Arc::new(bind_socket(spec, backlog, true)?);
      if !key.is_empty() {
        let mut releasable = RELEASABLE.lock().unwrap_or_else(PoisonError::into_inner);
        releasable.retain(|(_, s)| s.strong_count() > 0);
        releasable.push((key.clone(), Arc::downgrade(&socket)));
      }
      socket
    }
    Share::Group(key) => {
      let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
      shared.retain(|s| s.socket.strong_count() > 0);
      let held = shared
        .iter()
        .find(|s| s.key == *key && s.address == spec.address && s.backlog == backlog)
        .and_then(|s| s.socket.upgrade());
      match held {
        Some(socket) => socket,
        None => {
          let socket = Arc::new(bind_socket(spec, backlog, false)?);
          shared.push(SharedSocket {
            key: key.clone(),
            address: spec.address.clone(),
            backlog,
            socket: Arc::downgrade(&socket),
          });
          socket
        }
      }
    }
  };
  Ok(Listener {
    socket,
    name: spec.name.clone(),
  })
}

/// Binds and listens on `spec`'s address (or takes the inherited socket); with
/// `reuse_port`, a TCP socket gets `SO_REUSEPORT`.
fn bind_socket(spec: &ListenSpec, backlog: i32, reuse_port: bool) -> Result<Socket> {
  let address = &spec.address;
  let (fd, bound, file) = match address {
    Address::Inherited(fd) => return inherited(spec, *fd),
    Address::Tcp(addr) => {
      let fd = tcp_socket(address, *addr, false, reuse_port)?;
      (fd, None, None)
    }
    Address::Port(port) => {
      let any = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, *port, 0, 0));
      match tcp_socket(address, any, true, reuse_port) {
        Ok(fd) => (fd, None, None),
        // No IPv6 on this host: every IPv4 interface, as Node falls back.
        Err(CoreError::Listen { source, .. })
          if matches!(
            source.raw_os_error(),
            Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL)
          ) =>
        {
          let v4 = SocketAddr::from(([0, 0, 0, 0], *port));
          (tcp_socket(address, v4, false, reuse_port)?, None, None)
        }
        Err(e) => return Err(e),
      }
    }
    Address::Unix(path) => {
      let (fd, file) = unix_socket(address, path)?;
      if let Some(mode) = spec.mode {
        // Before listen(2): until then a connect is refused, so nobody gets in under the
        // umask's mode.
        file
          .set_mode(mode)
          .map_err(|e| failed("chmod", address, e))?;
      }
      (fd, Some(Bound::Unix(path.clone())), Some(file))
    }
  };
  // SAFETY: listen(2) on a socket this function owns; no memory is passed.
  if unsafe { libc::listen(fd.as_raw_fd(), backlog as c_int) } != 0 {
    return Err(failed("listen", address, io::Error::last_os_error()));
  }
  let bound = match bound {
    Some(bound) => bound,
    None => Bound::Tcp(local_address(&fd).map_err(|e| failed("getsockname", address, e))?),
  };
  Ok(Socket {
    fd,
    bound,
    _file: file,
  })
}

/// A close-on-exec copy of the listening socket inherited at `fd`. Anything else there (a
/// closed descriptor, a file, a socket that does not listen) is an error naming the fd.
/// The original is made close-on-exec too, as `sd_listen_fds` makes it: children get the
/// socket only where the spawn places it.
fn inherited(spec: &ListenSpec, fd: RawFd) -> Result<Socket> {
  let refused = |why: String| {
    CoreError::InvalidOption(format!(
      "listen {:?}: fd {fd} is not a listening socket ({why})",
      spec.name
    ))
  };
  // SAFETY: F_GETFD only reads the flags of whatever is at `fd`; EBADF if nothing is.
  let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
  if fd < 0 || flags < 0 {
    return Err(refused("not an open descriptor".to_string()));
  }
  // SAFETY: `fd` is open (above) and stays open while borrowed: nothing here closes it.
  let original = unsafe { BorrowedFd::borrow_raw(fd) };
  match nix::sys::socket::getsockopt(&original, sockopt::AcceptConn) {
    Ok(true) => {}
    Ok(false) => return Err(refused("a socket that does not listen".to_string())),
    Err(nix::errno::Errno::ENOTSOCK) => return Err(refused("not a socket".to_string())),
    Err(e) => return Err(refused(e.desc().to_lowercase())),
  }
  // F_DUPFD_CLOEXEC: the copy is the core's, closed when supervision ends.
  let copy = original
    .try_clone_to_owned()
    .map_err(|e| failed("fcntl", &spec.address, e))?;
  if flags & libc::FD_CLOEXEC == 0 {
    // SAFETY: F_SETFD on an open descriptor, adding one flag to those just read.
    unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
  }
  let bound = match local_address(&copy) {
    Ok(addr) => Bound::Tcp(addr),
    Err(_) => Bound::Unix(unix_path(&copy)),
  };
  Ok(Socket {
    fd: copy,
    bound,
    _file: None,
  })
}

/// The path a Unix socket is bound to (`@name` in the abstract namespace; empty if none).
fn unix_path(fd: &OwnedFd) -> PathBuf {
  let Ok(unix) = getsockname::<UnixAddr>(fd.as_raw_fd()) else {
    return PathBuf::new();
  };
  if let Some(path) = unix.path() {
    return path.to_path_buf();
  }
  match unix.as_abstract() {
    Some(name) => PathBuf::from(format!("@{}", String::from_utf8_lossy(name))),
    None => PathBuf::new(),
  }
}

/// A bound TCP socket (close-on-exec: children get it only where the spawn places it).
fn tcp_socket(
  address: &Address,
  addr: SocketAddr,
  dual_stack: bool,
  reuse_port: bool,
) -> Result<OwnedFd> {
  let family = match addr {
    SocketAddr::V4(_) => AddressFamily::Inet,
    SocketAddr::V6(_) => AddressFamily::Inet6,
  };
  let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
    .map_err(|e| failed("socket", address, e))?;
  setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| failed("setsockopt", address, e))?;
  if reuse_port {
    setsockopt(&fd, sockopt::ReusePort, &true).map_err(|e| failed("setsockopt", address, e))?;
  }
  if dual_stack {
    setsockopt(&fd, sockopt::Ipv6V6Only, &false).map_err(|e| failed("setsockopt", address, e))?;
  }
  let result = match addr {
    SocketAddr::V4(v4) => bind(fd.as_raw_fd(), &SockaddrIn::from(v4)),
    SocketAddr::V6(v6) => bind(fd.as_raw_fd(), &SockaddrIn6::from(v6)),
  };
  result.map_err(|e| failed("bind", address, e))?;
  Ok(fd)
}

/// A bound Unix socket at `path`, replacing a stale socket file nobody listens on.
fn unix_socket(address: &Address, path: &Path) -> Result<(OwnedFd, SocketFile)> {
  let unix = UnixAddr::new(path).map_err(|e| failed("bind", address, e))?;
  let fd = socket(
    AddressFamily::Unix,
    SockType::Stream,
    SockFlag::SOCK_CLOEXEC,
    None,
  )
  .map_err(|e| failed("socket", address, e))?;
  if let Err(e) = bind(fd.as_raw_fd(), &unix) {
    if e != nix::errno::Errno::EADDRINUSE || !stale(path, &unix) {
      return Err(failed("bind", address, e));
    }
    // A socket file left by a supervisor that died: nobody listens there any more.
    std::fs::remove_file(path).map_err(|e| failed("unlink", address, e))?;
    bind(fd.as_raw_fd(), &unix).map_err(|e| failed("bind", address, e))?;
  }
  let meta = std::fs::symlink_metadata(path).map_err(|e| failed("stat", address, e))?;
  Ok((
    fd,
    SocketFile {
      path: path.to_path_buf(),
      dev: meta.dev(),
      ino: meta.ino(),
    },
  ))
}

/// Whether `path` is a socket file that refuses connections (no listener behind it). A
/// regular file, a directory or a live socket is never removed.
fn stale(path: &Path, unix: &UnixAddr) -> bool {
  let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
  if !is_socket {
    return false;
  }
  let Ok(probe) = socket(
    AddressFamily::Unix,
    SockType::Stream,
    SockFlag::SOCK_CLOEXEC,
    None,
  ) else {
    return false;
  };
  connect(probe.as_raw_fd(), unix) == Err(nix::errno::Errno::ECONNREFUSED)
}

fn local_address(fd: &OwnedFd) -> io::Result<SocketAddr> {
  let storage: SockaddrStorage = getsockname(fd.as_raw_fd())?;
  if let Some(v4) = storage.as_sockaddr_in() {
    return Ok(SocketAddr::from((v4.ip(), v4.port())));
  }
  if let Some(v6) = storage.as_sockaddr_in6() {
    return Ok(SocketAddr::V6(SocketAddrV6::new(
      v6.ip(),
      v6.port(),
      v6.flowinfo(),
      v6.scope_id(),
    )));
  }
  Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::io::{Read, Write};
  use std::net::{TcpListener, TcpStream};
  use std::os::unix::net::{UnixListener, UnixStream};

  /// Node's default backlog.
  const DEFAULT_BACKLOG: i32 = 511;

  fn spec(address: Address) -> ListenSpec {
    ListenSpec {
      address,
      name: "http".to_string(),
      mode: None,
      share: Share::Own,
    }
  }

  fn port_of(listeners: &Listeners) -> u16 {
    match &listeners.bound()[0].1 {
      Bound::Tcp(addr) => addr.port(),
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn port_zero_binds_a_port_the_kernel_picks_and_connections_queue_unaccepted() {
    let l = Listeners::bind(
      &[spec(Address::Tcp("127.0.0.1:0".parse().unwrap()))],
      DEFAULT_BACKLOG,
    )
    .unwrap();
    let port = port_of(&l);
    assert_ne!(port, 0);
    // Nobody accepts, yet the connection is made: it waits in the accept queue.
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"hello").unwrap();
    // Whoever takes the descriptor accepts it later, data and all.
    let fd = l.fds()[0].0.try_clone_to_owned().unwrap();
    let server = TcpListener::from(fd);
    let (mut conn, _) = server.accept().unwrap();
    let mut got = [0u8; 5];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(l.fds()[0].1, "http");
  }

  #[test]
  fn an_address_in_use_is_an_error_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Listeners::bind(&[spec(Address::Tcp(addr))], DEFAULT_BACKLOG).unwrap_err();
    assert_eq!(err.code().as_deref(), Some("EADDRINUSE"));
    assert_eq!(err.syscall(), Some("bind"));
    assert_eq!(
      err.address(),
      Some((addr.to_string().as_str(), Some(addr.port())))
    );
  }

  #[test]
  fn a_port_alone_listens_on_every_interface() {
    let l = Listeners::bind(&[spec(Address::Port(0))], DEFAULT_BACKLOG).unwrap();
    let port = port_of(&l);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    if TcpStream::connect(("::1", port)).is_err() {
      // A host without IPv6 fell back to 0.0.0.0.
      assert!(matches!(&l.bound()[0].1, Bound::Tcp(SocketAddr::V4(_))));
    }
  }

  #[test]
  fn a_restart_of_the_supervisor_rebinds_at_once() {
    let l = Listeners::bind(
      &[spec(Address::Tcp("127.0.0.1:0".parse().unwrap()))],
      DEFAULT_BACKLOG,
    )
    .unwrap();
    let port = port_of(&l);
    // A connection closed by the server side leaves TIME_WAIT behind.
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let server = TcpListener::from(l.fds()[0].0.try_clone_to_owned().unwrap());
    let (conn, _) = server.accept().unwrap();
    drop(conn);
    drop(client);
    drop(server);
    drop(l);
    let again = Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port)));
    // Another test's child may hold a copy of the socket for the moment between its fork and
    // its exec (descriptors are close-on-exec, not close-on-fork): tried until that is over,
    // well within the TIME_WAIT (a minute) that a bind without SO_REUSEADDR would wait out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Err(e) = Listeners::bind(&[spec(again.clone())], DEFAULT_BACKLOG) {
      assert!(std::time::Instant::now() < deadline, "{e}");
      std::thread::sleep(std::time::Duration::from_millis(1));
    }
  }

  #[test]
  fn unix_sockets_replace_only_stale_files_and_remove_their_own() {
    let dir = std::env::temp_dir().join(format!("fn-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    // A stale socket file: its listener is gone.
    drop(UnixListener::bind(&path).unwrap());
    let l = Listeners::bind(&[spec(Address::Unix(path.clone()))], 16).unwrap();
    assert!(UnixStream::connect(&path).is_ok(), "listening");
    // A live one is not taken over.
    let err = Listeners::bind(&[spec(Address::Unix(path.clone()))], 16).unwrap_err();
    assert_eq!(err.code().as_deref(), Some("EADDRINUSE"));
    drop(l);
    assert!(!path.exists(), "removed with its listener");
    // A regular file is never removed.
    std::fs::write(&path, "data").unwrap();
    let err = Listeners::bind(&[spec(Address::Unix(path.clone()))], 16).unwrap_err();
    assert_eq!(err.code().as_deref(), Some("EADDRINUSE"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    std::fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn a_unix_socket_gets_its_mode_before_it_listens_and_a_tcp_one_ignores_it() {
    let dir = std::env::temp_dir().join(format!("fn-listen-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    for mode in [0o600, 0o660, 0o777] {
      let with_mode = ListenSpec {
        mode: Some(mode),
        ..spec(Address::Unix(path.clone()))
      };
      let l = Listeners::bind(&[with_mode], 16).unwrap();
      let meta = std::fs::symlink_metadata(&path).unwrap();
      assert!(meta.file_type().is_socket());
      assert_eq!(meta.mode() & 0o7777, mode);
      assert!(UnixStream::connect(&path).is_ok(), "listening");
      drop(l);
    }
    let tcp = ListenSpec {
      mode: Some(0o600),
      ..spec(Address::Tcp("127.0.0.1:0".parse().unwrap()))
    };
    assert!(Listeners::bind(&[tcp], 16).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn a_failure_closes_what_was_bound_before_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let free_addr = free.local_addr().unwrap();
    drop(free);
    let specs = [
      spec(Address::Tcp(free_addr)),
      spec(Address::Tcp(taken.local_addr().unwrap())),
    ];
    assert!(Listeners::bind(&specs, DEFAULT_BACKLOG).is_err());
    // Another test's child may hold a copy of it for the moment between its fork and its
    // exec (descriptors are close-on-exec, not close-on-fork): tried until that is over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while TcpStream::connect(free_addr).is_ok() {
      assert!(
        std::time::Instant::now() < deadline,
        "the first socket was closed again"
      );
      std::thread::sleep(std::time::Duration::from_millis(1));
    }
  }

  #[test]
  fn an_inherited_listening_socket_is_copied_never_closed_or_unlinked() {
    let original = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = original.local_addr().unwrap();
    let raw = original.as_raw_fd();
    let l = Listeners::bind(&[spec(Address::Inherited(raw))], DEFAULT_BACKLOG).unwrap();
    assert_eq!(l.bound()[0].1, Bound::Tcp(addr));
    assert_ne!(l.fds()[0].0.as_raw_fd(), raw, "a copy");
    drop(l);
    // The original still listens: the connection waits in its queue.
    let _client = TcpStream::connect(addr).unwrap();
    assert!(original.accept().is_ok());

    let dir = std::env::temp_dir().join(format!("fn-listen-fd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let unix = UnixListener::bind(&path).unwrap();
    let l = Listeners::bind(&[spec(Address::Inherited(unix.as_raw_fd()))], 16).unwrap();
    assert_eq!(l.bound()[0].1, Bound::Unix(path.clone()));
    drop(l);
    assert!(path.exists(), "never unlinked");
    std::fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn an_inherited_descriptor_that_does_not_listen_is_refused_naming_it() {
    let bound_only = socket(
      AddressFamily::Inet,
      SockType::Stream,
      SockFlag::SOCK_CLOEXEC,
      None,
    )
    .unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    for (fd, why) in [
      (bound_only.as_raw_fd(), "a socket that does not listen"),
      (file.as_raw_fd(), "not a socket"),
      (-1, "not an open descriptor"),
    ] {
      let err = Listeners::bind(&[spec(Address::Inherited(fd))], 16).unwrap_err();
      assert_eq!(
        err.to_string(),
        format!("listen \"http\": fd {fd} is not a listening socket ({why})")
      );
    }
  }

  fn shared(address: Address, share: Share) -> ListenSpec {
    ListenSpec {
      address,
      name: "http".to_string(),
      mode: None,
      share,
    }
  }

  fn inode(l: &Listeners) -> u64 {
    let fd = l.fds()[0].0.as_raw_fd();
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
      .unwrap()
      .ino()
  }

  #[test]
  fn a_group_shares_one_socket_per_address_until_its_last_holder_lets_go() {
    let any = Address::Tcp("127.0.0.1:0".parse().unwrap());
    let group = |key: &str| [shared(any.clone(), Share::Group(key.to_string()))];
    let first = Listeners::bind(&group("unit-a"), DEFAULT_BACKLOG).unwrap();
    let second = Listeners::bind(&group("unit-a"), DEFAULT_BACKLOG).unwrap();
    // The same socket, port 0 included: the second instance got the port the first was given.
    assert_eq!(port_of(&first), port_of(&second));
    assert_eq!(inode(&first), inode(&second));
    // Another group is another socket.
    let other = Listeners::bind(&group("unit-b"), DEFAULT_BACKLOG).unwrap();
    assert_ne!(port_of(&other), port_of(&first));
    let port = port_of(&first);
    // The first holder goes (a scale-down): the socket stays, with what waits in its queue.
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"queued").unwrap();
    drop(first);
    assert!(shared_held("unit-a"));
    let server = TcpListener::from(second.fds()[0].0.try_clone_to_owned().unwrap());
    let (mut conn, _) = server.accept().unwrap();
    let mut got = [0u8; 6];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"queued");
    drop(server);
    // The last one goes: the socket closes, and the next bind is a new one.
    drop(second);
    assert!(!shared_held("unit-a"));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let again = Listeners::bind(&group("unit-a"), DEFAULT_BACKLOG).unwrap();
    assert_ne!(port_of(&again), 0);
  }

  #[test]
  fn reuse_port_sockets_bind_beside_each_other_and_the_kernel_spreads_connections() {
    let first = Listeners::bind(
      &[shared(
        Address::Tcp("127.0.0.1:0".parse().unwrap()),
        Share::ReusePort("unit-r/0".to_string()),
      )],
      DEFAULT_BACKLOG,
    )
    .unwrap();
    let port = port_of(&first);
    let at = Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port)));
    let second = Listeners::bind(
      &[shared(at.clone(), Share::ReusePort("unit-r/1".to_string()))],
      DEFAULT_BACKLOG,
    )
    .unwrap();
    assert_ne!(inode(&first), inode(&second), "a socket of its own");
    // A socket without SO_REUSEPORT cannot join them.
    let err = Listeners::bind(&[shared(at, Share::Own)], DEFAULT_BACKLOG).unwrap_err();
    assert_eq!(err.code().as_deref(), Some("EADDRINUSE"));
    let clients: Vec<TcpStream> = (0..64)
      .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
      .collect();
    let accepted = |l: &Listeners| {
      let server = TcpListener::from(l.fds()[0].0.try_clone_to_owned().unwrap());
      server.set_nonblocking(true).unwrap();
      std::iter::from_fn(|| server.accept().ok()).count()
    };
    let (a, b) = (accepted(&first), accepted(&second));
    assert_eq!(a + b, clients.len());
    // 64 connections hashed over two sockets: all on one has a chance of 2^-63.
    assert!(a > 0 && b > 0, "{a} and {b}");
    drop(clients);
    // Instance 1 leaves: its socket is let go of at once, and only the child's copy
    // (here a clone, as the child's fd 3) keeps it in the group.
    let childs = second.fds()[0].0.try_clone_to_owned().unwrap();
    assert_eq!(release("unit-r/1"), 1);
    assert_eq!(release("unit-r/1"), 0, "once");
    let fd = second.fds()[0].0.as_raw_fd();
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    assert_eq!(
      target,
      Path::new("/dev/null"),
      "the number is kept, on /dev/null"
    );
    assert_eq!(
      port_of(&second),
      port,
      "what it was bound to is still known"
    );
    // The child stops listening: every new connection goes to instance 0 (once a copy that
    // another test's child held between its fork and its exec is gone too).
    drop(childs);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
      let clients: Vec<TcpStream> = (0..32)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
      let on_first = accepted(&first);
      if on_first == clients.len() {
        break;
      }
      assert!(
        std::time::Instant::now() < deadline,
        "{on_first} of {} on instance 0",
        clients.len()
      );
    }
  }
}
