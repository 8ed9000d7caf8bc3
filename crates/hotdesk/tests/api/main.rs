//! Black-box tests: real HTTP to a real server on 127.0.0.1 (zero2prod's one test binary with
//! one module per area). Time never passes by sleeping: the in-process server runs on a
//! `ManualClock`, and the real binary is started "later" with `--clock-start`.

mod callbacks;
mod client;
mod cluster;
mod concurrency;
mod configservice;
mod crash_storm;
mod dashboard;
mod disk_faults;
mod em_api;
mod errors;
mod faults;
mod helpers;
mod nbi_session;
mod one_path;
mod operator;
mod packaging;
mod phone;
mod phone_sim;
mod process;
mod provisioning;
mod robustness;
mod time_rules;
