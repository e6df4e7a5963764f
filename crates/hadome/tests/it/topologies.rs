//! Each built-in topology comes up and replicates: a row written on the primary is read on every
//! standby, through cascades included. (`misskey` is brought up by the CLI test in `cli.rs`.)

use crate::support::{lab, wait_for_row, write_row, TestLab};

async fn replicates_everywhere(topology: &str) -> TestLab {
    let lab = lab(topology).await;
    let names = lab.node_names();
    let status = lab.status().await.unwrap();
    for node in &status.nodes {
        assert_eq!(node.process, "running", "{}: {node:?}", node.name);
        let live = node
            .live
            .as_ref()
            .unwrap_or_else(|| panic!("{} answered: {node:?}", node.name));
        assert_eq!(live.in_recovery, node.upstream.is_some(), "{}", node.name);
        if node.upstream.is_some() {
            assert_eq!(
                live.wal_receiver.as_deref(),
                Some("streaming"),
                "{}",
                node.name
            );
        }
    }
    write_row(&lab, &names[0], "replicated").await;
    for standby in &names[1..] {
        wait_for_row(&lab, standby, "replicated").await;
    }
    lab
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_comes_up_and_replicates() {
    let _lab = replicates_everywhere("pair").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trio_comes_up_and_replicates_with_one_synchronous_standby() {
    let lab = replicates_everywhere("trio").await;
    let client = lab.connect("db-1").await.unwrap();
    let rows = client
        .query(
            "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let states: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        states,
        [
            ("db-2".to_owned(), "sync".to_owned()),
            ("db-3".to_owned(), "async".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mackerel_comes_up_and_replicates_through_the_cascade() {
    let lab = replicates_everywhere("mackerel").await;
    let recovery_target: String = lab
        .connect("db002")
        .await
        .unwrap()
        .query_one("SHOW recovery_target_timeline", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        recovery_target, "current",
        "db002 is the incident's cascade that will not follow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topology_file_with_a_slot_comes_up_and_its_slotted_standby_cannot_be_stalled() {
    let scratch = crate::support::scratch();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/lab-topology.toml"
    );
    let topology = hadome_lab::Topology::resolve(path).unwrap();
    assert_eq!(topology.name, "lab-topology");
    let guard = hadome_lab::Lab::up(
        &topology,
        &scratch.path().join("lab"),
        &hadome_lab::LabOptions::with_hadome_binary(crate::support::hadome_binary()),
    )
    .await
    .unwrap();
    let lab = TestLab { guard, scratch };

    let slot = crate::support::value(
        &lab.connect("db-1").await.unwrap(),
        "db-1",
        "SELECT active::text FROM pg_replication_slots WHERE slot_name = 'db_3'",
    )
    .await;
    assert_eq!(
        slot.as_deref(),
        Some("true"),
        "db-3 streams through its slot on db-1"
    );
    write_row(&lab, "db-1", "through-the-slot").await;
    wait_for_row(&lab, "db-4", "through-the-slot").await;

    let refused = lab
        .fault(&hadome_lab::Fault::Stall("db-3".into()))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("replication slot"),
        "{refused}"
    );
    assert!(refused.hint().unwrap().contains("slot = false"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_hear_an_idle_primary_between_its_writes() {
    // The lab's wal_sender_timeout = '750ms': a sender pings a standby that has not replied for
    // 0.375 s, so `last_msg_receipt_time` moves on an idle primary too (hadome's daemon reads it to tell
    // whether standbys still hear the primary). With PostgreSQL's default of 60 s it would move
    // every 30 s at best.
    let lab = crate::support::lab("pair").await;
    let client = lab.connect("db-2").await.unwrap();
    let sql = "SELECT current_setting('wal_sender_timeout'), \
               extract(epoch FROM last_msg_receipt_time)::text FROM pg_stat_wal_receiver";
    let receipt = || async {
        let row = client.query_one(sql, &[]).await.unwrap();
        let timeout: String = row.get(0);
        assert_eq!(timeout, "750ms");
        row.get::<_, String>(1)
    };
    let seen = std::sync::Mutex::new(vec![receipt().await]);
    // Four fresh messages, with nothing written on the primary.
    crate::support::eventually(
        "db-2 to receive four messages from an idle db-1",
        std::time::Duration::from_secs(15),
        || async {
            let now = receipt().await;
            let mut seen = seen.lock().unwrap();
            if seen.last() != Some(&now) {
                seen.push(now);
            }
            (seen.len() >= 5).then_some(())
        },
    )
    .await;
    eprintln!("last_msg_receipt_time on db-2: {:?}", seen.lock().unwrap());
}
