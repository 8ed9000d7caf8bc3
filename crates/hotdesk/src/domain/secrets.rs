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

/// A hash of a secret nobody knows, checked in place of a name that does not exist: a wrong
/// name then costs what a wrong secret does, and the time of an answer does not tell which
/// names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash(&new_token(16)));
    &DECOY
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

/// Failed credential checks, counted per address and per name in fixed windows, so that
/// nobody learns anything from a try the throttle holds off: a held-off try is refused before
/// any check, the cache of proven secrets included, whatever secret it carries.
///
/// - An **address** past its limit is refused for every name until its window passes (a
///   guesser next to a working kiosk cannot use the kiosk's proven secret as an oracle).
/// - A **name** past its own, higher, limit (a guesser with many addresses) is refused from
///   every address except those where that name proved its secret before: the guesser's
///   addresses are held off, the kiosks that were working go on working.
///
/// A success resets nothing: a caller with one right secret must not be able to wipe its
/// address's failures and guess another at full speed. Loopback is never counted by address
/// (operators and their scripts sit there; behind a proxy on the same host, name the proxy
/// with `serve --trusted-proxies`).
pub struct FailureThrottle {
    per_address: u32,
    per_name: u32,
    window_ms: i64,
    counts: Mutex<HashMap<ThrottleKey, (Timestamp, u32)>>,
    /// The counted addresses each name proved its secret from.
    proven: Mutex<HashSet<(Key, IpAddr)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Name(Key),
    Addr(IpAddr),
}

/// Bound on each of a throttle's tables; past it the entries whose window is over go (the
/// proven places: all of them, a rare refusal during an attack being cheaper than memory).
const THROTTLE_CAPACITY: usize = 100_000;

impl FailureThrottle {
    /// `per_address` failures from one address, and `per_name` for one name from anywhere,
    /// within `window`.
    pub fn new(per_address: u32, per_name: u32, window: std::time::Duration) -> Self {
        FailureThrottle {
            per_address,
            per_name,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            counts: Mutex::new(HashMap::new()),
            proven: Mutex::new(HashSet::new()),
        }
    }

    /// The address that counts: none for loopback.
    fn counted(addr: Option<IpAddr>) -> Option<IpAddr> {
        addr.filter(|a| !a.is_loopback())
    }

    /// Whether the failures under `key` have reached `limit` in the window running at `now`.
    fn held_off(&self, key: &ThrottleKey, limit: u32, now: Timestamp) -> bool {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        matches!(counts.get(key), Some((start, n)) if now.0 - start.0 < self.window_ms && *n >= limit)
    }

    /// Whether a check for `name` from `addr` may run now. Decided before anything about the
    /// presented secret is looked at.
    pub fn allows(&self, name: &Key, addr: Option<IpAddr>, now: Timestamp) -> bool {
        if !self.allows_from(addr, now) {
            return false;
        }
        if !self.held_off(&ThrottleKey::Name(name.clone()), self.per_name, now) {
            return true;
        }
        // Only an address that is counted: a loopback (or unknown) caller that once proved the
        // name would otherwise guess on without any limit at all.
        Self::counted(addr).is_some_and(|a| {
            let proven = self.proven.lock().unwrap_or_else(|e| e.into_inner());
            proven.contains(&(name.clone(), a))
        })
    }

    /// Whether a check from `addr` may run now, whatever it names (loopback always may).
    pub fn allows_from(&self, addr: Option<IpAddr>, now: Timestamp) -> bool {
        Self::counted(addr)
            .is_none_or(|a| !self.held_off(&ThrottleKey::Addr(a), self.per_address, now))
    }

    /// A wrong secret, or an unknown name, for `name` from `addr`.
    pub fn record_failure(&self, name: &Key, addr: Option<IpAddr>, now: Timestamp) {
        let mut keys = vec![ThrottleKey::Name(name.clone())];
        keys.extend(Self::counted(addr).map(ThrottleKey::Addr));
        self.record_keys(keys, now);
    }

    /// A failure counted against `addr` alone.
    pub fn record_failure_from(&self, addr: Option<IpAddr>, now: Timestamp) {
        self.record_keys(
            Self::counted(addr)
                .map(ThrottleKey::Addr)
                .into_iter()
                .collect(),
            now,
        );
    }

