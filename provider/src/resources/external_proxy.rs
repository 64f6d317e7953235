//! `kms_external_proxy`: connects a purchased external instance to the XKI proxy in front of the
//! customer's own HSM (S40–S45). Like the HSM binding, the cloud has no unbind: destroy only
//! forgets, and nothing changes in place.

use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, Block, Description, NestedBlock, Schema};
use tf_provider::value::{serde_as_vec, Value, ValueEmpty, ValueList, ValueString};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::client::kms::{InstanceInfo, XkiConnect};
use crate::client::ApiError;
use crate::plan::{null_if_unknown, s};
use crate::provider::{text, Shared};
use crate::resources::enable::{self, Timeouts, Zone};
use crate::schema::{computed, object_list, optional, required, sensitive, Kind};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub id: ValueString<'a>,
    pub instance_id: ValueString<'a>,
    pub vpc_id: ValueString<'a>,
    pub zones: ValueList<Value<Zone<'a>>>,
    pub connectivity: ValueString<'a>,
    pub proxy_domain_name: ValueString<'a>,
    pub endpoint_service_id: ValueString<'a>,
    pub proxy_path: ValueString<'a>,
    pub certificate_fingerprint: ValueString<'a>,
    pub access_key_id: ValueString<'a>,
    pub access_key_secret: ValueString<'a>,
    pub config_file: ValueString<'a>,
    pub status: ValueString<'a>,
    pub proxy_status: ValueString<'a>,
    pub proxy_vendor: ValueString<'a>,
    pub zone_ids: ValueList<ValueString<'a>>,
    pub vswitch_ids: ValueList<ValueString<'a>>,
    #[serde(with = "serde_as_vec")]
    pub timeouts: Value<Timeouts<'a>>,
}

pub struct ExternalProxyResource {
    shared: Shared,
}

impl ExternalProxyResource {
    pub fn new(shared: Shared) -> Self {
        ExternalProxyResource { shared }
    }
}

/// Arguments fixed once connected: a change is refused at plan time.
const ARGUMENTS: [&str; 11] = [
    "instance_id",
    "vpc_id",
    "zones",
    "connectivity",
    "proxy_domain_name",
    "endpoint_service_id",
    "proxy_path",
    "certificate_fingerprint",
    "access_key_id",
    "access_key_secret",
    "config_file",
];

const MANUAL: [&str; 4] = [
    "proxy_path",
    "certificate_fingerprint",
    "access_key_id",
    "access_key_secret",
];

/// The fields of the configuration file (S42), as `mockcloud xki-proxy` writes it.
const CONFIG_FILE_FIELDS: [&str; 4] = [
    "ProxyPath",
    "CertificateFingerprint",
    "AccessKeyId",
    "AccessKeySecret",
];

/// Terraform's spelling of the connectivity and the API's.
fn connectivity_wire(v: &str) -> Option<&'static str> {
    match v {
        "public_endpoint" => Some("PublicEndpoint"),
        "vpc_endpoint_service" => Some("VpcEndpointService"),
        _ => None,
    }
}

fn connectivity_tf(v: &str) -> &str {
    match v {
        "PublicEndpoint" => "public_endpoint",
        "VpcEndpointService" => "vpc_endpoint_service",
        other => other,
    }
}

