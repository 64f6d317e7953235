//! The test harness: a mock per test, a signing client, purchase helpers and assertions.
//!
//! The mock runs at one simulated second per real second, so nothing happens on its own during a
//! test; tests move time explicitly with [`Mock::advance`].

use mockcloud::testing::{Client, Reply};
use mockcloud::world::World;
use mockcloud::{RunningServer, ServerConfig};
use serde_json::Value;
use tempfile::TempDir;

pub const REGION: &str = "cn-hangzhou";
pub const VPC: &str = "vpc-china-cn-hangzhou";
pub const ZONE_H: &str = "cn-hangzhou-h";
pub const ZONE_J: &str = "cn-hangzhou-j";
pub const VSW_H: &str = "vsw-china-cn-hangzhou-h";
pub const VSW_J: &str = "vsw-china-cn-hangzhou-j";
pub const CHINA_ACCOUNT: &str = "1234567890123456";
pub const DEFAULT_SECRET: &str = "mock-access-key-secret";
pub const INTL_KEY_ID: &str = "mock-intl-access-key-id";
pub const INTL_SECRET: &str = "mock-intl-access-key-secret";

pub struct Mock {
    pub server: RunningServer,
    pub client: Client,
    /// The data directory, removed when the test ends.
    pub dir: TempDir,
}

pub fn config(dir: &TempDir, world: Option<World>) -> ServerConfig {
    let mut cfg = ServerConfig::new(dir.path());
    cfg.world = world;
    cfg.time_scale = 1.0;
    cfg.seed = Some(42);
    cfg
}

pub fn client_for(server: &RunningServer) -> Client {
    Client::new(
        &server.endpoint,
        &server.ca_pem,
        &server.access_key_id,
        &server.access_key_secret,
    )
    .expect("test client")
}

impl Mock {
    pub async fn start() -> Mock {
        Mock::start_with(None).await
    }

    pub async fn start_with(world: Option<World>) -> Mock {
        Mock::start_tweaked(|cfg| cfg.world = world).await
    }

    /// A mock whose configuration the test changes first (throttling, the rate clock, ...).
    pub async fn start_tweaked(tweak: impl FnOnce(&mut ServerConfig)) -> Mock {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = config(&dir, None);
        tweak(&mut cfg);
        let server = mockcloud::start(cfg).await.expect("mock starts");
        let client = client_for(&server);
        Mock {
            server,
            client,
            dir,
        }
    }

    /// Moves the simulated clock forward.
    pub async fn advance(&self, minutes: i64) {
        let r = self
            .client
            .admin_post(&format!("/_mock/clock/advance?minutes={minutes}"))
            .await
            .expect("clock advance");
        assert_eq!(r["advanced_ms"], minutes * 60_000, "{r}");
    }

    pub fn intl(&self) -> Client {
        self.client.with_keys(INTL_KEY_ID, INTL_SECRET)
    }

    pub async fn kms(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        self.client.kms(action, params).await.expect("KMS call")
    }

    pub async fn bss(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        self.client.bss(action, params).await.expect("BSS call")
    }

    pub async fn create_instance(&self, order: &Order) -> Reply {
        let params = order.params();
        self.bss("CreateInstance", &refs(&params)).await
    }

    /// Buys an instance and returns its id, asserting the purchase succeeded.
    pub async fn buy(&self, order: &Order) -> String {
        let r = self.create_instance(order).await;
        assert_ok(&r);
        r.body["Data"]["InstanceId"]
            .as_str()
            .expect("Data.InstanceId")
            .to_string()
    }

    /// Buys an instance and moves the clock past the visibility delay (S11: at most 5 minutes).
    pub async fn buy_visible(&self, order: &Order) -> String {
        let id = self.buy(order).await;
        self.advance(5).await;
        id
    }

