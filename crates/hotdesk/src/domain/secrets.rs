//! Secrets: passwords and app certificates are stored as argon2id hashes, never in clear (PINs
//! have a scheme of their own: `domain::pin`); bearer tokens as their SHA-256.
//!
//! argon2 is slow on purpose (tens of milliseconds), which is right for a login form and wrong
//! for an API that a kiosk calls thousands of times a minute. [`VerifiedCache`] remembers
//! successful checks, keyed by an HMAC of the stored hash and the presented secret under a key
//! that lives only in this process: a changed secret changes the stored hash and so misses the
//! cache, and a memory dump does not reveal presented secrets.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use hmac::{KeyInit, Mac};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::clock::Timestamp;
use super::model::Key;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `bytes` random bytes, hex: a bearer token (the admin API's `asCookie`, a phone menu's).
pub fn new_token(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    rand::fill(&mut random[..]);
    hex(&random)
}

/// What the store keeps of a bearer token: its SHA-256, hex. A token is random and long, so
/// a fast hash is enough; a stolen table holds nothing to present.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string, if it is one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Hash a secret for storage (argon2id, PHC string).
pub fn hash(secret: &str) -> String {
    ARGON2_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        // Hashing fails only on absurd parameters, which are fixed here.
        .expect("argon2 hashing with default parameters")
}

/// Whether a directory value is already a hash (an export, or a hand-made one), to be stored as is.
pub fn is_hash(value: &str) -> bool {
    value.starts_with("$argon2") && PasswordHash::new(value).is_ok()
}

/// Whether `value` is an argon2 hash whose cost is at most this build's (the previous
/// release's PIN hashes are): one that would cost more to check is refused where it could
/// be made to run on demand.
pub fn is_hash_of_default_cost(value: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(value) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let ours = argon2::Params::default();
    is_hash(value)
        && params.m_cost() <= ours.m_cost()
        && params.t_cost() <= ours.t_cost()
        && params.p_cost() <= ours.p_cost()
}

/// argon2 runs (hashes made and checked) in this process, for `hotdesk_argon2_runs_total`:
/// each costs ~19 MiB and tens of milliseconds of a core, so a rise explains a slow node.
static ARGON2_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many argon2 hashes this process has made or checked.
pub fn argon2_runs() -> u64 {
    ARGON2_RUNS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Check a presented secret against a stored hash. Slow: call from a blocking thread.
pub fn verify(secret: &str, stored: &str) -> bool {
    ARGON2_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Successful checks, so that the hot path costs an HMAC instead of an argon2 run.
pub struct VerifiedCache {
    key: [u8; 32],
    seen: Mutex<HashSet<[u8; 32]>>,
    /// Checks running now, by question (the presented secret and the stored hashes): whoever
    /// asks the same question while one runs waits for its answer, right or wrong, so a burst
    /// of first requests after a restart costs one argon2 run per distinct secret.
    running: Mutex<HashMap<[u8; 32], Arc<Answer>>>,
    /// argon2 runs at once. Each takes ~19 MiB and a core for tens of milliseconds: distinct
    /// secrets (a guesser with many addresses) queue here rather than take the memory of one
    /// run each.
    slots: tokio::sync::Semaphore,
    runs: std::sync::atomic::AtomicU64,
}

/// Takes a question out of the running ones when its first asker is done with it, answered or
/// not (a client that hangs up while it waits for a slot must not leave its question behind).
/// A later asker runs it again: a success is in `seen` by then, a failure is the throttle's.
struct Retire<'a> {
    cache: &'a VerifiedCache,
    question: [u8; 32],
    check: Arc<Answer>,
}

impl Drop for Retire<'_> {
    fn drop(&mut self) {
        let mut running = self.cache.running.lock().unwrap_or_else(|e| e.into_inner());
        if running
            .get(&self.question)
            .is_some_and(|c| Arc::ptr_eq(c, &self.check))
        {
            running.remove(&self.question);
        }
    }
}

/// The answer to one question once its argon2 run ends: which stored hash matched, if any.
type Answer = tokio::sync::OnceCell<Option<usize>>;

/// Bound on remembered checks; past it the cache starts over (a rare re-verification is cheap
/// next to unbounded memory).
const CACHE_CAPACITY: usize = 100_000;

