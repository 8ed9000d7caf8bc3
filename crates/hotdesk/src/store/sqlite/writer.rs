//! The one writer, and group commit (docs/architecture.md §2).
//!
//! SQLite lets one connection write at a time, and with `synchronous=FULL` every COMMIT costs
//! an fsync. So a single thread owns the write connection and takes jobs from a queue: it
//! drains whatever is waiting (up to [`MAX_BATCH`] jobs), runs them all in ONE transaction, each
//! inside its own savepoint, and commits once. Under load many logins share one fsync; alone,
//! a job is a batch of one and waits for nobody.
//!
//! A job is answered only after the COMMIT that holds its writes returned: nothing is
//! acknowledged that is not durable. A job that says "don't commit" (a rule refused) or that
//! fails or panics is rolled back to its savepoint and cannot disturb its batch-mates.

use super::engine::Lite;
use crate::domain::{StoreError, StoreResult, TxJob, WriterStats};
use crate::store::sql::Sql;
use rusqlite::Connection;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The most jobs in one transaction. Bounded so that a flood does not make one transaction
/// (and the latency of the first job in it) grow without limit.
pub(super) const MAX_BATCH: usize = 256;

/// The most messages taken off the queue in one round, reads included (memory databases route
/// reads through the writer), for the same reason.
const MAX_ROUND: usize = 4 * MAX_BATCH;

pub(super) type JobResult = StoreResult<Box<dyn Any + Send>>;
type Reply = oneshot::Sender<JobResult>;
type ReadFn = Box<dyn FnOnce(&Connection) + Send>;

enum Msg {
    Write(TxJob, Reply),
    /// Run outside any transaction, between batches (in-memory databases only: they have no
    /// file that a second connection could open).
    Read(ReadFn),
    Shutdown,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    jobs: AtomicU64,
    failed_batches: AtomicU64,
}

