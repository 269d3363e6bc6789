//! Reading children's IPC channels on Node's own event loop.
//!
//! A message that first wakes a core thread, which then wakes Node's loop, costs two
//! wake-ups per hop; polled here it costs one, as in Node's own IPC, which is what makes a
//! request/response exchange fast. Each channel gets a libuv poll handle ([`Poll`]) on the
//! loop of the JS thread that started the monitor (unreferenced: it never keeps the host
//! alive by itself). When the socket is readable, [`Channel::receive`] reads and frames,
//! and the monitor's message callback is called once per message inside one napi callback
//! scope, so promise jobs and `nextTick`s run after them as after any other I/O callback,
//! and an exception in a listener is reported like any uncaught exception.
//!
//! The libuv functions are the ones the `node` binary exports (napi-sys does not declare
//! them): this needs Node.js itself, not another runtime that offers only Node-API.
//!
//! Everything here runs on that JS thread; the registries are thread-local, and a
//! Worker's teardown closes its handles before its loop closes.

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::sys;

use super::{NativeEvent, NativeFailure};
use crate::error::CoreError;
use crate::ipc::{Channel, Ending, Reading, Received, Serialization};

/// `UV_POLL` in libuv's `uv_handle_type` (stable across libuv 1.x).
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

// libuv, as exported by the node binary that loads this addon.
extern "C" {
  fn uv_handle_size(kind: c_int) -> usize;
  fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
  fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
  fn uv_poll_stop(handle: *mut c_void) -> c_int;
  fn uv_close(handle: *mut c_void, cb: Option<CloseCb>);
  fn uv_unref(handle: *mut c_void);
  fn uv_handle_set_data(handle: *mut c_void, data: *mut c_void);
  fn uv_handle_get_data(handle: *const c_void) -> *mut c_void;
}

/// A libuv poll handle on one descriptor. libuv owns it from `uv_poll_init` until its
/// close callback; [`Poll::close`] hands it back to libuv, which frees it (and the
/// [`Reader`] stored in its data) in that callback.
struct Poll(NonNull<c_void>);

impl Poll {
  fn layout() -> Option<Layout> {
    // SAFETY: uv_handle_size only reads a table of libuv's handle sizes.
    Layout::from_size_align(unsafe { uv_handle_size(UV_POLL) }, 16).ok()
  }

  /// Allocates and initialises a handle polling `fd` on `event_loop`.
  fn init(event_loop: *mut sys::uv_loop_s, fd: c_int) -> Result<Poll, CoreError> {
    let layout = Poll::layout().ok_or_else(|| failed("bad handle size"))?;
    // SAFETY: the layout has a non-zero size (libuv's poll handle).
    let raw = unsafe { alloc::alloc_zeroed(layout) }.cast::<c_void>();
    let handle = NonNull::new(raw).ok_or_else(|| failed("out of memory"))?;
    // SAFETY: `handle` is zeroed memory of the size libuv asked for, and `event_loop` is
    // the live loop of this thread's Node environment.
    let rc = unsafe { uv_poll_init(event_loop, handle.as_ptr(), fd) };
    if rc != 0 {
      // SAFETY: libuv did not take the handle (init failed), so it is still ours to free.
      unsafe { alloc::dealloc(raw.cast(), layout) };
      return Err(CoreError::sys(
        "uv_poll_init",
        Some(format!("IPC channel fd {fd}")),
        std::io::Error::from_raw_os_error(-rc),
      ));
    }
    Ok(Poll(handle))
  }

  /// Starts calling `on_readable` when the descriptor is readable, without keeping the
  /// loop alive.
  fn start(&self, data: *mut Reader) -> Result<(), CoreError> {
    // SAFETY: the handle is initialised and open; `data` stays valid until the close
    // callback frees it.
    let rc = unsafe {
      uv_handle_set_data(self.0.as_ptr(), data.cast());
      uv_poll_start(self.0.as_ptr(), UV_READABLE, on_readable)
    };
    if rc != 0 {
      return Err(CoreError::sys(
        "uv_poll_start",
        None,
        std::io::Error::from_raw_os_error(-rc),
      ));
    }
    // SAFETY: the handle is initialised and open.
    unsafe { uv_unref(self.0.as_ptr()) };
    Ok(())
  }

