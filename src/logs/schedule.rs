//! Time-based rotation as arithmetic: which period an instant falls in, when the next one
//! begins, and how the files rotated out of a log are named and recognised.
//!
//! A period is a block of `every` milliseconds on a clock — UTC, or the host's local time —
//! counted from 1970-01-01 00:00 on that clock: `daily` is 86,400,000 ms (local midnight to
//! midnight), `hourly` 3,600,000, and 200 ms falls on every fifth of a second. A file is
//! named for the start of its period on that clock, to the precision the interval needs
//! (`2026-11-30`, `2026-11-30T14`, `2026-11-30T14-05`, `2026-11-30T14-05-07`,
//! `2026-11-30T14-05-07.200`). When the local clock jumps (daylight saving time), a period
//! ends at the first instant the clock shows another block: the hour skipped in spring has
//! no file, and the hour repeated in autumn is one period of two hours for `hourly` (a
//! second file of the same name gets `.1`).
//!
//! Nothing here reads a clock: instants (milliseconds since the Unix epoch) and the zone's
//! offsets come in as arguments, so the rules are tested with made-up zones and times.

use std::cmp::Ordering;

/// A day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// An hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// The clock periods are counted on.
pub trait Zone {
  /// How far this clock is ahead of UTC at the instant `utc_ms`, in milliseconds.
  fn offset_ms(&self, utc_ms: i64) -> i64;
}

/// UTC.
pub struct Utc;

impl Zone for Utc {
  fn offset_ms(&self, _utc_ms: i64) -> i64 {
    0
  }
}

/// The host's local time (`TZ`, else `/etc/localtime`), as the C library knows it.
pub struct Local;

impl Zone for Local {
  fn offset_ms(&self, utc_ms: i64) -> i64 {
    // time_t is 64 bits on every target this crate builds for.
    let secs = utc_ms.div_euclid(1000) as libc::time_t;
    // SAFETY: `tm` is plain data (integers and a pointer), for which all-zero bytes are a
    // valid value; localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r is the reentrant form, and it is
    // called only when a period is worked out (once per rotation), never per write.
    let converted = unsafe { libc::localtime_r(&secs, &mut tm) };
    if converted.is_null() {
      return 0;
    }
    tm.tm_gmtoff * 1000
  }
}

/// When to rotate by time: every `every_ms` on the UTC or the local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
  /// The length of a period, in milliseconds (at least 1).
  pub every_ms: i64,
  /// Count periods on the UTC clock rather than the local one.
  pub utc: bool,
}

/// The period an instant falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
  /// What the file rotated out of this period is named after (`2026-11-30`).
  pub label: String,
  /// The instant (ms since the epoch, UTC) at which the next period begins.
  pub end_ms: i64,
}

/// How precise a label must be for periods of `every_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precision {
  Day,
  Hour,
  Minute,
  Second,
  Milli,
}

impl Precision {
  fn of(every_ms: i64) -> Precision {
    if every_ms % DAY_MS == 0 {
      Precision::Day
    } else if every_ms % HOUR_MS == 0 {
      Precision::Hour
    } else if every_ms % 60_000 == 0 {
      Precision::Minute
    } else if every_ms % 1000 == 0 {
      Precision::Second
    } else {
      Precision::Milli
    }
  }

  /// The label's shape: `9` for a digit, anything else for itself.
  fn shape(self) -> &'static str {
    match self {
      Precision::Day => "9999-99-99",
      Precision::Hour => "9999-99-99T99",
      Precision::Minute => "9999-99-99T99-99",
      Precision::Second => "9999-99-99T99-99-99",
      Precision::Milli => "9999-99-99T99-99-99.999",
    }
  }
}

