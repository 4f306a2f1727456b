//! Stopping background work politely. On SIGTERM the HTTP server stops accepting and finishes the
//! requests in flight; then the background loops are told to stop, finish the batch in hand (an e-mail
//! already handed to the SMTP server is recorded as sent), and the process exits.

use tokio::sync::watch;

/// Held by whoever decides when to stop.
pub struct Trigger(watch::Sender<bool>);

/// Held by each background loop.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (Trigger(sender), Shutdown(receiver))
}

impl Trigger {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stopping is requested (or the trigger is gone).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
