//! Memory freed after a burst goes back to the OS once released, with the gateway's allocator
//! in place as the process's global allocator (as in the `switchyard` binary).

#![cfg(target_os = "linux")]

use std::time::Duration;

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

/// Resident memory of this process in KiB, walked from its page tables.
fn resident_kib() -> u64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Rss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_freed_burst_is_handed_back_after_release() {
    allocator::configure();
    let before = resident_kib();
    assert!(before > 0, "smaps_rollup unreadable");
    // A burst's worth of connection-sized buffers (8 KiB, as hyper's), touched so they are
    // resident, then all freed.
    let burst: Vec<Vec<u8>> = (0..12_000).map(|i| vec![(i % 251) as u8; 8 * 1024]).collect();
    let during = resident_kib();
    assert!(during > before + 80 * 1024, "the burst was not resident: {before} -> {during} KiB");
    drop(burst);
    // Past the allocator's purge delay (1 s), then released as the gateway's thread does.
    std::thread::sleep(Duration::from_millis(1_200));
    allocator::release_freed();
    let after = resident_kib();
    assert!(
        after < before + 16 * 1024,
        "freed memory was kept: {before} KiB before, {during} during, {after} after release"
    );
}

#[test]
fn transparent_huge_pages_are_off_for_the_process() {
    allocator::configure();
    assert_eq!(rustix::thread::transparent_huge_pages_are_disabled().ok(), Some(true));
}
