//! The spill file: ledger rows that could not reach the database in time, as JSON lines next to
//! it, and their import at the next start — each row written once even if an import is cut
//! off and run again.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use super::{Counters, Entry, Store};

/// Appends every row it is sent; runs on a thread of its own (file I/O blocks).
pub(super) fn spill_loop(path: &Path, rx: &std::sync::mpsc::Receiver<Entry>, counters: &Counters) {
    let mut file = None;
    for entry in rx {
        if file.is_none() {
            file = std::fs::OpenOptions::new().create(true).append(true).open(path).ok();
        }
        if let (Some(f), Ok(line)) = (file.as_mut(), serde_json::to_string(&entry)) {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
            counters.spilled.fetch_add(1, Relaxed);
        }
    }
}

/// The file an import works from: the spill file is moved aside first, so rows spilled while
/// importing start a new file instead of being read half-written.
fn importing(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".importing");
    PathBuf::from(name)
}

/// Writes the rows of a previous run's spill file that the ledger does not hold yet, then
/// removes the file. Rows already present (an import cut off after its commit) are skipped.
/// On failure the file stays for the next start.
pub(super) async fn import(store: &Store, path: &Path) {
    // Twice: a file left aside by an import cut off earlier, then the current spill file.
    for _ in 0..2 {
        if !import_once(store, path).await {
            return;
        }
    }
}

/// True when it finished (or there was nothing to do) and another pass may follow.
async fn import_once(store: &Store, path: &Path) -> bool {
    let aside = importing(path);
    if path.exists() && !aside.exists() {
        if let Err(e) = std::fs::rename(path, &aside) {
            tracing::warn!(error = %e, file = %path.display(), "ledger: cannot move the spill file aside");
            return false;
        }
    }
    let Ok(file) = std::fs::File::open(&aside) else { return path.exists() };
    let mut rows = Vec::new();
    let mut unreadable = 0;
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        match serde_json::from_str::<Entry>(&line) {
            Ok(row) => rows.push(row),
            // A line cut by a crash mid-write.
            Err(_) if !line.trim().is_empty() => unreadable += 1,
            Err(_) => {}
        }
    }
    let (from, to) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| (lo.min(r.at_unix_ms), hi.max(r.at_unix_ms)));
    let present = match store.identities_between(from, to).await {
        Ok(present) => present,
        Err(e) => {
            tracing::warn!(error = %e, "ledger: spill file not imported; will retry at the next start");
            return false;
        }
    };
    let fresh: Vec<Entry> = rows
        .into_iter()
        .filter(|r| !present.contains(&(r.request_id.clone(), r.at_unix_ms, r.deployment.clone(), r.status)))
        .collect();
    for batch in fresh.chunks(super::BATCH_MAX) {
        if let Err(e) = store.insert(batch).await {
            tracing::warn!(error = %e, "ledger: spill file not imported; will retry at the next start");
            return false;
        }
    }
    if let Err(e) = std::fs::remove_file(&aside) {
        tracing::warn!(error = %e, file = %aside.display(), "ledger: imported, but cannot remove the spill file");
    }
    tracing::info!(rows = fresh.len(), unreadable, "ledger: imported the rows of the spill file");
    true
}