impl Schedule {
  /// The zone this schedule counts on.
  pub fn zone(&self) -> &'static dyn Zone {
    if self.utc {
      &Utc
    } else {
      &Local
    }
  }

  fn block(&self, utc_ms: i64, zone: &dyn Zone) -> i64 {
    (utc_ms + zone.offset_ms(utc_ms)).div_euclid(self.every_ms)
  }

  /// The period `now_ms` falls in on `zone`'s clock, and the instant the next one begins:
  /// the first instant after `now_ms` at which the clock shows another block.
  pub fn period_at(&self, now_ms: i64, zone: &dyn Zone) -> Period {
    let first = self.block(now_ms, zone);
    let label = self.label(first * self.every_ms);
    let mut t = now_ms;
    let mut end = now_ms + 1;
    // Each turn either finds the end or moves past one change of the zone's offset; a
    // period never holds more than a couple of those.
    for _ in 0..4 {
      let offset = zone.offset_ms(t);
      // Where the block ends if the offset stays as it is.
      end = ((t + offset).div_euclid(self.every_ms) + 1) * self.every_ms - offset;
      if zone.offset_ms(end) == offset {
        break;
      }
      // The offset changes on the way: find the first instant it does.
      let (mut lo, mut hi) = (t, end);
      while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if zone.offset_ms(mid) == offset {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      if self.block(hi, zone) != first {
        // The clock jumped past the end of the block (or back into another one).
        end = hi;
        break;
      }
      // It jumped within the block (the repeated hour in autumn): go on from there.
      t = hi;
    }
    Period {
      label,
      end_ms: end.max(now_ms + 1),
    }
  }

  /// The label of the period that starts at `wall_ms` on the schedule's clock (milliseconds
  /// since 1970-01-01 00:00 on that clock).
  pub fn label(&self, wall_ms: i64) -> String {
    let days = wall_ms.div_euclid(DAY_MS);
    let in_day = wall_ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, ms) = (
      in_day / HOUR_MS,
      in_day / 60_000 % 60,
      in_day / 1000 % 60,
      in_day % 1000,
    );
    match Precision::of(self.every_ms) {
      Precision::Day => format!("{y:04}-{m:02}-{d:02}"),
      Precision::Hour => format!("{y:04}-{m:02}-{d:02}T{h:02}"),
      Precision::Minute => format!("{y:04}-{m:02}-{d:02}T{h:02}-{min:02}"),
      Precision::Second => format!("{y:04}-{m:02}-{d:02}T{h:02}-{min:02}-{s:02}"),
      Precision::Milli => format!("{y:04}-{m:02}-{d:02}T{h:02}-{min:02}-{s:02}.{ms:03}"),
    }
  }

  /// Whether `text` is a label this schedule writes.
  fn is_label(&self, text: &str) -> bool {
    let shape = Precision::of(self.every_ms).shape();
    text.len() == shape.len()
      && text.bytes().zip(shape.bytes()).all(|(c, s)| {
        if s == b'9' {
          c.is_ascii_digit()
        } else {
          c == s
        }
      })
  }
}

/// The date (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact for every day of the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
  let z = days + 719_468;
  let era = z.div_euclid(146_097);
  let doe = z.rem_euclid(146_097);
  let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  let mp = (5 * doy + 2) / 153;
  let d = doy - (153 * mp + 2) / 5 + 1;
  let m = if mp < 10 { mp + 3 } else { mp - 9 };
  let y = yoe + era * 400 + i64::from(m <= 2);
  (y, m, d)
}

/// How a log's rotated files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
  /// Size rotation alone: `out.log.1`, `out.log.2`, … counting up, the newest with the
  /// highest number. Never renamed again (shifting `.1` … `.N` at each rotation would cost
  /// as many renames as files kept).
  Numbered,
  /// Time rotation (with or without size rotation): `out.log.2026-11-30`, then
  /// `out.log.2026-11-30.1`, `.2` … for more files of the same period. Never renamed again.
  Dated(Schedule),
}

/// A file this naming produced for a log, recognised by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
  /// The name without `.gz` or `.gz.tmp`.
  pub stem: String,
  /// The file is the gzipped form (`.gz`).
  pub gz: bool,
  /// The file is an unfinished gzipped form (`.gz.tmp`), left by a compression that
  /// did not finish.
  pub tmp: bool,
  /// Where it stands among the log's rotated files; see [`Rotated::age_order`].
  order: (String, u64),
}

impl Rotated {
  /// Orders two rotated files of one log from the oldest to the newest.
  pub fn age_order(&self, other: &Rotated) -> Ordering {
    self.order.cmp(&other.order)
  }

  /// Its counter: the number of a numbered file, the `.N` after a dated file's label (0
  /// for none).
  pub fn counter(&self) -> u64 {
    self.order.1
  }
}

/// A whole number without a leading zero, at least 1.
fn counter(text: &str) -> Option<u64> {
  if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
    return None;
  }
  text.parse().ok()
}

impl Naming {
  /// The name of the `n`th file of `label`'s period (`n` = 0 for the first one).
  pub fn dated(base: &str, label: &str, n: u64) -> String {
    if n == 0 {
      format!("{base}.{label}")
    } else {
      format!("{base}.{label}.{n}")
    }
  }

