//! The workers: each holds one connection and sends one request at a time until the deadline
//! or the request budget runs out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::directory::{device_name, user_id};
use crate::em::{Documents, Op, Outcome, classify};
use crate::stats::{OpStats, Report};
use crate::target::Target;
use crate::{RunArgs, Scenario};

/// Share of login/logout requests in the mixed scenario, in percent.
const MIXED_WRITE_PERCENT: u64 = 20;
/// How much of an odd answer to keep for the report.
const SAMPLE_CHARS: usize = 300;

/// splitmix64: small, fast and good enough to pick devices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Shared {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    docs: Documents,
    scenario: Scenario,
    devices: u32,
    deadline: Instant,
    request_limit: Option<u64>,
    issued: AtomicU64,
    hit_limit: AtomicBool,
}

struct WorkerResult {
    ops: [OpStats; 3],
    samples: BTreeMap<String, String>,
}

/// Worker `id` owns device `id` and user `id` for logins and logouts.
struct Worker {
    rng: Rng,
    device: String,
    user: String,
    logged_in: bool,
}

impl Worker {
    fn next(&mut self, shared: &Shared) -> (Op, String) {
        let write = match shared.scenario {
            Scenario::Query => false,
            Scenario::LoginLogout => true,
            Scenario::Mixed => self.rng.below(100) < MIXED_WRITE_PERCENT,
        };
        if !write {
            let d = device_name(self.rng.below(u64::from(shared.devices)) as u32);
            let xml = shared.docs.device_user_query(&d);
            (Op::Query, xml)
        } else if self.logged_in {
            (Op::Logout, shared.docs.logout(&self.device))
        } else {
            (Op::Login, shared.docs.login(&self.device, &self.user))
        }
    }

    /// Move on to the other write only when this one did what it should; code 19 on a logout
    /// means the device is free already.
    fn after(&mut self, op: Op, outcome: &Outcome) {
        match (op, outcome) {
            (Op::Login, Outcome::Success) => self.logged_in = true,
            (Op::Logout, Outcome::Success | Outcome::EmFailure(19)) => self.logged_in = false,
            _ => {}
        }
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(SAMPLE_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out.replace('\n', " ")
}

async fn work(shared: Arc<Shared>, id: u32, seed: u64) -> WorkerResult {
    let mut w = Worker {
        rng: Rng(seed ^ u64::from(id).wrapping_mul(0xD1B5_4A32_D192_ED03)),
        device: device_name(id),
        user: user_id(id),
        logged_in: false,
    };
    let mut ops: [OpStats; 3] = Default::default();
    let mut samples = BTreeMap::new();
    loop {
        if Instant::now() >= shared.deadline {
            break;
        }
        if let Some(limit) = shared.request_limit
            && shared.issued.fetch_add(1, Ordering::Relaxed) >= limit
        {
            shared.hit_limit.store(true, Ordering::Relaxed);
            break;
        }
        let (op, xml) = w.next(&shared);
        let stats = &mut ops[op.index()];
        let started = Instant::now();
        let sent = shared
            .client
            .post(shared.endpoint.clone())
            .form(&[("xml", xml)])
            .send()
            .await;
        let answer = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.text().await.map(|body| (status, body))
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok((status, body)) => {
                stats
                    .latencies_us
                    .push(started.elapsed().as_micros() as u64);
                let outcome = classify(op, status, &body);
                let what = match &outcome {
                    Outcome::Http(s) => Some(format!("HTTP {s} ({})", op.name())),
                    Outcome::Unexpected => Some(format!("unexpected answer ({})", op.name())),
                    Outcome::EmFailure(c) => Some(format!("EM code {c} ({})", op.name())),
                    Outcome::Success => None,
                };
                if let Some(what) = what {
                    samples.entry(what).or_insert_with(|| clip(&body));
                }
                stats.tally.add(&outcome);
                w.after(op, &outcome);
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else if e.is_body() || e.is_decode() {
                    "body"
                } else {
                    "other"
                };
                stats.tally.add_transport(kind);
                samples
                    .entry(format!("transport error {kind}"))
                    .or_insert_with(|| clip(&format!("{e:?}")));
            }
        }
    }
    WorkerResult { ops, samples }
}

pub async fn run(args: &RunArgs, target: &Target) -> Result<Report, String> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(crate::timeout(args))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency as usize);
    if target.is_name() {
        builder = builder.resolve_to_addrs(&target.host, &target.addrs);
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;

    match client.get(target.healthz.clone()).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => return Err(format!("{} answered {}", target.healthz, r.status())),
        Err(e) => {
            return Err(format!(
                "cannot reach {}: {e} (is `hotdesk serve` running there?)",
                target.healthz
            ));
        }
    }

    let started = Instant::now();
    let shared = Arc::new(Shared {
        client,
        endpoint: target.endpoint.clone(),
        docs: Documents::new(&args.app, &args.certificate),
        scenario: args.scenario,
        devices: args.devices,
        deadline: started + Duration::from_secs(args.duration),
        request_limit: args.requests,
        issued: AtomicU64::new(0),
        hit_limit: AtomicBool::new(false),
    });
    let mut set = tokio::task::JoinSet::new();
    for id in 0..args.concurrency {
        set.spawn(work(shared.clone(), id, args.seed));
    }
    let mut ops: [OpStats; 3] = Default::default();
    let mut samples = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        let r = done.map_err(|e| format!("a worker failed: {e}"))?;
        for (mine, theirs) in ops.iter_mut().zip(r.ops) {
            mine.tally.merge(&theirs.tally);
            mine.latencies_us.extend(theirs.latencies_us);
        }
        for (k, v) in r.samples {
            samples.entry(k).or_insert(v);
        }
    }
    let elapsed = started.elapsed();
    let stopped_by = if shared.hit_limit.load(Ordering::Relaxed) {
        "--requests"
    } else {
        "--duration"
    };
    let mut report = Report::new(elapsed, stopped_by, ops);
    report.samples = samples;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_repeatable_and_in_range() {
        let mut a = Rng(1);
        let mut b = Rng(1);
        for _ in 0..1000 {
            let x = a.below(2000);
            assert_eq!(x, b.below(2000));
            assert!(x < 2000);
        }
    }
}