/// A SHA-256 fingerprint compared the way the cloud compares it: separators (`:`, `-`, spaces)
/// dropped, lowercase; `None` unless 64 hex digits remain.
pub fn normalise_fingerprint(v: &str) -> Option<String> {
    let hex: String = v
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

fn detail(e: &ApiError) -> String {
    let hint = match e.code() {
        "Forbidden.XkiVendorNotSupported" => "\nOnly HSMs of the vendor Jiangnan Tianan are supported behind an XKI proxy (S40).",
        "InvalidParameter.XkiEndpointServiceZones" => "\nThe endpoint service must have exactly the instance's zones: make zones match the service's (S41).",
        "Forbidden.XkiEndpointServiceAllowlist" => "\nAdd your account to the endpoint service's allowlist (S41).",
        "Rejected.XkiEndpointServiceAutoAccept" => "\nThe endpoint service must accept endpoint connections automatically (S41).",
        "InvalidParameter.XkiEndpointServiceId" => "\nCheck endpoint_service_id: an endpoint service of the instance's region.",
        "InvalidParameter.XkiProxyDomainName" => "\nCheck proxy_domain_name: the XKI proxy's public domain name.",
        "InvalidParameter.XkiCertificateFingerprint" => "\nThe fingerprint is the SHA-256 of the proxy's certificate (DER), as `mockcloud xki-proxy` prints it.",
        "InvalidParameter.XkiAccessKey" => "\nThe proxy refused the access key: check access_key_id and access_key_secret (or the configuration file's).",
        "Rejected.XkiProxyUnreachable" => "\nThe XKI proxy did not answer: is it running, and do the domain name or endpoint service lead to it?",
        "InvalidParameter.XkiConfigFile" => "\nconfig_file must be the proxy's configuration file (JSON with ProxyPath, CertificateFingerprint, AccessKeyId, AccessKeySecret).",
        "Rejected.UnsupportedOperation" => "\nOnly an external instance (management_type = \"external\") connects to an XKI proxy.",
        _ => "",
    };
    format!("{e}{hint}")
}

impl State<'_> {
    fn apply_info(&mut self, i: &InstanceInfo) {
        let x = &i.xki;
        self.id = text(&i.id);
        self.instance_id = text(&i.id);
        self.vpc_id = text(&i.vpc_id);
        self.status = text(&i.status);
        self.proxy_status = text(&x.status);
        self.proxy_vendor = text(&x.vendor);
        self.zone_ids = enable::strings(&i.zone_ids);
        self.vswitch_ids = enable::strings(&i.vswitch_ids);
        self.connectivity = text(connectivity_tf(&x.connectivity));
        let keep_or = |v: &mut ValueString, api: &str| {
            if api.is_empty() {
                null_if_unknown(v);
            } else {
                *v = text(api);
            }
        };
        keep_or(&mut self.proxy_domain_name, &x.domain_name);
        keep_or(&mut self.endpoint_service_id, &x.endpoint_service_id);
        if x.config_source == "Manual" {
            keep_or(&mut self.proxy_path, &x.path);
            keep_or(&mut self.access_key_id, &x.access_key_id);
            // The configured spelling stays while it names the same certificate.
            let same = s(&self.certificate_fingerprint)
                .and_then(normalise_fingerprint)
                .is_some_and(|f| f == x.fingerprint);
            if !same {
                keep_or(&mut self.certificate_fingerprint, &x.fingerprint);
            }
        } else {
            for v in [
                &mut self.proxy_path,
                &mut self.access_key_id,
                &mut self.certificate_fingerprint,
            ] {
                null_if_unknown(v);
            }
        }
        // Never returned by the API: what the configuration said stays.
        null_if_unknown(&mut self.access_key_secret);
        null_if_unknown(&mut self.config_file);
        // After an import: the requested zones are the first ones, one per vSwitch (the API
        // lists the assigned zones after them, without vSwitches).
        if !self.zones.is_value() {
            self.zones = enable::zones_of(i);
        }
    }

    fn connect_request(&self) -> XkiConnect {
        let o = |v: &ValueString| s(v).map(String::from);
        let (zone_ids, vswitch_ids) = enable::requested_zones(&self.zones);
        XkiConnect {
            vpc_id: s(&self.vpc_id).unwrap_or_default().to_string(),
            zone_ids,
            vswitch_ids,
            connectivity: s(&self.connectivity)
                .and_then(connectivity_wire)
                .unwrap_or_default()
                .to_string(),
            domain_name: o(&self.proxy_domain_name),
            endpoint_service_id: o(&self.endpoint_service_id),
            path: o(&self.proxy_path),
            fingerprint: o(&self.certificate_fingerprint),
            access_key_id: o(&self.access_key_id),
            access_key_secret: o(&self.access_key_secret),
            config_file: o(&self.config_file),
        }
    }

    fn value(&self, name: &str) -> &ValueString<'_> {
        match name {
            "instance_id" => &self.instance_id,
            "vpc_id" => &self.vpc_id,
            "connectivity" => &self.connectivity,
            "proxy_domain_name" => &self.proxy_domain_name,
            "endpoint_service_id" => &self.endpoint_service_id,
            "proxy_path" => &self.proxy_path,
            "certificate_fingerprint" => &self.certificate_fingerprint,
            "access_key_id" => &self.access_key_id,
            "access_key_secret" => &self.access_key_secret,
            _ => &self.config_file,
        }
    }

    /// The value of an argument in comparable form (fingerprints normalised).
    fn argument(&self, name: &str) -> String {
        match name {
            "zones" => format!("{:?}", self.zones),
            "certificate_fingerprint" => match s(&self.certificate_fingerprint) {
                Some(f) => normalise_fingerprint(f).unwrap_or_else(|| f.to_string()),
                None => format!("{:?}", self.certificate_fingerprint),
            },
            other => format!("{:?}", self.value(other)),
        }
    }

    fn is_null(&self, name: &str) -> bool {
        match name {
            "zones" => self.zones.is_null(),
            other => self.value(other).is_null(),
        }
    }

    fn is_unknown(&self, name: &str) -> bool {
        match name {
            "zones" => self.zones.is_unknown(),
            other => self.value(other).is_unknown(),
        }
    }
}

