//! How long the auto-logout scheduler takes to end a mass of logins that fall due at the same
//! instant (BENCHMARKS.md): `COUNT` logins due at one second, then the scheduler's passes, each
//! a batch of at most a thousand in its own transaction, until none is due. The clock is a
//! `ManualClock` set to that second, so nothing waits for real time.
//!
//! ```text
//! cargo run --release --example deadlines -- [COUNT] [DATABASE_URL]
//! ```
//! `COUNT` defaults to 100,000; `DATABASE_URL` to a new SQLite file under /tmp.

use std::sync::Arc;
use std::time::Instant;

use hotdesk::domain::directory::{self, DeviceEntry, DirectoryFile, ProfileEntry, UserEntry};
use hotdesk::domain::pin::PinKey;
use hotdesk::domain::{Clock, Login, ManualClock, Store, Timestamp, run_read, run_tx, scheduler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let dir = tempfile_dir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}/deadlines.db", dir.display()));
    // As `hotdesk import` does: loading the directory is one long transaction.
    let options = hotdesk::store::StoreOptions {
        timeout: std::time::Duration::from_secs(600),
    };
    let store: Arc<dyn Store> = hotdesk::store::open_with(&url, options).await?;
    let due = Timestamp(1_800_000_000_000);
    let clock = ManualClock::new(Timestamp(due.0 - 3_600_000));

    let file = DirectoryFile {
        profiles: vec![ProfileEntry {
            name: "P".into(),
            description: None,
            lines: None,
        }],
        users: (0..count)
            .map(|i| UserEntry {
                id: format!("u{i}"),
                profiles: Some(vec!["P".into()]),
                ..UserEntry::default()
            })
            .collect(),
        devices: (0..count)
            .map(|i| DeviceEntry {
                name: format!("D{i}"),
                model: None,
                em_enabled: None,
                logout_profile: None,
            })
            .collect(),
        ..DirectoryFile::default()
    };
    directory::import(
        &store,
        &clock,
        &PinKey::default(),
        "deadlines",
        file,
        "bench",
    )
    .await?;
    for start in (0..count).step_by(10_000) {
        let logins: Vec<Login> = (start..count.min(start + 10_000))
            .map(|i| Login {
                device: format!("D{i}").into(),
                user: format!("u{i}").into(),
                profile: "P".into(),
                app: "bench".into(),
                logged_in_at: clock.now(),
                deadline: Some(due),
            })
            .collect();
        run_tx(store.as_ref(), move |tx| {
            for l in &logins {
                tx.put_login(l)?;
            }
            Ok(Ok::<_, ()>(()))
        })
        .await?
        .map_err(|()| anyhow::anyhow!("refused"))?;
    }
    println!("{count} logins due at the same second ({url})");

    clock.set(due);
    let started = Instant::now();
    let (mut passes, mut ended) = (0, 0);
    // What the scheduler's loop does while a deadline is due: a pass, then the next deadline.
    loop {
        let batch = scheduler::expire_now(store.as_ref(), &clock).await?;
        passes += 1;
        ended += batch.len();
        match store.next_deadline().await? {
            Some(next) if next <= due => continue,
            _ => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let now = clock.now();
    let counts = run_read(store.as_ref(), move |r| r.gauges(now)).await?;
    println!(
        "ended {ended} in {seconds:.2} s: {passes} passes (transactions), {:.0} logins/s; \
         logged in afterwards: {}",
        ended as f64 / seconds,
        counts.logged_in
    );
    anyhow::ensure!(
        ended == count && counts.logged_in == 0,
        "not every login ended"
    );
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("hotdesk-deadlines-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
