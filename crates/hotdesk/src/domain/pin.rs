//! PINs: how they are stored, what they may look like, and how guessing them is stopped.
//!
//! A PIN is four to eight digits, so no hash can protect it from someone who holds the hash:
//! a laptop tries every 8-digit PIN against an argon2 hash in days, against a plain one in
//! seconds. What protects a PIN is a key the database does not hold. Each PIN is stored as
//! an HMAC-SHA-256 under the secret key (`serve --secret-key-file`), over the user's key and
//! the PIN: a stolen database without the key file tells nothing, not even which users share
//! a PIN. The HMAC costs microseconds, so a directory of 100,000 users imports about as fast with
//! PINs as without. Guessing online is stopped by [`after_wrong_pin`]'s lockout, held in the
//! store so that every node counts the same tries.
//!
//! Hashes of the previous scheme (argon2id, before the key existed) still verify; the phone
//! service rewrites each under the key at its next good use.

use std::sync::Arc;

use hmac::{KeyInit, Mac};

use super::clock::Timestamp;
use super::model::{Key, MAX_PIN_DIGITS, PinGuard};
use super::run_tx;
use super::secrets::{hex, unhex};
use super::store::{Store, StoreError};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Wrong PINs within [`GUESS_WINDOW_MS`] that lock a user's PIN.
pub const MAX_WRONG_PINS: u32 = 5;
/// The window the wrong PINs are counted in: 15 minutes from the first.
pub const GUESS_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a locked PIN stays refused: 15 minutes.
pub const LOCKOUT_MS: i64 = 15 * 60 * 1000;

/// The start of every keyed PIN hash: `$hmac-sha256$k=<key id>$<64 hex digits>`.
const KEYED_PREFIX: &str = "$hmac-sha256$k=";

/// The secret key PINs are hashed under. Cheap to clone; never printed.
#[derive(Clone)]
pub struct PinKey {
    key: Arc<[u8; 32]>,
    id: String,
}

impl std::fmt::Debug for PinKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinKey(id {})", self.id)
    }
}

/// A fresh random key: for tests and in-memory databases, whose PINs die with the process.
impl Default for PinKey {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        PinKey::from_bytes(key)
    }
}

/// How a stored PIN hash compares with a typed PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// The PIN is right and the hash is under this key.
    Right,
    /// The PIN is right, but the hash is of the older argon2 scheme: store [`PinKey::hash`].
    RightOldScheme,
    Wrong,
}

impl PinKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let id: [u8; 32] = keyed(&key, &[b"hotdesk pin key id"])
            .finalize()
            .into_bytes()
            .into();
        let id = hex(&id[..8]);
        PinKey {
            key: Arc::new(key),
            id,
        }
    }

    /// Names the key without revealing it: recorded in the database, and in every hash.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The stored form of `pin` for the user `user`.
    pub fn hash(&self, user: &Key, pin: &str) -> String {
        format!("{KEYED_PREFIX}{}${}", self.id, hex(&self.tag(user, pin)))
    }

    fn tag(&self, user: &Key, pin: &str) -> [u8; 32] {
        self.pin_mac(user, pin).finalize().into_bytes().into()
    }

    fn pin_mac(&self, user: &Key, pin: &str) -> HmacSha256 {
        keyed(
            &self.key[..],
            &[
                b"hotdesk pin v1\0",
                user.as_str().as_bytes(),
                b"\0",
                pin.as_bytes(),
            ],
        )
    }

    /// Compare `pin` with `stored`. Runs argon2 for a hash of the older scheme: slow, call it
    /// from a blocking thread (see [`needs_slow_check`]).
    pub fn check(&self, user: &Key, pin: &str, stored: &str) -> PinCheck {
        if let Some(rest) = stored.strip_prefix(KEYED_PREFIX) {
            let Some((id, tag)) = rest.split_once('$') else {
                return PinCheck::Wrong;
            };
            if id != self.id {
                // Made under another key: nothing typed can match it here.
                return PinCheck::Wrong;
            }
            // verify_slice compares in constant time.
            return match unhex(tag) {
                Some(tag) if self.pin_mac(user, pin).verify_slice(&tag).is_ok() => PinCheck::Right,
                _ => PinCheck::Wrong,
            };
        }
        if super::secrets::verify(pin, stored) {
            PinCheck::RightOldScheme
        } else {
            PinCheck::Wrong
        }
    }

    /// What to store for a PIN given in a directory file or the admin API: a hash as it is
    /// (an export), else the PIN, checked and hashed. A hash made under another key is
    /// refused: it could never match.
    pub fn storable(&self, user: &Key, given: &str) -> Result<String, String> {
        if let Some(rest) = given.strip_prefix(KEYED_PREFIX) {
            return match rest.split_once('$') {
                Some((id, tag)) if id == self.id && unhex(tag).is_some_and(|t| t.len() == 32) => {
                    Ok(given.to_string())
                }
                Some((id, _)) if id != self.id => Err(format!(
                    "the PIN hash was made under another secret key (id {id}, this one is {}): \
                     use the key file of the installation it came from",
                    self.id
                )),
                _ => Err("the PIN hash is damaged".to_string()),
            };
        }
        if super::secrets::is_hash(given) {
            // The previous release's PIN hashes (an export of it) are taken as they are, and
            // rewritten under the key at their first use; a costlier one would let whoever
            // types at a phone make this server run it.
            return if super::secrets::is_hash_of_default_cost(given) {
                Ok(given.to_string())
            } else {
                Err("an argon2 PIN hash must have the default cost (m=19456, t=2, p=1)".into())
            };
        }
        check_digits(given)?;
        Ok(self.hash(user, given))
    }
}