  /// Stops polling and hands the handle to libuv to close; it is freed (with its reader)
  /// in the close callback, on a later turn of the loop.
  fn close(self) {
    // SAFETY: the handle is initialised and not closed yet (`close` consumes the Poll);
    // `free_handle` is called once libuv is done with it.
    unsafe {
      uv_poll_stop(self.0.as_ptr());
      uv_close(self.0.as_ptr(), Some(free_handle));
    }
  }
}

fn failed(what: &str) -> CoreError {
  CoreError::Panic(format!(
    "could not read the IPC channel on the event loop: {what}"
  ))
}

/// The JS functions a monitor's events and messages go to, held for calls from libuv
/// callbacks. Copies are plain handles; only the registry's entry releases them.
#[derive(Clone, Copy)]
struct Target {
  env: sys::napi_env,
  on_event: sys::napi_ref,
  on_message: sys::napi_ref,
  context: sys::napi_async_context,
}

/// A message handed to the `on_message` function: its text, or its V8 payload.
enum Payload {
  Text(Vec<u8>),
  Frame(Vec<u8>),
}

impl Target {
  /// Holds both functions until [`Target::release`].
  ///
  /// # Safety
  /// `env` is the current thread's live environment and both values are functions in it.
  unsafe fn new(
    env: sys::napi_env,
    on_event: sys::napi_value,
    on_message: sys::napi_value,
  ) -> Result<Target, CoreError> {
    let mut target = Target {
      env,
      on_event: ptr::null_mut(),
      on_message: ptr::null_mut(),
      context: ptr::null_mut(),
    };
    let mut name = ptr::null_mut();
    let label = "forever-native:ipc";
    // SAFETY: the caller vouches for `env` and the values; the out-pointers are ours.
    let ok = unsafe {
      sys::napi_create_reference(env, on_event, 1, &mut target.on_event) == sys::Status::napi_ok
        && sys::napi_create_reference(env, on_message, 1, &mut target.on_message)
          == sys::Status::napi_ok
        && sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len() as isize, &mut name)
          == sys::Status::napi_ok
        && sys::napi_async_init(env, ptr::null_mut(), name, &mut target.context)
          == sys::Status::napi_ok
    };
    if ok {
      Ok(target)
    } else {
      // SAFETY: releases what was created above, on the same thread.
      unsafe { target.release() };
      Err(CoreError::Panic(
        "could not hold the monitor's callbacks".to_string(),
      ))
    }
  }

  /// A held function, or null.
  ///
  /// # Safety
  /// Call on the target's thread while its environment is alive.
  unsafe fn function(&self, held: sys::napi_ref) -> sys::napi_value {
    let mut function = ptr::null_mut();
    if !held.is_null() {
      // SAFETY: `held` is a live reference of `env` (released only by `release`).
      unsafe { sys::napi_get_reference_value(self.env, held, &mut function) };
    }
    function
  }

  /// Calls `on_event` with `event`.
  ///
  /// # Safety
  /// As [`Target::calls`].
  unsafe fn event(&self, event: NativeEvent) {
    let make = |env| {
      // SAFETY: `env` is the live environment `calls` runs in.
      unsafe { NativeEvent::to_napi_value(env, event) }
        .ok()
        .map(|arg| (self.on_event, arg))
        .into_iter()
    };
    // SAFETY: forwarded from the caller.
    unsafe { self.calls(make) };
  }

  /// Calls `on_message` once per message, all in one callback scope: promise jobs and
  /// `nextTick`s run once, after the last.
  ///
  /// # Safety
  /// As [`Target::calls`].
  unsafe fn messages(&self, payloads: Vec<Payload>) {
    let lost = Cell::new(0usize);
    let make = |env| {
      let lost = &lost;
      payloads.into_iter().filter_map(move |payload| {
        let mut value = ptr::null_mut();
        let status = match payload {
          // SAFETY: `env` is live; the text is valid for the call.
          Payload::Text(text) => unsafe {
            sys::napi_create_string_utf8(env, text.as_ptr().cast(), text.len() as isize, &mut value)
          },
          // SAFETY: `env` is live.
          Payload::Frame(frame) => unsafe { Buffer::to_napi_value(env, Buffer::from(frame)) }
            .map(|v| {
              value = v;
              sys::Status::napi_ok
            })
            .unwrap_or(sys::Status::napi_generic_failure),
        };
        if status != sys::Status::napi_ok {
          lost.set(lost.get() + 1);
        }
        (status == sys::Status::napi_ok).then_some((self.on_message, value))
      })
    };
    // SAFETY: forwarded from the caller.
    unsafe { self.calls(make) };
    if lost.get() > 0 {
      let error = CoreError::BadMessage(format!(
        "{} IPC message(s) from the child could not be made into JS values (too large?)",
        lost.get()
      ));
      // SAFETY: forwarded from the caller.
      unsafe { self.event(error_event(error)) };
    }
  }

  /// Makes the calls `make` lists, as libuv callbacks call into JS: in a handle scope and a
  /// callback scope, an exception in a listener reported like any uncaught exception.
  ///
  /// # Safety
  /// Call on the target's thread, from the event loop (not from inside another JS call
  /// that holds napi state), while the environment is alive.
  unsafe fn calls<I>(&self, make: impl FnOnce(sys::napi_env) -> I)
  where
    I: Iterator<Item = (sys::napi_ref, sys::napi_value)>,
  {
    let env = self.env;
    let mut handles = ptr::null_mut();
    // SAFETY: napi calls on the live environment of this thread, with
    // out-pointers we own; scopes are closed in the reverse order they were opened.
    unsafe {
      if sys::napi_open_handle_scope(env, &mut handles) != sys::Status::napi_ok {
        return;
      }
      let mut scope = ptr::null_mut();
      if sys::napi_open_callback_scope(env, ptr::null_mut(), self.context, &mut scope)
        == sys::Status::napi_ok
      {
        let mut global = ptr::null_mut();
        sys::napi_get_global(env, &mut global);
        for (held, arg) in make(env) {
          let function = self.function(held);
          if function.is_null() {
            continue;
          }
          let mut result = ptr::null_mut();
          let status = sys::napi_call_function(env, global, function, 1, &arg, &mut result);
          if status == sys::Status::napi_pending_exception {
            let mut error = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut error);
            sys::napi_fatal_exception(env, error);
          }
        }
        sys::napi_close_callback_scope(env, scope);
      }
      sys::napi_close_handle_scope(env, handles);
    }
  }

  /// Lets go of both functions and the async context.
  ///
  /// # Safety
  /// Call once, on the target's thread, while the environment is alive.
  unsafe fn release(&mut self) {
    // SAFETY: each handle was created in `new` on this environment and is
    // released once (it is nulled after).
    unsafe {
      if !self.context.is_null() {
        sys::napi_async_destroy(self.env, self.context);
        self.context = ptr::null_mut();
      }
      for held in [&mut self.on_event, &mut self.on_message] {
        if !held.is_null() {
          sys::napi_delete_reference(self.env, *held);
          *held = ptr::null_mut();
        }
      }
    }
  }
}