  /// The name of the `n`th numbered file (`n` ≥ 1).
  pub fn numbered(base: &str, n: u64) -> String {
    format!("{base}.{n}")
  }

  /// Recognises `name` as one of the rotated files of the log whose file name is `base`,
  /// or says it is not one (another log's, another naming's, anybody else's).
  pub fn parse(&self, base: &str, name: &str) -> Option<Rotated> {
    let rest = name.strip_prefix(base)?.strip_prefix('.')?;
    let (rest, gz, tmp) = if let Some(r) = rest.strip_suffix(".gz.tmp") {
      (r, true, true)
    } else if let Some(r) = rest.strip_suffix(".gz") {
      (r, true, false)
    } else {
      (rest, false, false)
    };
    let order = match self {
      Naming::Numbered => (String::new(), counter(rest)?),
      Naming::Dated(schedule) => {
        // A label has a fixed length (a millisecond one holds a dot of its own); a counter
        // may follow it.
        let width = Precision::of(schedule.every_ms).shape().len();
        let label = rest.get(..width).filter(|l| schedule.is_label(l))?;
        let n = match &rest[width..] {
          "" => 0,
          tail => counter(tail.strip_prefix('.')?)?,
        };
        (label.to_string(), n)
      }
    };
    Some(Rotated {
      stem: name[..base.len() + 1 + rest.len()].to_string(),
      gz,
      tmp,
      order,
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// 2026-11-30 00:00:00 UTC.
  const NOV_30: i64 = 1_795_996_800_000;

  /// A zone always this many ms ahead of UTC.
  struct Fixed(i64);
  impl Zone for Fixed {
    fn offset_ms(&self, _: i64) -> i64 {
      self.0
    }
  }

  /// A zone that moves from `before` to `after` (ms ahead of UTC) at the instant `at`.
  struct Changes {
    at: i64,
    before: i64,
    after: i64,
  }
  impl Zone for Changes {
    fn offset_ms(&self, utc_ms: i64) -> i64 {
      if utc_ms < self.at {
        self.before
      } else {
        self.after
      }
    }
  }

  fn every(ms: i64) -> Schedule {
    Schedule {
      every_ms: ms,
      utc: true,
    }
  }

  #[test]
  fn dates_are_the_calendars() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(NOV_30 / DAY_MS), (2026, 11, 30));
    // A leap day, the day after it, and a century that is not a leap year.
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(11_017), (2000, 3, 1));
    assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
  }

  #[test]
  fn daily_utc_ends_at_the_next_midnight() {
    let noon = NOV_30 + 12 * HOUR_MS;
    let p = every(DAY_MS).period_at(noon, &Utc);
    assert_eq!(p.label, "2026-11-30");
    assert_eq!(p.end_ms, NOV_30 + DAY_MS);
    // The last millisecond of a day is still that day; midnight is the next.
    assert_eq!(
      every(DAY_MS).period_at(NOV_30 + DAY_MS - 1, &Utc).label,
      "2026-11-30"
    );
    let next = every(DAY_MS).period_at(NOV_30 + DAY_MS, &Utc);
    assert_eq!(next.label, "2026-12-01");
    assert_eq!(next.end_ms, NOV_30 + 2 * DAY_MS);
  }

  #[test]
  fn daily_local_ends_at_local_midnight() {
    // 23:30 UTC on Nov 30 is 01:30 on Dec 1 two hours east, and 18:30 on Nov 30 five west.
    let t = NOV_30 + 23 * HOUR_MS + 30 * 60_000;
    let east = every(DAY_MS).period_at(t, &Fixed(2 * HOUR_MS));
    assert_eq!(east.label, "2026-12-01");
    assert_eq!(east.end_ms, NOV_30 + 2 * DAY_MS - 2 * HOUR_MS);
    let west = every(DAY_MS).period_at(t, &Fixed(-5 * HOUR_MS));
    assert_eq!(west.label, "2026-11-30");
    assert_eq!(west.end_ms, NOV_30 + DAY_MS + 5 * HOUR_MS);
  }

  #[test]
  fn hourly_follows_a_half_hour_zone() {
    // India: UTC+5:30. 14:10 UTC is 19:40 there; the hour ends at 20:00, 14:30 UTC.
    let t = NOV_30 + 14 * HOUR_MS + 10 * 60_000;
    let p = every(HOUR_MS).period_at(t, &Fixed(5 * HOUR_MS + 30 * 60_000));
    assert_eq!(p.label, "2026-11-30T19");
    assert_eq!(p.end_ms, NOV_30 + 14 * HOUR_MS + 30 * 60_000);
  }