/// Whether checking against `stored` runs argon2 (a hash of the older scheme).
pub fn needs_slow_check(stored: &str) -> bool {
    !stored.starts_with(KEYED_PREFIX)
}

/// A PIN is 1 to [`MAX_PIN_DIGITS`] ASCII digits: what a phone's numeric field can type.
pub fn check_digits(pin: &str) -> Result<(), String> {
    if pin.is_empty() || pin.len() > MAX_PIN_DIGITS || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a PIN is 1 to {MAX_PIN_DIGITS} digits"));
    }
    Ok(())
}

/// Whether the user's PIN is locked at `now`: refused, right or wrong.
pub fn is_locked(guard: Option<&PinGuard>, now: Timestamp) -> bool {
    guard.is_some_and(|g| g.locked_until.is_some_and(|until| now < until))
}

/// Take one try at the PIN at `now`, before the PIN is checked: the guard with the try
/// counted, or `None` when the PIN is refused (locked, or [`MAX_WRONG_PINS`] tries already
/// taken in the window and not proved right). Counting before checking is what keeps a burst
/// of concurrent guesses, on one node or many, to five checks.
///
/// Tries count from the first of a 15-minute window; after the window or a lockout, counting
/// starts over. A right PIN forgets them all (the caller removes the guard).
pub fn take_try(guard: Option<PinGuard>, now: Timestamp) -> Option<PinGuard> {
    match guard {
        Some(g) if is_locked(Some(&g), now) => None,
        Some(g) if g.locked_until.is_none() && now.0 - g.window_start.0 < GUESS_WINDOW_MS => {
            (g.failures < MAX_WRONG_PINS).then_some(PinGuard {
                failures: g.failures + 1,
                ..g
            })
        }
        _ => Some(PinGuard {
            failures: 1,
            window_start: now,
            locked_until: None,
        }),
    }
}

/// The guard once a try proved wrong at `now`: locked for 15 minutes when it holds
/// [`MAX_WRONG_PINS`] tries. `Some((guard, true))` when this wrong PIN locked it, `Some((guard,
/// false))` when nothing changes, `None` when there is no guard (a right PIN cleared it).
pub fn after_wrong_pin(guard: Option<PinGuard>, now: Timestamp) -> Option<(PinGuard, bool)> {
    let g = guard?;
    if g.failures >= MAX_WRONG_PINS && g.locked_until.is_none() {
        return Some((
            PinGuard {
                locked_until: Some(Timestamp(now.0 + LOCKOUT_MS)),
                ..g
            },
            true,
        ));
    }
    Some((g, false))
}