/// An `'error'` event.
fn error_event(error: CoreError) -> NativeEvent {
  NativeEvent::Error {
    error: NativeFailure::from(error),
  }
}

/// One channel being read on the loop; owned by its poll handle's data from `start` until
/// the handle's close callback.
struct Reader {
  target: Target,
  channel: Arc<Channel>,
}

thread_local! {
  /// Channels being read, by `Arc::as_ptr`, with their poll handles.
  static READERS: RefCell<HashMap<usize, (Poll, *mut Reader)>> = RefCell::new(HashMap::new());
  /// Each supervision run's event callback, for the channels of the children it restarts.
  static RUNS: RefCell<HashMap<u64, Target>> = RefCell::new(HashMap::new());
  static HOOKED: Cell<bool> = const { Cell::new(false) };
}

fn key(channel: &Arc<Channel>) -> usize {
  Arc::as_ptr(channel) as usize
}

/// One supervision run's event callback; its channels are read on the loop of the thread
/// that created it. Dropped (on that thread) when the run's threadsafe function is
/// finalised.
pub struct Run {
  key: u64,
}

// SAFETY: a `Run` is only a key; the callback it names stays in its thread's registry,
// and is only looked up there (a lookup on another thread finds nothing).
unsafe impl Send for Run {}

impl Run {
  /// Holds the run's callbacks: `on_event` for events, `on_message` for each message.
  pub fn new(
    env: sys::napi_env,
    on_event: sys::napi_value,
    on_message: sys::napi_value,
  ) -> Result<Run, CoreError> {
    // SAFETY: called from a napi method on this thread, with its own environment and the
    // two functions it was passed.
    let target = unsafe { Target::new(env, on_event, on_message) }?;
    // Unique across threads, so that a key can never name another thread's run.
    static NEXT_RUN: AtomicU64 = AtomicU64::new(1);
    let key = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    RUNS.with(|runs| runs.borrow_mut().insert(key, target));
    Ok(Run { key })
  }

