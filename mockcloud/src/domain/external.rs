//! Enablement of an external instance: connecting it to an XKI proxy in front of an off-cloud HSM
//! (S40-S45). The checks of a request (connectivity, endpoint service, proxy configuration,
//! network), what the handshake's failures mean, and the refusals of cryptographic operations
//! whose proxy is unavailable. Pure: the backend looks up the world's facts, talks to the proxy
//! and passes the results in.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::clock::MINUTE;
use crate::error::ApiError;
use crate::world::{EndpointServiceSpec, Region};
use crate::xki::XkiError;

use super::connect::{plan_network, ConnectPlan, ConnectRequest, VpcView};
use super::instance::{Instance, ManagementType};

/// S44: about 30 minutes with a secret quota, about 10 without.
pub const XKI_ENABLE_WITH_SECRETS_MS: i64 = 30 * MINUTE;
pub const XKI_ENABLE_MS: i64 = 10 * MINUTE;

/// How the instance reaches its proxy (S41).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum XkiConnectivity {
    /// Over the public internet, at the proxy's domain name.
    PublicEndpoint,
    /// Through a VPC endpoint service (PrivateLink).
    VpcEndpointService,
}

impl XkiConnectivity {
    pub fn as_str(self) -> &'static str {
        match self {
            XkiConnectivity::PublicEndpoint => "PublicEndpoint",
            XkiConnectivity::VpcEndpointService => "VpcEndpointService",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PublicEndpoint" => Some(XkiConnectivity::PublicEndpoint),
            "VpcEndpointService" => Some(XkiConnectivity::VpcEndpointService),
            _ => None,
        }
    }
}

/// Where the proxy configuration came from (S42).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum XkiConfigSource {
    Manual,
    ConfigFile,
}

impl XkiConfigSource {
    pub fn as_str(self) -> &'static str {
        match self {
            XkiConfigSource::Manual => "Manual",
            XkiConfigSource::ConfigFile => "ConfigFile",
        }
    }
}

/// An external instance's proxy, as stored with its connection. The access key secret is
/// sealed by the backend under the data directory's master key.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct XkiBinding {
    pub connectivity: XkiConnectivity,
    /// With `PublicEndpoint`; empty otherwise.
    pub proxy_domain_name: String,
    /// With `VpcEndpointService`; empty otherwise.
    pub endpoint_service_id: String,
    pub proxy_path: String,
    /// Normalised: 64 lowercase hex digits.
    pub certificate_fingerprint: String,
    pub access_key_id: String,
    pub sealed_access_key_secret: String,
    pub config_source: XkiConfigSource,
    /// The vendor the proxy reported in the enablement's handshake.
    pub vendor: String,
}

impl std::fmt::Debug for XkiBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XkiBinding")
            .field("connectivity", &self.connectivity)
            .field("proxy_domain_name", &self.proxy_domain_name)
            .field("endpoint_service_id", &self.endpoint_service_id)
            .field("proxy_path", &self.proxy_path)
            .field("certificate_fingerprint", &self.certificate_fingerprint)
            .field("access_key_id", &self.access_key_id)
            .field("config_source", &self.config_source)
            .field("vendor", &self.vendor)
            .finish()
    }
}

/// The XKI parameters of `ConnectKmsInstance` with `KMProvider=XKI`, as given. Debug shows
/// which are present, never their values.
#[derive(Clone, Default)]
pub struct XkiParams {
    pub connectivity: Option<String>,
    pub proxy_domain_name: Option<String>,
    pub endpoint_service_id: Option<String>,
    pub proxy_path: Option<String>,
    pub certificate_fingerprint: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    /// The content of the configuration file (S42, JSON).
    pub config_file: Option<String>,
}

/// The wire names of the XKI parameters, for refusing them on other kinds of enablement.
pub const XKI_PARAMETERS: [&str; 8] = [
    "XkiConnectivity",
    "XkiProxyDomainName",
    "XkiEndpointServiceId",
    "XkiProxyPath",
    "XkiCertificateFingerprint",
    "XkiAccessKeyId",
    "XkiAccessKeySecret",
    "XkiConfigFile",
];

const MANUAL_PARAMETERS: [&str; 4] = [
    "XkiProxyPath",
    "XkiCertificateFingerprint",
    "XkiAccessKeyId",
    "XkiAccessKeySecret",
];

impl XkiParams {
    fn manual(&self) -> [(&'static str, Option<&str>); 4] {
        [
            (MANUAL_PARAMETERS[0], self.proxy_path.as_deref()),
            (
                MANUAL_PARAMETERS[1],
                self.certificate_fingerprint.as_deref(),
            ),
            (MANUAL_PARAMETERS[2], self.access_key_id.as_deref()),
            (MANUAL_PARAMETERS[3], self.access_key_secret.as_deref()),
        ]
    }

    /// The parameters present, by wire name.
    fn present(&self) -> Vec<&'static str> {
        let all = [
            &self.connectivity,
            &self.proxy_domain_name,
            &self.endpoint_service_id,
            &self.proxy_path,
            &self.certificate_fingerprint,
            &self.access_key_id,
            &self.access_key_secret,
            &self.config_file,
        ];
        XKI_PARAMETERS
            .iter()
            .zip(all)
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect()
    }
}