    /// Buys an instance, enables it in zone H and waits the 30 simulated minutes: Connected.
    pub async fn connected(&self, order: &Order) -> String {
        let id = self.buy_visible(order).await;
        assert_ok(&self.connect(&id, ZONE_H, VSW_H).await);
        self.advance(30).await;
        assert_eq!(self.status(&id).await, "Connected");
        id
    }

    /// CreateKey in the instance, asserting success; returns `KeyMetadata`.
    pub async fn create_key(&self, instance: &str, extra: &[(&str, &str)]) -> Value {
        let mut params = vec![("DKMSInstanceId", instance)];
        params.extend_from_slice(extra);
        let r = self.kms("CreateKey", &params).await;
        assert_ok(&r);
        r.body["KeyMetadata"].clone()
    }

    /// CreateKey (Aliyun_AES_256) in the instance; returns the key id.
    pub async fn aes_key(&self, instance: &str) -> String {
        text(&self.create_key(instance, &[]).await["KeyId"])
    }

    /// CreateKey (EC_P256) in the instance; returns the key id and its primary version.
    pub async fn ec_key(&self, instance: &str) -> (String, String) {
        let m = self.create_key(instance, &[("KeySpec", "EC_P256")]).await;
        (text(&m["KeyId"]), text(&m["PrimaryKeyVersion"]))
    }

    /// Encrypt, asserting success; returns the CiphertextBlob.
    pub async fn encrypt(&self, key: &str, plaintext: &str, context: Option<&str>) -> String {
        let mut params = vec![("KeyId", key), ("Plaintext", plaintext)];
        if let Some(c) = context {
            params.push(("EncryptionContext", c));
        }
        let r = self.kms("Encrypt", &params).await;
        assert_ok(&r);
        text(&r.body["CiphertextBlob"])
    }

    /// BSS ModifyInstance (Upgrade) of one purchase parameter, asserting success.
    pub async fn upgrade(&self, id: &str, code: &str, value: &str) {
        let r = self
            .bss(
                "ModifyInstance",
                &[
                    ("ProductCode", "kms"),
                    ("ModifyType", "Upgrade"),
                    ("InstanceId", id),
                    ("Parameter.1.Code", code),
                    ("Parameter.1.Value", value),
                ],
            )
            .await;
        assert_ok(&r);
    }

    pub async fn get(&self, id: &str) -> Reply {
        self.kms("GetKmsInstance", &[("KmsInstanceId", id)]).await
    }

    /// GetKmsInstance, asserting success; returns the `KmsInstance` object.
    pub async fn instance(&self, id: &str) -> Value {
        let r = self.get(id).await;
        assert_ok(&r);
        r.body["KmsInstance"].clone()
    }

    pub async fn status(&self, id: &str) -> String {
        self.instance(id).await["Status"]
            .as_str()
            .expect("Status is a string")
            .to_string()
    }

    pub async fn connect(&self, id: &str, zones: &str, vswitches: &str) -> Reply {
        self.connect_in(id, VPC, zones, vswitches).await
    }

    pub async fn connect_in(&self, id: &str, vpc: &str, zones: &str, vswitches: &str) -> Reply {
        self.kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", id),
                ("VpcId", vpc),
                ("ZoneIds", zones),
                ("VSwitchIds", vswitches),
                ("KMProvider", "Aliyun"),
            ],
        )
        .await
    }

    /// BSS QueryAvailableInstances for the kms product; returns `Data`.
    pub async fn available(&self, client: &Client) -> Value {
        let r = client
            .bss("QueryAvailableInstances", &[("ProductCode", "kms")])
            .await
            .expect("BSS call");
        assert_ok(&r);
        r.body["Data"].clone()
    }

    pub async fn list(&self, client: &Client, params: &[(&str, &str)]) -> Value {
        let r = client
            .kms("ListKmsInstances", params)
            .await
            .expect("KMS call");
        assert_ok(&r);
        r.body
    }
}

