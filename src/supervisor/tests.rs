//! The supervisor's sequences against a fake child, on a paused clock: what it signals,
//! when it restarts, and what it tells JS.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::*;
use crate::policy::{KillRules, Reach};
use crate::process::{OutputEnd, SpawnSpec, StdioSpec};

/// A child that exits when the test says so, or when it gets a signal it does not ignore.
#[derive(Default)]
struct Fake {
  next_pid: AtomicU32,
  exits: Mutex<HashMap<u32, oneshot::Sender<ExitStatus>>>,
  signals: Mutex<Vec<(u32, i32, Reach)>>,
  spawned: Mutex<Vec<(u32, Instant)>>,
  /// Signals the fake child ignores (a stubborn program).
  ignored: Mutex<Vec<i32>>,
  fail_spawn: AtomicBool,
  /// What each exited child leaves (by pid): alive until it gets one of these signals.
  leftovers: Mutex<HashMap<u32, Arc<FakeRemains>>>,
  released: Mutex<Vec<u32>>,
  /// The next spawn waits here: it says it has begun, then waits to be let go.
  hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
  /// A held spawn was never let go (it went on after [`HELD_AT_MOST`]).
  hold_expired: AtomicBool,
  /// Runs as the task sees a child's exit, before it tells the policy: a JS call made at
  /// that moment, from another thread.
  on_exit_seen: Arc<Mutex<Option<ExitSeen>>>,
  /// Runs as the task looks for what an exited child left, once the policy has heard of
  /// the exit and before the next child is spawned.
  on_leftovers: Mutex<Option<ExitSeen>>,
  /// The read end (non-blocking) of each child's stdin pipe, by pid, when its stdin is
  /// `pipe`: what the child would read.
  stdins: Mutex<HashMap<u32, std::fs::File>>,
}

type ExitSeen = Box<dyn FnOnce() + Send>;

/// How long a held spawn waits at most: a test whose JS call waits for the spawn fails,
/// never hangs.
const HELD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);

/// The test's side of a held spawn: `begun` hears that the spawn is under way (blocked), and
/// `release` lets it go.
struct Held {
  begun: mpsc::Receiver<()>,
  release: mpsc::Sender<()>,
}

struct FakeRemains {
  dies_on: Vec<i32>,
  gone: AtomicBool,
  got: Mutex<Vec<(i32, Instant)>>,
}

impl Remains for Arc<FakeRemains> {
  fn signal(&mut self, signal: i32) {
    self.got.lock().unwrap().push((signal, Instant::now()));
    if self.dies_on.contains(&signal) {
      self.gone.store(true, Ordering::SeqCst);
    }
  }

  fn is_gone(&mut self) -> bool {
    self.gone.load(Ordering::SeqCst)
  }
}

impl Fake {
  /// The next spawn blocks its thread (the runtime's: the task cannot move) until released.
  fn hold_next_spawn(&self) -> Held {
    let (begun_tx, begun) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    *self.hold.lock().unwrap() = Some((begun_tx, release_rx));
    Held { begun, release }
  }

  fn exit(&self, pid: u32, code: i32) {
    if let Some(tx) = self.exits.lock().unwrap().remove(&pid) {
      let _ = tx.send(ExitStatus::from_raw(code << 8));
    }
  }

  fn pids(&self) -> Vec<u32> {
    self
      .spawned
      .lock()
      .unwrap()
      .iter()
      .map(|(p, _)| *p)
      .collect()
  }

  fn last_pid(&self) -> u32 {
    *self.pids().last().expect("a child was spawned")
  }

  fn signals(&self) -> Vec<(u32, i32, Reach)> {
    self.signals.lock().unwrap().clone()
  }

  /// What waits in the stdin pipe of child `pid` now, and whether its write end is closed
  /// (the child would see EOF).
  fn stdin(&self, pid: u32) -> (Vec<u8>, bool) {
    use std::io::Read;
    let mut stdins = self.stdins.lock().unwrap();
    let read = stdins.get_mut(&pid).expect("a child with a stdin pipe");
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
      match read.read(&mut buf) {
        Ok(0) => return (got, true),
        Ok(n) => got.extend_from_slice(&buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (got, false),
        Err(e) => panic!("reading the stdin pipe: {e}"),
      }
    }
  }
}

impl Processes for Fake {
  fn spawn(
    &self,
    spec: &SpawnSpec,
    _tag: &Tag,
    _outputs: [Option<OutputEnd>; 2],
    _sockets: &crate::process::Sockets<'_>,
  ) -> Result<Launched> {
    let hold = self.hold.lock().unwrap().take();
    if let Some((begun, release)) = hold {
      let _ = begun.send(());
      if release.recv_timeout(HELD_AT_MOST).is_err() {
        self.hold_expired.store(true, Ordering::SeqCst);
      }
    }
    if self.fail_spawn.load(Ordering::SeqCst) {
      return Err(CoreError::sys(
        "spawn",
        "fake".to_string(),
        std::io::Error::from_raw_os_error(libc::ENOENT),
      ));
    }
    let pid = 1000 + self.next_pid.fetch_add(1, Ordering::SeqCst);
    let stdin = (spec.stdio[0] == StdioSpec::Pipe).then(|| {
      use nix::fcntl::OFlag;
      // Both ends non-blocking: the test reads what waits without waiting.
      let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).unwrap();
      self.stdins.lock().unwrap().insert(pid, read.into());
      write
    });
    let (tx, rx) = oneshot::channel();
    self.exits.lock().unwrap().insert(pid, tx);
    self.spawned.lock().unwrap().push((pid, Instant::now()));
    let on_exit_seen = Arc::clone(&self.on_exit_seen);
    Ok(Launched {
      pid,
      exit: Box::pin(async move {
        let status = rx.await.map_err(|_| std::io::Error::other("dropped"));
        let call = on_exit_seen.lock().unwrap().take();
        if let Some(call) = call {
          call();
        }
        status
      }),
      channel: None,
      stdin,
    })
  }

  fn signal(&self, pid: u32, signal: i32, reach: Reach) {
    self.signals.lock().unwrap().push((pid, signal, reach));
    if !self.ignored.lock().unwrap().contains(&signal) {
      if let Some(tx) = self.exits.lock().unwrap().remove(&pid) {
        let _ = tx.send(ExitStatus::from_raw(signal));
      }
    }
  }

  fn leftovers(&self, pid: u32, _tag: &Tag, _uptime: Duration) -> Option<Box<dyn Remains>> {
    let call = self.on_leftovers.lock().unwrap().take();
    if let Some(call) = call {
      call();
    }
    self
      .leftovers
      .lock()
      .unwrap()
      .get(&pid)
      .map(|r| Box::new(Arc::clone(r)) as Box<dyn Remains>)
  }

  fn guard(&self, _pid: u32) {}

  fn release(&self, pid: u32) {
    self.released.lock().unwrap().push(pid);
  }
}

