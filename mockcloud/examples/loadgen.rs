//! A load generator for the data-plane benchmark (`cargo xtask bench`): keep-alive HTTP/1.1
//! connections, every OpenAPI request signed with ACS3 (fresh date and nonce each time), for a
//! fixed time. Prints one line per scenario: `name rps=… p50_ms=… p99_ms=… ok=… errors=…`.
//!
//! Usage: loadgen MOCKCLOUD_BIN SECONDS CONNECTIONS — starts the mock twice as its own process
//! (throttling off for throughput, on for the limiter's accuracy), sets up an instance and a key,
//! and drives the scenarios.
//! Loopback only; bounded in time; stops by itself.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use mockcloud::sign;
use tokio::net::TcpStream;

struct Target {
    host: String,
    access_key_id: String,
    secret: String,
    key_id: String,
}

/// One request's method, path-and-query and headers.
fn encrypt_request(t: &Target, n: u64) -> (String, Vec<(String, String)>) {
    let params = vec![
        ("KeyId".to_string(), t.key_id.clone()),
        (
            "Plaintext".to_string(),
            format!("benchmark payload {n:012}"),
        ),
    ];
    let query = sign::canonical_query(&params);
    let date = time::OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("date formats");
    let headers = vec![
        ("host".to_string(), t.host.clone()),
        ("x-acs-action".to_string(), "Encrypt".to_string()),
        (
            "x-acs-content-sha256".to_string(),
            sign::EMPTY_SHA256.to_string(),
        ),
        ("x-acs-date".to_string(), date),
        (
            "x-acs-signature-nonce".to_string(),
            uuid::Uuid::new_v4().simple().to_string(),
        ),
        ("x-acs-version".to_string(), "2016-01-20".to_string()),
    ];
    let signed = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let (_, sts) =
        sign::acs3_string_to_sign("POST", "/", &params, &headers, &signed, sign::EMPTY_SHA256);
    let signature = sign::acs3_signature(&t.secret, &sts);
    let mut all = headers;
    all.push((
        "authorization".to_string(),
        format!(
            "{} Credential={},SignedHeaders={signed},Signature={signature}",
            sign::ACS3_ALGORITHM,
            t.access_key_id
        ),
    ));
    (format!("/?{query}"), all)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    throttled: u64,
}

async fn worker(
    addr: String,
    t: std::sync::Arc<Target>,
    health: bool,
    until: Instant,
    id: u64,
) -> Tally {
    let mut tally = Tally::default();
    let stream = TcpStream::connect(&addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut n = id << 40;
    while Instant::now() < until {
        n += 1;
        let req = if health {
            hyper::Request::get("/_mock/health")
                .header("host", &t.host)
                .body(Empty::<Bytes>::new())
        } else {
            let (path, headers) = encrypt_request(&t, n);
            let mut b = hyper::Request::post(path);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Empty::<Bytes>::new())
        }
        .expect("request builds");
        let start = Instant::now();
        match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if status == 200 {
                    tally
                        .latencies_us
                        .push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
                } else if body.windows(10).any(|w| w == b"Throttling") {
                    tally.throttled += 1;
                } else {
                    tally.errors += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                break;
            }
        }
    }
    tally
}

