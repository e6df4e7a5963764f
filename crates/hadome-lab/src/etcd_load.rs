//! A write load on the lab's etcd members that remembers every acknowledged put, and the check of
//! which of them the cluster lost (`hadome lab load --etcd`, `hadome lab verify --etcd`).
//!
//! `load` puts sequential keys `hadome-lab-load/ID` (ID zero-padded to 12 digits, the value the
//! ID) through the members' client URLs on the lab proxy, as an application would, with etcd's v3
//! HTTP gateway (`POST /v3/kv/put`, one connection per put, bounded by the put timeout). It writes
//! through one member until a put fails, then through the next: a client with every endpoint.
//! Only a put etcd acknowledged is appended to the ack log, `ID REVISION UNIX_MILLIS` (the
//! revision the put created), line by line and unbuffered, so a killed load loses no
//! acknowledged line; a failed or timed-out put is counted, not logged (its outcome is unknown).
//!
//! `verify` reads every key under the prefix with one linearizable range read (`POST
//! /v3/kv/range`, etcd's default consistency: it goes through the leader's quorum) through the
//! first member that answers, and reports the logged IDs that are not there.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::lab::Lab;
use crate::load::{read_ack_log, LoadOptions, LoadReport, VerifyReport};
use crate::state::EtcdState;
use crate::LabError;

/// The prefix of the load's keys.
pub const ETCD_LOAD_PREFIX: &str = "hadome-lab-load/";

/// How long one read of `verify` (or the load's first look at the largest ID) may take per member.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn key_of(id: i64) -> String {
    format!("{ETCD_LOAD_PREFIX}{id:012}")
}