  #[test]
  fn intervals_are_counted_from_the_epoch_and_named_to_their_precision() {
    let t = NOV_30 + 14 * HOUR_MS + 5 * 60_000 + 7_250;
    let p = every(200).period_at(t, &Utc);
    assert_eq!(p.label, "2026-11-30T14-05-07.200");
    assert_eq!(p.end_ms, t - 50 + 200);
    assert_eq!(every(1000).period_at(t, &Utc).label, "2026-11-30T14-05-07");
    assert_eq!(
      every(15 * 60_000).period_at(t, &Utc).label,
      "2026-11-30T14-00"
    );
    let six = every(6 * HOUR_MS).period_at(t, &Utc);
    assert_eq!(six.label, "2026-11-30T12");
    assert_eq!(six.end_ms, NOV_30 + 18 * HOUR_MS);
    // An interval given in ms that is a day is `daily`.
    assert_eq!(every(2 * DAY_MS).period_at(t, &Utc).label, "2026-11-29");
  }

  #[test]
  fn the_hour_skipped_in_spring_has_no_period() {
    // Clocks go from 02:00 to 03:00 at 01:00 UTC (CET to CEST): +1 h, then +2 h.
    let at = NOV_30 + HOUR_MS;
    let zone = Changes {
      at,
      before: HOUR_MS,
      after: 2 * HOUR_MS,
    };
    let p = every(HOUR_MS).period_at(at - 10 * 60_000, &zone);
    assert_eq!(p.label, "2026-11-30T01");
    assert_eq!(p.end_ms, at, "01:xx ends when the clock shows 03:00");
    let after = every(HOUR_MS).period_at(at, &zone);
    assert_eq!(after.label, "2026-11-30T03");
    assert_eq!(after.end_ms, at + HOUR_MS);
    // A day in which the clock jumps still ends at its midnight.
    let day = every(DAY_MS).period_at(at - 10 * 60_000, &zone);
    assert_eq!(day.label, "2026-11-30");
    assert_eq!(day.end_ms, NOV_30 + DAY_MS - 2 * HOUR_MS);
  }

  #[test]
  fn the_hour_repeated_in_autumn_is_one_period_of_two_hours() {
    // Clocks go from 03:00 back to 02:00 at 01:00 UTC (CEST to CET): +2 h, then +1 h.
    let at = NOV_30 + HOUR_MS;
    let zone = Changes {
      at,
      before: 2 * HOUR_MS,
      after: HOUR_MS,
    };
    let p = every(HOUR_MS).period_at(at - 30 * 60_000, &zone);
    assert_eq!(p.label, "2026-11-30T02");
    assert_eq!(
      p.end_ms,
      at + HOUR_MS,
      "02:xx twice, until the clock shows 03:00"
    );
    // Half-hour periods: 02:30-03:00 summer time is followed by 02:00 winter time, a
    // block of its own (its file, named like the first 02:00 one, will get a `.1`).
    let half = every(30 * 60_000).period_at(at - 10 * 60_000, &zone);
    assert_eq!(half.label, "2026-11-30T02-30");
    assert_eq!(half.end_ms, at);
    assert_eq!(
      every(30 * 60_000).period_at(at, &zone).label,
      "2026-11-30T02-00"
    );
  }

  #[test]
  fn a_midnight_that_does_not_exist_ends_the_day_at_the_jump() {
    // Some zones moved their clocks at midnight: 00:00 became 01:00 (UTC-4 to UTC-3).
    let at = NOV_30 + 4 * HOUR_MS;
    let zone = Changes {
      at,
      before: -4 * HOUR_MS,
      after: -3 * HOUR_MS,
    };
    let p = every(DAY_MS).period_at(at - HOUR_MS, &zone);
    assert_eq!(p.label, "2026-11-29");
    assert_eq!(p.end_ms, at);
    assert_eq!(every(DAY_MS).period_at(at, &zone).label, "2026-11-30");
  }

  #[test]
  fn the_next_period_is_always_later() {
    for ms in [1, 7, 200, 1000, HOUR_MS, DAY_MS] {
      for t in [NOV_30 - 1, NOV_30, NOV_30 + 1, -5] {
        let p = every(ms).period_at(t, &Fixed(-HOUR_MS));
        assert!(p.end_ms > t, "every {ms} at {t}");
        assert!(p.end_ms <= t + ms, "every {ms} at {t}");
      }
    }
  }