impl std::fmt::Debug for XkiParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XkiParams")
            .field("present", &self.present())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct XkiConnectRequest {
    /// `VpcId`, `ZoneIds`, `VSwitchIds`, checked as for software (S43).
    pub network: ConnectRequest,
    pub xki: XkiParams,
}

/// What the backend looked up in the world for the request.
pub struct XkiFacts<'a> {
    /// Where `XkiProxyDomainName` resolves to, if it does.
    pub domain_address: Option<SocketAddr>,
    /// The endpoint service named by `XkiEndpointServiceId`, if it exists (in any region).
    pub endpoint_service: Option<&'a EndpointServiceSpec>,
}

/// The proxy configuration (S42), checked; the secret in the clear for the handshake and for
/// sealing. Debug redacts it.
#[derive(Clone, PartialEq)]
pub struct ProxyConfiguration {
    pub path: String,
    pub fingerprint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub source: XkiConfigSource,
}

impl std::fmt::Debug for ProxyConfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfiguration")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// An accepted enablement request: the network, where the proxy is, and its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct XkiPlan {
    pub network: ConnectPlan,
    pub connectivity: XkiConnectivity,
    pub proxy_domain_name: String,
    pub endpoint_service_id: String,
    /// The proxy's local address: what the domain name resolves to, or the endpoint service's
    /// target.
    pub address: SocketAddr,
    /// TLS server name and Host: the domain name, or the endpoint service id.
    pub server_name: String,
    pub config: ProxyConfiguration,
    pub duration_ms: i64,
}

impl XkiPlan {
    /// How messages name the proxy: its domain name or endpoint service, and the address.
    pub fn describe(&self) -> String {
        describe_route(
            self.connectivity,
            &self.proxy_domain_name,
            &self.endpoint_service_id,
        )
    }

    /// The binding to store, with the sealed secret and the vendor from the handshake.
    pub fn binding(&self, sealed_access_key_secret: String, vendor: &str) -> XkiBinding {
        XkiBinding {
            connectivity: self.connectivity,
            proxy_domain_name: self.proxy_domain_name.clone(),
            endpoint_service_id: self.endpoint_service_id.clone(),
            proxy_path: self.config.path.clone(),
            certificate_fingerprint: self.config.fingerprint.clone(),
            access_key_id: self.config.access_key_id.clone(),
            sealed_access_key_secret,
            config_source: self.config.source,
            vendor: vendor.to_string(),
        }
    }
}

pub fn describe_route(connectivity: XkiConnectivity, domain: &str, service: &str) -> String {
    match connectivity {
        XkiConnectivity::PublicEndpoint => format!("public endpoint {domain}"),
        XkiConnectivity::VpcEndpointService => format!("endpoint service {service}"),
    }
}

