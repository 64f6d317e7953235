//! The cryptographic operations over the wire: the blob layout, the encryption context, tamper
//! detection, data keys, and ECDSA signatures checked by an independent tool (openssl).

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::*;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[tokio::test]
async fn encrypt_decrypt_round_trip_with_the_real_blob_layout() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    // Plaintext is encrypted as the UTF-8 text given, never base64-decoded.
    for plaintext in ["héllo wörld ✓", "aGVsbG8gd29ybGQ=", "x"] {
        let r = mock
            .kms("Encrypt", &[("KeyId", &key), ("Plaintext", plaintext)])
            .await;
        assert_ok(&r);
        let kvid = text(&r.body["KeyVersionId"]);
        assert_eq!(r.body["KeyId"], key.as_str());
        let raw = b64().decode(text(&r.body["CiphertextBlob"])).unwrap();
        assert_eq!(
            &raw[..36],
            kvid.as_bytes(),
            "the blob starts with the version id"
        );
        assert_eq!(raw.len(), 36 + 12 + plaintext.len() + 16);
        let r = mock
            .kms(
                "Decrypt",
                &[("CiphertextBlob", &text(&r.body["CiphertextBlob"]))],
            )
            .await;
        assert_ok(&r);
        assert_eq!(r.body["Plaintext"], plaintext);
        assert_eq!(r.body["KeyId"], key.as_str());
        assert_eq!(r.body["KeyVersionId"], kvid.as_str());
    }
    // A random IV: encrypting twice gives two blobs.
    assert_ne!(
        mock.encrypt(&key, "same", None).await,
        mock.encrypt(&key, "same", None).await
    );
    let r = mock.kms("Encrypt", &[("KeyId", &key)]).await;
    assert_error(&r, 400, "MissingParameter", &["Plaintext"]);
    let big = "x".repeat(6 * 1024 + 1);
    let r = mock
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", &big)])
        .await;
    assert_error(&r, 400, "InvalidParameter", &["Plaintext"]);
    let r = mock
        .kms("Encrypt", &[("KeyId", "key-nothere"), ("Plaintext", "x")])
        .await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &["key-nothere"]);
}

