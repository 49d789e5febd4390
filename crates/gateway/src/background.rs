//! Threads that work beside the request path — the ledger's SQLite worker, the log writer, the
//! metrics upkeep, the memory release — run at a lower priority (nice 10): on a machine with
//! few cores a commit or a log flush waits for the threads serving requests instead of stalling
//! them. Linux keeps a nice value per thread; elsewhere this does nothing.

/// The nice value of background threads.
const NICE: i32 = 10;

/// Starts the thread that hands memory freed after a burst back to the OS every
/// [`allocator::RELEASE_EVERY`] (why it is needed: the allocator crate).
pub fn spawn_memory_release() {
    let release = || {
        lower_this_thread();
        loop {
            std::thread::sleep(allocator::RELEASE_EVERY);
            allocator::release_freed();
        }
    };
    if let Err(e) = std::thread::Builder::new().name("memory-release".into()).spawn(release) {
        tracing::warn!(error = %e, "could not start the memory release thread; memory freed after a burst is kept longer");
    }
}

/// Lowers the calling thread's priority (for threads this process starts itself).
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    lower(rustix::thread::gettid());
}

/// Lowers the priority of this process's threads whose name starts with `prefix` (threads a
/// library starts, such as sqlx's one worker per SQLite connection). Returns how many.
pub fn lower_threads_named(prefix: &str) -> usize {
    #[cfg(target_os = "linux")]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        let mut lowered = 0;
        for task in tasks.flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let tid = task.file_name().to_str().and_then(|t| t.parse::<i32>().ok());
            if let (true, Some(pid)) = (name.starts_with(prefix), tid.and_then(rustix::process::Pid::from_raw)) {
                lowered += usize::from(lower(pid));
            }
        }
        lowered
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = prefix;
        0
    }
}

#[cfg(target_os = "linux")]
fn lower(pid: rustix::process::Pid) -> bool {
    // Never raised: a thread already below stays there.
    let current = rustix::process::getpriority_process(Some(pid)).unwrap_or(NICE);
    current >= NICE || rustix::process::setpriority_process(Some(pid), NICE).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn a_named_thread_is_lowered_and_others_are_not() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("sy-bg-test".into())
            .spawn(move || {
                let tid = rustix::thread::gettid();
                tx.send(tid).unwrap();
                done_rx.recv().unwrap();
            })
            .unwrap();
        let tid = rx.recv().unwrap();
        let before = rustix::process::getpriority_process(Some(tid)).unwrap();
        assert_eq!(super::lower_threads_named("sy-bg-test"), 1);
        // A test run already at nice 10 or more is left where it is.
        assert_eq!(rustix::process::getpriority_process(Some(tid)).unwrap(), before.max(super::NICE));
        let me = rustix::thread::gettid();
        assert_eq!(rustix::process::getpriority_process(Some(me)).unwrap(), before, "this thread is untouched");
        assert_eq!(super::lower_threads_named("no-such-thread"), 0);
        done_tx.send(()).unwrap();
        handle.join().unwrap();
    }
}
