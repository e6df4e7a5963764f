//! `load` and `verify`: the RPO of a failover, measured on real servers.

use std::time::Duration;

use hadome_lab::{read_ack_log, Fault, LoadOptions};

use crate::support::lab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_standby_misses_nothing_and_a_cut_asynchronous_one_misses_commits() {
    let lab = lab("trio").await;
    lab.fault(&Fault::Cut {
        upstream: "db-1".into(),
        standby: "db-3".into(),
    })
    .await
    .unwrap();
    let ack_log = lab.scratch.path().join("acks");
    let options = LoadOptions {
        node: "db-1".into(),
        rate_per_second: 500.0,
        ack_log: ack_log.clone(),
        commit_timeout: Duration::from_secs(10),
    };
    // Stop once 100 commits are acknowledged (the log is the load's own record), or after 60 s.
    let log_for_stop = ack_log.clone();
    let enough = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if read_ack_log(&log_for_stop)
                .map(|ids| ids.len())
                .unwrap_or(0)
                >= 100
            {
                return;
            }
            // The interval between two polls of the ack log; the deadline above bounds the wait.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let report = lab.load(&options, enough).await.unwrap();
    assert!(report.acknowledged >= 100, "{report:?}");
    assert_eq!(
        read_ack_log(&ack_log).unwrap().len() as u64,
        report.acknowledged
    );

    let synchronous = lab.verify("db-2", &ack_log).await.unwrap();
    assert_eq!(synchronous.acknowledged, report.acknowledged);
    assert_eq!(synchronous.missing, 0, "{synchronous:?}");

    let cut = lab.verify("db-3", &ack_log).await.unwrap();
    assert_eq!(
        cut.missing, report.acknowledged,
        "db-3 got none of it: {cut:?}"
    );

    // A second load continues the ids; after the heal db-3 has everything.
    lab.fault(&Fault::Heal {
        upstream: "db-1".into(),
        standby: "db-3".into(),
    })
    .await
    .unwrap();
    let second = lab
        .load(&options, tokio::time::sleep(Duration::from_millis(300)))
        .await
        .unwrap();
    let ids = read_ack_log(&ack_log).unwrap();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids are never reused");
    let total = report.acknowledged + second.acknowledged;
    crate::support::eventually(
        "db-3 to catch up after the heal",
        Duration::from_secs(30),
        || async {
            let healed = lab.verify("db-3", &ack_log).await.unwrap();
            (healed.missing == 0 && healed.acknowledged == total).then_some(())
        },
    )
    .await;
}