/// Records events as short words, with the time they came.
#[derive(Default)]
struct Recorder {
  seen: Mutex<Vec<(String, Instant)>>,
  changed: Notify,
}

impl EventSink for Recorder {
  fn emit(&self, event: Event) {
    let word = match event {
      Event::Start { restart, .. } => format!("start{}", if restart { ":restart" } else { "" }),
      Event::Exit {
        code,
        signal,
        next,
        requested,
        ..
      } => {
        let how = match (code, signal) {
          (Some(code), _) => format!("code={code}"),
          (None, Some(signal)) => signal.to_string(),
          _ => "?".to_string(),
        };
        let next = match next {
          crate::policy::Next::Restart { delay_ms, .. } => format!("restart+{delay_ms}"),
          crate::policy::Next::GiveUp(_) => "giveup".to_string(),
        };
        format!(
          "exit:{how}:{next}{}",
          if requested { ":requested" } else { "" }
        )
      }
      Event::End { stopped, .. } => format!("end{}", if stopped { ":stopped" } else { "" }),
      Event::ReloadStarting { .. } => "reload:starting".to_string(),
      Event::ReloadReady { .. } => "reload:ready".to_string(),
      Event::ReloadDone { times, .. } => format!("reload:done:times={times}"),
      Event::ReloadFailed { reason, .. } => format!("reload:failed:{reason}"),
      Event::Ready { .. } => "ready".to_string(),
      Event::Error(e) => format!("error:{}", e.code().unwrap_or_default()),
      other => format!("{other:?}"),
    };
    self.seen.lock().unwrap().push((word, Instant::now()));
    self.changed.notify_waiters();
  }
}

impl Recorder {
  fn words(&self) -> Vec<String> {
    self
      .seen
      .lock()
      .unwrap()
      .iter()
      .map(|(w, _)| w.clone())
      .collect()
  }

  fn at(&self, word: &str) -> Instant {
    self
      .seen
      .lock()
      .unwrap()
      .iter()
      .find(|(w, _)| w == word)
      .map(|(_, t)| *t)
      .unwrap_or_else(|| panic!("no {word} in {:?}", self.words()))
  }

  /// Waits (on the paused clock) until `count` events have come.
  async fn wait(&self, count: usize) {
    tokio::time::timeout(Duration::from_secs(3600), async {
      loop {
        let changed = self.changed.notified();
        if self.seen.lock().unwrap().len() >= count {
          return;
        }
        changed.await;
      }
    })
    .await
    .unwrap_or_else(|_| panic!("only {:?}", self.words()));
  }
}

fn spec() -> SpawnSpec {
  SpawnSpec {
    command: "fake".to_string(),
    args: Vec::new(),
    argv0: None,
    cwd: None,
    env: Default::default(),
    uid: None,
    gid: None,
    detached: false,
    stdio: [StdioSpec::Ignore; 3],
    channel: None,
    prepared: Default::default(),
  }
}

fn limits(max: Option<u32>, min_uptime_ms: u64, spin_sleep_ms: Option<u64>) -> Limits {
  Limits {
    max,
    min_uptime_ms,
    spin_sleep_ms,
    kill: KillRules::default(),
    ..Limits::default()
  }
}

struct Setup {
  fake: Arc<Fake>,
  events: Arc<Recorder>,
  handle: Arc<Handle>,
  health: crate::health::HealthConfig,
}

fn setup() -> Setup {
  let fake = Arc::new(Fake::default());
  let handle = Arc::new(Handle::with(
    fake.clone(),
    Some(tokio::runtime::Handle::current()),
  ));
  Setup {
    fake,
    events: Arc::new(Recorder::default()),
    handle,
    health: Default::default(),
  }
}

impl Setup {
  fn start(&self, limits: Limits) -> Result<StartInfo> {
    self.handle.start(self.request(limits))
  }

  fn request(&self, limits: Limits) -> StartRequest {
    StartRequest {
      spec: spec(),
      options: RunOptions {
        limits,
        to_host: false,
        watch: None,
        serialization: Serialization::Json,
        health: self.health.clone(),
        listen: Vec::new(),
        backlog: 511,
      },
      restart: false,
      sink: self.events.clone(),
    }
  }