  /// The key [`attach`] takes.
  pub fn key(&self) -> u64 {
    self.key
  }

  /// Starts reading a restarted child's channel on this thread's loop (see [`attach`]); a
  /// failure is reported to the run's callback as an `'error'` event.
  pub fn attach(&self, channel: Arc<Channel>) {
    if let Err(error) = attach(self.key, channel) {
      // Copied out: the error listener may start another monitor, which registers a run.
      if let Some(target) = RUNS.with(|runs| runs.borrow().get(&self.key).copied()) {
        // SAFETY: called while delivering an event on the JS thread, from the loop.
        unsafe { target.event(error_event(error)) };
      }
    }
  }
}

/// Starts reading a new child's channel on this thread's loop, for the run with key `run`.
/// On failure the child runs on, without incoming messages.
pub fn attach(run: u64, channel: Arc<Channel>) -> Result<(), CoreError> {
  let Some(target) = RUNS.with(|runs| runs.borrow().get(&run).copied()) else {
    return Ok(());
  };
  // SAFETY: the run's target belongs to this thread (the registry is thread-local).
  unsafe { start_reading(&target, channel) }
}

impl Drop for Run {
  fn drop(&mut self) {
    // On another thread (a failed set-up dropped elsewhere) there is nothing to find.
    let target = RUNS.with(|runs| runs.borrow_mut().remove(&self.key));
    if let Some(mut target) = target {
      // SAFETY: the target was registered on this thread, and is released once.
      unsafe { target.release() };
    }
  }
}

/// # Safety
/// `run` belongs to this thread's environment, which is alive.
unsafe fn start_reading(run: &Target, channel: Arc<Channel>) -> Result<(), CoreError> {
  let env = run.env;
  let id = key(&channel);
  if READERS.with(|readers| readers.borrow().contains_key(&id)) {
    return Ok(());
  }
  // SAFETY: `env` is this thread's live environment.
  unsafe { hook_teardown(env) };
  let mut event_loop = ptr::null_mut();
  // SAFETY: `env` is live; the out-pointer is ours.
  let status = unsafe { sys::napi_get_uv_event_loop(env, &mut event_loop) };
  if status != sys::Status::napi_ok || event_loop.is_null() {
    return Err(failed("no event loop"));
  }
  let poll = Poll::init(event_loop, channel.raw_fd())?;
  // SAFETY: the run's functions are live references of this environment.
  let functions = unsafe { (run.function(run.on_event), run.function(run.on_message)) };
  // SAFETY: `env` is live and the two values are the run's functions.
  let target = match unsafe { Target::new(env, functions.0, functions.1) } {
    Ok(target) => target,
    Err(error) => {
      poll.close();
      return Err(error);
    }
  };
  let reader = Box::into_raw(Box::new(Reader { target, channel }));
  if let Err(error) = poll.start(reader) {
    READERS.with(|readers| readers.borrow_mut().insert(id, (poll, reader)));
    stop_reading(id);
    return Err(error);
  }
  READERS.with(|readers| readers.borrow_mut().insert(id, (poll, reader)));
  Ok(())
}

/// The child has exited: reads what it sent before that, reports it ahead of the exit
/// event being built, and stops reading.
pub fn finish(channel: &Arc<Channel>) {
  if let Some(reader) = reader_of(channel) {
    // SAFETY: the reader is registered, so alive; we are on its thread, from the loop.
    unsafe { hand_on(reader, channel.receive(Reading::Drain), true) };
  }
}

/// Messages were read ahead while JS was busy: hands them on, with whatever else has
/// arrived.
pub fn take_waiting(channel: &Arc<Channel>) {
  if let Some(reader) = reader_of(channel) {
    // SAFETY: as in `finish`.
    unsafe { hand_on(reader, channel.receive(Reading::Turn), false) };
  }
}

/// The reader of a channel, while it is being read.
fn reader_of(channel: &Arc<Channel>) -> Option<*mut Reader> {
  READERS.with(|readers| readers.borrow().get(&key(channel)).map(|(_, r)| *r))
}

