//! Time, injected. Every time rule (deadlines, auto-logout) reads a [`Clock`], so tests move
//! time forward instead of sleeping, and the binary can be started "in the future" to prove
//! that overdue logins are logged out at start-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch. Stored as is in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    /// `self + minutes`, saturating: an absurd duration is "never", not an overflow.
    pub fn plus_minutes(self, minutes: u32) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::from(minutes).saturating_mul(60_000)),
        )
    }

    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// `self - d`, saturating.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from `self` until `later`; zero if `later` is not later.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The source of "now" for every rule.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// A future that completes once `now() >= deadline`. The auto-logout scheduler races it
    /// against new logins; it may complete late, never early.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;
}

/// The wall clock, optionally shifted: `serve --clock-start` lets a test start the real
/// binary at a chosen instant (time then runs at the normal rate from there).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock {
    offset_ms: i64,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock { offset_ms: 0 }
    }

    /// A clock whose "now" is `start` at the moment of the call.
    pub fn starting_at(start: Timestamp) -> Self {
        SystemClock {
            offset_ms: start.0 - wall_now().0,
        }
    }
}

fn wall_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(wall_now().0.saturating_add(self.offset_ms))
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let clock = *self;
        Box::pin(async move {
            // Sleep in bounded steps: the wall clock may jump, and a far deadline must not
            // overflow tokio's timer.
            loop {
                let left = clock.now().until(deadline);
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(Duration::from_secs(3600))).await;
            }
        })
    }
}

/// A clock that moves only when told to. Sleepers wake when [`ManualClock::advance`] or
/// [`ManualClock::set`] passes their deadline.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: Mutex<Timestamp>,
    moved: tokio::sync::watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        let (moved, _) = tokio::sync::watch::channel(start);
        ManualClock {
            inner: Arc::new(ManualInner {
                now: Mutex::new(start),
                moved,
            }),
        }
    }

    pub fn set(&self, t: Timestamp) {
        let mut now = self.inner.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = t;
        self.inner.moved.send_replace(t);
    }

    pub fn advance(&self, d: Duration) {
        let next = self.now().plus(d);
        self.set(next);
    }

    /// How many sleeps are waiting on this clock now: a test knows a task has parked, rather
    /// than guessing how long it takes to get there.
    pub fn sleepers(&self) -> usize {
        self.inner.moved.receiver_count()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.inner.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut rx = self.inner.moved.subscribe();
        Box::pin(async move {
            // wait_for checks the current value first, so a deadline already passed returns at once.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_only_when_passed() {
        let clock = ManualClock::new(Timestamp(1_000));
        let sleeper = tokio::spawn(clock.sleep_until(Timestamp(61_000)));
        clock.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(30));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn minutes_saturate() {
        assert_eq!(Timestamp(0).plus_minutes(1), Timestamp(60_000));
        assert_eq!(
            Timestamp(i64::MAX - 5).plus_minutes(u32::MAX),
            Timestamp(i64::MAX)
        );
    }

    #[test]
    fn system_clock_can_start_in_the_future() {
        let c = SystemClock::starting_at(Timestamp(4_000_000_000_000));
        assert!(c.now() >= Timestamp(4_000_000_000_000));
    }
}
