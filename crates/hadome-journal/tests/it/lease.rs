//! Leases (rule `single-actor`): one holder at a time per cluster, taken over only once expired,
//! even by two handles (two processes) or racing threads on one file.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, JournalEvent, Lease, LeaseOutcome, KIND_LEASE};
use serde_json::json;

use crate::support::new_journal;

fn lease_events(journal: &Journal) -> Vec<JournalEvent> {
    journal
        .events_since(Timestamp(i64::MIN))
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == KIND_LEASE)
        .collect()
}

fn lease(holder: &str, acquired: i64, renewed: i64, expires: i64) -> Lease {
    Lease {
        cluster: "main".into(),
        holder: holder.into(),
        acquired_at: Timestamp(acquired),
        renewed_at: Timestamp(renewed),
        expires_at: Timestamp(expires),
    }
}

#[test]
fn a_lease_is_taken_renewed_refused_to_another_holder_and_taken_over_once_expired() {
    let (_dir, _path, mut journal) = new_journal();
    assert_eq!(journal.lease("main").unwrap(), None);

    let taken = journal
        .acquire_lease("main", "daemon-a", Timestamp(1_000), 5_000)
        .unwrap();
    assert_eq!(
        taken,
        LeaseOutcome::Held(lease("daemon-a", 1_000, 1_000, 6_000))
    );
    assert!(taken.is_held());

    // A renewal keeps when it was taken, moves the expiry, and is no event.
    let renewed = journal
        .acquire_lease("main", "daemon-a", Timestamp(3_000), 5_000)
        .unwrap();
    assert_eq!(
        renewed,
        LeaseOutcome::Held(lease("daemon-a", 1_000, 3_000, 8_000))
    );

    // Another holder is refused until the lease expires, and changes nothing.
    let events_before = journal.events_since(Timestamp(i64::MIN)).unwrap();
    for now in [3_001, 7_999] {
        let refused = journal
            .acquire_lease("main", "daemon-b", Timestamp(now), 60_000)
            .unwrap();
        assert_eq!(
            refused,
            LeaseOutcome::HeldBy(lease("daemon-a", 1_000, 3_000, 8_000)),
            "at {now}"
        );
        assert!(!refused.is_held());
        assert_eq!(refused.lease().holder, "daemon-a");
    }
    assert_eq!(
        journal.events_since(Timestamp(i64::MIN)).unwrap(),
        events_before
    );
    assert_eq!(
        journal.lease("main").unwrap(),
        Some(lease("daemon-a", 1_000, 3_000, 8_000))
    );

    // At its expiry (expires_at <= now), it is anyone's.
    let current = journal.lease("main").unwrap().unwrap();
    assert!(!current.is_expired(Timestamp(7_999)));
    assert!(current.is_expired(Timestamp(8_000)));
    let taken_over = journal
        .acquire_lease("main", "daemon-b", Timestamp(8_000), 5_000)
        .unwrap();
    assert_eq!(
        taken_over,
        LeaseOutcome::Held(lease("daemon-b", 8_000, 8_000, 13_000))
    );
    assert_eq!(
        journal
            .acquire_lease("main", "daemon-a", Timestamp(8_001), 5_000)
            .unwrap(),
        LeaseOutcome::HeldBy(lease("daemon-b", 8_000, 8_000, 13_000))
    );

    let events = lease_events(&journal);
    assert_eq!(events.len(), 2, "taken, taken over; no renewal: {events:?}");
    assert_eq!(
        (events[0].at, events[0].subject.as_str()),
        (Timestamp(1_000), "main")
    );
    assert_eq!(
        events[0].body,
        json!({
            "version": 1,
            "cluster": "main",
            "change": "taken",
            "holder": "daemon-a",
            "expires_at_ms": 6_000,
            "previous_holder": null,
            "previous_expired_at_ms": null,
        })
    );
    assert_eq!(
        events[1].body,
        json!({
            "version": 1,
            "cluster": "main",
            "change": "taken-over",
            "holder": "daemon-b",
            "expires_at_ms": 13_000,
            "previous_holder": "daemon-a",
            "previous_expired_at_ms": 8_000,
        })
    );
}

