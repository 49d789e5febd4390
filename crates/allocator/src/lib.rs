//! The process's allocator, and what keeps its resident memory near what is in use.
//!
//! mimalloc serves the gateway's many small, short-lived allocations (JSON, headers, buffers)
//! markedly cheaper than glibc's malloc. Two of its defaults suit a long-running server badly:
//!
//! - Memory freed after a burst (a thousand connections' buffers) is handed back to the OS
//!   only a while after it is freed, and only when the allocator is next called on a slow
//!   path; a gateway that falls idle after the burst never makes that call, so it kept the
//!   burst's peak for good. [`release_freed`] makes that call: the gateway makes it every
//!   [`RELEASE_EVERY`] from a thread of its own, and [`on_idle`] from each runtime worker as
//!   it goes idle (a thread's own free pages are collected only from that thread).
//! - It asks the kernel for transparent huge pages on its arenas; the kernel then fills
//!   2 MiB at a time, and its background collapsing grows a quiet process by megabytes every
//!   few seconds. A gateway's working set is a few tens of MiB, too small to gain from them:
//!   the `no_thp` build feature stops the asking, and [`configure`] turns them off for the
//!   process where the kernel would use them unasked.
//!
//! The one crate allowed `unsafe`, on the one function that calls mimalloc's C API.

use std::time::Duration;

pub use mimalloc::MiMalloc as Allocator;

/// How often memory freed and unused since the last round is handed back to the OS.
pub const RELEASE_EVERY: Duration = Duration::from_secs(1);

/// Settings made once, first thing in `main`: transparent huge pages off for this process
/// (Linux; elsewhere nothing).
pub fn configure() {
    // Only a kernel without the prctl refuses; memory is then as before.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// For a thread about to sleep (a runtime worker going idle): [`release_freed`], at most once
/// per [`RELEASE_EVERY`] per thread, so a busy worker that parks thousands of times a second
/// pays a clock read per park. Idle after a burst is the moment to hand its buffers back.
pub fn on_idle() {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let due = LAST.with(|last| {
        let due = last.get().is_none_or(|t| now.duration_since(t) >= RELEASE_EVERY);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        release_freed();
    }
}

/// Hands memory that has been free for the allocator's purge delay back to the OS. Cheap when
/// there is none: a scan of the arenas' bitmaps.
#[allow(unsafe_code)]
pub fn release_freed() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time;
    // `false` asks only for what has waited its delay, never for live memory.
    unsafe { libmimalloc_sys::mi_collect(false) }
}
