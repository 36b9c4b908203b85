//! Writing what the generator makes: chunks are generated on every thread
//! and written in order as soon as each is ready, with no step that waits
//! for a whole group of chunks.

use super::{TableWriter, WriteSummary};
use crate::error::{DataError, Result};
use crate::generate::Generator;
use fathom_core::{ColumnType, Frame};
use rayon::ScopeFifo;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Writes everything `generator` makes into `path` (CSV or Parquet by
/// extension), atomically. Chunks are generated in parallel, a few ahead
/// of the one being written; whichever thread finishes the chunk that is
/// next in the file writes it (and any that are ready after it), its
/// columns encoded in parallel, while the other threads go on generating.
/// The file's bytes do not depend on which thread made or wrote what.
/// `on_rows` hears each chunk's row count as it is written (for a
/// progress bar).
pub fn write_generated(
    generator: &Generator,
    path: &Path,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<WriteSummary> {
    let columns: Vec<(String, ColumnType)> = Generator::columns()
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
    let writer = TableWriter::create(path, &columns)?;
    // Written chunks are flushed to disk on a thread of their own while
    // the next ones are generated, so the sync that ends the write (see
    // [`TableWriter::finish`]) has only the last chunk left to wait for.
    let handle = writer
        .handle
        .try_clone()
        .map_err(|e| DataError::io(path, e))?;
    let (flush, flushes) = std::sync::mpsc::channel::<()>();
    let flow = Flow {
        generator,
        chunks: generator.num_chunks(),
        // Enough chunks in flight that every thread has one to generate
        // while another thread writes, and no more (each holds its rows).
        ahead: rayon::current_num_threads().max(1) + 1,
        on_rows,
        flush,
        state: Mutex::new(State::default()),
        writer: Mutex::new(writer),
    };
    let writer = std::thread::scope(|scope| -> Result<TableWriter> {
        let syncer = scope.spawn(move || -> std::io::Result<()> {
            while flushes.recv().is_ok() {
                // Requests that queued up while syncing are one request.
                while flushes.try_recv().is_ok() {}
                handle.sync_data()?;
            }
            Ok(())
        });
        rayon::scope_fifo(|s| flow.spawn_more(s));
        let Flow {
            flush,
            state,
            writer,
            ..
        } = flow;
        // No more flushes: the syncer ends, and the closing sync does the
        // last chunk.
        drop(flush);
        let synced = syncer
            .join()
            .map_err(|_| DataError::Internal("the file sync thread panicked".into()))?;
        let state = state.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = state.failed {
            return Err(e);
        }
        synced.map_err(|e| DataError::io(path, e))?;
        Ok(writer.into_inner().unwrap_or_else(PoisonError::into_inner))
    })?;
    writer.finish()
}

/// The chunks of one generated file on their way to it.
struct Flow<'g> {
    generator: &'g Generator,
    chunks: usize,
    /// Chunks generated or being generated ahead of the next to write.
    ahead: usize,
    on_rows: &'g (dyn Fn(u64) + Sync),
    /// Asks the syncer to flush what has been written.
    flush: Sender<()>,
    state: Mutex<State>,
    /// Held only by the one thread that [`State::writing`] names.
    writer: Mutex<TableWriter>,
}

#[derive(Default)]
struct State {
    /// Chunks handed out for generating.
    spawned: usize,
    /// Chunks in the file.
    written: usize,
    /// Generated chunks waiting for their turn.
    ready: BTreeMap<usize, Frame>,
    /// Whether a thread is writing (and will look for the next chunk when
    /// done).
    writing: bool,
    /// The write that failed; nothing more is written or generated.
    failed: Option<DataError>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<'g> Flow<'g> {
    /// Hands out chunks to generate until `ahead` are in flight.
    fn spawn_more<'s>(&'s self, scope: &ScopeFifo<'s>)
    where
        'g: 's,
    {
        let first_and_end = {
            let mut st = lock(&self.state);
            let end = (st.written + self.ahead).min(self.chunks);
            let first = st.spawned;
            if st.failed.is_some() || first >= end {
                return;
            }
            st.spawned = end;
            (first, end)
        };
        for index in first_and_end.0..first_and_end.1 {
            scope.spawn_fifo(move |scope| {
                let frame = self.generator.chunk(index);
                self.deliver(index, frame, scope);
            });
        }
    }

    /// Files a generated chunk; writes it, and whatever is ready after it,
    /// when it is the next in the file and no other thread is writing.
    fn deliver<'s>(&'s self, index: usize, frame: Frame, scope: &ScopeFifo<'s>)
    where
        'g: 's,
    {
        let mut next = {
            let mut st = lock(&self.state);
            if st.failed.is_some() {
                return;
            }
            st.ready.insert(index, frame);
            if st.writing {
                return;
            }
            let written = st.written;
            match st.ready.remove(&written) {
                Some(f) => {
                    st.writing = true;
                    f
                }
                None => return,
            }
        };
        loop {
            let result = lock(&self.writer).write(&next);
            let rows = next.num_rows() as u64;
            drop(next);
            let following = {
                let mut st = lock(&self.state);
                if let Err(e) = result {
                    st.failed = Some(e);
                    st.writing = false;
                    st.ready.clear();
                    return;
                }
                st.written += 1;
                let written = st.written;
                let following = st.ready.remove(&written);
                st.writing = following.is_some();
                if written < self.chunks {
                    // A send fails only if the syncer stopped on an error,
                    // which its join reports.
                    let _ = self.flush.send(());
                }
                following
            };
            (self.on_rows)(rows);
            self.spawn_more(scope);
            match following {
                Some(f) => next = f,
                None => return,
            }
        }
    }
}