    fn record_keys(&self, keys: Vec<ThrottleKey>, now: Timestamp) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= THROTTLE_CAPACITY {
            counts.retain(|_, (start, _)| now.0 - start.0 < self.window_ms);
        }
        for k in keys {
            let entry = counts.entry(k).or_insert((now, 0));
            if now.0 - entry.0.0 >= self.window_ms {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }

    /// `name` proved its secret from `addr`: from there it passes a hold on the name.
    pub fn record_success(&self, name: &Key, addr: Option<IpAddr>) {
        let Some(addr) = Self::counted(addr) else {
            return;
        };
        let mut proven = self.proven.lock().unwrap_or_else(|e| e.into_inner());
        if proven.len() >= THROTTLE_CAPACITY {
            proven.clear();
        }
        proven.insert((name.clone(), addr));
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

    const FAR: &str = "10.0.0.9";
    const NEIGHBOUR: &str = "10.0.0.10";

    fn at(addr: &str) -> Option<IpAddr> {
        Some(addr.parse().unwrap())
    }

    #[test]
    fn an_address_past_its_limit_is_held_off_for_every_name_until_its_window_ends() {
        let t = FailureThrottle::new(3, 100, Duration::from_secs(60));
        let k = Key::of("appid");
        let now = Timestamp(1_000_000);
        for _ in 0..3 {
            assert!(t.allows(&k, at(FAR), now));
            t.record_failure(&k, at(FAR), now);
        }
        assert!(!t.allows(&k, at(FAR), now));
        assert!(!t.allows(&Key::of("other"), at(FAR), now));
        assert!(t.allows(&k, at(NEIGHBOUR), now), "another address is not");
        assert!(t.allows(&k, at(FAR), Timestamp(now.0 + 60_000)));
    }

    #[test]
    fn a_success_does_not_wipe_an_address_s_failures() {
        let t = FailureThrottle::new(3, 100, Duration::from_secs(60));
        let (guessed, known) = (Key::of("victim"), Key::of("mine"));
        let now = Timestamp(1_000);
        for _ in 0..2 {
            t.record_failure(&guessed, at(FAR), now);
        }
        t.record_success(&known, at(FAR));
        t.record_failure(&guessed, at(FAR), now);
        assert!(!t.allows(&guessed, at(FAR), now));
        assert!(
            !t.allows(&known, at(FAR), now),
            "not even the name it proved"
        );
    }

    #[test]
    fn a_name_past_its_limit_passes_only_where_it_proved_its_secret() {
        let t = FailureThrottle::new(3, 6, Duration::from_secs(60));
        let k = Key::of("kiosk");
        let now = Timestamp(1_000);
        t.record_success(&k, at("192.0.2.1"));
        // Six guessers, one failure each: no address is held off, the name is.
        for i in 0..6 {
            let guesser = at(&format!("10.9.0.{i}"));
            assert!(t.allows(&k, guesser, now));
            t.record_failure(&k, guesser, now);
        }
        assert!(
            !t.allows(&k, at("10.9.0.7"), now),
            "a new address is held off"
        );
        assert!(!t.allows(&k, at("10.9.0.1"), now));
        assert!(
            t.allows(&k, at("192.0.2.1"), now),
            "the working kiosk is not"
        );
        assert!(t.allows(&Key::of("other"), at("10.9.0.7"), now));
        assert!(t.allows(&k, at("10.9.0.7"), Timestamp(now.0 + 60_000)));
    }

    #[test]
    fn loopback_is_counted_by_name_only() {
        let t = FailureThrottle::new(2, 4, Duration::from_secs(60));
        let now = Timestamp(1_000);
        let near = at("127.0.0.1");
        for _ in 0..2 {
            t.record_failure_from(at(FAR), now);
            t.record_failure_from(near, now);
        }
        assert!(!t.allows_from(at(FAR), now));
        assert!(t.allows_from(near, now));
        assert!(
            t.allows(&Key::of("anyone"), near, now),
            "names are not counted"
        );
        let k = Key::of("admin");
        t.record_success(&k, near);
        for _ in 0..4 {
            t.record_failure(&k, near, now);
        }
        assert!(
            !t.allows(&k, near, now),
            "a success from loopback proves no place"
        );
    }
}
