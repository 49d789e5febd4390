//! The spill file: ledger rows that could not wait in memory for the database, as JSON lines
//! next to it, appended by a thread of its own (file I/O blocks); the rejected-rows file, rows
//! the database refused while answering, kept for the operator; and reading the spill file back
//! for its import. Writing the rows, once each, is the writer's (`writer.rs`).

use std::fs::File;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::oneshot;

use super::{Counters, Entry};

/// What the spill thread is asked to do, in the order asked.
pub(super) enum SpillMsg {
    /// Append a row to the spill file.
    Row(Entry),
    /// Append a row the database refuses to the rejected-rows file; it is never retried.
    Rejected(Entry),
    /// Close the spill file and move it aside for import (unless an earlier import's file is
    /// still there). Answers whether a file waits to be imported. Every row sent before is in
    /// that file; rows sent after start a new spill file.
    TakeFile(oneshot::Sender<bool>),
    /// Answers once every row sent before is on disk.
    Sync(oneshot::Sender<()>),
}

/// The file an import works from: the spill file is moved aside first, so rows spilled while
/// importing start a new file instead of being read half-written.
pub(super) fn importing(path: &Path) -> PathBuf {
    with_suffix(path, ".importing")
}

/// Where rows the database refused go: beside the spill file.
fn rejected(path: &Path) -> PathBuf {
    with_suffix(path, ".rejected")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Serves [`SpillMsg`]s until every sender is gone; runs on a thread of its own.
pub(super) fn spill_loop(path: &Path, rx: &std::sync::mpsc::Receiver<SpillMsg>, counters: &Counters) {
    let mut spill_file = None;
    let mut rejected_file = None;
    for msg in rx {
        match msg {
            SpillMsg::Row(entry) => {
                if append(&mut spill_file, path, &entry) {
                    counters.spilled.fetch_add(1, Relaxed);
                }
            }
            SpillMsg::Rejected(entry) => {
                if append(&mut rejected_file, &rejected(path), &entry) {
                    counters.rejected.fetch_add(1, Relaxed);
                }
            }
            SpillMsg::TakeFile(reply) => {
                spill_file = None;
                let _ = reply.send(move_aside(path));
            }
            SpillMsg::Sync(reply) => {
                let _ = reply.send(());
            }
        }
    }
}

/// One line per row, one write call each (a crash cuts at most the last line).
fn append(file: &mut Option<File>, path: &Path, entry: &Entry) -> bool {
    if file.is_none() {
        match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => *file = Some(f),
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), request_id = %entry.request_id, "ledger: a row could not be kept on disk and is lost");
                metrics::counter!("switchyard_ledger_lost_total").increment(1);
                return false;
            }
        }
    }
    let (Some(f), Ok(mut line)) = (file.as_mut(), serde_json::to_string(entry)) else { return false };
    line.push('\n');
    if let Err(e) = f.write_all(line.as_bytes()) {
        tracing::error!(error = %e, file = %path.display(), request_id = %entry.request_id, "ledger: a row could not be kept on disk and is lost");
        metrics::counter!("switchyard_ledger_lost_total").increment(1);
        // Opened again for the next row: the disk may have room by then.
        *file = None;
        return false;
    }
    true
}

/// Moves the spill file aside unless an earlier import's file is still waiting; true when a
/// file waits to be imported.
fn move_aside(path: &Path) -> bool {
    let aside = importing(path);
    if !aside.exists() && path.exists() {
        if let Err(e) = std::fs::rename(path, &aside) {
            tracing::warn!(error = %e, file = %path.display(), "ledger: cannot move the spill file aside to import it");
            return false;
        }
    }
    aside.exists()
}

/// Reads a spill file in chunks, off the async threads.
pub(super) struct SpillReader {
    lines: Option<Lines<BufReader<File>>>,
    /// Lines that were not a row (cut by a crash mid-write).
    pub unreadable: u64,
}

impl SpillReader {
    /// None when the file cannot be opened (already imported and removed).
    pub async fn open(path: PathBuf) -> Option<SpillReader> {
        let file = tokio::task::spawn_blocking(move || File::open(path)).await.ok()?.ok()?;
        Some(SpillReader { lines: Some(BufReader::new(file).lines()), unreadable: 0 })
    }

    /// The next rows, at most `max`; None at the end of the file. An error reading the file
    /// ends the import, leaving the file for a later one.
    pub async fn next_chunk(&mut self, max: usize) -> std::io::Result<Option<Vec<Entry>>> {
        let Some(mut lines) = self.lines.take() else { return Ok(None) };
        let read = tokio::task::spawn_blocking(move || {
            let mut rows = Vec::with_capacity(max.min(1024));
            let mut unreadable = 0;
            while rows.len() < max {
                let line = match lines.next() {
                    None => break,
                    Some(Ok(line)) => line,
                    // A line cut inside a character by a crash: consumed, and skipped.
                    Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                        unreadable += 1;
                        continue;
                    }
                    Some(Err(e)) => return Err(e),
                };
                match serde_json::from_str::<Entry>(&line) {
                    Ok(row) => rows.push(row),
                    // A line cut by a crash mid-write.
                    Err(_) if !line.trim().is_empty() => unreadable += 1,
                    Err(_) => {}
                }
            }
            let more = rows.len() == max;
            Ok((more.then_some(lines), rows, unreadable))
        })
        .await
        .map_err(std::io::Error::other)?;
        let (lines, rows, unreadable) = read?;
        self.lines = lines;
        self.unreadable += unreadable;
        Ok((!rows.is_empty()).then_some(rows))
    }
}

/// Removes an imported file; false when it is still there.
pub(super) async fn remove(path: PathBuf) -> bool {
    let shown = path.display().to_string();
    match tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, file = %shown, "ledger: imported, but cannot remove the spill file");
            false
        }
        Err(_) => false,
    }
}