/// The end of the prefix's range: the prefix with its last byte incremented (`/` → `0`).
fn prefix_end() -> String {
    let mut bytes = ETCD_LOAD_PREFIX.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as the gateway's JSON carries bytes.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter(|byte| *byte != b'=') {
        let value = ALPHABET.iter().position(|known| *known == byte)?;
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The ID of a load key, when `key` (base64, as the gateway gives it) is one.
fn id_of(key: &Value) -> Option<i64> {
    let bytes = base64_decode(key.as_str()?)?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(ETCD_LOAD_PREFIX)?.parse().ok()
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Writes `request` to `stream` and reads the answer to its end.
async fn send_and_read<S>(mut stream: S, request: &str) -> Result<Vec<u8>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| format!("send: {error}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|error| format!("read: {error}"))?;
    Ok(response)
}

/// One `POST PATH` with a JSON body to `member`'s client URL (the lab proxy's port), bounded by
/// `timeout`; the answer's JSON.
async fn post(
    member: &EtcdState,
    path: &str,
    body: &Value,
    timeout: Duration,
) -> Result<Value, LabError> {
    let failed = |message: String| LabError::Proxy {
        message: format!("`{}` at {}: {message}", member.name, member.endpoint()),
    };
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        // A member that serves TLS (`lab up --tls`) is written through its plain lab socket,
        // directly: the proxy's client route carries TLS only (`tls.rs`).
        let response = if member.tls {
            let stream = tokio::net::UnixStream::connect(member.lab_socket())
                .await
                .map_err(|error| failed(format!("connect: {error}")))?;
            send_and_read(stream, &request).await
        } else {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", member.client_port))
                .await
                .map_err(|error| failed(format!("connect: {error}")))?;
            send_and_read(stream, &request).await
        };
        response.map_err(failed)
    };
    let response = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| failed(format!("no answer to `POST {path}` within {timeout:?}")))??;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| failed("an answer without a body".to_owned()))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let raw = &response[split + 4..];
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(raw).ok_or_else(|| failed("a malformed chunked answer".to_owned()))?
    } else {
        raw.to_vec()
    };
    let status = head.lines().next().unwrap_or_default().to_owned();
    if !status.starts_with("HTTP/1.1 200") {
        return Err(failed(format!(
            "`POST {path}` answered `{status}`: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|error| failed(format!("unreadable JSON: {error}")))
}

/// A linearizable range read of the load's keys through `member`: with `largest`, only the
/// largest key.
async fn range(member: &EtcdState, largest: bool) -> Result<Vec<i64>, LabError> {
    let mut request = json!({
        "key": base64_encode(ETCD_LOAD_PREFIX.as_bytes()),
        "range_end": base64_encode(prefix_end().as_bytes()),
        "keys_only": true,
    });
    if largest {
        request["limit"] = json!(1);
        request["sort_order"] = json!("DESCEND");
        request["sort_target"] = json!("KEY");
    }
    let answer = post(member, "/v3/kv/range", &request, READ_TIMEOUT).await?;
    let kvs = answer["kvs"].as_array().cloned().unwrap_or_default();
    Ok(kvs.iter().filter_map(|kv| id_of(&kv["key"])).collect())
}

/// `range` through the first member that answers; the member's name with the IDs.
async fn range_any(members: &[EtcdState], largest: bool) -> Result<(String, Vec<i64>), LabError> {
    let mut errors = Vec::new();
    for member in members {
        match range(member, largest).await {
            Ok(ids) => return Ok((member.name.clone(), ids)),
            Err(error) => errors.push(error.to_string()),
        }
    }
    Err(LabError::Proxy {
        message: format!(
            "no etcd member answered a linearizable read: {}",
            errors.join("; ")
        ),
    })
}

impl Lab {
    fn require_etcd(&self, what: &str) -> Result<&[EtcdState], LabError> {
        if self.state.etcd.is_empty() {
            return Err(LabError::FaultRejected {
                fault: what.to_owned(),
                node: "etcd".to_owned(),
                reason: "this lab has no etcd members".to_owned(),
                fix: "give `--node NODE` for a PostgreSQL node, or bring up a lab with etcd members (`hadome lab up etcd3`)".to_owned(),
            });
        }
        Ok(&self.state.etcd)
    }

    /// Puts to the etcd members at `options.rate_per_second` until `until` completes
    /// (`options.node` is not used: every member's client URL is).
    ///
    /// IDs continue after the largest in the ack log and in etcd, so several loads can share one
    /// log and a put that was never answered is never reused.
    pub async fn load_etcd(
        &self,
        options: &LoadOptions,
        until: impl Future<Output = ()>,
    ) -> Result<LoadReport, LabError> {
        let members = self.require_etcd("load")?;
        if !(options.rate_per_second > 0.0 && options.rate_per_second.is_finite()) {
            return Err(LabError::FaultRejected {
                fault: "load".to_owned(),
                node: "etcd".to_owned(),
                reason: format!("a rate of {} puts per second", options.rate_per_second),
                fix: "give a positive `--rate`".to_owned(),
            });
        }
        let (_, largest) = range_any(members, true).await?;
        let mut next_id = read_ack_log(&options.ack_log)?
            .into_iter()
            .chain(largest)
            .max()
            .unwrap_or(0)
            + 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&options.ack_log)
            .map_err(|source| LabError::Io {
                action: "open ack log",
                path: options.ack_log.clone(),
                source,
            })?;
        let mut ticker =
            tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate_per_second));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let mut report = LoadReport {
            node: "etcd".to_owned(),
            attempted: 0,
            acknowledged: 0,
            failed: 0,
            last_error: None,
            seconds: 0.0,
        };
        let mut current = 0;
        tokio::pin!(until);
        loop {
            tokio::select! {
                _ = &mut until => break,
                _ = ticker.tick() => {}
            }
            let id = next_id;
            next_id += 1;
            report.attempted += 1;
            let member = &members[current];
            let request = json!({
                "key": base64_encode(key_of(id).as_bytes()),
                "value": base64_encode(id.to_string().as_bytes()),
            });
            let outcome = tokio::select! {
                outcome = post(member, "/v3/kv/put", &request, options.commit_timeout) => outcome,
                _ = &mut until => break,
            };
            match outcome {
                Ok(answer) => {
                    let revision = answer["header"]["revision"]
                        .as_str()
                        .unwrap_or("0")
                        .to_owned();
                    let millis = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_millis());
                    log.write_all(format!("{id} {revision} {millis}\n").as_bytes())
                        .map_err(|source| LabError::Io {
                            action: "append to ack log",
                            path: options.ack_log.clone(),
                            source,
                        })?;
                    report.acknowledged += 1;
                }
                Err(error) => {
                    report.failed += 1;
                    report.last_error = Some(error.to_string());
                    current = (current + 1) % members.len();
                }
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The IDs in `ack_log` that the etcd cluster does not have, by one linearizable read.
    pub async fn verify_etcd(&self, ack_log: &std::path::Path) -> Result<VerifyReport, LabError> {
        let members = self.require_etcd("verify")?;
        let acknowledged = read_ack_log(ack_log)?;
        let (member, present) = range_any(members, false).await?;
        let present: HashSet<i64> = present.into_iter().collect();
        let mut missing: Vec<i64> = acknowledged
            .iter()
            .copied()
            .filter(|id| !present.contains(id))
            .collect();
        missing.sort_unstable();
        Ok(VerifyReport {
            node: format!("etcd (read through `{member}`)"),
            acknowledged: acknowledged.len() as u64,
            missing: missing.len() as u64,
            missing_sample: missing.into_iter().take(10).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_keys_give_their_ids() {
        for text in ["", "a", "ab", "abc", "hadome-lab-load/000000000042"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(encoded.len() % 4, 0);
            assert_eq!(base64_decode(&encoded).unwrap(), text.as_bytes());
        }
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(
            id_of(&json!(base64_encode(key_of(42).as_bytes()))),
            Some(42)
        );
        assert_eq!(id_of(&json!(base64_encode(b"other/1"))), None);
        assert_eq!(prefix_end(), "hadome-lab-load0");
    }

    #[test]
    fn a_chunked_body_is_decoded() {
        assert_eq!(
            dechunk(b"3\r\n{\"a\r\n2;x\r\n\":\r\n2\r\n1}\r\n0\r\n\r\n").unwrap(),
            b"{\"a\":1}"
        );
        assert!(dechunk(b"5\r\nab").is_none());
    }
}