/// The database was set up with another secret key than the one this process holds.
#[derive(Debug, thiserror::Error)]
pub enum PinKeyError {
    #[error(
        "the secret key (id {ours}) is not the one this database's PINs are hashed under \
         (id {recorded}): give every node the same --secret-key-file"
    )]
    Mismatch { ours: String, recorded: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Record `key` as the database's PIN key, or check that it is the one recorded: a node (or
/// an import) with the wrong key file would hash PINs nobody can type.
pub async fn bind_key(store: &dyn Store, key: &PinKey) -> Result<(), PinKeyError> {
    let key = key.clone();
    run_tx(store, move |tx| bind_key_in(tx, &key)).await?
}

/// [`bind_key`] inside the caller's transaction (an import that stores PIN hashes: the key
/// is recorded with them, or not at all).
pub(crate) fn bind_key_in(
    tx: &mut dyn super::store::Tx,
    key: &PinKey,
) -> Result<Result<(), PinKeyError>, StoreError> {
    let recorded = tx.claim_pin_key_id(key.id())?;
    Ok(if recorded == key.id() {
        Ok(())
    } else {
        Err(PinKeyError::Mismatch {
            ours: key.id().to_string(),
            recorded,
        })
    })
}

fn keyed(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_verify_and_say_nothing_without_the_key() {
        let key = PinKey::from_bytes([7; 32]);
        let (anna, ben) = (Key::of("Anna"), Key::of("ben"));
        let h = key.hash(&anna, "1234");
        assert!(
            h.starts_with(&format!("$hmac-sha256$k={}$", key.id())),
            "{h}"
        );
        assert!(!h.contains("1234"));
        assert_eq!(key.check(&anna, "1234", &h), PinCheck::Right);
        assert_eq!(key.check(&Key::of("ANNA"), "1234", &h), PinCheck::Right);
        assert_eq!(key.check(&anna, "1235", &h), PinCheck::Wrong);
        // The same PIN of another user hashes differently, and does not verify for anna.
        assert_ne!(key.hash(&ben, "1234"), h);
        assert_eq!(key.check(&ben, "1234", &h), PinCheck::Wrong);
        // Another key cannot check it.
        let other = PinKey::from_bytes([8; 32]);
        assert_ne!(other.id(), key.id());
        assert_eq!(other.check(&anna, "1234", &h), PinCheck::Wrong);
        assert_eq!(
            key.check(&anna, "1234", "$hmac-sha256$k=x"),
            PinCheck::Wrong
        );
        assert_eq!(
            key.check(&anna, "1234", &format!("$hmac-sha256$k={}$zz", key.id())),
            PinCheck::Wrong
        );
    }

    #[test]
    fn argon2_hashes_of_the_old_scheme_still_verify() {
        let key = PinKey::from_bytes([1; 32]);
        let old = super::super::secrets::hash("2468");
        assert!(needs_slow_check(&old));
        assert!(!needs_slow_check(&key.hash(&Key::of("a"), "1")));
        assert_eq!(
            key.check(&Key::of("a"), "2468", &old),
            PinCheck::RightOldScheme
        );
        assert_eq!(key.check(&Key::of("a"), "2469", &old), PinCheck::Wrong);
    }

    #[test]
    fn storable_hashes_digits_and_keeps_hashes_of_this_key() {
        let key = PinKey::from_bytes([2; 32]);
        let user = Key::of("u");
        let h = key.storable(&user, "0042").unwrap();
        assert_eq!(key.check(&user, "0042", &h), PinCheck::Right);
        assert_eq!(key.storable(&user, &h).unwrap(), h);
        let argon = super::super::secrets::hash("1");
        assert_eq!(key.storable(&user, &argon).unwrap(), argon);
        let costly = argon.replace("m=19456,t=2", "m=19456,t=50");
        assert!(
            key.storable(&user, &costly)
                .unwrap_err()
                .contains("default cost")
        );
        let foreign = PinKey::from_bytes([3; 32]).hash(&user, "1");
        assert!(
            key.storable(&user, &foreign)
                .unwrap_err()
                .contains("another secret key")
        );
        for bad in ["", "12a4", "12 34", "١٢٣٤", &"1".repeat(17)] {
            assert!(key.storable(&user, bad).is_err(), "{bad:?}");
        }
        assert!(key.storable(&user, &"9".repeat(16)).is_ok());
    }

    #[test]
    fn five_wrong_pins_in_fifteen_minutes_lock_for_fifteen() {
        let t = |min: i64| Timestamp(1_000_000_000 + min * 60_000);
        // One wrong PIN: take a try, then learn it was wrong.
        let wrong = |guard: Option<PinGuard>, at: Timestamp| {
            let taken = take_try(guard, at).expect("a try is allowed");
            after_wrong_pin(Some(taken), at).unwrap()
        };
        let mut guard = None;
        for i in 0..4 {
            let (g, locked) = wrong(guard, t(i * 3));
            assert!(!locked && !is_locked(Some(&g), t(i * 3)));
            guard = Some(g);
        }
        let (g, locked) = wrong(guard, t(14));
        assert!(locked, "the fifth within the window locks");
        assert!(is_locked(Some(&g), t(14)) && is_locked(Some(&g), t(28)));
        assert!(!is_locked(Some(&g), t(29)), "15 minutes after the fifth");
        assert_eq!(take_try(Some(g), t(20)), None, "locked: no try");
        assert_eq!(after_wrong_pin(Some(g), t(20)), Some((g, false)));
        assert_eq!(
            take_try(Some(g), t(29)).unwrap().failures,
            1,
            "counting starts over"
        );
        // Four wrong, then the window passes: the fifth starts a new count.
        let mut guard = None;
        for i in 0..4 {
            guard = Some(wrong(guard, t(i)).0);
        }
        let (g, locked) = wrong(guard, t(15));
        assert!(!locked);
        assert_eq!(g.failures, 1);
    }

    #[test]
    fn tries_in_flight_count_before_they_are_checked() {
        let now = Timestamp(5_000);
        let mut guard = None;
        for n in 1..=MAX_WRONG_PINS {
            let g = take_try(guard, now).unwrap();
            assert_eq!(g.failures, n);
            guard = Some(g);
        }
        assert_eq!(
            take_try(guard, now),
            None,
            "a sixth concurrent try is refused"
        );
        // A right PIN among them clears the guard; the wrong ones landing after it count
        // nothing.
        assert_eq!(after_wrong_pin(None, now), None);
    }
}