/// Runs one scenario and prints its line; returns (successful requests, seconds).
async fn run(
    name: &str,
    addr: &str,
    t: &std::sync::Arc<Target>,
    health: bool,
    secs: u64,
    conns: u64,
) -> (usize, f64) {
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|i| tokio::spawn(worker(addr.to_string(), t.clone(), health, until, i)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let r = task.await.expect("worker");
        all.latencies_us.extend(r.latencies_us);
        all.errors += r.errors;
        all.throttled += r.throttled;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| {
        if all.latencies_us.is_empty() {
            0.0
        } else {
            all.latencies_us[((all.latencies_us.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    println!(
        "{name} rps={:.0} p50_ms={:.2} p99_ms={:.2} ok={} throttled={} errors={} seconds={elapsed:.1} connections={conns}",
        all.latencies_us.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.latencies_us.len(),
        all.throttled,
        all.errors,
    );
    (all.latencies_us.len(), elapsed)
}

/// A mock started as its own process, stopped on drop.
struct MockProcess {
    child: std::process::Child,
    dir: tempfile::TempDir,
    endpoint: String,
    access_key_id: String,
    secret: String,
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `mockcloud serve` on plain HTTP (as moto's baseline is) and waits for `ready.json`.
fn start_mock(bin: &str, throttle: bool) -> MockProcess {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["serve", "--plain-http", "--time-scale", "3000", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.path())
        .env("MOCKCLOUD_LOG", "warn")
        .stdout(std::process::Stdio::null());
    if !throttle {
        cmd.arg("--no-throttle");
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    // From here the process is stopped on drop, whatever happens.
    let mut mock = MockProcess {
        child,
        dir,
        endpoint: String::new(),
        access_key_id: String::new(),
        secret: String::new(),
    };
    let ready = mock.dir.path().join("ready.json");
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                let get = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                mock.endpoint = get("endpoint");
                mock.access_key_id = get("access_key_id");
                mock.secret = get("access_key_secret");
                return mock;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("mockcloud did not write {} within 30 s", ready.display());
}

/// Buys and enables an instance with `spec` and creates an AES key in it; returns the key id.
async fn setup(m: &MockProcess, spec: &str) -> String {
    let c = mockcloud::testing::Client::new(&m.endpoint, "", &m.access_key_id, &m.secret)
        .expect("client");
    let order = [
        ("ProductCode", "kms"),
        ("Parameter.1.Code", "Region"),
        ("Parameter.1.Value", "cn-hangzhou"),
        ("Parameter.2.Code", "ProductVersion"),
        ("Parameter.2.Value", "3"),
        ("Parameter.3.Code", "Spec"),
        ("Parameter.3.Value", spec),
    ];
    let r = c
        .bss("CreateInstance", &order)
        .await
        .expect("CreateInstance");
    let id = r.body["Data"]["InstanceId"]
        .as_str()
        .unwrap_or_else(|| panic!("purchase failed: {}", r.body))
        .to_string();
    c.admin_post("/_mock/clock/advance?minutes=5")
        .await
        .expect("clock");
    let r = c
        .kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &id),
                ("VpcId", "vpc-china-cn-hangzhou"),
                ("ZoneIds", "cn-hangzhou-k"),
                ("VSwitchIds", "vsw-china-cn-hangzhou-k"),
            ],
        )
        .await
        .expect("ConnectKmsInstance");
    assert_eq!(r.status, 200, "connect failed: {}", r.body);
    c.admin_post("/_mock/clock/advance?minutes=30")
        .await
        .expect("clock");
    let r = c
        .kms(
            "CreateKey",
            &[("DKMSInstanceId", &id), ("KeySpec", "Aliyun_AES_256")],
        )
        .await
        .expect("CreateKey");
    r.body["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or_else(|| panic!("CreateKey failed: {}", r.body))
        .to_string()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bin, secs, conns] = args.as_slice() else {
        eprintln!("usage: loadgen MOCKCLOUD_BIN SECONDS CONNECTIONS");
        std::process::exit(2);
    };
    let secs: u64 = secs.parse().expect("SECONDS");
    let conns: u64 = conns.parse().expect("CONNECTIONS");
    let _ = rustls::crypto::ring::default_provider().install_default();

    // Throughput: throttling off, the HTTP ceiling first, then signed Encrypt.
    let m = start_mock(bin, false);
    let key_id = setup(&m, "4000").await;
    let host = m.endpoint.trim_start_matches("http://").to_string();
    let t = std::sync::Arc::new(Target {
        host: host.clone(),
        access_key_id: m.access_key_id.clone(),
        secret: m.secret.clone(),
        key_id,
    });
    run("mockcloud-health", &host, &t, true, secs, conns).await;
    run("mockcloud-encrypt", &host, &t, false, secs, conns).await;
    drop(m);

    // Throttling accuracy (S51): a spec-1000 instance driven past its limit.
    let m = start_mock(bin, true);
    let key_id = setup(&m, "1000").await;
    let host = m.endpoint.trim_start_matches("http://").to_string();
    let t = std::sync::Arc::new(Target {
        host: host.clone(),
        access_key_id: m.access_key_id.clone(),
        secret: m.secret.clone(),
        key_id,
    });
    let (ok, elapsed) = run(
        "mockcloud-encrypt-throttled-spec-1000",
        &host,
        &t,
        false,
        secs,
        conns,
    )
    .await;
    let rate = ok as f64 / elapsed;
    println!(
        "throttle-accuracy spec=1000 admitted_per_s={rate:.1} error_pct={:.2}",
        (rate - 1000.0).abs() / 10.0
    );
}