  /// The next spawn blocks the task until `calls` — JS's, on a thread of their own — have
  /// returned. Their results, once the spawn has gone on; a call that waited for the spawn
  /// fails the test (`hold_expired`) rather than hanging it.
  fn during_next_spawn<T: Send + 'static>(
    &self,
    calls: impl FnOnce(&Handle) -> T + Send + 'static,
  ) -> std::thread::JoinHandle<T> {
    let held = self.fake.hold_next_spawn();
    let handle = Arc::clone(&self.handle);
    std::thread::spawn(move || {
      held.begun.recv().expect("the spawn began");
      let out = calls(&handle);
      // Gone if the spawn stopped waiting: `calls_made` says why.
      let _ = held.release.send(());
      out
    })
  }

  /// The results of the calls made during a held spawn, which must not have waited for it.
  fn calls_made<T: Send>(&self, js: std::thread::JoinHandle<T>) -> T {
    let out = js.join().expect("the calls ran");
    assert!(
      !self.fake.hold_expired.load(Ordering::SeqCst),
      "a JS call waited for the spawn"
    );
    out
  }

  /// Lets the task run until it has nothing left to do now.
  async fn settle(&self) {
    for _ in 0..10 {
      tokio::task::yield_now().await;
    }
  }
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_restarts_until_max_then_gives_up() {
  let s = setup();
  let first = s.start(limits(Some(3), 0, None)).unwrap().pid;
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  s.fake.exit(s.fake.last_pid(), 1);
  s.events.wait(4).await;
  s.fake.exit(s.fake.last_pid(), 1);
  s.events.wait(5).await;
  assert_eq!(
    s.events.words(),
    [
      "exit:code=1:restart+0",
      "start:restart",
      "exit:code=1:restart+0",
      "start:restart",
      "exit:code=1:giveup",
    ]
  );
  assert_eq!(s.fake.pids().len(), 3);
  assert!(matches!(
    s.start(limits(Some(1), 0, None)),
    Ok(StartInfo { .. })
  ));
}

#[tokio::test(start_paused = true)]
async fn start_while_running_and_stop_while_idle_are_refused_at_once() {
  let s = setup();
  assert!(matches!(s.handle.kill(true), Err(CoreError::NotRunning)));
  assert!(matches!(s.handle.restart(), Err(CoreError::NotRunning)));
  s.start(limits(None, 0, None)).unwrap();
  assert!(matches!(
    s.start(limits(None, 0, None)),
    Err(CoreError::AlreadyRunning)
  ));
  assert_eq!(s.fake.pids().len(), 1, "the refused start spawned nothing");
}

