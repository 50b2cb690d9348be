//! Background jobs: periodic tasks that stop cleanly at shutdown and are counted in metrics.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// Starts jobs and stops them all at shutdown.
#[derive(Clone)]
pub struct Jobs {
    token: CancellationToken,
    tracker: TaskTracker,
    metrics: Metrics,
}

impl Jobs {
    /// A runner with no jobs yet.
    #[must_use]
    pub fn new(metrics: Metrics) -> Self {
        Self { token: CancellationToken::new(), tracker: TaskTracker::new(), metrics }
    }

    /// Runs `job` every `every` until shutdown. A failing run is logged and counted; the next
    /// run happens on schedule. A run in progress at shutdown is allowed to finish.
    pub fn spawn_periodic<F, Fut>(&self, name: &'static str, every: Duration, job: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let token = self.token.clone();
        let metrics = self.metrics.clone();
        self.tracker.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once; skip it so start-up is not slowed.
            tick.tick().await;
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                metrics.job_started(name);
                let result = job().await;
                metrics.job_finished(name, result.is_ok());
                if let Err(e) = result {
                    tracing::warn!(job = name, error = %format!("{e:#}"), "background job failed");
                }
            }
            tracing::debug!(job = name, "background job stopped");
        });
    }

    /// Runs a long-lived task (a subscription, say) until shutdown; it gets the stop token.
    pub fn spawn_task<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let fut = task(self.token.clone());
        self.tracker.spawn(async move {
            fut.await;
            tracing::debug!(task = name, "background task stopped");
        });
    }

    /// Signals every job to stop and waits for runs in progress, at most `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        self.token.cancel();
        self.tracker.close();
        if tokio::time::timeout(timeout, self.tracker.wait()).await.is_err() {
            tracing::warn!("background jobs did not stop in time");
        } else {
            tracing::info!("background jobs stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_on_schedule_and_stops() {
        let metrics = Metrics::new().unwrap();
        let jobs = Jobs::new(metrics.clone());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        jobs.spawn_periodic("count", Duration::from_secs(10), move || {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                anyhow::ensure!(r.load(Ordering::SeqCst) != 2, "second run fails");
                Ok(())
            }
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        jobs.shutdown(Duration::from_secs(1)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let text = metrics.render().unwrap();
        assert!(text.contains("suyuan_job_runs_total{job=\"count\",result=\"ok\"} 2"), "{text}");
        assert!(text.contains("suyuan_job_runs_total{job=\"count\",result=\"error\"} 1"));
    }
}
