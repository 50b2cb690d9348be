//! The cost of one keyed check as the platform makes it (governor keyed GCRA, DashMap, foldhash,
//! IpAddr key): one thread, and two threads on one hot key, the limit far above the rate so that
//! every check passes. Reports CPU time per check (the machine may be shared: wall time is shown
//! too, but CPU time is the cost).
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use governor::{Quota, RateLimiter, clock::DefaultClock, state::keyed::DashMapStateStore};

type Keyed = RateLimiter<IpAddr, DashMapStateStore<IpAddr, foldhash::fast::RandomState>, DefaultClock>;

/// This process's CPU time (user + system) in seconds, from /proc (100 ticks a second).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn main() {
    let limit = NonZeroU32::new(1_000_000_000).unwrap();
    let quota = Quota::with_period(Duration::from_secs(60) / limit.get()).unwrap().allow_burst(limit);
    let l: &'static Keyed = Box::leak(Box::new(RateLimiter::dashmap_with_clock_and_hasher(quota, DefaultClock::default(), foldhash::fast::RandomState::default())));
    let key = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let n = 20_000_000u64;
    for run in 0..3 {
        let (t, c) = (Instant::now(), cpu());
        let mut ok = 0u64;
        for _ in 0..n { if l.check_key(&key).is_ok() { ok += 1; } }
        let one = t.elapsed().as_nanos() as f64 / n as f64;
        let one_cpu = (cpu() - c) * 1e9 / n as f64;
        let (t, c) = (Instant::now(), cpu());
        let hs: Vec<_> = (0..2).map(|_| std::thread::spawn(move || { let mut ok = 0u64; for _ in 0..n { if l.check_key(&key).is_ok() { ok += 1; } } ok })).collect();
        let ok2: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        let two = t.elapsed().as_nanos() as f64 / n as f64;
        let two_cpu = (cpu() - c) * 1e9 / (2 * n) as f64;
        println!("run {run}: one thread {one_cpu:.1} ns CPU/check (wall {one:.1}, {ok} ok); two threads on one key {two_cpu:.1} ns CPU/check (wall per thread {two:.1}, {ok2} ok)");
    }
}
