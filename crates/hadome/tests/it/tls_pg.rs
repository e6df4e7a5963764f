//! TLS to PostgreSQL (issue 15 point 2) against a real lab server given a certificate: the
//! lab's `make_certificates` (a CA, a server certificate for `127.0.0.1` and `localhost`) copied
//! into `db-1`'s data directory, `ssl = on` by `ALTER SYSTEM`. PostgreSQL never speaks TLS on a
//! Unix socket, and lab nodes listen on one only (behind the lab proxy), so `db-1` is also made
//! to listen on a loopback address of its own (`127.77.X.Y:5432`, X.Y from the lab's unique proxy
//! port: no other server uses it) and restarted. Then every `sslmode` is tried through the
//! observer's own connection settings (`connect_config`, as every probe and session connects),
//! and through the binary (`hadome status` on an estate asking for `verify-full`). The server's
//! own `pg_stat_ssl` says whether the session is encrypted.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use hadome_observer::connect_config;

use hadome_lab::Fault;

use crate::support::{eventually, lab, run_hadome, scratch, show, value};

const TIMEOUT: Duration = Duration::from_secs(10);

/// `db-1` serves TLS with the certificate in `tls`, on TCP at `address` (and its Unix socket, as
/// before); returns once it runs so.
async fn serve_tls(
    lab: &hadome_lab::Lab,
    data_dir: &Path,
    tls: &hadome_lab::TlsFiles,
    address: &str,
) {
    for (from, name) in [
        (&tls.server_cert, "server.crt"),
        (&tls.server_key, "server.key"),
    ] {
        let to = data_dir.join(name);
        std::fs::copy(from, &to).expect("copy the certificate into the data directory");
        // PostgreSQL reads them as its own user and refuses a key others can read.
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        let status = std::process::Command::new("chown")
            .arg("postgres:postgres")
            .arg(&to)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown postgres {}", to.display());
    }
    // The lab's pg_hba.conf has Unix-socket lines only: let loopback TCP in, as the lab does
    // its sockets (trust; the test is about the channel, not the password).
    let hba = data_dir.join("pg_hba.conf");
    let mut lines = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    lines.push_str("host all all 127.0.0.0/8 trust\n");
    std::fs::write(&hba, lines).expect("write pg_hba.conf");
    let client = lab.connect("db-1").await.expect("connect to db-1");
    // One statement each: ALTER SYSTEM refuses to run in the implicit transaction of a batch.
    for sql in [
        "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        "ALTER SYSTEM SET ssl = on",
        &format!("ALTER SYSTEM SET listen_addresses = '{address}'"),
    ] {
        client.batch_execute(sql).await.expect(sql);
    }
    drop(client);
    // listen_addresses takes a restart.
    lab.fault(&Fault::Stop("db-1".into()))
        .await
        .expect("stop db-1");
    lab.fault(&Fault::Start("db-1".into()))
        .await
        .expect("start db-1");
    eventually("db-1 to serve TLS on its own address", TIMEOUT, || async {
        let fresh = lab.connect("db-1").await.ok()?;
        let ssl = value(&fresh, "db-1", "SHOW ssl").await;
        let listen = value(&fresh, "db-1", "SHOW listen_addresses").await;
        (ssl.as_deref() == Some("on") && listen.as_deref() == Some(address)).then_some(())
    })
    .await;
}

