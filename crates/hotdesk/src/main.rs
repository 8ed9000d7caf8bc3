fn main() -> std::process::ExitCode {
    hotdesk::cli::main()
}