/// Checks a configuration file's content the way the cloud will: a JSON object with the four
/// string fields and nothing else. The secret is never echoed.
fn check_config_file(content: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(content)
        .map_err(|e| format!("not JSON (line {}, column {}).", e.line(), e.column()))?;
    let obj = v
        .as_object()
        .ok_or("must be a JSON object with ProxyPath, CertificateFingerprint, AccessKeyId and AccessKeySecret.")?;
    for k in obj.keys() {
        if !CONFIG_FILE_FIELDS.contains(&k.as_str()) {
            return Err(format!("unknown field {k:?}; the fields are ProxyPath, CertificateFingerprint, AccessKeyId, AccessKeySecret."));
        }
    }
    for f in CONFIG_FILE_FIELDS {
        match obj.get(f) {
            Some(serde_json::Value::String(x)) if !x.is_empty() => {}
            Some(_) => return Err(format!("{f} must be a non-empty string.")),
            None => return Err(format!("{f} is missing.")),
        }
    }
    let fp = obj["CertificateFingerprint"].as_str().unwrap_or_default();
    if normalise_fingerprint(fp).is_none() {
        return Err("CertificateFingerprint is not a SHA-256 fingerprint (64 hex digits, separators allowed).".into());
    }
    Ok(())
}

fn check(st: &State, diags: &mut Diagnostics) {
    let path = AttributePath::new;
    let set = |v: &ValueString| !v.is_null();
    if let Some(c) = s(&st.connectivity) {
        match connectivity_wire(c) {
            None => diags.error(
                "Invalid connectivity",
                format!("{c:?}: public_endpoint or vpc_endpoint_service (S41)."),
                path("connectivity"),
            ),
            Some("PublicEndpoint") => {
                if st.proxy_domain_name.is_null() {
                    diags.error("Missing proxy_domain_name", "connectivity = \"public_endpoint\" needs the XKI proxy's domain name (S41).", path("proxy_domain_name"));
                }
                if set(&st.endpoint_service_id) {
                    diags.error("endpoint_service_id does not apply", "endpoint_service_id is for connectivity = \"vpc_endpoint_service\"; remove it or change connectivity.", path("endpoint_service_id"));
                }
            }
            Some(_) => {
                if st.endpoint_service_id.is_null() {
                    diags.error("Missing endpoint_service_id", "connectivity = \"vpc_endpoint_service\" needs the endpoint service in front of the proxy (S41).", path("endpoint_service_id"));
                }
                if set(&st.proxy_domain_name) {
                    diags.error("proxy_domain_name does not apply", "proxy_domain_name is for connectivity = \"public_endpoint\"; remove it or change connectivity.", path("proxy_domain_name"));
                }
            }
        }
    }
    let manual: Vec<bool> = MANUAL.iter().map(|n| set(st.value(n))).collect();
    let any_manual = manual.iter().any(|x| *x);
    if any_manual && set(&st.config_file) {
        diags.error("Two proxy configurations", "Give either the manual fields (proxy_path, certificate_fingerprint, access_key_id, access_key_secret) or config_file, not both (S42).", path("config_file"));
    } else if any_manual {
        for (name, given) in MANUAL.iter().zip(&manual) {
            if !given {
                diags.error(format!("Missing {name}"), "A manual proxy configuration needs proxy_path, certificate_fingerprint, access_key_id and access_key_secret together (S42).", path(name));
            }
        }
    } else if st.config_file.is_null() {
        diags.error("Missing proxy configuration", "Give the manual fields (proxy_path, certificate_fingerprint, access_key_id, access_key_secret) or config_file (the proxy's configuration file) (S42).", path("config_file"));
    }
    if let Some(f) = s(&st.certificate_fingerprint) {
        if normalise_fingerprint(f).is_none() {
            diags.error("Invalid certificate_fingerprint", "not a SHA-256 fingerprint: 64 hex digits, in any case, separators `:`, `-` or spaces allowed.", path("certificate_fingerprint"));
        }
    }
    if let Some(p) = s(&st.proxy_path) {
        if !p.starts_with('/') {
            diags.error(
                "Invalid proxy_path",
                format!("{p:?}: a path on the proxy, starting with / (e.g. /xki)."),
                path("proxy_path"),
            );
        }
    }
    if let Some(c) = s(&st.config_file) {
        if let Err(why) = check_config_file(c) {
            diags.error("Invalid config_file", why, path("config_file"));
        }
    }
}

