//! The acknowledgement of one appended record.

use crate::error::LogError;
use futures_channel::oneshot;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// What the writer sends back for one record: `Err` carries the reason.
pub(crate) type Ack = oneshot::Sender<Result<(), String>>;

/// Resolves when the record it was returned for is logged, as the
/// configured [`crate::Durability`] defines it: under `Fsync` after the
/// fsync of the batch it was written in; under `Buffered` after that batch
/// was written to the operating system (not at once).
///
/// Awaiting it needs no particular runtime; [`Ticket::wait`] blocks a
/// plain thread instead. Dropping it does not affect the record.
#[derive(Debug)]
#[must_use = "a ticket does nothing unless awaited or waited on; drop it to not wait"]
pub struct Ticket {
    rx: oneshot::Receiver<Result<(), String>>,
}

impl Ticket {
    pub(crate) fn new() -> (Ack, Ticket) {
        let (tx, rx) = oneshot::channel();
        (tx, Ticket { rx })
    }

    /// Blocks the calling thread until the record is logged or failed.
    pub fn wait(mut self) -> Result<(), LogError> {
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match Pin::new(&mut self).poll(&mut cx) {
                Poll::Ready(r) => return r,
                Poll::Pending => thread::park(),
            }
        }
    }
}

impl Future for Ticket {
    type Output = Result<(), LogError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(Ok(()))) => Poll::Ready(Ok(())),
            Poll::Ready(Ok(Err(detail))) => Poll::Ready(Err(LogError::WriteFailed { detail })),
            // The writer stopped without answering (it panicked).
            Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(LogError::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