/// Connects as the observer does and says whether the server sees TLS; `Err` with why not.
async fn encrypted(conninfo: &str) -> Result<bool, String> {
    let connect = connect_config(conninfo, TIMEOUT, "hadome-test").map_err(|e| e.to_string())?;
    let (client, connection) = tokio::time::timeout(TIMEOUT, connect.connect())
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
        .map_err(|error| format!("{error}: {:?}", std::error::Error::source(&error)))?;
    let driver = tokio::spawn(connection);
    let ssl = value(
        &client,
        "db-1",
        "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .await
    .as_deref()
        == Some("true");
    drop(client);
    let _ = driver.await;
    Ok(ssl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_against_a_server_with_a_certificate() {
    let lab = lab("pair").await;
    let certificates = scratch();
    let tls = hadome_lab::make_certificates(&certificates.path().join("tls")).unwrap();
    let other = hadome_lab::make_certificates(&certificates.path().join("other")).unwrap();
    let status = lab.status().await.expect("lab status");
    let db1 = status
        .nodes
        .iter()
        .find(|node| node.name == "db-1")
        .unwrap();
    let db2 = status
        .nodes
        .iter()
        .find(|node| node.name == "db-2")
        .unwrap();
    let address = format!("127.77.{}.{}", db1.port / 256 % 256, db1.port % 256);
    serve_tls(&lab, &db1.data_dir, &tls, &address).await;

    // The certificate names 127.0.0.1 and localhost: `host` is the name checked, `hostaddr`
    // where to connect.
    let base = format!("host=localhost hostaddr={address} port=5432 user=postgres dbname=postgres");
    let ca = tls.ca_file.display();
    // Encrypted in every mode but `disable`; verified where asked.
    assert_eq!(
        encrypted(&format!("{base} sslmode=disable")).await,
        Ok(false)
    );
    assert_eq!(encrypted(&base).await, Ok(true), "libpq's default, prefer");
    assert_eq!(
        encrypted(&format!("{base} sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&format!("{base} sslmode=verify-ca sslrootcert={ca}")).await,
        Ok(true)
    );
    assert_eq!(
        encrypted(&format!("{base} sslmode=verify-full sslrootcert={ca}")).await,
        Ok(true)
    );
    let uri = format!(
        "postgresql://postgres@localhost:5432/postgres?hostaddr={address}&sslmode=verify-full&sslrootcert={}",
        tls.ca_file.display()
    );
    assert_eq!(encrypted(&uri).await, Ok(true));

    // Another CA: refused in both verifying modes, and by `require` with it as root (libpq).
    let wrong = other.ca_file.display();
    for mode in ["verify-ca", "verify-full", "require"] {
        let refused = encrypted(&format!("{base} sslmode={mode} sslrootcert={wrong}"))
            .await
            .unwrap_err();
        assert!(
            refused.to_lowercase().contains("certificate"),
            "{mode}: {refused}"
        );
    }
    // A name the certificate does not carry: verify-full refuses, verify-ca does not check it.
    let renamed =
        format!("host={address} port=5432 user=postgres dbname=postgres sslrootcert={ca}");
    let refused = encrypted(&format!("{renamed} sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(refused.to_lowercase().contains("name"), "{refused}");
    assert_eq!(
        encrypted(&format!("{renamed} sslmode=verify-ca")).await,
        Ok(true)
    );

    // A server without TLS: `require` fails closed, `prefer` goes on in the clear.
    let plain = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        db2.port
    );
    assert!(encrypted(&format!("{plain} sslmode=require"))
        .await
        .is_err());
    assert_eq!(encrypted(&plain).await, Ok(false));

    // The lab proxy's port reaches db-1's Unix socket, where PostgreSQL never offers TLS.
    let socket = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        db1.port
    );
    assert_eq!(encrypted(&socket).await, Ok(false));

    // Through the binary: an estate asking for verify-full observes db-1 as usual.
    let estate = certificates.path().join("estate.toml");
    std::fs::write(
        &estate,
        format!(
            "[[instance]]\nname = \"db-1\"\nconninfo = \"{base} sslmode=verify-full sslrootcert={ca}\"\ndata_dir = \"{}\"\n\n[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n",
            db1.data_dir.display()
        ),
    )
    .unwrap();
    let output = run_hadome(
        &["status", "--config", estate.to_str().unwrap(), "--json"],
        &[],
    );
    assert!(output.status.success(), "{}", show(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("\"primary\""), "{text}");
    // verify-full without a root certificate is refused at load with the line and the fix,
    // never run unverified.
    std::fs::write(
        &estate,
        format!(
            "[[instance]]\nname = \"db-1\"\nconninfo = \"{base} sslmode=verify-full\"\ndata_dir = \"{}\"\n",
            db1.data_dir.display()
        ),
    )
    .unwrap();
    let output = run_hadome(&["check", "--config", estate.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("estate.toml:3") && said.contains("no sslrootcert"),
        "{}",
        show(&output)
    );
}