/// Checks an external enablement request: the instance's kind, the connectivity parameters,
/// the proxy configuration (manual or file), the network as for software (S43), then the
/// connectivity against the world: the domain name resolves, or the endpoint service exists in
/// the instance's region, has the account on its allowlist, accepts connections automatically
/// and has exactly the instance's zones (S41), in that order. Nothing is changed here.
pub fn plan_external_connect(
    inst: &Instance,
    req: &XkiConnectRequest,
    region: &Region,
    vpc: Option<&VpcView>,
    facts: &XkiFacts<'_>,
    pick: impl FnMut(usize) -> usize,
) -> Result<XkiPlan, ApiError> {
    if inst.management_type != ManagementType::External {
        return Err(ApiError::Rejected {
            code: "Rejected.UnsupportedOperation",
            message: format!(
                "ConnectKmsInstance with KMProvider=XKI enables external key management instances only; the management type of {} is {:?}.",
                inst.id, inst.management_type
            ),
        });
    }
    let p = &req.xki;
    let connectivity = match p.connectivity.as_deref() {
        None | Some("") => return Err(ApiError::missing("XkiConnectivity")),
        Some(c) => XkiConnectivity::parse(c).ok_or_else(|| {
            ApiError::invalid(
                "XkiConnectivity",
                format!("{c:?}: use PublicEndpoint or VpcEndpointService"),
            )
        })?,
    };
    let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).is_some();
    let (needed, refused) = match connectivity {
        XkiConnectivity::PublicEndpoint => ("XkiProxyDomainName", "XkiEndpointServiceId"),
        XkiConnectivity::VpcEndpointService => ("XkiEndpointServiceId", "XkiProxyDomainName"),
    };
    let (needed_value, refused_value) = match connectivity {
        XkiConnectivity::PublicEndpoint => (&p.proxy_domain_name, &p.endpoint_service_id),
        XkiConnectivity::VpcEndpointService => (&p.endpoint_service_id, &p.proxy_domain_name),
    };
    if refused_value.is_some() {
        return Err(ApiError::invalid(
            refused,
            format!(
                "applies to XkiConnectivity={} only; this request uses {}",
                match connectivity {
                    XkiConnectivity::PublicEndpoint => "VpcEndpointService",
                    XkiConnectivity::VpcEndpointService => "PublicEndpoint",
                },
                connectivity.as_str()
            ),
        ));
    }
    if !given(needed_value) {
        return Err(ApiError::missing(needed));
    }
    let config = proxy_configuration(p)?;
    // With an endpoint service, zones the request leaves to the cloud come from the service's
    // own list (in its order) rather than at random, so the S41 zone check does not depend on a
    // draw; the check below still refuses a service whose zones differ from the instance's.
    let mut network_req = req.network.clone();
    if connectivity == XkiConnectivity::VpcEndpointService {
        if let Some(svc) = facts.endpoint_service {
            let wanted = inst.deployment_mode.zone_count();
            for z in &svc.zones {
                if network_req.zone_ids.len() >= wanted {
                    break;
                }
                if !network_req.zone_ids.contains(z) && !network_req.zone_ids.is_empty() {
                    network_req.zone_ids.push(z.clone());
                }
            }
        }
    }
    let network = plan_network(inst, &network_req, region, vpc, pick)?;
    let (address, server_name, domain, service) = match connectivity {
        XkiConnectivity::PublicEndpoint => {
            let name = p.proxy_domain_name.clone().unwrap_or_default();
            let address = facts
                .domain_address
                .ok_or_else(|| ApiError::XkiProxyDomainName { name: name.clone() })?;
            (address, name.clone(), name, String::new())
        }
        XkiConnectivity::VpcEndpointService => {
            let id = p.endpoint_service_id.clone().unwrap_or_default();
            let svc = check_endpoint_service(&id, inst, &network.zone_ids, facts)?;
            (svc.target, id.clone(), String::new(), id)
        }
    };
    let duration_ms = if inst.capacity.secret_num > 0 {
        XKI_ENABLE_WITH_SECRETS_MS
    } else {
        XKI_ENABLE_MS
    };
    Ok(XkiPlan {
        network,
        connectivity,
        proxy_domain_name: domain,
        endpoint_service_id: service,
        address,
        server_name,
        config,
        duration_ms,
    })
}

/// S41: the endpoint service exists in the instance's region, has the account on its
/// allowlist, accepts connections automatically and serves exactly the instance's zones.
fn check_endpoint_service<'a>(
    id: &str,
    inst: &Instance,
    zone_ids: &[String],
    facts: &XkiFacts<'a>,
) -> Result<&'a EndpointServiceSpec, ApiError> {
    let svc = facts
        .endpoint_service
        .filter(|s| s.id == id && s.region == inst.region_id)
        .ok_or_else(|| ApiError::XkiEndpointServiceNotFound {
            id: id.to_string(),
            region: inst.region_id.clone(),
        })?;
    if !svc.allowed_accounts.contains(&inst.account_id) {
        return Err(ApiError::XkiEndpointServiceAllowlist {
            id: id.to_string(),
            account: inst.account_id.clone(),
        });
    }
    if !svc.auto_accept {
        return Err(ApiError::XkiEndpointServiceAutoAccept { id: id.to_string() });
    }
    // Deviation: the seed says the zones must match; the mock compares them as sets (any
    // order), and the service's zone list is the world's, not PrivateLink's.
    let mut theirs = svc.zones.clone();
    let mut ours = zone_ids.to_vec();
    theirs.sort();
    ours.sort();
    if theirs != ours {
        return Err(ApiError::XkiEndpointServiceZones {
            id: id.to_string(),
            service_zones: svc.zones.clone(),
            instance_zones: zone_ids.to_vec(),
        });
    }
    Ok(svc)
}