#[tokio::test(start_paused = true)]
async fn stop_signals_the_tree_and_ends_supervision() {
  let s = setup();
  let pid = s.start(limits(None, 0, None)).unwrap().pid;
  s.handle.kill(true).unwrap();
  s.events.wait(1).await;
  assert_eq!(s.fake.signals(), [(pid, libc::SIGKILL, Reach::Tree)]);
  assert_eq!(s.events.words(), ["exit:SIGKILL:giveup:requested"]);
  assert_eq!(s.fake.pids().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stops_report_does_not_wait_for_the_look_at_what_the_child_left() {
  // That look may read all of /proc; only a restart spawned at once holds the report back.
  let s = setup();
  s.start(limits(None, 0, None)).unwrap();
  let events = Arc::clone(&s.events);
  let seen = Arc::new(Mutex::new(None));
  let during = Arc::clone(&seen);
  *s.fake.on_leftovers.lock().unwrap() = Some(Box::new(move || {
    *during.lock().unwrap() = Some(events.words());
  }));
  s.handle.kill(true).unwrap();
  s.events.wait(1).await;
  assert_eq!(
    seen.lock().unwrap().take(),
    Some(vec!["exit:SIGKILL:giveup:requested".to_string()])
  );
}

#[tokio::test(start_paused = true)]
async fn a_child_ignoring_the_kill_signal_gets_sigkill_after_kill_ttl() {
  let s = setup();
  s.fake.ignored.lock().unwrap().push(libc::SIGTERM);
  let mut l = limits(None, 0, None);
  l.kill = KillRules {
    signal: libc::SIGTERM,
    tree: true,
    ttl_ms: Some(300),
  };
  let pid = s.start(l).unwrap().pid;
  let asked = Instant::now();
  s.handle.kill(true).unwrap();
  s.events.wait(1).await;
  assert_eq!(
    s.fake.signals(),
    [
      (pid, libc::SIGTERM, Reach::Tree),
      (pid, libc::SIGKILL, Reach::Tree)
    ]
  );
  let took = s.events.at("exit:SIGKILL:giveup:requested") - asked;
  assert!(
    took >= Duration::from_millis(300) && took < Duration::from_millis(310),
    "{took:?}"
  );
}

#[tokio::test(start_paused = true)]
async fn kill_tree_false_signals_the_child_alone() {
  let s = setup();
  let mut l = limits(None, 0, None);
  l.kill.tree = false;
  let pid = s.start(l).unwrap().pid;
  s.handle.kill(true).unwrap();
  s.events.wait(1).await;
  assert_eq!(s.fake.signals(), [(pid, libc::SIGKILL, Reach::Child)]);
}

#[tokio::test(start_paused = true)]
async fn a_restarts_exit_report_waits_for_the_next_spawn_and_goes_first() {
  // JS hears of the exit after the next child is spawned (the restart does not wait for a
  // wake-up of JS first), and still before that child's start.
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  let events = Arc::clone(&s.events);
  let js = s.during_next_spawn(move |_| events.words());
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  let during_spawn = s.calls_made(js);
  assert!(
    during_spawn.is_empty(),
    "reported before the next spawn: {during_spawn:?}"
  );
  assert_eq!(s.events.words(), ["exit:code=1:restart+0", "start:restart"]);
}

#[tokio::test(start_paused = true)]
async fn a_spinning_child_is_restarted_after_spin_sleep_time() {
  let s = setup();
  let first = s.start(limits(None, 1000, Some(250))).unwrap().pid;
  tokio::time::advance(Duration::from_millis(10)).await;
  let exited = Instant::now();
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  assert_eq!(
    s.events.words(),
    ["exit:code=1:restart+250", "start:restart"]
  );
  let gap = s.events.at("start:restart") - exited;
  assert!(
    gap >= Duration::from_millis(250) && gap < Duration::from_millis(260),
    "{gap:?}"
  );
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_spin_sleep_ends_at_once_and_restart_cuts_it_short() {
  let s = setup();
  let first = s.start(limits(None, 1000, Some(60_000))).unwrap().pid;
  s.fake.exit(first, 1);
  s.events.wait(1).await;
  // As in forever-monitor: no error, and the restart goes ahead (until the stop below).
  s.handle.kill(false).unwrap();
  s.handle.kill(true).unwrap();
  s.events.wait(2).await;
  assert_eq!(s.events.words()[1], "end:stopped");
  s.settle().await;
  assert_eq!(s.fake.pids().len(), 1, "no restart after the stop");

  let s = setup();
  let first = s.start(limits(None, 1000, Some(60_000))).unwrap().pid;
  s.fake.exit(first, 1);
  s.events.wait(1).await;
  let asked = Instant::now();
  s.handle.restart().unwrap();
  s.events.wait(2).await;
  assert_eq!(s.events.at("start:restart") - asked, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn restart_of_a_running_child_restarts_whatever_max_says() {
  let s = setup();
  let first = s.start(limits(Some(1), 0, None)).unwrap().pid;
  s.handle.restart().unwrap();
  s.events.wait(2).await;
  assert_eq!(
    s.events.words(),
    ["exit:SIGKILL:restart+0:requested", "start:restart"]
  );
  assert_ne!(s.fake.last_pid(), first);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_childs_leftovers_go_before_the_next_child_starts() {
  let s = setup();
  let mut l = limits(None, 0, None);
  l.kill = KillRules {
    signal: libc::SIGTERM,
    tree: true,
    ttl_ms: Some(400),
  };
  let first = s.start(l).unwrap().pid;
  // Its worker ignores SIGTERM: only SIGKILL ends it.
  let remains = Arc::new(FakeRemains {
    dies_on: vec![libc::SIGKILL],
    gone: AtomicBool::new(false),
    got: Mutex::new(Vec::new()),
  });
  s.fake
    .leftovers
    .lock()
    .unwrap()
    .insert(first, remains.clone());
  let crashed = Instant::now();
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  let got: Vec<i32> = remains
    .got
    .lock()
    .unwrap()
    .iter()
    .map(|(s, _)| *s)
    .collect();
  assert_eq!(got, [libc::SIGTERM, libc::SIGKILL]);
  let started = s.events.at("start:restart") - crashed;
  assert!(
    started >= Duration::from_millis(400) && started < Duration::from_millis(460),
    "the next child waited for the leftovers: {started:?}"
  );
  assert!(s.fake.released.lock().unwrap().contains(&first));
}

#[tokio::test(start_paused = true)]
async fn leftovers_that_go_on_the_kill_signal_are_not_waited_for_longer() {
  let s = setup();
  let mut l = limits(None, 0, None);
  l.kill.signal = libc::SIGTERM;
  let first = s.start(l).unwrap().pid;
  let remains = Arc::new(FakeRemains {
    dies_on: vec![libc::SIGTERM],
    gone: AtomicBool::new(false),
    got: Mutex::new(Vec::new()),
  });
  s.fake
    .leftovers
    .lock()
    .unwrap()
    .insert(first, remains.clone());
  let crashed = Instant::now();
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  assert!(s.events.at("start:restart") - crashed < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn a_spawn_failure_on_restart_ends_supervision_with_an_error() {
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  s.fake.fail_spawn.store(true, Ordering::SeqCst);
  s.fake.exit(first, 1);
  s.events.wait(3).await;
  assert_eq!(
    s.events.words(),
    ["exit:code=1:restart+0", "error:ENOENT", "end"]
  );
  s.fake.fail_spawn.store(false, Ordering::SeqCst);
  assert!(s.start(limits(None, 0, None)).is_ok(), "usable again");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_kills_the_child() {
  let s = setup();
  let pid = s.start(limits(None, 0, None)).unwrap().pid;
  drop(s.handle);
  tokio::time::sleep(Duration::from_millis(1)).await;
  assert_eq!(s.fake.signals(), [(pid, libc::SIGKILL, Reach::Tree)]);
}

#[cfg(feature = "test-hooks")]
#[tokio::test(start_paused = true)]
async fn a_panic_in_the_task_kills_the_child_and_leaves_the_monitor_usable() {
  let s = setup();
  let pid = s.start(limits(None, 0, None)).unwrap().pid;
  s.handle.panic_for_test();
  s.events.wait(2).await;
  assert_eq!(s.events.words(), ["error:", "end"]);
  assert_eq!(s.fake.signals(), [(pid, libc::SIGKILL, Reach::Tree)]);
  assert!(s.start(limits(None, 0, None)).is_ok());
}

fn reloading(grace_ms: u64) -> Limits {
  Limits {
    reload_grace_ms: grace_ms,
    kill: KillRules {
      signal: libc::SIGTERM,
      tree: true,
      ttl_ms: Some(2000),
    },
    ..Limits::default()
  }
}

#[tokio::test(start_paused = true)]
async fn a_reload_starts_a_new_child_beside_the_old_one_and_hands_over_after_the_grace() {
  let s = setup();
  let old = s.start(reloading(500)).unwrap().pid;
  let asked = Instant::now();
  s.handle.reload().unwrap();
  s.events.wait(1).await;
  let new = s.fake.last_pid();
  assert_ne!(new, old);
  assert!(
    s.fake.signals().is_empty(),
    "both run during the grace period"
  );
  assert!(matches!(s.handle.reload(), Err(CoreError::ReloadUnderWay)));
  s.events.wait(3).await;
  assert_eq!(
    s.events.words()[..3],
    ["reload:starting", "start:restart", "reload:ready"]
  );
  assert_eq!(
    s.events.at("reload:ready") - asked,
    Duration::from_millis(500)
  );
  // The old child is stopped as stop() would: killSignal to its tree.
  assert_eq!(s.fake.signals(), [(old, libc::SIGTERM, Reach::Tree)]);
  s.events.wait(4).await;
  assert_eq!(s.events.words()[3], "reload:done:times=1");
  assert_eq!(s.fake.pids(), [old, new], "no other child");
  assert_eq!(s.handle.usage().pid, Some(new));
  // The new child is supervised as any: a crash restarts it.
  s.fake.exit(new, 1);
  s.events.wait(6).await;
  assert_eq!(
    s.events.words()[4..],
    ["exit:code=1:restart+0", "start:restart"]
  );
}

#[tokio::test(start_paused = true)]
async fn an_old_child_that_ignores_the_kill_signal_gets_sigkill_after_kill_ttl() {
  let s = setup();
  s.fake.ignored.lock().unwrap().push(libc::SIGTERM);
  let old = s.start(reloading(0)).unwrap().pid;
  s.handle.reload().unwrap();
  s.events.wait(3).await;
  let handed = Instant::now();
  s.events.wait(4).await;
  assert_eq!(
    s.fake.signals(),
    [
      (old, libc::SIGTERM, Reach::Tree),
      (old, libc::SIGKILL, Reach::Tree)
    ]
  );
  assert_eq!(
    s.events.at("reload:done:times=1") - handed,
    Duration::from_millis(2000)
  );
}

#[tokio::test(start_paused = true)]
async fn a_new_child_that_exits_fails_the_reload_and_the_old_one_serves_on() {
  let s = setup();
  let old = s.start(reloading(1000)).unwrap().pid;
  s.handle.reload().unwrap();
  s.events.wait(1).await;
  let new = s.fake.last_pid();
  s.fake.exit(new, 3);
  s.events.wait(2).await;
  assert_eq!(s.events.words(), ["reload:starting", "reload:failed:exit"]);
  tokio::time::sleep(Duration::from_millis(2000)).await;
  assert!(s.fake.signals().is_empty(), "the old child is left alone");
  assert_eq!(s.handle.usage().pid, Some(old));
  assert_eq!(
    s.handle.usage().restarts,
    0,
    "a failed reload counts nothing"
  );
  s.handle.reload().unwrap();
  s.events.wait(3).await;
}

#[tokio::test(start_paused = true)]
async fn with_wait_ready_the_new_child_takes_over_when_ready_or_fails_at_ready_timeout() {
  let mut s = setup();
  s.health.wait_ready = true;
  let mut l = reloading(0);
  l.wait_ready = true;
  l.ready_timeout_ms = Some(3000);
  let old = s.start(l).unwrap().pid;
  s.handle
    .core
    .signals
    .record(old, crate::health::Signal::Ready);
  s.events.wait(1).await;
  s.handle.reload().unwrap();
  s.events.wait(2).await;
  let new = s.fake.last_pid();
  tokio::time::sleep(Duration::from_millis(100)).await;
  s.handle
    .core
    .signals
    .record(new, crate::health::Signal::Ready);
  s.events.wait(5).await;
  assert_eq!(
    s.events.words()[..5],
    [
      "ready",
      "reload:starting",
      "start:restart",
      "ready",
      "reload:ready"
    ]
  );
  s.events.wait(6).await;
  // Never ready: the reload fails at readyTimeout, and the new child is stopped.
  let asked = Instant::now();
  s.handle.reload().unwrap();
  s.events.wait(8).await;
  let never = s.fake.last_pid();
  assert_eq!(s.events.words()[7], "reload:failed:readyTimeout");
  assert_eq!(
    s.events.at("reload:failed:readyTimeout") - asked,
    Duration::from_millis(3000)
  );
  assert_eq!(
    s.fake.signals().last(),
    Some(&(never, libc::SIGTERM, Reach::Tree))
  );
  assert_eq!(s.handle.usage().pid, Some(new));
}

#[tokio::test(start_paused = true)]
async fn a_crash_of_the_old_child_during_a_reload_is_taken_over_by_the_new_one() {
  let s = setup();
  let mut l = reloading(60_000);
  l.restart_delay_ms = 5000;
  let old = s.start(l).unwrap().pid;
  s.handle.reload().unwrap();
  s.events.wait(1).await;
  let new = s.fake.last_pid();
  let crashed = Instant::now();
  s.fake.exit(old, 1);
  s.events.wait(4).await;
  assert_eq!(
    s.events.words(),
    [
      "reload:starting",
      "exit:code=1:restart+0",
      "start:restart",
      "reload:done:times=1"
    ]
  );
  assert_eq!(
    s.events.at("start:restart"),
    crashed,
    "at once, despite restartDelay"
  );
  assert_eq!(s.fake.pids(), [old, new], "no third child");
  assert_eq!(s.handle.usage().pid, Some(new));
  tokio::time::sleep(Duration::from_millis(120_000)).await;
  assert_eq!(
    s.events.words().len(),
    4,
    "the grace period of the reload is over with it"
  );
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_reload_takes_both_children() {
  let s = setup();
  let old = s.start(reloading(60_000)).unwrap().pid;
  s.handle.reload().unwrap();
  s.events.wait(1).await;
  let new = s.fake.last_pid();
  s.handle.kill(true).unwrap();
  s.events.wait(3).await;
  assert_eq!(
    s.events.words(),
    [
      "reload:starting",
      "reload:failed:stopped",
      "exit:SIGTERM:giveup:requested"
    ]
  );
  let signals = s.fake.signals();
  assert!(
    signals.contains(&(old, libc::SIGTERM, Reach::Tree)),
    "{signals:?}"
  );
  assert!(
    signals.contains(&(new, libc::SIGTERM, Reach::Tree)),
    "{signals:?}"
  );
}

#[tokio::test(start_paused = true)]
async fn a_reload_of_a_sleeping_monitor_restarts_at_once() {
  let s = setup();
  let mut l = reloading(1000);
  l.restart_delay_ms = 60_000;
  let first = s.start(l).unwrap().pid;
  s.fake.exit(first, 1);
  s.events.wait(1).await;
  let asked = Instant::now();
  s.handle.reload().unwrap();
  s.events.wait(2).await;
  assert_eq!(s.events.words()[1], "start:restart");
  assert_eq!(s.events.at("start:restart"), asked);
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_restarts_spawn_returns_at_once_and_stops_the_new_child() {
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  let again = s.request(limits(None, 0, None));
  let js = s.during_next_spawn(move |handle| {
    let usage = handle.usage();
    let listening = handle.listening();
    handle.kill(true).unwrap();
    // As right after a stop of a running child: refused until it has exited.
    let start = handle.start(again).map(|_| ());
    (usage, listening, start)
  });
  s.fake.exit(first, 1);
  s.events.wait(3).await;
  let (usage, listening, start) = s.calls_made(js);
  // The child being spawned counts as running; its pid comes once it is spawned.
  assert_eq!(
    (usage.state, usage.pid, usage.restarts),
    ("running", None, 1)
  );
  assert!(listening.is_empty());
  assert!(matches!(start, Err(CoreError::AlreadyRunning)));
  let second = s.fake.last_pid();
  assert_eq!(s.fake.pids(), [first, second]);
  // The events and reasons of a stop right after the spawn.
  assert_eq!(
    s.events.words(),
    [
      "exit:code=1:restart+0",
      "start:restart",
      "exit:SIGKILL:giveup:requested"
    ]
  );
  assert_eq!(s.fake.signals(), [(second, libc::SIGKILL, Reach::Tree)]);
  s.settle().await;
  assert_eq!(s.fake.pids().len(), 2, "no restart after the stop");
  assert!(s.start(limits(None, 0, None)).is_ok(), "usable again");
}

#[tokio::test(start_paused = true)]
async fn restart_during_a_restarts_spawn_restarts_the_new_child() {
  let s = setup();
  let first = s.start(limits(Some(2), 0, None)).unwrap().pid;
  let js = s.during_next_spawn(|handle| handle.restart());
  s.fake.exit(first, 1);
  s.events.wait(4).await;
  s.calls_made(js).unwrap();
  let pids = s.fake.pids();
  assert_eq!(pids.len(), 3);
  assert_eq!(
    s.events.words(),
    [
      "exit:code=1:restart+0",
      "start:restart",
      "exit:SIGKILL:restart+0:requested",
      "start:restart"
    ]
  );
  assert_eq!(s.fake.signals(), [(pids[1], libc::SIGKILL, Reach::Tree)]);
}

/// `call`, made on the monitor's handle (while it lives) from inside one of the fake's hooks.
fn js_call(s: &Setup, call: impl FnOnce(&Handle) + Send + 'static) -> ExitSeen {
  let handle = Arc::downgrade(&s.handle);
  Box::new(move || {
    if let Some(handle) = handle.upgrade() {
      call(&handle);
    }
  })
}

/// `call` is made as the task sees `first` exit with code 1, before the policy hears of it.
fn as_the_exit_is_seen(s: &Setup, first: u32, call: impl FnOnce(&Handle) + Send + 'static) {
  *s.fake.on_exit_seen.lock().unwrap() = Some(js_call(s, call));
  s.fake.exit(first, 1);
}

#[tokio::test(start_paused = true)]
async fn a_restart_made_as_the_child_exits_restarts_once_and_spares_the_next_child() {
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  as_the_exit_is_seen(&s, first, |handle| handle.restart().unwrap());
  s.events.wait(2).await;
  s.settle().await;
  let pids = s.fake.pids();
  // The exit settled the restart: one new child, which nothing signals.
  assert_eq!(pids.len(), 2, "{:?}", s.events.words());
  assert_eq!(
    s.events.words(),
    ["exit:code=1:restart+0:requested", "start:restart"]
  );
  assert_eq!(s.fake.signals(), []);
}

#[tokio::test(start_paused = true)]
async fn kill_and_stop_made_as_the_child_exits_spare_the_next_child() {
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  as_the_exit_is_seen(&s, first, |handle| {
    handle.kill(false).unwrap();
    handle.signal(libc::SIGUSR2, None).unwrap();
  });
  s.events.wait(2).await;
  s.settle().await;
  assert_eq!(s.fake.pids().len(), 2, "{:?}", s.events.words());
  assert_eq!(s.fake.signals(), []);
  // A stop made then still stops: the exit ends supervision.
  let second = s.fake.last_pid();
  as_the_exit_is_seen(&s, second, |handle| handle.kill(true).unwrap());
  s.events.wait(3).await;
  s.settle().await;
  assert_eq!(s.fake.pids().len(), 2, "{:?}", s.events.words());
  assert_eq!(s.events.words()[2], "exit:code=1:giveup:requested");
  assert_eq!(s.fake.signals(), []);
}

#[tokio::test(start_paused = true)]
async fn a_stop_made_as_an_exit_is_taken_over_by_a_reload_stops_the_new_child() {
  let s = setup();
  let first = s.start(reloading(500)).unwrap().pid;
  // The reload is asked for as the child exits: its new child is spawned as the restart.
  // The stop comes once the policy has heard of the exit, before that child is spawned.
  *s.fake.on_leftovers.lock().unwrap() = Some(js_call(&s, |handle| handle.kill(true).unwrap()));
  as_the_exit_is_seen(&s, first, |handle| handle.reload().unwrap());
  s.events.wait(3).await;
  s.settle().await;
  let pids = s.fake.pids();
  assert_eq!(pids.len(), 2, "{:?}", s.events.words());
  assert!(
    s.fake
      .signals()
      .contains(&(pids[1], libc::SIGTERM, Reach::Tree)),
    "the new child was stopped: {:?}",
    s.fake.signals()
  );
  assert_eq!(
    s.events.words().last().map(String::as_str),
    Some("exit:SIGTERM:giveup:requested"),
    "{:?}",
    s.events.words()
  );
}

#[tokio::test(start_paused = true)]
async fn reload_during_a_restarts_spawn_starts_beside_the_new_child() {
  let s = setup();
  let first = s.start(reloading(500)).unwrap().pid;
  let js = s.during_next_spawn(|handle| (handle.reload(), handle.reload()));
  s.fake.exit(first, 1);
  s.events.wait(3).await;
  let (reload, again) = s.calls_made(js);
  reload.unwrap();
  assert!(matches!(again, Err(CoreError::ReloadUnderWay)));
  assert_eq!(
    s.events.words(),
    ["exit:code=1:restart+0", "start:restart", "reload:starting"]
  );
  let pids = s.fake.pids();
  assert_eq!(pids.len(), 3);
  s.events.wait(6).await;
  assert_eq!(
    s.events.words()[3..],
    ["start:restart", "reload:ready", "reload:done:times=2"]
  );
  assert_eq!(s.fake.signals(), [(pids[1], libc::SIGTERM, Reach::Tree)]);
  assert_eq!(s.handle.usage().pid, Some(pids[2]));
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_reloads_spawn_returns_at_once_and_takes_both_children() {
  let s = setup();
  let old = s.start(reloading(60_000)).unwrap().pid;
  let js = s.during_next_spawn(|handle| {
    let usage = handle.usage();
    handle.kill(true).unwrap();
    usage
  });
  s.handle.reload().unwrap();
  s.events.wait(3).await;
  let usage = s.calls_made(js);
  assert_eq!(usage.pid, Some(old));
  let new = s.fake.last_pid();
  assert_eq!(
    s.events.words(),
    [
      "reload:starting",
      "reload:failed:stopped",
      "exit:SIGTERM:giveup:requested"
    ]
  );
  let signals = s.fake.signals();
  assert!(
    signals.contains(&(old, libc::SIGTERM, Reach::Tree)),
    "{signals:?}"
  );
  assert!(
    signals.contains(&(new, libc::SIGTERM, Reach::Tree)),
    "{signals:?}"
  );
}

#[tokio::test(start_paused = true)]
async fn a_spawn_that_fails_after_a_stop_during_it_ends_supervision_as_stopped() {
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  s.fake.fail_spawn.store(true, Ordering::SeqCst);
  let js = s.during_next_spawn(|handle| handle.kill(true));
  s.fake.exit(first, 1);
  s.events.wait(3).await;
  s.calls_made(js).unwrap();
  assert_eq!(
    s.events.words(),
    ["exit:code=1:restart+0", "error:ENOENT", "end:stopped"]
  );
  s.settle().await;
  assert!(s.fake.signals().is_empty());
  s.fake.fail_spawn.store(false, Ordering::SeqCst);
  assert!(s.start(limits(None, 0, None)).is_ok(), "usable again");
}

/// A request whose children get a stdin pipe each.
fn piped(s: &Setup, limits: Limits) -> StartRequest {
  let mut request = s.request(limits);
  request.spec.stdio[0] = StdioSpec::Pipe;
  request
}

/// A `Done` that reports on a channel.
fn done_on() -> (crate::stdin::Done, oneshot::Receiver<Result<()>>) {
  let (tx, rx) = oneshot::channel();
  let done = crate::stdin::Done::new(move |result| {
    let _ = tx.send(result);
  });
  (done, rx)
}

/// Writes `data` to the stdin of child `pid`, as `writeStdin` does, and waits until it is
/// in the pipe (or dropped).
async fn write_stdin(s: &Setup, pid: u32, data: &[u8]) -> Result<()> {
  let stdin = s.handle.stdin(pid)?;
  let (done, rx) = done_on();
  stdin.write(data.to_vec(), done);
  rx.await.expect("done is called")
}

#[tokio::test(start_paused = true)]
async fn stdin_writes_reach_the_child_with_that_pid_and_never_the_next_one() {
  let s = setup();
  let first = s
    .handle
    .start(piped(&s, limits(None, 0, None)))
    .unwrap()
    .pid;
  write_stdin(&s, first, b"one\n").await.unwrap();
  assert_eq!(s.fake.stdin(first), (b"one\n".to_vec(), false));
  // A JS call that found the first child just before it exited.
  let late = s.handle.stdin(first).unwrap();
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  let second = s.fake.last_pid();
  assert!(matches!(
    s.handle.stdin(first),
    Err(CoreError::ChildNotRunning(pid)) if pid == first
  ));
  let (done, rx) = done_on();
  late.write(b"lost\n".to_vec(), done);
  let dropped = rx.await.unwrap().unwrap_err();
  assert_eq!(dropped.code().as_deref(), Some("EPIPE"));
  assert_eq!(
    s.fake.stdin(first),
    (Vec::new(), true),
    "its stdin closed with its exit"
  );
  write_stdin(&s, second, b"two\n").await.unwrap();
  assert_eq!(
    s.fake.stdin(second),
    (b"two\n".to_vec(), false),
    "only its own bytes, and no EOF"
  );
  s.handle.stdin(second).unwrap().end();
  assert_eq!(s.fake.stdin(second), (Vec::new(), true), "EOF once asked");
  s.handle.kill(true).unwrap();
  s.events.wait(3).await;
  assert!(matches!(
    s.handle.stdin(second),
    Err(CoreError::ChildNotRunning(_))
  ));
}

#[tokio::test(start_paused = true)]
async fn during_a_reload_stdin_reaches_each_child_by_pid_until_the_old_one_is_replaced() {
  let s = setup();
  let old = s.handle.start(piped(&s, reloading(500))).unwrap().pid;
  s.handle.reload().unwrap();
  s.events.wait(1).await;
  let new = s.fake.last_pid();
  write_stdin(&s, old, b"old\n").await.unwrap();
  write_stdin(&s, new, b"new\n").await.unwrap();
  assert_eq!(s.fake.stdin(old), (b"old\n".to_vec(), false));
  assert_eq!(s.fake.stdin(new), (b"new\n".to_vec(), false));
  s.events.wait(3).await;
  assert_eq!(s.events.words()[2], "reload:ready");
  assert!(
    matches!(s.handle.stdin(old), Err(CoreError::ChildNotRunning(_))),
    "the old child is on its way out"
  );
  s.events.wait(4).await;
  assert_eq!(s.fake.stdin(old), (Vec::new(), true), "closed at its exit");
  write_stdin(&s, new, b"more\n").await.unwrap();
  assert_eq!(s.fake.stdin(new), (b"more\n".to_vec(), false));
}

#[tokio::test(start_paused = true)]
async fn a_reloads_new_child_that_fails_takes_no_more_stdin() {
  let s = setup();
  let old = s.handle.start(piped(&s, reloading(1000))).unwrap().pid;
  s.handle.reload().unwrap();
  s.events.wait(1).await;
  let new = s.fake.last_pid();
  s.fake.exit(new, 3);
  s.events.wait(2).await;
  assert!(matches!(
    s.handle.stdin(new),
    Err(CoreError::ChildNotRunning(_))
  ));
  assert_eq!(s.fake.stdin(new), (Vec::new(), true));
  write_stdin(&s, old, b"still\n").await.unwrap();
  assert_eq!(s.fake.stdin(old), (b"still\n".to_vec(), false));
}

#[tokio::test(start_paused = true)]
async fn stdin_that_is_not_a_pipe_is_refused_with_what_it_is() {
  let s = setup();
  assert!(matches!(
    s.handle.stdin(1),
    Err(CoreError::ChildNotRunning(1))
  ));
  let pid = s.start(limits(None, 0, None)).unwrap().pid;
  match s.handle.stdin(pid) {
    Err(CoreError::StdinNotPipe { pid: p, stdin }) => {
      assert_eq!(p, pid);
      assert!(stdin.contains("'ignore'"), "{stdin}");
    }
    other => panic!("{other:?}"),
  }
  assert!(matches!(
    s.handle.stdin(pid + 1),
    Err(CoreError::ChildNotRunning(_))
  ));
}

#[tokio::test(start_paused = true)]
async fn a_child_that_exits_while_its_stdin_is_full_drops_what_waits_with_epipe() {
  let s = setup();
  let pid = s
    .handle
    .start(piped(&s, limits(Some(1), 0, None)))
    .unwrap()
    .pid;
  let stdin = s.handle.stdin(pid).unwrap();
  // More than the pipe holds, and the fake child never reads.
  let (big, big_rx) = done_on();
  stdin.write(vec![0; 4 * 1024 * 1024], big);
  let (after, mut after_rx) = done_on();
  stdin.write(b"after".to_vec(), after);
  s.settle().await;
  assert!(after_rx.try_recv().is_err(), "it waits for room");
  s.fake.exit(pid, 0);
  s.events.wait(1).await;
  for rx in [big_rx, after_rx] {
    let error = rx.await.unwrap().unwrap_err();
    assert_eq!(error.code().as_deref(), Some("EPIPE"));
    assert_eq!(error.syscall(), Some("write"));
  }
}

#[tokio::test(start_paused = true)]
async fn a_signal_for_an_earlier_childs_pid_never_reaches_the_next_child() {
  let s = setup();
  let first = s.start(limits(None, 0, None)).unwrap().pid;
  s.fake.exit(first, 1);
  s.events.wait(2).await;
  s.settle().await;
  let second = s.fake.last_pid();
  assert_ne!(first, second);
  // A `ChildProcess` object of the first child, used after the core restarted it.
  assert!(matches!(
    s.handle.signal(libc::SIGUSR2, Some(first)),
    Err(CoreError::NotRunning)
  ));
  s.settle().await;
  assert_eq!(s.fake.signals(), []);
  assert!(matches!(
    s.handle.send(b"{}".to_vec(), Some(first)),
    Err(CoreError::NotRunning | CoreError::NoChannel)
  ));
  // Its own object still reaches it.
  s.handle.signal(libc::SIGUSR2, Some(second)).unwrap();
  s.settle().await;
  assert_eq!(s.fake.signals().len(), 1, "{:?}", s.fake.signals());
}