#[tokio::test]
async fn the_encryption_context_must_match_in_any_key_order() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let blob = mock
        .encrypt(&key, "bound", Some(r#"{"b":"2","a":"ü 1"}"#))
        .await;
    let decrypt = |ctx: Option<&'static str>| {
        let mut params = vec![("CiphertextBlob", blob.clone())];
        if let Some(c) = ctx {
            params.push(("EncryptionContext", c.to_string()));
        }
        params
    };
    let r = mock
        .kms(
            "Decrypt",
            &refs(&owned(decrypt(Some(r#"{"a":"ü 1","b":"2"}"#)))),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "bound");
    for ctx in [
        None,
        Some(r#"{"a":"ü 1"}"#),
        Some(r#"{"a":"ü 1","b":"3"}"#),
        Some(r#"{"a":"ü 1","b":"2","c":"3"}"#),
        Some("{}"),
    ] {
        let r = mock.kms("Decrypt", &refs(&owned(decrypt(ctx)))).await;
        assert_error(
            &r,
            400,
            "InvalidParameter",
            &["CiphertextBlob", "EncryptionContext"],
        );
    }
    // A blob made without a context does not open with one.
    let plain = mock.encrypt(&key, "unbound", None).await;
    let r = mock
        .kms(
            "Decrypt",
            &[
                ("CiphertextBlob", &plain),
                ("EncryptionContext", r#"{"a":"1"}"#),
            ],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["CiphertextBlob"]);
    let r = mock
        .kms(
            "Decrypt",
            &[("CiphertextBlob", &plain), ("EncryptionContext", "{}")],
        )
        .await;
    assert_ok(&r);
    let r = mock
        .kms(
            "Encrypt",
            &[
                ("KeyId", &key),
                ("Plaintext", "x"),
                ("EncryptionContext", r#"{"a":1}"#),
            ],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["EncryptionContext"]);
}

fn owned(v: Vec<(&str, String)>) -> Vec<(String, String)> {
    v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[tokio::test]
async fn tampered_foreign_and_unknown_blobs_are_refused() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let other = mock.aes_key(&inst).await;
    let blob = b64()
        .decode(mock.encrypt(&key, "tamper me", None).await)
        .unwrap();
    let other_blob = b64()
        .decode(mock.encrypt(&other, "other", None).await)
        .unwrap();

    // A flipped bit in the IV, the ciphertext or the tag.
    for i in [40, 50, blob.len() - 1] {
        let mut t = blob.clone();
        t[i] ^= 0x01;
        let r = mock
            .kms("Decrypt", &[("CiphertextBlob", &b64().encode(&t))])
            .await;
        assert_error(&r, 400, "InvalidParameter", &["CiphertextBlob"]);
    }
    // The head swapped for another key's version: that key does not open it.
    let mut swapped = other_blob[..36].to_vec();
    swapped.extend_from_slice(&blob[36..]);
    let r = mock
        .kms("Decrypt", &[("CiphertextBlob", &b64().encode(&swapped))])
        .await;
    assert_error(&r, 400, "InvalidParameter", &["CiphertextBlob"]);
    // An unknown version.
    let mut unknown = b"00000000-0000-4000-8000-000000000000".to_vec();
    unknown.extend_from_slice(&blob[36..]);
    let r = mock
        .kms("Decrypt", &[("CiphertextBlob", &b64().encode(&unknown))])
        .await;
    assert_error(
        &r,
        404,
        "Forbidden.KeyNotFound",
        &["00000000-0000-4000-8000-000000000000"],
    );
    for bad in ["not base64!!", "aGVsbG8="] {
        let r = mock.kms("Decrypt", &[("CiphertextBlob", bad)]).await;
        assert_error(&r, 400, "InvalidParameter", &["CiphertextBlob"]);
    }
    let r = mock.kms("Decrypt", &[]).await;
    assert_error(&r, 400, "MissingParameter", &["CiphertextBlob"]);
    // Another account cannot decrypt it even with the blob.
    let r = mock
        .intl()
        .kms("Decrypt", &[("CiphertextBlob", &b64().encode(&blob))])
        .await
        .unwrap();
    assert_error(&r, 404, "Forbidden.KeyNotFound", &[]);
}

#[tokio::test]
async fn data_keys_come_as_base64_and_their_blob_decrypts_to_that_text() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let ctx = r#"{"purpose":"files"}"#;
    for (params, bytes) in [
        (vec![], 32),
        (vec![("KeySpec", "AES_128")], 16),
        (vec![("NumberOfBytes", "64"), ("KeySpec", "AES_128")], 64),
    ] {
        let mut p = vec![("KeyId", key.as_str()), ("EncryptionContext", ctx)];
        p.extend(params);
        let r = mock.kms("GenerateDataKey", &p).await;
        assert_ok(&r);
        let plaintext = text(&r.body["Plaintext"]);
        assert_eq!(b64().decode(&plaintext).unwrap().len(), bytes);
        assert_eq!(text(&r.body["KeyVersionId"]).len(), 36);
        let r = mock
            .kms(
                "Decrypt",
                &[
                    ("CiphertextBlob", &text(&r.body["CiphertextBlob"])),
                    ("EncryptionContext", ctx),
                ],
            )
            .await;
        assert_ok(&r);
        assert_eq!(r.body["Plaintext"], plaintext.as_str());
    }
    let r = mock
        .kms("GenerateDataKeyWithoutPlaintext", &[("KeyId", &key)])
        .await;
    assert_ok(&r);
    assert!(r.body.get("Plaintext").is_none(), "{}", r.body);
    let r = mock
        .kms(
            "Decrypt",
            &[("CiphertextBlob", &text(&r.body["CiphertextBlob"]))],
        )
        .await;
    assert_eq!(b64().decode(text(&r.body["Plaintext"])).unwrap().len(), 32);
    for (name, value) in [
        ("NumberOfBytes", "0"),
        ("NumberOfBytes", "1025"),
        ("KeySpec", "AES_512"),
    ] {
        let r = mock
            .kms("GenerateDataKey", &[("KeyId", &key), (name, value)])
            .await;
        assert_error(&r, 400, "InvalidParameter", &[name]);
    }
}

/// Runs the openssl CLI; fails the test with a clear message when it is missing.
fn openssl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("the openssl CLI is needed to check signatures independently: {e}")
        })
}

#[tokio::test]
async fn ecdsa_signatures_verify_with_openssl_and_with_asymmetric_verify() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let (key, version) = mock.ec_key(&inst).await;
    let r = mock
        .kms(
            "GetPublicKey",
            &[("KeyId", &key), ("KeyVersionId", &version)],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["KeyVersionId"], version.as_str());
    let pem = text(&r.body["PublicKey"]);
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
            && pem.ends_with("-----END PUBLIC KEY-----\n"),
        "{pem}"
    );

    let message = b"the message to sign";
    let digest = b64().encode(Sha256::digest(message));
    let r = mock
        .kms(
            "AsymmetricSign",
            &[
                ("KeyId", &key),
                ("KeyVersionId", &version),
                ("Algorithm", "ECDSA_SHA_256"),
                ("Digest", &digest),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["KeyId"], key.as_str());
    let signature = text(&r.body["Value"]);

    let dir = tempfile::tempdir().unwrap();
    let (pem_file, sig_file, msg_file) = (
        dir.path().join("pub.pem"),
        dir.path().join("sig.der"),
        dir.path().join("msg.txt"),
    );
    std::fs::write(&pem_file, &pem).unwrap();
    std::fs::write(&sig_file, b64().decode(&signature).unwrap()).unwrap();
    std::fs::write(&msg_file, message).unwrap();
    let out = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        pem_file.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    let described = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openssl cannot read the PEM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        described.contains("P-256") || described.contains("prime256v1"),
        "{described}"
    );
    let out = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        pem_file.to_str().unwrap(),
        "-signature",
        sig_file.to_str().unwrap(),
        msg_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
        "openssl does not verify the signature: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let verify = |digest: String, sig: String| {
        vec![
            ("KeyId".to_string(), key.clone()),
            ("KeyVersionId".to_string(), version.clone()),
            ("Algorithm".to_string(), "ECDSA_SHA_256".to_string()),
            ("Digest".to_string(), digest),
            ("Value".to_string(), sig),
        ]
    };
    let r = mock
        .kms(
            "AsymmetricVerify",
            &refs(&verify(digest.clone(), signature.clone())),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Value"], json!(true), "Value is a JSON bool");
    let other = b64().encode(Sha256::digest(b"another message"));
    let r = mock
        .kms("AsymmetricVerify", &refs(&verify(other, signature.clone())))
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Value"], json!(false));
    let r = mock
        .kms(
            "AsymmetricVerify",
            &refs(&verify(digest.clone(), b64().encode(b"junk"))),
        )
        .await;
    assert_eq!(r.body["Value"], json!(false));

    // Parameter checks name what is wrong.
    let sign = |kvid: &str, alg: &str, digest: &str| {
        vec![
            ("KeyId".to_string(), key.clone()),
            ("KeyVersionId".to_string(), kvid.to_string()),
            ("Algorithm".to_string(), alg.to_string()),
            ("Digest".to_string(), digest.to_string()),
        ]
    };
    let short = b64().encode([0u8; 20]);
    for (params, status, code, mention) in [
        (
            sign(&version, "RSA_PSS_SHA_256", &digest),
            400,
            "InvalidParameter",
            "Algorithm",
        ),
        (
            sign(&version, "ECDSA_SHA_256", &short),
            400,
            "InvalidParameter",
            "Digest",
        ),
        (
            sign(&version, "ECDSA_SHA_256", "%%%"),
            400,
            "InvalidParameter",
            "Digest",
        ),
        (
            sign("no-such-version", "ECDSA_SHA_256", &digest),
            404,
            "Forbidden.KeyNotFound",
            "no-such-version",
        ),
    ] {
        let r = mock.kms("AsymmetricSign", &refs(&params)).await;
        assert_error(&r, status, code, &[mention]);
    }
    let r = mock
        .kms("AsymmetricSign", &[("KeyId", &key), ("Digest", &digest)])
        .await;
    assert_error(&r, 400, "MissingParameter", &["KeyVersionId"]);
}
