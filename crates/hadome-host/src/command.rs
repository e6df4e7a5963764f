//! The argv runner for journalctl and systemctl: never a shell, stdin closed, bounded by a
//! timeout after which the child (ours, by its handle) is killed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

/// What a command printed, when it exited 0.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) stdout: String,
}

/// Runs `argv`; `Err` is a sentence naming the command and what went wrong.
pub(crate) fn run(argv: &[String], timeout: Duration) -> Result<Output, String> {
    let Some((program, arguments)) = argv.split_first() else {
        return Err("an empty command".to_owned());
    };
    let shown = argv.join(" ");
    let mut child = Command::new(program)
        .args(arguments)
        .env("LC_ALL", "C")
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("`{shown}` could not start: {error}"))?;
    // Read both pipes on threads, so a child that fills one is never blocked by us.
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("`{shown}` did not finish within {timeout:?}"));
        }
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("`{shown}` could not be waited for: {error}"));
        }
    };
    let stdout = stdout.map(join).unwrap_or_default();
    let stderr = stderr.map(join).unwrap_or_default();
    if status.success() {
        Ok(Output { stdout })
    } else {
        Err(format!(
            "`{shown}` failed ({status}): {}",
            stderr
                .trim()
                .lines()
                .last()
                .unwrap_or("it printed nothing on stderr")
        ))
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn join(handle: std::thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn output_failure_and_timeout() {
        let ran = run(&argv(&["printf", "a b"]), Duration::from_secs(10)).expect("printf runs");
        assert_eq!(ran.stdout, "a b");
        let failed = run(
            &argv(&["ls", "/nonexistent-hadome"]),
            Duration::from_secs(10),
        )
        .expect_err("ls of nothing fails");
        assert!(
            failed.contains("`ls /nonexistent-hadome` failed"),
            "{failed}"
        );
        assert!(failed.contains("No such file"), "{failed}");
        let missing = run(&argv(&["hadome-no-such-program"]), Duration::from_secs(10))
            .expect_err("no such program");
        assert!(missing.contains("could not start"), "{missing}");
        let slow = run(&argv(&["sleep", "30"]), Duration::from_millis(100))
            .expect_err("sleep outlives the bound");
        assert!(slow.contains("did not finish within 100ms"), "{slow}");
        assert!(run(&[], Duration::from_secs(1)).is_err());
    }
}