/// S42: the manual parameters (all four) or the configuration file, not both and not neither.
fn proxy_configuration(p: &XkiParams) -> Result<ProxyConfiguration, ApiError> {
    let manual = p.manual();
    let manual_given: Vec<&str> = manual
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(n, _)| *n)
        .collect();
    match (&p.config_file, manual_given.is_empty()) {
        (Some(_), false) => Err(ApiError::invalid(
            "XkiConfigFile",
            format!(
                "give either XkiConfigFile or the manual configuration ({}), not both; {} given with it",
                MANUAL_PARAMETERS.join(", "),
                manual_given.join(", ")
            ),
        )),
        (None, true) => Err(ApiError::invalid(
            "XkiConfigFile",
            format!(
                "the proxy configuration is missing: give XkiConfigFile or the manual configuration ({})",
                MANUAL_PARAMETERS.join(", ")
            ),
        )),
        (Some(file), true) => parse_config_file(file),
        (None, false) => {
            if let Some((missing, _)) = manual.iter().find(|(_, v)| v.is_none()) {
                return Err(ApiError::missing(*missing));
            }
            let [path, fingerprint, id, secret] = manual.map(|(_, v)| v.unwrap_or_default());
            fn invalid(name: &'static str) -> impl Fn(String) -> ApiError {
                move |reason| ApiError::invalid(name, reason)
            }
            check_proxy_path(path).map_err(invalid("XkiProxyPath"))?;
            let fingerprint = crate::xki::normalise_fingerprint(fingerprint).ok_or_else(|| {
                ApiError::XkiCertificateFingerprint {
                    reason: FINGERPRINT_FORMAT.into(),
                }
            })?;
            check_access_key_id(id).map_err(invalid("XkiAccessKeyId"))?;
            check_access_key_secret(secret).map_err(invalid("XkiAccessKeySecret"))?;
            Ok(ProxyConfiguration {
                path: path.to_string(),
                fingerprint,
                access_key_id: id.to_string(),
                access_key_secret: secret.to_string(),
                source: XkiConfigSource::Manual,
            })
        }
    }
}

const FINGERPRINT_FORMAT: &str = "a certificate fingerprint is the SHA-256 of the certificate's DER: 64 hex digits, optionally separated by ':', '-' or spaces";

/// The fields of the configuration file, in the order they are checked.
// Deviation: the real XKI Proxy's configuration file format is not public; this one is the
// mock's (contract section 4).
const CONFIG_FIELDS: [&str; 4] = [
    "ProxyPath",
    "CertificateFingerprint",
    "AccessKeyId",
    "AccessKeySecret",
];

/// Parses the S42 configuration file: a JSON object with exactly the four string fields
/// `ProxyPath`, `CertificateFingerprint`, `AccessKeyId` and `AccessKeySecret`. Every refusal
/// names the field at fault and never quotes a value (the file carries the secret).
pub fn parse_config_file(text: &str) -> Result<ProxyConfiguration, ApiError> {
    let refuse = |field: &str, reason: &str| ApiError::XkiConfigFile {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    // serde_json's own messages may quote the input; only its position is reported.
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        refuse(
            "(file)",
            &format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        )
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(refuse(
            "(file)",
            "must be a JSON object with ProxyPath, CertificateFingerprint, AccessKeyId and AccessKeySecret",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::XkiConfigFile {
            field: unknown.clone(),
            reason: format!(
                "unknown field; the file has {} only",
                CONFIG_FIELDS.join(", ")
            ),
        });
    }
    // A JSON object keeps the last of repeated keys; a file that says a field twice is
    // ambiguous, so it is refused (serde's message names the key, not its values).
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Once {
        #[serde(rename = "ProxyPath")]
        path: Option<serde::de::IgnoredAny>,
        #[serde(rename = "CertificateFingerprint")]
        fingerprint: Option<serde::de::IgnoredAny>,
        #[serde(rename = "AccessKeyId")]
        id: Option<serde::de::IgnoredAny>,
        #[serde(rename = "AccessKeySecret")]
        secret: Option<serde::de::IgnoredAny>,
    }
    if let Err(e) = serde_json::from_str::<Once>(text) {
        let field = CONFIG_FIELDS
            .iter()
            .find(|f| e.to_string().contains(&format!("duplicate field `{f}`")))
            .copied()
            .unwrap_or("(file)");
        return Err(refuse(field, "is given more than once"));
    }
    let mut values = Vec::with_capacity(4);
    for field in CONFIG_FIELDS {
        match map.get(field) {
            None => return Err(refuse(field, "is missing")),
            Some(serde_json::Value::String(s)) => values.push(s.as_str()),
            Some(_) => return Err(refuse(field, "must be a string")),
        }
    }
    let [path, fingerprint, id, secret] = [values[0], values[1], values[2], values[3]];
    check_proxy_path(path).map_err(|r| refuse("ProxyPath", &r))?;
    let fingerprint = crate::xki::normalise_fingerprint(fingerprint)
        .ok_or_else(|| refuse("CertificateFingerprint", FINGERPRINT_FORMAT))?;
    check_access_key_id(id).map_err(|r| refuse("AccessKeyId", &r))?;
    check_access_key_secret(secret).map_err(|r| refuse("AccessKeySecret", &r))?;
    Ok(ProxyConfiguration {
        path: path.to_string(),
        fingerprint,
        access_key_id: id.to_string(),
        access_key_secret: secret.to_string(),
        source: XkiConfigSource::ConfigFile,
    })
}

/// A proxy path: `/` and then segments of letters, digits and `-._~`, no trailing `/`.
fn check_proxy_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("must start with '/' (e.g. /xki)".into());
    };
    if path.len() > 256 {
        return Err("must be at most 256 characters".into());
    }
    if rest.is_empty() || rest.ends_with('/') {
        return Err("must name a path below '/' without a trailing '/' (e.g. /xki)".into());
    }
    if rest.split('/').any(|seg| {
        matches!(seg, "" | "." | "..")
            || !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    }) {
        return Err(
            "segments are letters, digits and - . _ ~ (not . or ..), separated by single '/'"
                .into(),
        );
    }
    Ok(())
}