/// A BSS CreateInstance order for the kms product, software key management by default.
#[derive(Clone)]
pub struct Order {
    codes: Vec<(String, String)>,
    extra: Vec<(String, String)>,
}

impl Order {
    pub fn software(region: &str) -> Order {
        let codes = [
            ("Region", region),
            ("ProductVersion", "3"),
            ("Spec", "1000"),
            ("KeyNum", "1000"),
            ("SecretNum", "0"),
            ("VpcNum", "1"),
            ("Log", "0"),
            ("LogStorage", "0"),
        ];
        Order {
            codes: codes
                .iter()
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect(),
            extra: Vec::new(),
        }
    }

    /// Sets a `Parameter.N.Code` value, replacing the code's earlier value if any.
    pub fn set(mut self, code: &str, value: &str) -> Order {
        match self.codes.iter_mut().find(|(c, _)| c == code) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.codes.push((code.to_string(), value.to_string())),
        }
        self
    }

    /// Sets a top-level request parameter (`ClientToken`, `Period`, ...).
    pub fn with(mut self, name: &str, value: &str) -> Order {
        self.extra.push((name.to_string(), value.to_string()));
        self
    }

    pub fn params(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("ProductCode".to_string(), "kms".to_string()),
            ("SubscriptionType".to_string(), "Subscription".to_string()),
            ("Period".to_string(), "1".to_string()),
        ];
        for (i, (code, value)) in self.codes.iter().enumerate() {
            let n = i + 1;
            p.push((format!("Parameter.{n}.Code"), code.clone()));
            p.push((format!("Parameter.{n}.Value"), value.clone()));
        }
        p.extend(self.extra.iter().cloned());
        p
    }
}

pub fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[track_caller]
pub fn assert_ok(r: &Reply) {
    assert_eq!(r.status, 200, "expected success, got {}", r.body);
    assert!(
        r.body["RequestId"].as_str().is_some_and(|s| !s.is_empty()),
        "no RequestId in {}",
        r.body
    );
}

/// Asserts an error reply: HTTP status, exact `Code`, and that `Message` names `mentions`.
#[track_caller]
pub fn assert_error(r: &Reply, status: u16, code: &str, mentions: &[&str]) {
    assert_eq!(
        (r.status, r.code()),
        (status, code),
        "unexpected reply {}",
        r.body
    );
    let message = r.body["Message"].as_str().unwrap_or_default();
    for m in mentions {
        assert!(
            message.contains(m),
            "message {message:?} does not name {m:?}"
        );
    }
    assert!(
        r.body["RequestId"].as_str().is_some_and(|s| !s.is_empty()),
        "error without RequestId: {}",
        r.body
    );
}

/// A JSON string value, asserting it is one.
#[track_caller]
pub fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// The `KmsInstanceId`s of a ListKmsInstances body.
pub fn listed_ids(body: &Value) -> Vec<String> {
    body["KmsInstances"]["KmsInstance"]
        .as_array()
        .unwrap_or_else(|| panic!("KmsInstances.KmsInstance is not a list: {body}"))
        .iter()
        .map(|i| {
            i["KmsInstanceId"]
                .as_str()
                .expect("KmsInstanceId")
                .to_string()
        })
        .collect()
}

/// The `InstanceID`s of a QueryAvailableInstances `Data`.
pub fn available_ids(data: &Value) -> Vec<String> {
    data["InstanceList"]
        .as_array()
        .unwrap_or_else(|| panic!("Data.InstanceList is not a list: {data}"))
        .iter()
        .map(|i| i["InstanceID"].as_str().expect("InstanceID").to_string())
        .collect()
}

/// The built-in world with its text changed, e.g. an entitlement added.
pub fn default_world_with(from: &str, to: &str) -> World {
    let text = mockcloud::world::DEFAULT_WORLD;
    assert!(text.contains(from), "default world has no {from:?}");
    World::parse(&text.replacen(from, to, 1)).expect("world parses")
}
