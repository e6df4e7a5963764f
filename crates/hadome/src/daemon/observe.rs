//! What the daemon observes beyond one observer pass: the open session it keeps to each instance,
//! pinged every pass (a hung postmaster accepts no new connection while open sessions still
//! answer), and the witnesses of a silent primary, asked again before the supervisor judges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hadome_core::fact::{Facts, ProbeOutcome};
use hadome_observer::Session;

use super::Daemon;

impl Daemon {
    /// When a cluster's primary did not answer this pass, probes its other members again and
    /// keeps their newer answers. They were probed at the pass's start, while hadome waited out
    /// the primary's probe timeout; what they have heard from it since (`primary-agreement`
    /// judges their silence by it) is worth that many milliseconds of detection.
    pub(super) async fn ask_witnesses_again(&self, facts: &mut Facts) {
        let answered = |facts: &Facts, name: &str| {
            matches!(
                facts.instances.get(name).map(|probe| &probe.outcome),
                Some(ProbeOutcome::Answered(_))
            )
        };
        let mut witnesses = BTreeSet::new();
        for cluster in &self.estate.clusters {
            let Some(primary) = self.supervisor.primary_of(&cluster.name) else {
                continue;
            };
            if answered(facts, primary) {
                continue;
            }
            witnesses.extend(
                cluster
                    .members
                    .iter()
                    .filter(|member| member.as_str() != primary && answered(facts, member))
                    .cloned(),
            );
        }
        if witnesses.is_empty() {
            return;
        }
        let mut estate = self.estate.clone();
        estate
            .instances
            .retain(|instance| witnesses.contains(&instance.name));
        let again = hadome_observer::observe(&estate).await;
        facts.instances.extend(again.instances);
    }

    /// Keeps an open session to every instance (connecting where there is none) and pings each.
    pub(super) async fn ping_sessions(&mut self) -> BTreeMap<String, bool> {
        let timeout = Duration::from_secs_f64(self.estate.probe_timeout_seconds.max(0.1));
        self.sessions.retain(|_, session| !session.is_closed());
        let missing: Vec<_> = self
            .estate
            .instances
            .iter()
            .filter(|instance| !self.sessions.contains_key(&instance.name))
            .cloned()
            .collect();
        let ended = &self.session_ended;
        let connects = missing.iter().map(|instance| async move {
            (
                instance.name.clone(),
                Session::connect_notifying(instance, timeout, Arc::clone(ended)).await,
            )
        });
        let pings = self.sessions.iter().map(|(name, session)| async move {
            (name.clone(), session.ping(timeout).await.is_ok())
        });
        let (connected, pinged) = tokio::join!(join_all(connects), join_all(pings));
        let mut answers: BTreeMap<String, bool> = pinged.into_iter().collect();
        for (name, session) in connected {
            if let Ok(session) = session {
                answers.insert(name.clone(), true);
                self.sessions.insert(name, session);
            }
        }
        // A session that did not answer is dropped after this pass only if it closed; a hung
        // one stays (it may answer again when the instance resumes).
        answers
    }
}
