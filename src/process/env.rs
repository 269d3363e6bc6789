//! A child's whole environment, shared by the monitors that pass an equal one, with the
//! `key=value` strings `execve` takes, made once for all of them.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{CoreError, Result};
use crate::sync::lock;
use crate::tag;

/// A child's whole environment (nothing else is inherited). Read as the map it is; changed
/// only before its first spawn (`Run::new` adds the notify socket's variables to its own
/// copy), and a change forgets the strings made from it.
#[derive(Debug, Default)]
pub struct Env {
  vars: HashMap<String, String>,
  /// Every variable but the tag, as `execve` takes them: made by the first spawn through
  /// `vfork` and kept for every later one, of this monitor and of those that share it.
  block: OnceLock<Block>,
}

/// Environment strings `key=value\0`, one after another in one allocation (a variable
/// costs its bytes and an offset, not an allocation of its own).
#[derive(Debug)]
pub struct Block {
  bytes: Box<[u8]>,
  starts: Box<[u32]>,
}

impl Block {
  /// Where each string starts. Valid while the block lives.
  pub fn pointers(&self) -> impl Iterator<Item = *const c_char> + '_ {
    self
      .starts
      .iter()
      .map(|&start| self.bytes[start as usize..].as_ptr().cast())
  }

  /// How many strings it holds.
  pub fn len(&self) -> usize {
    self.starts.len()
  }

  fn of(vars: &HashMap<String, String>) -> Result<Block> {
    let size = vars.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut bytes = Vec::with_capacity(size);
    let mut starts = Vec::with_capacity(vars.len());
    for (key, value) in vars.iter().filter(|(key, _)| key.as_str() != tag::NAME) {
      if key.contains('\0') || value.contains('\0') {
        return Err(CoreError::InvalidOption(
          "the environment holds a null byte".to_string(),
        ));
      }
      let start = u32::try_from(bytes.len())
        .map_err(|_| CoreError::InvalidOption("the environment is over 4 GiB".to_string()))?;
      starts.push(start);
      bytes.extend_from_slice(key.as_bytes());
      bytes.push(b'=');
      bytes.extend_from_slice(value.as_bytes());
      bytes.push(0);
    }
    Ok(Block {
      bytes: bytes.into_boxed_slice(),
      starts: starts.into_boxed_slice(),
    })
  }
}

impl Env {
  /// The `execve` strings of every variable but the tag, made on first use.
  pub fn block(&self) -> Result<&Block> {
    if let Some(block) = self.block.get() {
      return Ok(block);
    }
    let block = Block::of(&self.vars)?;
    Ok(self.block.get_or_init(|| block))
  }
}

impl From<HashMap<String, String>> for Env {
  fn from(vars: HashMap<String, String>) -> Env {
    Env {
      vars,
      block: OnceLock::new(),
    }
  }
}

impl Clone for Env {
  /// The variables; the strings are made again if needed (the copy is made to be changed).
  fn clone(&self) -> Env {
    Env::from(self.vars.clone())
  }
}

impl std::ops::Deref for Env {
  type Target = HashMap<String, String>;

  fn deref(&self) -> &HashMap<String, String> {
    &self.vars
  }
}

impl std::ops::DerefMut for Env {
  /// The variables, to change: the strings made from them are forgotten.
  fn deref_mut(&mut self) -> &mut HashMap<String, String> {
    self.block = OnceLock::new();
    &mut self.vars
  }
}

/// How many distinct environments [`shared_env`] remembers; beyond them, an environment is
/// simply not shared.
pub const SHARED_ENVS: usize = 16;

/// `vars`, or an equal environment another monitor holds already. A host's monitors mostly
/// pass the same environment (the host's own, ~40 variables): one copy, and one set of its
/// `execve` strings, saves each monitor ~10 KB (measured with heaptrack, 500 idle
/// monitors), a quarter of what it costs.
pub fn shared_env(vars: HashMap<String, String>) -> Arc<Env> {
  static KNOWN: Mutex<Vec<Weak<Env>>> = Mutex::new(Vec::new());
  let mut known = lock(&KNOWN);
  known.retain(|weak| weak.strong_count() > 0);
  if let Some(same) = known
    .iter()
    .filter_map(Weak::upgrade)
    .find(|held| held.vars == vars)
  {
    return same;
  }
  let env = Arc::new(Env::from(vars));
  if known.len() >= SHARED_ENVS {
    known.remove(0);
  }
  known.push(Arc::downgrade(&env));
  env
}

#[cfg(test)]
mod tests {
  use super::*;

  fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
      .iter()
      .map(|(k, v)| (k.to_string(), v.to_string()))
      .collect()
  }

  /// The strings of `block`, as the child would read them.
  fn strings(block: &Block) -> Vec<String> {
    let mut all: Vec<String> = block
      .pointers()
      .map(|p| {
        // SAFETY: each pointer starts a NUL-terminated string inside the live block.
        let string = unsafe { std::ffi::CStr::from_ptr(p) };
        string.to_str().unwrap().to_string()
      })
      .collect();
    all.sort();
    all
  }

  #[test]
  fn the_strings_are_every_variable_but_the_tag_and_a_change_makes_them_again() {
    let mut env = Env::from(vars(&[("A", "1"), ("B", ""), (tag::NAME, "x")]));
    assert_eq!(strings(env.block().unwrap()), ["A=1", "B="]);
    assert_eq!(env.block().unwrap().len(), 2);
    env.insert("C".to_string(), "3".to_string());
    assert_eq!(strings(env.block().unwrap()), ["A=1", "B=", "C=3"]);
    let copy = env.clone();
    assert_eq!(strings(copy.block().unwrap()), ["A=1", "B=", "C=3"]);
  }

  #[test]
  fn a_null_byte_is_refused() {
    let env = Env::from(vars(&[("A", "1\u{0}2")]));
    let error = env.block().unwrap_err().to_string();
    assert!(error.contains("null byte"), "{error}");
  }

  #[test]
  fn equal_environments_are_held_once_with_their_strings() {
    // Names no other test uses: the table is shared by the whole test binary.
    let a = shared_env(vars(&[("FN_SHARED_TEST", "1"), ("PATH", "/bin")]));
    let b = shared_env(vars(&[("PATH", "/bin"), ("FN_SHARED_TEST", "1")]));
    assert!(Arc::ptr_eq(&a, &b));
    assert!(std::ptr::eq(a.block().unwrap(), b.block().unwrap()));
    let other = shared_env(vars(&[("FN_SHARED_TEST", "2"), ("PATH", "/bin")]));
    assert!(!Arc::ptr_eq(&a, &other));
    assert_eq!(other.get("FN_SHARED_TEST").map(String::as_str), Some("2"));
    // Once no monitor holds it, it is not kept: the next equal one is a copy of its own.
    let weak = Arc::downgrade(&other);
    drop(other);
    assert!(weak.upgrade().is_none());
    // More distinct environments than it remembers: each is still right, merely not shared.
    let many: Vec<_> = (0..SHARED_ENVS * 2)
      .map(|i| shared_env(vars(&[("FN_SHARED_MANY", &i.to_string())])))
      .collect();
    for (i, env) in many.iter().enumerate() {
      assert_eq!(env.get("FN_SHARED_MANY"), Some(&i.to_string()));
    }
  }
}