/// The handle to the writer thread. Dropping it stops the thread after the batch in hand.
pub(super) struct Writer {
    queue: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Move `conn` (configured and migrated) to a new writer thread.
    pub(super) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (queue, inbox) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread = std::thread::Builder::new()
            .name("hotdesk-sqlite-writer".into())
            .spawn({
                let counters = counters.clone();
                move || run(conn, inbox, &counters)
            })?;
        Ok(Writer {
            queue,
            thread: Some(thread),
            counters,
        })
    }

    /// Queue a job; the receiver answers after its batch commits. Separate from awaiting so
    /// that tests can queue jobs in a known order without racing tasks.
    pub(super) fn submit(&self, job: TxJob) -> StoreResult<oneshot::Receiver<JobResult>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Msg::Write(job, reply))
            .map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// Run a read on the writer's connection, between batches.
    pub(super) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let read: ReadFn = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.queue
            .send(Msg::Read(read))
            .map_err(|_| StoreError::Closed)?;
        // A dropped reply means the writer stopped (or the read panicked) before answering.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Writer {
    /// Stop the thread and wait for it, so that when the store is gone its file is closed
    /// (a test, or `import` followed by `serve`, can reopen it at once). The wait is at most
    /// the batch in hand.
    fn drop(&mut self) {
        let _ = self.queue.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            // A job may own the last handle to the store and drop it on the writer thread
            // itself; joining there would wait forever. The thread ends on Shutdown anyway.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// The writer thread: take what is queued, run it, answer, repeat until shut down or every
/// handle is gone.
fn run(conn: Connection, inbox: mpsc::Receiver<Msg>, counters: &Counters) {
    while let Ok(first) = inbox.recv() {
        let mut jobs = Vec::new();
        let mut reads = Vec::new();
        let mut shutdown = false;
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(msg) = next.take() {
            taken += 1;
            match msg {
                Msg::Write(job, reply) => jobs.push((job, reply)),
                Msg::Read(read) => reads.push(read),
                Msg::Shutdown => shutdown = true,
            }
            if !shutdown && jobs.len() < MAX_BATCH && taken < MAX_ROUND {
                next = inbox.try_recv().ok();
            }
        }
        if !jobs.is_empty() {
            run_batch(&conn, jobs, counters);
        }
        for read in reads {
            // A panicking read drops its reply sender: its caller gets an error, we go on.
            if catch_unwind(AssertUnwindSafe(|| read(&conn))).is_err() {
                tracing::error!("a read on the SQLite writer connection panicked");
            }
            // A read that stopped half-way may have left its snapshot open; the next batch's
            // BEGIN would fail on it.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        if shutdown {
            break;
        }
    }
    // Whatever is still queued arrived after the store was closed.
    while let Ok(msg) = inbox.try_recv() {
        if let Msg::Write(_, reply) = msg {
            let _ = reply.send(Err(StoreError::Closed));
        }
    }
}

/// One transaction for a batch of jobs; answers go out after COMMIT (or an error to all).
fn run_batch(conn: &Connection, jobs: Vec<(TxJob, Reply)>, counters: &Counters) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        fail_all(
            jobs.into_iter().map(|(_, reply)| reply),
            &format!("could not begin a transaction: {e}"),
        );
        counters.failed_batches.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut answers: Vec<(Reply, JobResult)> = Vec::with_capacity(jobs.len());
    let mut broken: Option<String> = None;
    for (job, reply) in jobs {
        // Once the transaction is lost, the rest are not run (they would only be rolled
        // back); the placeholder answers below are replaced by the batch's error.
        if broken.is_some() {
            answers.push((reply, Err(StoreError::Closed)));
            continue;
        }
        match run_job(conn, job) {
            Ok(result) => answers.push((reply, result)),
            Err(why) => {
                broken = Some(why);
                answers.push((reply, Err(StoreError::Closed)));
            }
        }
    }
    let outcome = match broken {
        Some(why) => Err(why),
        None => exec(conn, "COMMIT").map_err(|e| format!("could not commit: {e}")),
    };
    match outcome {
        Ok(()) => {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters
                .jobs
                .fetch_add(answers.len() as u64, Ordering::Relaxed);
            for (reply, result) in answers {
                // The caller may have given up waiting; its writes are committed regardless.
                let _ = reply.send(result);
            }
        }
        Err(why) => {
            tracing::error!(
                jobs = answers.len(),
                "SQLite batch failed, every job in it answers an error: {why}"
            );
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            fail_all(answers.into_iter().map(|(reply, _)| reply), &why);
        }
    }
}

fn fail_all(replies: impl Iterator<Item = Reply>, why: &str) {
    for reply in replies {
        let _ = reply.send(Err(StoreError::Database(why.to_string())));
    }
}

/// Run one job inside its own savepoint. The outer `Err` means the whole transaction is lost
/// (SQLite rolled it back itself, e.g. on a full disk, or the savepoint could not be undone);
/// the inner result is the job's own answer.
fn run_job(conn: &Connection, mut job: TxJob) -> Result<JobResult, String> {
    exec(conn, "SAVEPOINT job").map_err(|e| format!("could not open a savepoint: {e}"))?;
    let mut tx = Sql(Lite(conn));
    let (keep, result) = match catch_unwind(AssertUnwindSafe(|| job(&mut tx))) {
        Ok(Ok(outcome)) => (outcome.commit, Ok(outcome.output)),
        Ok(Err(e)) => (false, Err(e)),
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            tracing::error!("a write job panicked: {what}");
            (
                false,
                Err(StoreError::Database(format!(
                    "a write job panicked: {what}"
                ))),
            )
        }
    };
    if conn.is_autocommit() {
        return Err("the database rolled the transaction back".to_string());
    }
    let end = if keep {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
    };
    end.map_err(|e| format!("could not end a savepoint: {e}"))?;
    Ok(result)
}

/// A statement without parameters or rows, from the statement cache: the writer runs these
/// around every job, and parsing them again each time showed in profiles.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}