#[test]
fn a_holder_whose_lease_lapsed_takes_it_again_as_a_new_term() {
    let (_dir, _path, mut journal) = new_journal();
    journal
        .acquire_lease("main", "daemon-a", Timestamp(1_000), 1_000)
        .unwrap();
    let again = journal
        .acquire_lease("main", "daemon-a", Timestamp(5_000), 1_000)
        .unwrap();
    assert_eq!(
        again,
        LeaseOutcome::Held(lease("daemon-a", 5_000, 5_000, 6_000))
    );
    let events = lease_events(&journal);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].body["change"], "taken-over");
    assert_eq!(events[1].body["previous_holder"], "daemon-a");
    assert_eq!(events[1].body["previous_expired_at_ms"], 2_000);
}

#[test]
fn only_the_holder_releases_a_lease_and_then_anyone_takes_it_at_once() {
    let (_dir, _path, mut journal) = new_journal();
    journal
        .acquire_lease("main", "daemon-a", Timestamp(1_000), 60_000)
        .unwrap();

    assert!(!journal
        .release_lease("main", "daemon-b", Timestamp(2_000))
        .unwrap());
    assert!(!journal
        .release_lease("other", "daemon-a", Timestamp(2_000))
        .unwrap());
    assert_eq!(journal.lease("main").unwrap().unwrap().holder, "daemon-a");
    assert_eq!(
        lease_events(&journal).len(),
        1,
        "a refused release is no event"
    );

    assert!(journal
        .release_lease("main", "daemon-a", Timestamp(3_000))
        .unwrap());
    assert_eq!(journal.lease("main").unwrap(), None);
    assert!(!journal
        .release_lease("main", "daemon-a", Timestamp(3_500))
        .unwrap());

    let taken = journal
        .acquire_lease("main", "daemon-b", Timestamp(4_000), 60_000)
        .unwrap();
    assert_eq!(
        taken,
        LeaseOutcome::Held(lease("daemon-b", 4_000, 4_000, 64_000))
    );

    let events = lease_events(&journal);
    let changes: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|event| {
            (
                event.at.0,
                event.body["change"].as_str().unwrap(),
                event.body["holder"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (1_000, "taken", "daemon-a"),
            (3_000, "released", "daemon-a"),
            (4_000, "taken", "daemon-b"),
        ]
    );
    assert_eq!(events[1].body["expires_at_ms"], json!(null));
}

#[test]
fn each_cluster_has_its_own_lease_and_leases_lists_them_all() {
    let (_dir, path, mut journal) = new_journal();
    assert_eq!(journal.leases().unwrap(), []);
    journal
        .acquire_lease("misskey", "daemon-a", Timestamp(1_000), 5_000)
        .unwrap();
    let other = journal
        .acquire_lease("mackerel", "daemon-b", Timestamp(1_500), 5_000)
        .unwrap();
    assert!(other.is_held(), "another cluster's lease is no obstacle");
    drop(journal);

    let reopened = Journal::open(&path).unwrap();
    let leases = reopened.leases().unwrap();
    assert_eq!(
        leases
            .iter()
            .map(|lease| (lease.cluster.as_str(), lease.holder.as_str()))
            .collect::<Vec<_>>(),
        [("mackerel", "daemon-b"), ("misskey", "daemon-a")]
    );
}

#[test]
fn two_handles_on_one_file_never_both_hold_an_unexpired_lease() {
    let (_dir, path, first) = new_journal();
    let mut a = first;
    let mut b = Journal::open(&path).unwrap();

    assert!(a
        .acquire_lease("main", "daemon-a", Timestamp(1_000), 3_000)
        .unwrap()
        .is_held());
    // The second handle sees the first's lease at once, and is refused until it expires.
    for now in (1_000..4_000).step_by(500) {
        let outcome = b
            .acquire_lease("main", "daemon-b", Timestamp(now), 3_000)
            .unwrap();
        assert_eq!(
            outcome,
            LeaseOutcome::HeldBy(lease("daemon-a", 1_000, 1_000, 4_000)),
            "at {now}"
        );
    }
    assert!(b
        .acquire_lease("main", "daemon-b", Timestamp(4_000), 3_000)
        .unwrap()
        .is_held());
    // The first handle, which missed its renewal, is now refused.
    assert_eq!(
        a.acquire_lease("main", "daemon-a", Timestamp(4_001), 3_000)
            .unwrap(),
        LeaseOutcome::HeldBy(lease("daemon-b", 4_000, 4_000, 7_000))
    );
    assert_eq!(a.lease("main").unwrap(), b.lease("main").unwrap());
}

#[test]
fn threads_racing_at_the_same_instant_get_exactly_one_holder() {
    let (_dir, path, journal) = new_journal();
    drop(journal);
    const RACERS: usize = 6;
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|racer| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut journal = Journal::open(&path).unwrap();
                barrier.wait();
                journal
                    .acquire_lease("main", &format!("daemon-{racer}"), Timestamp(1_000), 10_000)
                    .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<LeaseOutcome> = racers
        .into_iter()
        .map(|racer| racer.join().unwrap())
        .collect();
    let winners: Vec<&Lease> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            LeaseOutcome::Held(lease) => Some(lease),
            LeaseOutcome::HeldBy(_) => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    for outcome in &outcomes {
        assert_eq!(outcome.lease(), winner, "every loser names the winner");
    }
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.lease("main").unwrap().as_ref(), Some(winner));
    assert_eq!(lease_events(&journal).len(), 1);
}

