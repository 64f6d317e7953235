//! The acceptance harness: an in-process mockcloud on port 0 with a temporary data directory, a
//! temporary terraform working directory, and the real terraform CLI running the provider that
//! `cargo xtask test` built (`TF_ACC_PROVIDER_BIN`, `TF_ACC_TERRAFORM`).
//!
//! The provider is installed for terraform through `dev_overrides` in a CLI configuration of the
//! test's own (never the user's), so no `terraform init` is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use mockcloud::testing::{Client, Reply};
use mockcloud::xki::{start_proxy, ProxyConfig, RunningProxy};
use mockcloud::{RunningServer, ServerConfig};
use serde_json::Value;
use tempfile::TempDir;

/// Simulated seconds per real second in tests: enablement (30 min) takes 0.6 s.
pub const TIME_SCALE: f64 = 3000.0;

pub struct Harness {
    rt: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    _data: TempDir,
    work: TempDir,
    terraform: PathBuf,
    pub client: Client,
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// Extra environment for every terraform command.
    env: Vec<(String, String)>,
}

/// What a terraform command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: the acceptance tests need the built provider and terraform. \
             Run them with `cargo xtask test`, which builds the provider and sets {name}."
        ),
    }
}

impl Harness {
    pub fn start() -> Harness {
        Harness::start_with(|_| {})
    }

    /// Starts a mock (adjusted by `tweak`) and prepares a working directory.
    pub fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
        let provider_bin = PathBuf::from(required_env("TF_ACC_PROVIDER_BIN"));
        assert!(
            provider_bin.is_file(),
            "TF_ACC_PROVIDER_BIN={} is not a file",
            provider_bin.display()
        );
        let terraform = PathBuf::from(required_env("TF_ACC_TERRAFORM"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let data = tempfile::tempdir().expect("temp dir");
        let mut cfg = ServerConfig::new(data.path());
        cfg.time_scale = TIME_SCALE;
        cfg.seed = Some(7);
        tweak(&mut cfg);
        let server = rt
            .block_on(mockcloud::start(cfg))
            .expect("mockcloud starts");
        let client = Client::new(
            &server.endpoint,
            &server.ca_pem,
            &server.access_key_id,
            &server.access_key_secret,
        )
        .expect("client");
        let work = tempfile::tempdir().expect("temp dir");
        std::fs::write(work.path().join("ca.pem"), &server.ca_pem).expect("write CA");
        let plugin_dir = provider_bin.parent().expect("provider dir").to_path_buf();
        let cli = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"mockcloud/kms\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            plugin_dir.display()
        );
        std::fs::write(work.path().join("cli.tfrc"), cli).expect("write CLI config");
        Harness {
            rt,
            endpoint: server.endpoint.clone(),
            access_key_id: server.access_key_id.clone(),
            access_key_secret: server.access_key_secret.clone(),
            server: Some(server),
            env: Vec::new(),
            _data: data,
            work,
            terraform,
            client,
        }
    }

    /// Sets an environment variable for every later terraform command.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_string(), value.to_string()));
    }

    /// The repository's `examples/` directory.
    pub fn examples_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("examples")
    }

    pub fn dir(&self) -> &Path {
        self.work.path()
    }

    /// The provider block every test configuration starts with.
    pub fn provider_block(&self, secret_key: &str) -> String {
        format!(
            r#"terraform {{
  required_providers {{
    kms = {{ source = "mockcloud/kms" }}
  }}
}}

