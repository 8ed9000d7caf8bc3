/// mimalloc instead of the system allocator: a request allocates and frees many small strings
/// on two threads, and glibc's malloc and free were 7% of the server's CPU on the EM hot path
/// (BENCHMARKS.md). It also hands memory back to the system after a burst of argon2 runs,
/// which glibc's per-thread arenas kept.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hotdesk::cli::main()
}