#[test]
fn threads_racing_over_time_never_hold_the_lease_at_once() {
    let (_dir, path, journal) = new_journal();
    drop(journal);
    const RACERS: usize = 4;
    const ATTEMPTS: usize = 60;
    const TTL_MS: i64 = 8;
    // One clock for every racer, as the processes of one host share one.
    let clock = Arc::new(AtomicI64::new(1_000));
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|racer| {
            let path = path.clone();
            let clock = Arc::clone(&clock);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let holder = format!("daemon-{racer}");
                let mut journal = Journal::open(&path).unwrap();
                barrier.wait();
                let mut held = Vec::new();
                for attempt in 0..ATTEMPTS {
                    let now = Timestamp(clock.fetch_add(1, Ordering::SeqCst));
                    // Now and then a racer stalls (a long pass, a pause of its process) and
                    // misses renewals, so that leases lapse and are taken over mid-race.
                    if (attempt + racer * 3) % 12 < 7 {
                        std::thread::yield_now();
                        continue;
                    }
                    if let LeaseOutcome::Held(lease) =
                        journal.acquire_lease("main", &holder, now, TTL_MS).unwrap()
                    {
                        assert_eq!(lease.holder, holder);
                        assert_eq!(lease.expires_at, Timestamp(now.0 + TTL_MS));
                        held.push((holder.clone(), now.0, now.0 + TTL_MS));
                    }
                }
                held
            })
        })
        .collect();
    let claims: Vec<(String, i64, i64)> = racers
        .into_iter()
        .flat_map(|racer| racer.join().unwrap())
        .collect();
    assert!(!claims.is_empty());
    // Each `Held` says: mine from `now` until `now + ttl`. No two holders' claims overlap.
    for (i, (holder, from, until)) in claims.iter().enumerate() {
        for (other, other_from, other_until) in &claims[i + 1..] {
            if holder != other {
                assert!(
                    until <= other_from || other_until <= from,
                    "{holder} held [{from}, {until}) and {other} held [{other_from}, {other_until})"
                );
            }
        }
    }
    // The events tell a consistent story: each takeover names the holder before it.
    let journal = Journal::open(&path).unwrap();
    let events = lease_events(&journal);
    // A stall of 7 ticks outlasts the 8 ms lease: every racer's lease lapses at least once.
    assert!(
        events.len() >= 2,
        "leases lapsed and were taken over mid-race: {events:?}"
    );
    assert_eq!(events[0].body["change"], "taken");
    for pair in events.windows(2) {
        assert_eq!(pair[1].body["change"], "taken-over", "{pair:?}");
        assert_eq!(
            pair[1].body["previous_holder"], pair[0].body["holder"],
            "{pair:?}"
        );
    }
    let last = journal.lease("main").unwrap().unwrap();
    assert_eq!(events.last().unwrap().body["holder"], json!(last.holder));
}