  #[test]
  fn the_local_zone_reads_an_offset() {
    // Whatever the host's zone, an offset is within a day and in whole seconds.
    let offset = Local.offset_ms(NOV_30);
    assert!(offset.abs() < DAY_MS);
    assert_eq!(offset % 1000, 0);
  }

  #[test]
  fn names_within_a_period_count_up() {
    assert_eq!(
      Naming::dated("out.log", "2026-11-30", 0),
      "out.log.2026-11-30"
    );
    assert_eq!(
      Naming::dated("out.log", "2026-11-30", 2),
      "out.log.2026-11-30.2"
    );
    assert_eq!(Naming::numbered("out.log", 3), "out.log.3");
  }

  #[test]
  fn a_naming_recognises_its_own_files_and_no_others() {
    let daily = Naming::Dated(every(DAY_MS));
    let parse = |name: &str| daily.parse("out.log", name);
    let r = parse("out.log.2026-11-30").unwrap();
    assert_eq!(
      (r.stem.as_str(), r.gz, r.tmp),
      ("out.log.2026-11-30", false, false)
    );
    let r = parse("out.log.2026-11-30.2.gz").unwrap();
    assert_eq!(
      (r.stem.as_str(), r.gz, r.tmp),
      ("out.log.2026-11-30.2", true, false)
    );
    let r = parse("out.log.2026-11-30.gz.tmp").unwrap();
    assert_eq!(
      (r.stem.as_str(), r.gz, r.tmp),
      ("out.log.2026-11-30", true, true)
    );
    for other in [
      "out.log",
      "out.log.1",
      "out.log.2026-11-30T14",
      "out.log.2026-11-30.0",
      "out.log.2026-11-30.01",
      "out.log.2026-11-30.x",
      "out.log.2026-1-30",
      "out.log.backup",
      "out.logs.2026-11-30",
      "err.log.2026-11-30",
      "out.log.2026-11-30.gz.gz",
    ] {
      assert_eq!(parse(other), None, "{other}");
    }
    let numbered = Naming::Numbered;
    assert!(numbered.parse("out.log", "out.log.12.gz").unwrap().gz);
    assert_eq!(numbered.parse("out.log", "out.log.2026-11-30"), None);
    assert_eq!(numbered.parse("out.log", "out.log.0"), None);
  }

  #[test]
  fn millisecond_labels_hold_a_dot_and_still_take_a_counter() {
    let naming = Naming::Dated(every(200));
    let parse = |name: &str| naming.parse("o", name);
    assert_eq!(
      parse("o.2026-11-30T14-05-07.200").unwrap().stem,
      "o.2026-11-30T14-05-07.200"
    );
    let r = parse("o.2026-11-30T14-05-07.200.3.gz").unwrap();
    assert_eq!(r.stem, "o.2026-11-30T14-05-07.200.3");
    assert!(r.gz);
    assert_eq!(parse("o.2026-11-30T14-05-07"), None);
    assert_eq!(parse("o.2026-11-30T14-05-07.2"), None);
  }

  #[test]
  fn files_are_ordered_from_the_oldest() {
    let naming = Naming::Dated(every(DAY_MS));
    let mut names = vec![
      "out.log.2026-12-01",
      "out.log.2026-11-30.10.gz",
      "out.log.2026-11-30.2",
      "out.log.2026-11-30.gz",
      "out.log.2025-01-01",
    ];
    names.sort_by(|a, b| {
      let (a, b) = (
        naming.parse("out.log", a).unwrap(),
        naming.parse("out.log", b).unwrap(),
      );
      a.age_order(&b)
    });
    assert_eq!(
      names,
      [
        "out.log.2025-01-01",
        "out.log.2026-11-30.gz",
        "out.log.2026-11-30.2",
        "out.log.2026-11-30.10.gz",
        "out.log.2026-12-01",
      ]
    );
    // Numbered: the highest number is the newest.
    let numbered = Naming::Numbered;
    let (a, b) = (
      numbered.parse("o", "o.3").unwrap(),
      numbered.parse("o", "o.10").unwrap(),
    );
    assert_eq!(a.age_order(&b), Ordering::Less);
    assert_eq!(b.counter(), 10);
  }
}