#[async_trait]
impl Resource for ExternalProxyResource {
    type State<'a> = State<'a>;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = [
            ("id", computed(Kind::String, "The instance id.")),
            ("instance_id", required(Kind::String, "An external instance (`kms_instance` with `management_type = \"external\"`), Uninitialized.")),
            ("vpc_id", required(Kind::String, "The VPC the instance is enabled in.")),
            ("connectivity", required(Kind::String, "How the instance reaches the XKI proxy (S41): `public_endpoint` (over the internet, to `proxy_domain_name`) or `vpc_endpoint_service` (through `endpoint_service_id`).")),
            ("proxy_domain_name", optional(Kind::String, "`public_endpoint` only: the proxy's domain name.")),
            ("endpoint_service_id", optional(Kind::String, "`vpc_endpoint_service` only: the VPC endpoint service in front of the proxy. It must have the instance's zones, list your account on its allowlist and accept connections automatically (S41).")),
            ("proxy_path", optional(Kind::String, "Manual configuration (S42): the proxy's path, e.g. `/xki`.")),
            ("certificate_fingerprint", optional(Kind::String, "Manual configuration: the SHA-256 fingerprint of the proxy's certificate (DER). Case and separators (`:`, `-`, spaces) do not matter.")),
            ("access_key_id", optional(Kind::String, "Manual configuration: the proxy's access key id.")),
            ("access_key_secret", sensitive(optional(Kind::String, "Manual configuration: the proxy's access key secret. Never returned by the API; kept in state, marked sensitive."))),
            ("config_file", sensitive(optional(Kind::String, "Instead of the manual fields: the content of the proxy's configuration file (`file(\"xki-proxy-config.json\")`: JSON with `ProxyPath`, `CertificateFingerprint`, `AccessKeyId`, `AccessKeySecret`). Sensitive: it holds the secret."))),
            ("status", computed(Kind::String, "The instance's status: `Connecting` until enablement ends (about 30 minutes with a secret quota, 10 without, S44), then `Connected`.")),
            ("proxy_status", computed(Kind::String, "Whether the cloud reaches the proxy at the last read: `Reachable` or `Unreachable` (then every cryptographic operation fails, S45).")),
            ("proxy_vendor", computed(Kind::String, "The HSM vendor the proxy reported (Jiangnan Tianan, S40).")),
            ("zone_ids", computed(Kind::ListOfString, "The instance's zones (the given ones and any assigned).")),
            ("vswitch_ids", computed(Kind::ListOfString, "The instance's vSwitches.")),
        ];
        let mut attributes: std::collections::HashMap<String, _> = attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        attributes.insert(
            "zones".into(),
            object_list(AttributeConstraint::Required, "Ordered `{ zone_id, vswitch_id }` pairs, the first is the primary zone; each vSwitch (of `vpc_id`, in that zone) needs at least one free IP (S43). Zones the deployment needs beyond these are assigned. With an endpoint service, the instance's zones must be the service's.", &["zone_id", "vswitch_id"]),
        );
        let timeouts = Block {
            description: Description::plain("How long to wait."),
            attributes: [(
                "create".to_string(),
                optional(Kind::String, "Create timeout (default `60m`)."),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown("Connects a purchased external KMS instance to the XKI proxy in front of your own HSM and waits until it is Connected (S40–S45). The key material of its keys never leaves the proxy: every cryptographic operation calls it. The cloud has no unbind: destroying this resource forgets the connection and leaves the instance connected (it goes with its `kms_instance`); its arguments cannot change in place."),
                attributes,
                blocks: [("timeouts".to_string(), NestedBlock::Optional(timeouts))].into_iter().collect(),
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        check(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let id = s(&state.id)?.to_string();
        match cfg.client.find_kms_instance(&id).await {
            Ok(Some(i)) if !i.xki.connectivity.is_empty() => {
                let mut st = state;
                st.apply_info(&i);
                if i.xki.status == "Unreachable" {
                    diags.root_warning(
                        format!("The XKI proxy of instance {id} is unreachable"),
                        format!("{}\nEvery cryptographic operation on the instance's keys fails until the proxy is back; nothing falls back to keys held by the cloud (S45).", i.xki.error),
                    );
                }
                Some((st, private))
            }
            Ok(_) => None,
            Err(e) => {
                diags.root_error("Read external proxy connection failed", detail(&e));
                Some((state, private))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let mut st = proposed;
        // The instance is known at plan time when it exists already: refuse another kind now.
        if let (Some(cfg), Some(id)) = (self.shared.get(), s(&st.instance_id)) {
            if let Ok(Some(i)) = cfg.client.find_kms_instance(id).await {
                if i.product_version != "external" {
                    diags.error("Not an external instance", format!("{id} is not an external key management instance: only management_type = \"external\" connects to an XKI proxy."), AttributePath::new("instance_id"));
                }
            }
        }
        for v in [
            &mut st.id,
            &mut st.status,
            &mut st.proxy_status,
            &mut st.proxy_vendor,
        ] {
            *v = Value::Unknown;
        }
        st.zone_ids = Value::Unknown;
        st.vswitch_ids = Value::Unknown;
        Some((st, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        // Another instance (also one being replaced, whose id is unknown until applied) is a
        // new connection: this resource is replaced, which forgets the old one.
        if proposed.instance_id.is_unknown()
            || prior.argument("instance_id") != proposed.argument("instance_id")
        {
            return Some((proposed, private, vec![AttributePath::new("instance_id")]));
        }
        for name in ARGUMENTS {
            // After an import the values the API never returns are null: taking the configured
            // ones changes nothing. An unknown value is checked again when it is known.
            if prior.is_null(name) || proposed.is_unknown(name) {
                continue;
            }
            if prior.argument(name) != proposed.argument(name) {
                diags.error(
                    format!("{name} cannot change"),
                    format!("An external instance's proxy connection cannot be changed or undone in the cloud. To connect differently, replace the instance: terraform apply -replace=<the kms_instance address>. (changing {name})"),
                    AttributePath::new(name),
                );
            }
        }
        Some((proposed, private, vec![]))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        Some(private)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let mut st = planned;
        let id = s(&st.instance_id).unwrap_or_default().to_string();
        let deadline = Instant::now() + enable::create_timeout(&st.timeouts);
        // A connection whose create timed out (tainted, then replaced) is already under way in
        // the cloud: wait for it instead of connecting twice.
        let under_way = match cfg.client.find_kms_instance(&id).await {
            Ok(Some(i)) => {
                !i.xki.connectivity.is_empty()
                    && matches!(i.status.as_str(), "Connecting" | "Connected")
            }
            _ => false,
        };
        if under_way {
            diags.root_warning(
                format!("Instance {id} is already connected to an XKI proxy"),
                "Its connection is waited for, not made again; the cloud has no way to change it (replace the kms_instance to connect differently).",
            );
        } else if let Err(e) = cfg.client.connect_xki(&id, &st.connect_request()).await {
            diags.root_error(
                format!("Connect instance {id} to its XKI proxy failed"),
                detail(&e),
            );
            return None;
        }
        let client = &cfg.client;
        match enable::wait_connected(client, &id, deadline, cfg.poll_interval).await {
            Ok(i) => {
                st.apply_info(&i);
                Some((st, private))
            }
            Err(e) => {
                if let Ok(Some(i)) = client.find_kms_instance(&id).await {
                    st.apply_info(&i);
                }
                for v in [
                    &mut st.id,
                    &mut st.status,
                    &mut st.proxy_status,
                    &mut st.proxy_vendor,
                ] {
                    null_if_unknown(v);
                }
                null_if_unknown(&mut st.zone_ids);
                null_if_unknown(&mut st.vswitch_ids);
                let msg = enable::wait_failure(&e, "connection", "S44", detail);
                diags.root_error(
                    format!("Connect instance {id} to its XKI proxy: enablement did not finish"),
                    msg,
                );
                Some((st, private))
            }
        }
    }

    async fn update<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: Self::State<'a>,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        // Only values the API never returns (after an import) or a fingerprint's spelling reach
        // here: nothing to send.
        Some((planned, private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        enable::forget(
            diags,
            "XKI proxy connection",
            s(&prior.id),
            "connected to its XKI proxy",
        );
        Some(())
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let id = enable::import_id(diags, id, "an external proxy connection")?;
        Some((
            State {
                id,
                ..Default::default()
            },
            ValueEmpty::default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(st: &State) -> Vec<String> {
        let mut d = Diagnostics::default();
        check(st, &mut d);
        d.errors.iter().map(|e| e.summary.to_string()).collect()
    }

    const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    fn manual() -> State<'static> {
        State {
            connectivity: text("public_endpoint"),
            proxy_domain_name: text("xki.example"),
            proxy_path: text("/xki"),
            certificate_fingerprint: text(FP),
            access_key_id: text("ak"),
            access_key_secret: text("sk"),
            ..Default::default()
        }
    }

    #[test]
    fn fingerprints_normalise_across_case_and_separators_only_when_64_hex() {
        let want = "abcdef0123456789".repeat(4);
        assert_eq!(normalise_fingerprint(FP).as_deref(), Some(want.as_str()));
        assert_eq!(
            normalise_fingerprint(&want.to_uppercase().replace("AB", "AB-")).as_deref(),
            Some(want.as_str())
        );
        assert_eq!(normalise_fingerprint("abcd"), None);
        assert_eq!(normalise_fingerprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn a_complete_manual_configuration_passes_and_each_gap_is_named() {
        assert!(errors(&manual()).is_empty(), "{:?}", errors(&manual()));
        let st = State {
            access_key_secret: Value::Null,
            ..manual()
        };
        assert_eq!(errors(&st), ["Missing access_key_secret"]);
        let st = State {
            certificate_fingerprint: text("12:34"),
            proxy_path: text("xki"),
            ..manual()
        };
        assert_eq!(
            errors(&st),
            ["Invalid certificate_fingerprint", "Invalid proxy_path"]
        );
        let st = State {
            connectivity: text("internet"),
            ..manual()
        };
        assert_eq!(errors(&st), ["Invalid connectivity"]);
        let st = State {
            connectivity: text("vpc_endpoint_service"),
            ..manual()
        };
        assert_eq!(
            errors(&st),
            [
                "Missing endpoint_service_id",
                "proxy_domain_name does not apply"
            ]
        );
    }

    #[test]
    fn configuration_file_is_exclusive_with_manual_fields_and_checked_by_field() {
        let st = State {
            config_file: text("{}"),
            ..manual()
        };
        assert_eq!(
            errors(&st),
            ["Two proxy configurations", "Invalid config_file"]
        );
        let st = State {
            connectivity: text("public_endpoint"),
            proxy_domain_name: text("xki.example"),
            ..Default::default()
        };
        assert_eq!(errors(&st), ["Missing proxy configuration"]);
        let good = format!(
            r#"{{"ProxyPath":"/xki","CertificateFingerprint":"{FP}","AccessKeyId":"a","AccessKeySecret":"topsecret"}}"#
        );
        assert_eq!(check_config_file(&good), Ok(()));
        let missing = good.replace(r#","AccessKeyId":"a""#, "");
        assert_eq!(
            check_config_file(&missing),
            Err("AccessKeyId is missing.".into())
        );
        let extra = good.replace("{", r#"{"Vendor":"x","#);
        assert!(check_config_file(&extra)
            .unwrap_err()
            .contains("\"Vendor\""));
        let bad_fp = good.replace(FP, "nope");
        let err = check_config_file(&bad_fp).unwrap_err();
        assert!(err.contains("CertificateFingerprint"), "{err}");
        assert!(!err.contains("topsecret"));
        assert!(check_config_file("not json")
            .unwrap_err()
            .starts_with("not JSON"));
    }
}
