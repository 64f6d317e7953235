//! Throttling (S51): per instance, symmetric operations at the compute performance and
//! asymmetric ones at 15% of it, with the real `Throttling` error; a server flag turns it off.
//! The exact counts run against a manual rate clock; one test uses the real clock and only
//! asks for at least one refusal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mockcloud::clock::RateClock;
use tokio::sync::Semaphore;

use crate::harness::*;

async fn spec_200(mock: &Mock) -> String {
    mock.connected(&Order::software(REGION).set("Spec", "200"))
        .await
}

#[tokio::test]
async fn symmetric_calls_pass_up_to_the_spec_per_second_then_throttle() {
    let clock = RateClock::manual();
    let c = clock.clone();
    let mock = Mock::start_tweaked(move |cfg| cfg.rate_clock = c).await;
    let inst = spec_200(&mock).await;
    let key = mock.aes_key(&inst).await;
    let blob = mock.encrypt(&key, "x", None).await;
    // With the clock standing still, 200 symmetric calls of any kind pass (one was above).
    for i in 1..200 {
        let r = if i % 2 == 0 {
            mock.kms("Encrypt", &[("KeyId", &key), ("Plaintext", "x")])
                .await
        } else {
            mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await
        };
        assert_ok(&r);
    }
    let r = mock.kms("GenerateDataKey", &[("KeyId", &key)]).await;
    assert_error(&r, 400, "Throttling", &["throttling"]);
    let retry = r
        .headers
        .get("x-acs-retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no x-acs-retry-after header: {:?}", r.headers));
    assert_eq!(
        retry, 1000,
        "the window frees a slot one second after the first call"
    );
    // Management calls are not limited.
    assert_ok(&mock.kms("DescribeKey", &[("KeyId", &key)]).await);
    // A second later the window has room again.
    clock.advance_us(1_000_000);
    assert_ok(
        &mock
            .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "x")])
            .await,
    );

    // Another instance has its own budget.
    let other = spec_200(&mock).await;
    let other_key = mock.aes_key(&other).await;
    mock.encrypt(&other_key, "x", None).await;
}

#[tokio::test]
async fn asymmetric_calls_pass_at_fifteen_percent_of_the_spec() {
    let clock = RateClock::manual();
    let c = clock.clone();
    let mock = Mock::start_tweaked(move |cfg| cfg.rate_clock = c).await;
    let inst = spec_200(&mock).await;
    let (key, version) = mock.ec_key(&inst).await;
    let digest = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for _ in 0..15 {
        let r = mock
            .kms(
                "AsymmetricSign",
                &[
                    ("KeyId", &key),
                    ("KeyVersionId", &version),
                    ("Algorithm", "ECDSA_SHA_256"),
                    ("Digest", digest),
                ],
            )
            .await;
        assert_ok(&r);
        let r = mock
            .kms(
                "GetPublicKey",
                &[("KeyId", &key), ("KeyVersionId", &version)],
            )
            .await;
        assert_ok(&r);
    }
    let r = mock
        .kms(
            "GetPublicKey",
            &[("KeyId", &key), ("KeyVersionId", &version)],
        )
        .await;
    assert_error(&r, 400, "Throttling", &[]);
    // The symmetric budget is separate.
    let aes = mock.aes_key(&inst).await;
    mock.encrypt(&aes, "x", None).await;
    clock.advance_us(1_000_000);
    let r = mock
        .kms(
            "GetPublicKey",
            &[("KeyId", &key), ("KeyVersionId", &version)],
        )
        .await;
    assert_ok(&r);
}

#[tokio::test]
async fn an_upgrade_raises_the_rate() {
    let clock = RateClock::manual();
    let c = clock.clone();
    let mock = Mock::start_tweaked(move |cfg| cfg.rate_clock = c).await;
    let inst = spec_200(&mock).await;
    let (key, version) = mock.ec_key(&inst).await;
    let params = [("KeyId", key.as_str()), ("KeyVersionId", version.as_str())];
    for _ in 0..30 {
        assert_ok(&mock.kms("GetPublicKey", &params).await);
    }
    assert_error(
        &mock.kms("GetPublicKey", &params).await,
        400,
        "Throttling",
        &[],
    );
    mock.upgrade(&inst, "Spec", "1000").await;
    // 1000 gives 150 asymmetric calls per second.
    for _ in 0..150 {
        assert_ok(&mock.kms("GetPublicKey", &params).await);
    }
    assert_error(
        &mock.kms("GetPublicKey", &params).await,
        400,
        "Throttling",
        &[],
    );
}

#[tokio::test]
async fn the_no_throttle_flag_turns_the_limit_off() {
    let mock = Mock::start_tweaked(|cfg| {
        cfg.rate_clock = RateClock::manual();
        cfg.throttle = false;
    })
    .await;
    let inst = spec_200(&mock).await;
    let key = mock.aes_key(&inst).await;
    for _ in 0..250 {
        assert_ok(
            &mock
                .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "x")])
                .await,
        );
    }
}

#[tokio::test]
async fn a_fast_burst_on_the_real_clock_meets_throttling() {
    let mock = Arc::new(Mock::start().await);
    let inst = spec_200(&mock).await;
    let key = Arc::new(mock.aes_key(&inst).await);
    // Up to 32 calls in flight until the first refusal: far more than 200 per second on any
    // machine this runs on. Bounded in count and time.
    let gate = Arc::new(Semaphore::new(32));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2000 {
        if start.elapsed() > Duration::from_secs(30) {
            break;
        }
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (mock, key) = (mock.clone(), key.clone());
        tasks.spawn(async move {
            let r = mock
                .kms("Encrypt", &[("KeyId", key.as_str()), ("Plaintext", "x")])
                .await;
            drop(permit);
            r
        });
        let mut throttled = false;
        while let Some(done) = tasks.try_join_next() {
            let r = done.unwrap();
            if r.status != 200 {
                assert_error(&r, 400, "Throttling", &[]);
                throttled = true;
            }
        }
        if throttled {
            return;
        }
    }
    while let Some(done) = tasks.join_next().await {
        if done.unwrap().status == 400 {
            return;
        }
    }
    panic!("2000 calls at up to 32 in flight never met Throttling on a spec of 200");
}

#[test]
fn the_serve_command_has_a_no_throttle_flag_and_env() {
    let exe = env!("CARGO_BIN_EXE_mockcloud");
    let out = std::process::Command::new(exe)
        .args(["serve", "--help"])
        .output()
        .expect("mockcloud runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--no-throttle"), "{help}");
    assert!(help.contains("MOCKCLOUD_NO_THROTTLE"), "{help}");
}