provider "kms" {{
  endpoint      = "{endpoint}"
  ca_cert_file  = "{ca}"
  region        = "cn-hangzhou"
  access_key    = "{ak}"
  secret_key    = "{sk}"
  poll_interval = "100ms"
}}
"#,
            endpoint = self.endpoint,
            ca = self.dir().join("ca.pem").display(),
            ak = self.access_key_id,
            sk = secret_key,
        )
    }

    /// Writes `main.tf`: the provider block and `resources`.
    pub fn config(&self, resources: &str) {
        let text = format!(
            "{}\n{resources}",
            self.provider_block(&self.access_key_secret)
        );
        std::fs::write(self.dir().join("main.tf"), text).expect("write main.tf");
    }

    /// Writes `main.tf` verbatim.
    pub fn config_raw(&self, text: &str) {
        std::fs::write(self.dir().join("main.tf"), text).expect("write main.tf");
    }

    pub fn tf(&self, args: &[&str]) -> Run {
        let out = Command::new(&self.terraform)
            .args(args)
            .current_dir(self.dir())
            .env("TF_CLI_CONFIG_FILE", self.dir().join("cli.tfrc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_LOG")
            .env_remove("TF_CLI_ARGS")
            .env_remove("TF_DATA_DIR")
            // tf-provider appends a Rust backtrace to diagnostics when this is set.
            .env_remove("RUST_BACKTRACE")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.terraform.display()));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `terraform apply`, which must succeed.
    pub fn apply(&self) -> Run {
        let r = self.tf(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        assert_eq!(r.code, 0, "terraform apply failed:\n{}", r.all());
        r
    }

    /// `terraform apply`, which must fail; returns the output.
    pub fn apply_fails(&self) -> Run {
        let r = self.tf(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        assert_ne!(
            r.code,
            0,
            "terraform apply should have failed:\n{}",
            r.all()
        );
        r
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes.
    pub fn plan(&self) -> Run {
        self.tf(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])
    }

    pub fn assert_plan_empty(&self) {
        let r = self.plan();
        assert_eq!(r.code, 0, "expected no changes, got:\n{}", r.all());
    }

    pub fn destroy(&self) -> Run {
        let r = self.tf(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
        assert_eq!(r.code, 0, "terraform destroy failed:\n{}", r.all());
        r
    }

    /// The attributes of one resource in the state (`terraform show -json`).
    pub fn attrs(&self, address: &str) -> Value {
        let r = self.tf(&["show", "-json", "-no-color"]);
        assert_eq!(r.code, 0, "terraform show failed:\n{}", r.all());
        let v: Value = serde_json::from_str(&r.stdout).expect("show -json gives JSON");
        v["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["address"] == address))
            .map(|r| r["values"].clone())
            .unwrap_or(Value::Null)
    }

    pub fn kms(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        self.rt
            .block_on(self.client.kms(action, params))
            .expect("KMS call")
    }

    pub fn bss(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        self.rt
            .block_on(self.client.bss(action, params))
            .expect("BSS call")
    }

    /// Arms faults on the mock (`PUT /_mock/faults`), e.g. `{"throttle": 3}`.
    pub fn faults(&self, json: &str) {
        let url = format!("{}/_mock/faults", self.endpoint);
        let body = json.to_string();
        let r = self
            .rt
            .block_on(async {
                self.client
                    .http()
                    .put(url)
                    .body(body)
                    .send()
                    .await?
                    .error_for_status()
            })
            .expect("faults armed");
        assert!(r.status().is_success());
    }

    /// `POST /_mock/<path>` on the mock's admin API.
    pub fn admin_post(&self, path: &str) -> Value {
        self.rt
            .block_on(self.client.admin_post(&format!("/_mock/{path}")))
            .expect("admin call")
    }

    /// `POST /_mock/<path>` with a JSON body; asserts success.
    pub fn admin_post_json(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self
            .rt
            .block_on(self.client.admin_post_json(&format!("/_mock/{path}"), body))
            .expect("admin call");
        assert!(status < 300, "POST /_mock/{path}: {status} {v}");
        v
    }

    /// Starts an XKI proxy emulator in this process (its own runtime thread, port 0) and points
    /// the world's proxy domain (`xki-proxy.mockcloud.test`) and every endpoint service at it.
    /// `tweak` changes its configuration (vendor, credentials). The proxy's data directory
    /// holds `ready.json` and `xki-proxy-config.json`, as `mockcloud xki-proxy` writes them.
    pub fn start_xki_proxy(&self, tweak: impl FnOnce(&mut ProxyConfig)) -> XkiProxy {
        let dir = TempDir::new().expect("proxy dir");
        let mut cfg = ProxyConfig::new(dir.path().to_path_buf());
        tweak(&mut cfg);
        let proxy = XkiProxy::start(cfg, dir);
        let address = proxy.addr().to_string();
        self.admin_post_json(
            "xki/domains",
            &serde_json::json!({"name": mockcloud::xki::DEFAULT_PROXY_DOMAIN, "address": address}),
        );
        let services = self
            .rt
            .block_on(self.client.admin_get("/_mock/endpoint-services"))
            .expect("endpoint services");
        let list = services
            .as_array()
            .or_else(|| services["endpoint_services"].as_array())
            .cloned()
            .unwrap_or_default();
        assert!(
            !list.is_empty(),
            "no endpoint services in the world: {services}"
        );
        for mut svc in list {
            svc["target"] = Value::from(address.clone());
            self.admin_post_json("endpoint-services", &svc);
        }
        proxy
    }

    /// Moves the mock's simulated clock.
    pub fn advance_minutes(&self, minutes: i64) {
        self.rt
            .block_on(
                self.client
                    .admin_post(&format!("/_mock/clock/advance?minutes={minutes}")),
            )
            .expect("clock advance");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// An in-process XKI proxy emulator that can be stopped and started again on the same port and
/// data directory (same certificate, same keys).
pub struct XkiProxy {
    running: Option<RunningProxy>,
    cfg: ProxyConfig,
    dir: TempDir,
}

impl XkiProxy {
    fn start(cfg: ProxyConfig, dir: TempDir) -> XkiProxy {
        let running = start_proxy(cfg.clone()).expect("XKI proxy starts");
        let mut cfg = cfg;
        cfg.listen = running.addr();
        let ready = serde_json::json!({
            "address": running.addr().to_string(),
            "fingerprint": running.fingerprint(),
            "path": cfg.path,
            "domain": cfg.domain,
            "access_key_id": cfg.access_key_id,
            "config_file": dir.path().join("xki-proxy-config.json"),
        });
        std::fs::write(dir.path().join("ready.json"), ready.to_string()).expect("ready.json");
        std::fs::write(
            dir.path().join("xki-proxy-config.json"),
            running.config_file_json(),
        )
        .expect("config file");
        XkiProxy {
            running: Some(running),
            cfg,
            dir,
        }
    }

    fn running(&self) -> &RunningProxy {
        self.running.as_ref().expect("the proxy is running")
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.cfg.listen
    }

    pub fn fingerprint(&self) -> String {
        self.running().fingerprint()
    }

    pub fn config_file_json(&self) -> String {
        self.running().config_file_json()
    }

    /// The data directory (`ready.json`, `xki-proxy-config.json`, the sealed keys).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn set_delay(&self, d: std::time::Duration) {
        self.running().set_delay(d);
    }

    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }

    /// Starts it again on the same address and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.running = Some(start_proxy(self.cfg.clone()).expect("XKI proxy restarts"));
    }
}

impl Drop for XkiProxy {
    fn drop(&mut self) {
        self.stop();
    }
}