/// Delivers what a read found, then stops reading when the channel has ended (or `last`).
/// Listeners run here and may do anything, but the reader is freed only by a close
/// callback, on a later turn of the loop.
///
/// # Safety
/// `reader` is a registered reader of this thread.
unsafe fn hand_on(reader: *mut Reader, received: Received, last: bool) {
  let ended = received.end.is_some();
  // SAFETY: the reader stays allocated until its handle's close callback, which cannot
  // run during this call.
  let id = unsafe {
    deliver(&*reader, received);
    key(&(*reader).channel)
  };
  if ended || last {
    stop_reading(id);
  }
}

unsafe extern "C" fn on_readable(handle: *mut c_void, status: c_int, _events: c_int) {
  // A panic must not unwind into libuv.
  let _ = std::panic::catch_unwind(|| {
    // SAFETY: libuv passes the handle we started, whose data is its reader (set before
    // the poll started, freed only in the close callback).
    let reader = unsafe { uv_handle_get_data(handle) }.cast::<Reader>();
    if reader.is_null() {
      return;
    }
    // SAFETY: see above.
    let channel = unsafe { &(*reader).channel };
    let received = if status < 0 {
      // libuv reports an error condition on the socket (EPOLLERR: typically the child
      // exited with our messages unread) as UV_EBADF and stops polling. Reading says what
      // it really is, and takes whatever came before it.
      let mut received = channel.receive(Reading::Drain);
      received.end.get_or_insert_with(|| {
        Ending::Failed(CoreError::sys(
          "poll",
          Some(format!("IPC channel fd {}", channel.raw_fd())),
          std::io::Error::from_raw_os_error(-status),
        ))
      });
      received
    } else {
      channel.receive(Reading::Turn)
    };
    // SAFETY: called from the loop on the reader's thread.
    unsafe { hand_on(reader, received, false) };
  });
}

/// # Safety
/// Call on the reader's thread, from the loop.
unsafe fn deliver(reader: &Reader, received: Received) {
  if !received.items.is_empty() {
    let wrap = match reader.channel.mode() {
      Serialization::Json => Payload::Text,
      Serialization::Advanced => Payload::Frame,
    };
    // SAFETY: forwarded from the caller.
    unsafe {
      reader
        .target
        .messages(received.items.into_iter().map(wrap).collect())
    };
  }
  let end = match received.end {
    None => return,
    Some(Ending::Disconnected) => NativeEvent::Disconnect,
    Some(Ending::Failed(error)) => error_event(error),
  };
  // SAFETY: forwarded from the caller.
  unsafe { reader.target.event(end) };
}

/// Stops reading a channel (if it is still read); its reader is freed once libuv is done
/// with the handle.
fn stop_reading(id: usize) {
  let Some((poll, reader)) = READERS.with(|readers| readers.borrow_mut().remove(&id)) else {
    return;
  };
  // SAFETY: the reader is alive until the close callback below; its target is released
  // once, here, on its own thread.
  unsafe { (*reader).target.release() };
  poll.close();
}

unsafe extern "C" fn free_handle(handle: *mut c_void) {
  // A panic must not unwind into libuv.
  let _ = std::panic::catch_unwind(|| {
    // SAFETY: libuv is done with the handle; its data, if set, is the reader we boxed.
    let reader = unsafe { uv_handle_get_data(handle) }.cast::<Reader>();
    if !reader.is_null() {
      // SAFETY: boxed in `start_reading`, freed once, here.
      drop(unsafe { Box::from_raw(reader) });
    }
  });
  if let Some(layout) = Poll::layout() {
    // SAFETY: allocated in `Poll::init` with this layout; libuv no longer uses it.
    unsafe { alloc::dealloc(handle.cast(), layout) };
  }
}

/// Closes this thread's handles when its environment goes (a Worker ending, the host
/// exiting): a loop with open handles may not close.
///
/// # Safety
/// `env` is this thread's live environment.
unsafe fn hook_teardown(env: sys::napi_env) {
  if HOOKED.with(|hooked| hooked.replace(true)) {
    return;
  }
  unsafe extern "C" fn teardown(_arg: *mut c_void) {
    // A panic must not unwind into Node.
    let _ = std::panic::catch_unwind(|| {
      HOOKED.with(|hooked| hooked.set(false));
      let ids: Vec<usize> = READERS.with(|readers| readers.borrow().keys().copied().collect());
      for id in ids {
        stop_reading(id);
      }
    });
  }
  // SAFETY: registers a hook with no argument on the live environment.
  unsafe { sys::napi_add_env_cleanup_hook(env, Some(teardown), ptr::null_mut()) };
}
