//! The lab guard stops every process by PID and removes the directory, also when a test panics.

use hadome_lab::{Lab, LabOptions, Topology};

use crate::support::{hadome_binary, scratch};

fn alive(pid: i32) -> bool {
    // A zombie is dead: it only waits to be reaped by a parent that may never do so.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_test_leaves_no_process_and_no_directory() {
    let scratch = scratch();
    let dir = scratch.path().join("lab");
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let task_dir = dir.clone();
    let panicked = tokio::spawn(async move {
        let topology = Topology::resolve("pair").unwrap();
        let guard = Lab::up(
            &topology,
            &task_dir,
            &LabOptions::with_hadome_binary(hadome_binary()),
        )
        .await
        .unwrap();
        sender.send(guard.pids()).unwrap();
        panic!("a test fails while it holds the lab");
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());

    let pids = receiver.await.unwrap();
    assert!(
        pids.len() >= 5,
        "two instances and the proxy were running: {pids:?}"
    );
    let survivors: Vec<i32> = pids.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(
        survivors.is_empty(),
        "still alive after the panic: {survivors:?}"
    );
    assert!(!dir.exists(), "the lab directory is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_up_cleans_up_what_it_started() {
    let scratch = scratch();
    let dir = scratch.path().join("lab");
    // A topology setting PostgreSQL rejects: the primary starts, the standby does not.
    let topology = Topology::parse(
        "broken",
        "broken.toml",
        "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\nupstream = \"a\"\nsettings = { shared_buffers = \"not-a-size\" }\n",
    )
    .unwrap();
    let error = Lab::up(
        &topology,
        &dir,
        &LabOptions::with_hadome_binary(hadome_binary()),
    )
    .await
    .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("starting `b`"), "{text}");
    assert!(
        text.contains("shared_buffers"),
        "the error carries PostgreSQL's own reason: {text}"
    );
    assert!(!dir.exists(), "the half-built lab is gone");
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.contains(dir.to_str().unwrap()))
        .collect();
    assert!(
        leftovers.is_empty(),
        "processes of the failed lab: {leftovers:?}"
    );
}