impl Default for VerifiedCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        VerifiedCache {
            key,
            seen: Mutex::new(HashSet::new()),
            running: Mutex::new(HashMap::new()),
            slots: tokio::sync::Semaphore::new(cores),
            runs: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl VerifiedCache {
    fn tag(&self, stored: &str, secret: &str) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(stored.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The tag of a whole question: `secret` against every one of `stored`.
    fn question(&self, stored: &[String], secret: &str) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for h in stored {
            mac.update(h.as_bytes());
            mac.update(&[0]);
        }
        mac.update(&[1]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `secret` is known to match one of `stored`, without running argon2.
    pub fn is_cached(&self, secret: &str, stored: &[String]) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        stored.iter().any(|h| seen.contains(&self.tag(h, secret)))
    }

    /// How many argon2 checks have run (each may try several stored hashes).
    pub fn argon2_runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `secret` matches any of `stored`; runs argon2 on a blocking thread on a miss,
    /// once for all who ask the same at the same time.
    pub async fn verify_any(&self, secret: &str, stored: &[String]) -> bool {
        if self.is_cached(secret, stored) {
            return true;
        }
        let question = self.question(stored, secret);
        let check = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(question)
            .or_default()
            .clone();
        let retire = Retire {
            cache: self,
            question,
            check,
        };
        let matched = *retire
            .check
            .get_or_init(|| self.run_argon2(secret, stored))
            .await;
        drop(retire);
        match matched {
            Some(i) => {
                let tag = self.tag(&stored[i], secret);
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() >= CACHE_CAPACITY {
                    seen.clear();
                }
                seen.insert(tag);
                true
            }
            None => false,
        }
    }

    /// Which of `stored` `secret` matches, by argon2, in one of the slots.
    async fn run_argon2(&self, secret: &str, stored: &[String]) -> Option<usize> {
        let Ok(_slot) = self.slots.acquire().await else {
            return None;
        };
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secret = secret.to_string();
        let stored = stored.to_vec();
        tokio::task::spawn_blocking(move || stored.iter().position(|h| verify(&secret, h)))
            .await
            .ok()
            .flatten()
    }
}

/// Failed credential checks, counted per name and per address in fixed windows. Past the
/// limit a check fails at once, without running argon2: a guessing client learns nothing and
/// cannot burn our CPU.
pub struct FailureThrottle {
    limit: u32,
    window_ms: i64,
    counts: Mutex<HashMap<ThrottleKey, (Timestamp, u32)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Name(Key),
    Addr(IpAddr),
}

impl FailureThrottle {
    pub fn new(limit: u32, window: std::time::Duration) -> Self {
        FailureThrottle {
            limit,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn keys(name: Option<&Key>, addr: Option<IpAddr>) -> Vec<ThrottleKey> {
        let mut keys: Vec<ThrottleKey> = name.cloned().map(ThrottleKey::Name).into_iter().collect();
        // Loopback is where operators and tests sit; throttle it by name only.
        if let Some(a) = addr.filter(|a| !a.is_loopback()) {
            keys.push(ThrottleKey::Addr(a));
        }
        keys
    }

    /// Whether a check for `name` from `addr` may run now.
    pub fn allows(&self, name: &Key, addr: Option<IpAddr>, now: Timestamp) -> bool {
        self.allows_keys(&Self::keys(Some(name), addr), now)
    }

    /// Whether a check from `addr` may run now, whatever it names (loopback always may).
    pub fn allows_from(&self, addr: Option<IpAddr>, now: Timestamp) -> bool {
        self.allows_keys(&Self::keys(None, addr), now)
    }

    fn allows_keys(&self, keys: &[ThrottleKey], now: Timestamp) -> bool {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().all(|k| match counts.get(k) {
            Some((start, n)) if now.0 - start.0 < self.window_ms => *n < self.limit,
            _ => true,
        })
    }

    pub fn record_failure(&self, name: &Key, addr: Option<IpAddr>, now: Timestamp) {
        self.record_keys(Self::keys(Some(name), addr), now);
    }

    /// A failure counted against `addr` alone.
    pub fn record_failure_from(&self, addr: Option<IpAddr>, now: Timestamp) {
        self.record_keys(Self::keys(None, addr), now);
    }

    fn record_keys(&self, keys: Vec<ThrottleKey>, now: Timestamp) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() > 100_000 {
            counts.retain(|_, (start, _)| now.0 - start.0 < self.window_ms);
        }
        for k in keys {
            let entry = counts.entry(k).or_insert((now, 0));
            if now.0 - entry.0.0 >= self.window_ms {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    pub fn record_success(&self, name: &Key) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.remove(&ThrottleKey::Name(name.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }

    #[test]
    fn hash_verifies_and_is_recognised() {
        let h = hash("apppasswd");
        assert!(is_hash(&h));
        assert!(!is_hash("apppasswd"));
        assert!(verify("apppasswd", &h));
        assert!(!verify("apppassword", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[tokio::test]
    async fn cache_misses_when_the_stored_hash_changes() {
        let cache = VerifiedCache::default();
        let old = vec![hash("s1")];
        assert!(cache.verify_any("s1", &old).await);
        assert!(cache.verify_any("s1", &old).await);
        let new = vec![hash("s2")];
        assert!(!cache.verify_any("s1", &new).await);
        assert!(cache.verify_any("s2", &new).await);
        let both = vec![new[0].clone(), hash("s3")];
        assert!(cache.verify_any("s3", &both).await);
    }

    /// 32 checks of `secret` at once against `stored`, all of them asking before the first
    /// argon2 run may start (the test holds every slot until each has joined the question).
    async fn burst(secret: &'static str, stored: Vec<String>) -> (Vec<bool>, u64) {
        let cache = Arc::new(VerifiedCache::default());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let held = cache.slots.acquire_many(cores).await.unwrap();
        let checks: Vec<_> = (0..32)
            .map(|_| {
                let (cache, stored) = (cache.clone(), stored.clone());
                tokio::spawn(async move { cache.verify_any(secret, &stored).await })
            })
            .collect();
        let question = cache.question(&stored, secret);
        let joined = || {
            let running = cache.running.lock().unwrap();
            running.get(&question).map_or(0, Arc::strong_count)
        };
        for _ in 0..100_000 {
            if joined() == 33 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(joined(), 33, "the map's handle and one per waiting check");
        drop(held);
        let mut answers = Vec::new();
        for c in checks {
            answers.push(c.await.unwrap());
        }
        (answers, cache.argon2_runs())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_given_up_while_it_waits_leaves_nothing_behind() {
        let cache = Arc::new(VerifiedCache::default());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let held = cache.slots.acquire_many(cores).await.unwrap();
        let stored = vec![hash("right")];
        let waiting = tokio::spawn({
            let (cache, stored) = (cache.clone(), stored.clone());
            async move { cache.verify_any("wrong", &stored).await }
        });
        let running = || cache.running.lock().unwrap().len();
        for _ in 0..100_000 {
            if running() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(running(), 1, "the check waits for a slot");
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert_eq!(running(), 0, "the client hung up: its question is gone");
        drop(held);
        assert_eq!(cache.argon2_runs(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_first_checks_of_one_secret_runs_argon2_once() {
        let (answers, runs) = burst("burst", vec![hash("burst")]).await;
        assert!(answers.iter().all(|&a| a));
        assert_eq!(runs, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_one_wrong_secret_runs_argon2_once_and_fails_them_all() {
        let (answers, runs) = burst("wrong", vec![hash("right")]).await;
        assert!(answers.iter().all(|&a| !a));
        assert_eq!(runs, 1);
    }

    #[test]
    fn throttle_blocks_after_limit_within_window() {
        let t = FailureThrottle::new(3, Duration::from_secs(60));
        let k = Key::of("appid");
        let addr: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        let now = Timestamp(1_000_000);
        for _ in 0..3 {
            assert!(t.allows(&k, addr, now));
            t.record_failure(&k, addr, now);
        }
        assert!(!t.allows(&k, addr, now));
        // Another name from the same address is blocked too; the window ends it.
        assert!(!t.allows(&Key::of("other"), addr, now));
        assert!(t.allows(&k, addr, Timestamp(now.0 + 60_000)));
    }

    #[test]
    fn an_address_alone_is_throttled_but_never_loopback() {
        let t = FailureThrottle::new(2, Duration::from_secs(60));
        let now = Timestamp(1_000);
        let (far, near): (Option<IpAddr>, Option<IpAddr>) = (
            Some("10.0.0.9".parse().unwrap()),
            Some("127.0.0.1".parse().unwrap()),
        );
        for _ in 0..2 {
            t.record_failure_from(far, now);
            t.record_failure_from(near, now);
        }
        assert!(!t.allows_from(far, now));
        assert!(t.allows_from(near, now));
        assert!(
            t.allows(&Key::of("anyone"), near, now),
            "names are not counted"
        );
    }
}