fn check_access_key_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err("use letters, digits, - _ and . only".into());
    }
    Ok(())
}

/// Never quotes the value.
fn check_access_key_secret(secret: &str) -> Result<(), String> {
    if secret.is_empty() || secret.len() > 256 {
        return Err("must be 1 to 256 characters".into());
    }
    if secret.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// S40: only HSMs of Jiangnan Tianan behind the proxy.
pub fn check_vendor(vendor: &str) -> Result<(), ApiError> {
    if crate::xki::vendor_is_supported(vendor) {
        Ok(())
    } else {
        Err(ApiError::XkiVendorNotSupported {
            vendor: vendor.to_string(),
        })
    }
}

/// What a failed enablement handshake (`GetProxyInfo`) means for the request.
pub fn handshake_refusal(plan: &XkiPlan, err: &XkiError) -> ApiError {
    let target = format!("{} ({})", plan.describe(), plan.address);
    match err {
        XkiError::CertificateMismatch { presented } => ApiError::XkiCertificateFingerprint {
            reason: format!(
                "the proxy at {target} presents a certificate with fingerprint {presented}, not the configured {}",
                plan.config.fingerprint
            ),
        },
        XkiError::Unauthorized { code, .. } => ApiError::XkiAccessKey {
            access_key_id: plan.config.access_key_id.clone(),
            proxy_code: code.clone(),
            source: match plan.config.source {
                XkiConfigSource::Manual => "XkiAccessKeyId, XkiAccessKeySecret",
                XkiConfigSource::ConfigFile => {
                    "XkiConfigFile: AccessKeyId, AccessKeySecret"
                }
            },
        },
        // A proxy that has nothing at the path answers 404 NotFound (contract section 2).
        XkiError::Refused { status: 404, code, .. } if code == "NotFound" => ApiError::invalid(
            match plan.config.source {
                XkiConfigSource::Manual => "XkiProxyPath",
                XkiConfigSource::ConfigFile => "XkiConfigFile (ProxyPath)",
            },
            format!(
                "the proxy at {target} serves nothing at {}",
                plan.config.path
            ),
        ),
        XkiError::Unreachable(reason) => ApiError::XkiProxyUnreachable {
            target,
            reason: reason.clone(),
        },
        XkiError::Timeout(d) => ApiError::XkiProxyUnreachable {
            target,
            reason: format!("no answer within {} ms", d.as_millis()),
        },
        XkiError::Refused { status, code, .. } => ApiError::XkiProxyUnreachable {
            target,
            reason: format!("it answered {status} {code}"),
        },
        XkiError::Protocol(reason) => ApiError::XkiProxyUnreachable {
            target,
            reason: format!("it does not speak the XKI protocol: {reason}"),
        },
    }
}

/// Why a proxy call failed, in words for messages and `XkiProxyError` (no secrets: the
/// client's errors carry none).
pub fn failure_reason(err: &XkiError) -> String {
    match err {
        XkiError::Timeout(d) => format!("timeout: no answer within {} ms", d.as_millis()),
        XkiError::Unreachable(reason) => format!("unreachable: {reason}"),
        XkiError::CertificateMismatch { presented } => format!(
            "certificate: the proxy presents a certificate with fingerprint {presented}, not the pinned one"
        ),
        XkiError::Unauthorized { code, .. } => {
            format!("credentials: the proxy refused the access key ({code})")
        }
        XkiError::Refused { status, code, .. } => format!("the proxy answered {status} {code}"),
        XkiError::Protocol(reason) => format!("protocol: {reason}"),
    }
}

/// S45: a cryptographic operation of an external key whose proxy failed. The key and the
/// instance stay as they are; nothing falls back to local material.
pub fn crypto_refusal(instance_id: &str, err: &XkiError) -> ApiError {
    ApiError::XkiProxyUnavailable {
        instance: instance_id.to_string(),
        reason: failure_reason(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::connect::VSwitchView;

    const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
    const FP_NORMAL: &str = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    fn inst(secret_num: u32) -> Instance {
        let mut i: Instance = serde_json::from_value(serde_json::json!({
            "id": "kst-1", "account_id": "111", "region_id": "r", "management_type": "external",
            "deployment_mode": "dual_zone",
            "capacity": {"spec": 1000, "key_num": 1000, "secret_num": 0, "vpc_num": 1, "log": false, "log_storage": 0},
            "instance_backup": false, "expert_service": false, "product_type": "p", "period_months": 1,
            "renew_status": "ManualRenewal", "renew_period_months": 1, "purchased_at": 0, "visible_at": 0,
            "end_at": 1, "name": "kst-1", "connection": null, "released_at": null, "deletion_protection": false
        }))
        .unwrap();
        i.capacity.secret_num = secret_num;
        i
    }

    fn region() -> Region {
        Region {
            id: "r".into(),
            code: "rrr".into(),
            mainland: true,
            zones: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    fn vpc() -> VpcView {
        VpcView {
            id: "vpc".into(),
            vswitches: ["a", "b", "c"]
                .iter()
                .map(|z| VSwitchView {
                    id: format!("vsw-{z}"),
                    zone: z.to_string(),
                    free_ips: 1,
                })
                .collect(),
        }
    }

    fn service(zones: &[&str], accounts: &[&str], auto_accept: bool) -> EndpointServiceSpec {
        EndpointServiceSpec {
            id: "epsrv".into(),
            region: "r".into(),
            zones: zones.iter().map(|s| s.to_string()).collect(),
            allowed_accounts: accounts.iter().map(|s| s.to_string()).collect(),
            auto_accept,
            target: "127.0.0.1:9444".parse().unwrap(),
        }
    }

    fn manual() -> XkiParams {
        XkiParams {
            connectivity: Some("PublicEndpoint".into()),
            proxy_domain_name: Some("proxy.test".into()),
            proxy_path: Some("/xki".into()),
            certificate_fingerprint: Some(FP.into()),
            access_key_id: Some("ak".into()),
            access_key_secret: Some("very-secret-value".into()),
            ..XkiParams::default()
        }
    }

    fn req(xki: XkiParams) -> XkiConnectRequest {
        XkiConnectRequest {
            network: ConnectRequest {
                vpc_id: "vpc".into(),
                zone_ids: vec!["b".into(), "a".into()],
                vswitch_ids: vec!["vsw-b".into(), "vsw-a".into()],
            },
            xki,
        }
    }

    fn resolved() -> XkiFacts<'static> {
        XkiFacts {
            domain_address: Some("127.0.0.1:9444".parse().unwrap()),
            endpoint_service: None,
        }
    }

    fn plan(inst: &Instance, r: &XkiConnectRequest, facts: &XkiFacts) -> Result<XkiPlan, ApiError> {
        plan_external_connect(inst, r, &region(), Some(&vpc()), facts, |_| 0)
    }

    #[test]
    fn public_endpoint_with_manual_configuration_normalises_the_fingerprint() {
        let p = plan(&inst(0), &req(manual()), &resolved()).unwrap();
        assert_eq!(p.connectivity, XkiConnectivity::PublicEndpoint);
        assert_eq!(p.server_name, "proxy.test");
        assert_eq!(p.config.fingerprint, FP_NORMAL);
        assert_eq!(p.config.source, XkiConfigSource::Manual);
        assert_eq!(p.network.zone_ids, ["b", "a"]);
        assert!(
            !format!("{p:?}").contains("very-secret-value"),
            "Debug redacts"
        );
    }

    #[test]
    fn enablement_takes_thirty_minutes_with_a_secret_quota_and_ten_without() {
        let r = req(manual());
        assert_eq!(
            plan(&inst(0), &r, &resolved()).unwrap().duration_ms,
            10 * MINUTE
        );
        assert_eq!(
            plan(&inst(100), &r, &resolved()).unwrap().duration_ms,
            30 * MINUTE
        );
    }

    #[test]
    fn only_external_instances_connect_with_xki() {
        let mut i = inst(0);
        i.management_type = ManagementType::Software;
        let e = plan(&i, &req(manual()), &resolved()).unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("Rejected.UnsupportedOperation", 409)
        );
    }

    #[test]
    fn connectivity_parameters_are_required_and_refused_by_mode() {
        let mut p = manual();
        p.connectivity = None;
        assert_eq!(
            plan(&inst(0), &req(p), &resolved()).unwrap_err().message(),
            ApiError::missing("XkiConnectivity").message()
        );
        let mut p = manual();
        p.connectivity = Some("Internet".into());
        assert!(plan(&inst(0), &req(p), &resolved())
            .unwrap_err()
            .message()
            .contains("XkiConnectivity"));
        let mut p = manual();
        p.endpoint_service_id = Some("epsrv".into());
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert_eq!(e.code(), "InvalidParameter");
        assert!(e.message().contains("XkiEndpointServiceId"), "{e}");
        let mut p = manual();
        p.proxy_domain_name = None;
        assert_eq!(
            plan(&inst(0), &req(p), &resolved()).unwrap_err().code(),
            "MissingParameter"
        );
        let mut p = manual();
        p.connectivity = Some("VpcEndpointService".into());
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert!(e.message().contains("XkiProxyDomainName"), "{e}");
    }

    #[test]
    fn an_unresolvable_domain_name_is_refused() {
        let facts = XkiFacts {
            domain_address: None,
            endpoint_service: None,
        };
        let e = plan(&inst(0), &req(manual()), &facts).unwrap_err();
        assert_eq!(e.code(), "InvalidParameter.XkiProxyDomainName");
        assert!(e.message().contains("proxy.test") && e.message().contains("does not resolve"));
    }

    #[test]
    fn endpoint_service_checks_come_in_order() {
        let mut p = manual();
        p.connectivity = Some("VpcEndpointService".into());
        p.proxy_domain_name = None;
        p.endpoint_service_id = Some("epsrv".into());
        let r = req(p);
        let check = |svc: Option<&EndpointServiceSpec>| {
            plan(
                &inst(0),
                &r,
                &XkiFacts {
                    domain_address: None,
                    endpoint_service: svc,
                },
            )
        };
        assert_eq!(
            check(None).unwrap_err().code(),
            "InvalidParameter.XkiEndpointServiceId"
        );
        let mut elsewhere = service(&["a", "b"], &["111"], true);
        elsewhere.region = "other".into();
        assert_eq!(
            check(Some(&elsewhere)).unwrap_err().code(),
            "InvalidParameter.XkiEndpointServiceId"
        );
        // Every check fails here: the allowlist is reported first.
        let e = check(Some(&service(&["c"], &[], false))).unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("Forbidden.XkiEndpointServiceAllowlist", 403)
        );
        let e = check(Some(&service(&["c"], &["111"], false))).unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("Rejected.XkiEndpointServiceAutoAccept", 400)
        );
        let e = check(Some(&service(&["a", "c"], &["111"], true))).unwrap_err();
        assert_eq!(e.code(), "InvalidParameter.XkiEndpointServiceZones");
        assert!(
            e.message().contains("[a, c]") && e.message().contains("[b, a]"),
            "{e}"
        );
        let ok = check(Some(&service(&["a", "b"], &["111"], true))).unwrap();
        // Zones left to the cloud come from the service's list, not from a draw.
        let mut one_zone = r.clone();
        one_zone.network.zone_ids.truncate(1);
        one_zone.network.vswitch_ids.truncate(1);
        let filled = plan_external_connect(
            &inst(0),
            &one_zone,
            &region(),
            Some(&vpc()),
            &XkiFacts {
                domain_address: None,
                endpoint_service: Some(&service(&["c", "b"], &["111"], true)),
            },
            |_| 0,
        )
        .unwrap();
        assert_eq!(filled.network.zone_ids, ["b", "c"]);
        assert_eq!(ok.server_name, "epsrv");
        assert_eq!(ok.endpoint_service_id, "epsrv");
        assert_eq!(ok.proxy_domain_name, "");
    }

    #[test]
    fn network_checks_are_the_software_ones() {
        let mut r = req(manual());
        r.network.vswitch_ids = vec!["vsw-a".into()];
        assert_eq!(
            plan(&inst(0), &r, &resolved()).unwrap_err().code(),
            "InvalidParameter.VSwitchZoneMismatch"
        );
        let e = plan_external_connect(
            &inst(0),
            &req(manual()),
            &region(),
            None,
            &resolved(),
            |_| 0,
        )
        .unwrap_err();
        assert_eq!(e.code(), "InvalidVpcId.NotFound");
    }

    #[test]
    fn manual_and_file_configuration_exclude_each_other() {
        let mut p = manual();
        p.config_file = Some("{}".into());
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert!(
            e.message().contains("XkiConfigFile") && e.message().contains("XkiProxyPath"),
            "{e}"
        );
        let p = XkiParams {
            connectivity: Some("PublicEndpoint".into()),
            proxy_domain_name: Some("proxy.test".into()),
            ..XkiParams::default()
        };
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert!(
            e.message().contains("XkiConfigFile") && e.message().contains("XkiAccessKeyId"),
            "{e}"
        );
        let mut p = manual();
        p.access_key_secret = None;
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert_eq!(
            e.message(),
            ApiError::missing("XkiAccessKeySecret").message()
        );
    }

    #[test]
    fn manual_values_are_checked_naming_the_parameter() {
        let mut p = manual();
        p.certificate_fingerprint = Some("abc".into());
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert_eq!(e.code(), "InvalidParameter.XkiCertificateFingerprint");
        for (path, ok) in [
            ("/xki", true),
            ("/a/b-c", true),
            ("xki", false),
            ("/", false),
            ("/xki/", false),
            ("/a//b", false),
        ] {
            let mut p = manual();
            p.proxy_path = Some(path.into());
            let r = plan(&inst(0), &req(p), &resolved());
            assert_eq!(r.is_ok(), ok, "{path}");
            if let Err(e) = r {
                assert!(e.message().contains("XkiProxyPath"), "{e}");
            }
        }
        let mut p = manual();
        p.access_key_secret = Some("bad\nsecret".into());
        let e = plan(&inst(0), &req(p), &resolved()).unwrap_err();
        assert!(e.message().contains("XkiAccessKeySecret") && !e.message().contains("bad\nsecret"));
    }

    fn file(v: serde_json::Value) -> String {
        v.to_string()
    }

    #[test]
    fn config_file_gives_the_same_configuration() {
        let text = file(serde_json::json!({
            "ProxyPath": "/xki", "CertificateFingerprint": FP_NORMAL.to_uppercase(),
            "AccessKeyId": "ak", "AccessKeySecret": "very-secret-value"
        }));
        let p = XkiParams {
            connectivity: Some("PublicEndpoint".into()),
            proxy_domain_name: Some("proxy.test".into()),
            config_file: Some(text),
            ..XkiParams::default()
        };
        let plan = plan(&inst(0), &req(p), &resolved()).unwrap();
        assert_eq!(plan.config.source, XkiConfigSource::ConfigFile);
        assert_eq!(plan.config.fingerprint, FP_NORMAL);
        assert_eq!(plan.config.access_key_secret, "very-secret-value");
    }

    #[test]
    fn malformed_config_files_name_the_field_and_never_the_secret() {
        let good = serde_json::json!({
            "ProxyPath": "/xki", "CertificateFingerprint": FP,
            "AccessKeyId": "ak", "AccessKeySecret": "very-secret-value"
        });
        let with = |k: &str, v: serde_json::Value| {
            let mut g = good.clone();
            g[k] = v;
            file(g)
        };
        let without = |k: &str| {
            let mut g = good.clone();
            g.as_object_mut().unwrap().remove(k);
            file(g)
        };
        let cases = [
            ("{\"ProxyPath\": \"very-secret-value".to_string(), "(file)"),
            ("[1, 2]".to_string(), "(file)"),
            (without("AccessKeySecret"), "AccessKeySecret"),
            (
                with("AccessKeySecret", serde_json::json!(12345)),
                "AccessKeySecret",
            ),
            (with("ProxyPath", serde_json::json!("xki")), "ProxyPath"),
            (
                with("CertificateFingerprint", serde_json::json!("not-hex")),
                "CertificateFingerprint",
            ),
            (with("AccessKeyId", serde_json::json!("")), "AccessKeyId"),
            (with("Extra", serde_json::json!("x")), "Extra"),
            (
                format!(
                    r#"{{"ProxyPath":"/xki","CertificateFingerprint":"{FP}","AccessKeyId":"ak","AccessKeySecret":"very-secret-value","AccessKeySecret":"other"}}"#
                ),
                "AccessKeySecret",
            ),
        ];
        for (text, field) in cases {
            let e = parse_config_file(&text).unwrap_err();
            assert_eq!(e.code(), "InvalidParameter.XkiConfigFile", "{text}");
            let m = e.message();
            assert!(m.contains(&format!("field {field}")), "{text} -> {m}");
            assert!(
                !m.contains("very-secret-value") && !m.contains("12345"),
                "{m}"
            );
        }
    }

    #[test]
    fn the_vendor_must_be_jiangnan_tianan() {
        assert!(check_vendor("Jiangnan Tianan").is_ok());
        assert!(check_vendor("jiangnan-tianan").is_ok());
        let e = check_vendor("Sansec").unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("Forbidden.XkiVendorNotSupported", 403)
        );
        assert!(e.message().contains("Sansec"));
    }

    #[test]
    fn handshake_failures_map_to_their_codes() {
        let p = plan(&inst(0), &req(manual()), &resolved()).unwrap();
        let e = handshake_refusal(
            &p,
            &XkiError::CertificateMismatch {
                presented: "ff".repeat(32),
            },
        );
        assert_eq!(e.code(), "InvalidParameter.XkiCertificateFingerprint");
        assert!(e.message().contains(&"ff".repeat(32)) && e.message().contains(FP_NORMAL));
        let e = handshake_refusal(
            &p,
            &XkiError::Unauthorized {
                code: "SignatureDoesNotMatch".into(),
                message: "m".into(),
            },
        );
        assert_eq!(e.code(), "InvalidParameter.XkiAccessKey");
        assert!(
            e.message().contains("SignatureDoesNotMatch")
                && !e.message().contains("very-secret-value")
        );
        for err in [
            XkiError::Unreachable("connection refused".into()),
            XkiError::Timeout(std::time::Duration::from_secs(3)),
        ] {
            let e = handshake_refusal(&p, &err);
            assert_eq!(
                (e.code(), e.status()),
                ("Rejected.XkiProxyUnreachable", 400)
            );
            assert!(e.message().contains("proxy.test"));
        }
        let e = handshake_refusal(
            &p,
            &XkiError::Refused {
                status: 404,
                code: "NotFound".into(),
                message: "m".into(),
            },
        );
        assert!(e.message().contains("XkiProxyPath"));
        let e = crypto_refusal(
            "kst-1",
            &XkiError::Timeout(std::time::Duration::from_millis(200)),
        );
        assert_eq!(
            (e.code(), e.status()),
            ("Rejected.XkiProxyUnavailable", 400)
        );
        assert!(e.message().contains("kst-1") && e.message().contains("timeout"));
    }
}
