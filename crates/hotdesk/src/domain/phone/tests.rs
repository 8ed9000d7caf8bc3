//! Rules of the phone service that need many requests at once: concurrent guesses get five
//! PIN checks between them, however they interleave.

use std::sync::Arc;

use super::{LoginOutcome, PhoneError, PhoneService};
use crate::domain::clock::{ManualClock, Timestamp};
use crate::domain::em::{EmService, RequestContext};
use crate::domain::pin::PinKey;
use crate::domain::{Clock, Store, directory};
use crate::store::sqlite::SqliteStore;

async fn service() -> Arc<PhoneService> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_000_000)));
    let key = PinKey::default();
    let demo = directory::parse("demo", directory::DEMO).unwrap();
    directory::import(&store, clock.as_ref(), &key, "demo", demo, "test")
        .await
        .unwrap();
    let em = Arc::new(EmService::new(store.clone(), clock.clone(), Arc::default()));
    Arc::new(PhoneService::new(store, clock, em, key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_guesses_at_once_get_five_pins_checked() {
    let phone = service().await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let phone = phone.clone();
            tokio::spawn(async move {
                let pin = format!("{:05}", 20_000 + i);
                phone
                    .login(
                        Some("SEP003094C25B15"),
                        None,
                        Some("one"),
                        Some(&pin),
                        &RequestContext::default(),
                    )
                    .await
            })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(PhoneError::Authentication("wrong PIN")) => checked += 1,
            Err(PhoneError::Authentication("the PIN is locked")) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(checked, 5, "PINs checked");
    // The burst locked the PIN: the right one is refused too.
    let right = phone
        .login(
            Some("SEP003094C25B15"),
            None,
            Some("one"),
            Some("12345"),
            &RequestContext::default(),
        )
        .await;
    assert!(
        matches!(right, Err(PhoneError::Authentication("the PIN is locked"))),
        "{right:?}"
    );
    // Another user is not affected.
    let other = phone
        .login(
            Some("SEP003094C25B49"),
            None,
            Some("em"),
            Some("12345"),
            &RequestContext::default(),
        )
        .await;
    assert!(matches!(other, Ok(LoginOutcome::LoggedIn(_))), "{other:?}");
}
