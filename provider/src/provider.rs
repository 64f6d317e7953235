//! The provider block: connection settings, parsed at configure time into a shared [`Client`].
//!
//! tf-provider builds resources before `configure`, so they reach the client through a shared
//! cell ([`Shared`]) that `configure` fills.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{Block, Description, NestedBlock, Schema};
use tf_provider::value::{serde_as_vec, Value, ValueBool, ValueEmpty, ValueNumber, ValueString};
use tf_provider::{AttributePath, Diagnostics, DynamicDataSource, DynamicResource, Provider};

use crate::client::{Client, Settings};
use crate::schema::{optional, sensitive, Kind};
use crate::wait::parse_duration;

/// What resources need from the configured provider.
pub struct Configured {
    pub client: Client,
    pub region: String,
    pub poll_interval: Duration,
}

/// The cell that `configure` fills and resources read.
#[derive(Clone, Default)]
pub struct Shared(Arc<RwLock<Option<Arc<Configured>>>>);

impl Shared {
    pub fn get(&self) -> Option<Arc<Configured>> {
        self.0.read().ok()?.clone()
    }

    /// The configured provider, or an error diagnostic saying it is not configured.
    pub fn require(&self, diags: &mut Diagnostics) -> Option<Arc<Configured>> {
        let c = self.get();
        if c.is_none() {
            diags.root_error(
                "Provider not configured",
                "The kms provider has no usable configuration (endpoint, region, credentials). Check the provider block.",
            );
        }
        c
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Endpoints<'a> {
    pub kms: ValueString<'a>,
    pub bss: ValueString<'a>,
    pub vpc: ValueString<'a>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Config<'a> {
    pub endpoint: ValueString<'a>,
    #[serde(with = "serde_as_vec")]
    pub endpoints: Value<Endpoints<'a>>,
    pub region: ValueString<'a>,
    pub access_key: ValueString<'a>,
    pub secret_key: ValueString<'a>,
    pub ca_cert_pem: ValueString<'a>,
    pub ca_cert_file: ValueString<'a>,
    pub insecure: ValueBool,
    pub max_retries: ValueNumber,
    pub poll_interval: ValueString<'a>,
}

#[derive(Default)]
pub struct KmsProvider {
    shared: Shared,
}

fn known(v: &ValueString) -> Option<String> {
    v.as_ref_option()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.is_empty())
}

#[async_trait]
impl Provider for KmsProvider {
    type Config<'a> = Config<'a>;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let endpoints = Block {
            description: Description::markdown("Per-product endpoint overrides, for the real cloud where KMS, BSS and VPC have separate hosts."),
            attributes: [
                ("kms", optional(Kind::String, "KMS endpoint URL (`https://kms.cn-hangzhou.aliyuncs.com`).")),
                ("bss", optional(Kind::String, "BssOpenApi endpoint URL.")),
                ("vpc", optional(Kind::String, "VPC endpoint URL.")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            ..Default::default()
        };
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "The `mockcloud/kms` provider manages Alibaba Cloud KMS instances through the Alibaba Cloud OpenAPI (KMS 2016-01-20, BssOpenApi 2017-12-14). It talks to any endpoint that speaks the protocol; every example uses the bundled mockcloud.",
                ),
                attributes: [
                    ("endpoint", optional(Kind::String, "Base URL of the OpenAPI endpoint serving every product, e.g. `https://127.0.0.1:9443` for mockcloud. Defaults to `ALIBABA_CLOUD_ENDPOINT`.")),
                    ("region", optional(Kind::String, "Region of the resources, e.g. `cn-hangzhou`. Defaults to `ALIBABA_CLOUD_REGION_ID`.")),
                    ("access_key", optional(Kind::String, "Access key id. Defaults to `ALIBABA_CLOUD_ACCESS_KEY_ID`.")),
                    ("secret_key", sensitive(optional(Kind::String, "Access key secret. Defaults to `ALIBABA_CLOUD_ACCESS_KEY_SECRET`. Never logged."))),
                    ("ca_cert_pem", optional(Kind::String, "PEM CA certificate(s) to trust for the endpoint (mockcloud's `tls/ca.pem`).")),
                    ("ca_cert_file", optional(Kind::String, "Path of a PEM CA certificate file to trust for the endpoint.")),
                    ("insecure", optional(Kind::Bool, "Skip TLS certificate verification. For experiments only.")),
                    ("max_retries", optional(Kind::Number, "How many times a throttled, 5xx or unreachable request is retried with backoff (default 5).")),
                    ("poll_interval", optional(Kind::String, "First interval between status polls while waiting, growing 1.5x up to 30s (default `2s`).")),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
                blocks: [("endpoints".to_string(), NestedBlock::Optional(endpoints))].into_iter().collect(),
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::Config<'a>) -> Option<()> {
        if let Value::Value(s) = &config.poll_interval {
            if parse_duration(s).is_none() {
                diags.error_short(
                    format!("poll_interval {s:?} is not a duration like \"2s\" or \"500ms\""),
                    AttributePath::new("poll_interval"),
                );
            }
        }
        if let Value::Value(n) = config.max_retries {
            if !(0..=20).contains(&n) {
                diags.error_short(
                    "max_retries must be between 0 and 20",
                    AttributePath::new("max_retries"),
                );
            }
        }
        if config.ca_cert_pem.is_value() && config.ca_cert_file.is_value() {
            diags.error_short(
                "give ca_cert_pem or ca_cert_file, not both",
                AttributePath::new("ca_cert_file"),
            );
        }
        Some(())
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _terraform_version: String,
        config: Self::Config<'a>,
    ) -> Option<()> {
        let endpoint = known(&config.endpoint).or_else(|| env("ALIBABA_CLOUD_ENDPOINT"));
        let overrides = config
            .endpoints
            .as_ref_option()
            .cloned()
            .unwrap_or_default();
        let pick = |v: &ValueString| known(v).or_else(|| endpoint.clone());
        let (Some(kms), Some(bss), Some(vpc)) = (
            pick(&overrides.kms),
            pick(&overrides.bss),
            pick(&overrides.vpc),
        ) else {
            diags.error(
                "Missing endpoint",
                "Set `endpoint` in the provider block (for mockcloud, the URL it prints at start, e.g. https://127.0.0.1:9443) or the ALIBABA_CLOUD_ENDPOINT environment variable.",
                AttributePath::new("endpoint"),
            );
            return None;
        };
        let region = known(&config.region).or_else(|| env("ALIBABA_CLOUD_REGION_ID"));
        let access_key = known(&config.access_key).or_else(|| env("ALIBABA_CLOUD_ACCESS_KEY_ID"));
        let secret_key =
            known(&config.secret_key).or_else(|| env("ALIBABA_CLOUD_ACCESS_KEY_SECRET"));
        for (attr, value, var) in [
            ("region", region.is_some(), "ALIBABA_CLOUD_REGION_ID"),
            (
                "access_key",
                access_key.is_some(),
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
            ),
            (
                "secret_key",
                secret_key.is_some(),
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            ),
        ] {
            if !value {
                diags.error(
                    format!("Missing {attr}"),
                    format!(
                        "Set `{attr}` in the provider block or the {var} environment variable."
                    ),
                    AttributePath::new(attr),
                );
            }
        }
        let ca_pem = match (known(&config.ca_cert_pem), known(&config.ca_cert_file)) {
            (Some(pem), _) => Some(pem),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    diags.error(
                        "Cannot read ca_cert_file",
                        format!("{path}: {e}"),
                        AttributePath::new("ca_cert_file"),
                    );
                    return None;
                }
            },
            (None, None) => None,
        };
        let (Some(region), Some(access_key_id), Some(access_key_secret)) =
            (region, access_key, secret_key)
        else {
            return None;
        };
        let settings = Settings {
            kms_endpoint: kms,
            bss_endpoint: bss,
            vpc_endpoint: vpc,
            access_key_id,
            access_key_secret,
            ca_pem,
            insecure: config.insecure.as_ref_option().copied().unwrap_or(false),
            max_retries: config
                .max_retries
                .as_ref_option()
                .copied()
                .unwrap_or(5)
                .clamp(0, 20) as u32,
            retry_base: Duration::from_millis(500),
        };
        let client = match Client::new(settings) {
            Ok(c) => c,
            Err(e) => {
                diags.error("Invalid TLS settings", e, AttributePath::new("ca_cert_pem"));
                return None;
            }
        };
        let poll_interval = known(&config.poll_interval)
            .and_then(|s| parse_duration(&s))
            .unwrap_or(Duration::from_secs(2));
        if let Ok(mut cell) = self.shared.0.write() {
            *cell = Some(Arc::new(Configured {
                client,
                region,
                poll_interval,
            }));
        }
        Some(())
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        let mut m: HashMap<String, Box<dyn DynamicResource>> = HashMap::new();
        m.insert(
            "instance".into(),
            Box::new(crate::resources::instance::InstanceResource::new(
                self.shared.clone(),
            )),
        );
        m.insert(
            "hsm_binding".into(),
            Box::new(crate::resources::hsm_binding::HsmBindingResource::new(
                self.shared.clone(),
            )),
        );
        m.insert(
            "external_proxy".into(),
            Box::new(
                crate::resources::external_proxy::ExternalProxyResource::new(self.shared.clone()),
            ),
        );
        m.insert(
            "key".into(),
            Box::new(crate::resources::key::KeyResource::new(self.shared.clone())),
        );
        m.insert(
            "secret".into(),
            Box::new(crate::resources::secret::SecretResource::new(
                self.shared.clone(),
            )),
        );
        Some(m)
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        Some(crate::data_sources::all(&self.shared))
    }
}

/// Owned text for a state value.
pub fn text<'a>(s: impl Into<String>) -> ValueString<'a> {
    Value::Value(Cow::Owned(s.into()))
}
