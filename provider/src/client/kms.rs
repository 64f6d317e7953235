//! Typed calls for KMS instances (KMS 2016-01-20 and BssOpenApi 2017-12-14). Resources use these
//! and never build requests themselves. [`Client::find_kms_instance`] is the one place that maps
//! "not found" to `None`.

use serde_json::Value;

use super::{ApiError, Client, Product};

/// What GetKmsInstance says about an instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub vpc_id: String,
    pub zone_ids: Vec<String>,
    pub vswitch_ids: Vec<String>,
    pub spec: i64,
    pub key_num: i64,
    pub secret_num: i64,
    pub vpc_num: i64,
    pub log: bool,
    pub log_storage: i64,
    pub product_version: String,
    pub deployment_mode: Option<String>,
    pub instance_backup: Option<bool>,
    pub expert_service: Option<bool>,
    pub ca_certificate_pem: String,
    pub start_date: String,
    pub end_date: String,
    pub deletion_protection: bool,
    /// From `KmsInstanceArn` (`acs:kms:<region>:<account>:keystore/<id>`); empty when absent.
    pub arn_region: String,
    /// Further VPCs the instance is reachable from: (VPC id, vSwitch id).
    pub bind_vpcs: Vec<(String, String)>,
    /// Accounts the instance is shared with (mockcloud's `ShareAccounts`).
    pub shared_accounts: Vec<String>,
    /// The HSM cluster of a hardware instance (mockcloud's `HsmClusterId`); empty when unbound.
    pub hsm_cluster_id: String,
    /// `Healthy` or `SyncFailed` (mockcloud's `HsmSyncStatus`).
    pub hsm_sync_status: String,
    /// The XKI proxy of an external instance (mockcloud's `Xki*` fields); empty when unbound.
    pub xki: XkiInfo,
}

/// How an external instance reaches its XKI proxy, as GetKmsInstance reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XkiInfo {
    /// `PublicEndpoint` or `VpcEndpointService`; empty when the instance has no proxy.
    pub connectivity: String,
    pub domain_name: String,
    pub endpoint_service_id: String,
    pub path: String,
    /// Normalised: 64 lowercase hex digits.
    pub fingerprint: String,
    pub access_key_id: String,
    /// `Manual` or `ConfigFile`.
    pub config_source: String,
    pub vendor: String,
    /// `Reachable` or `Unreachable`.
    pub status: String,
    pub error: String,
}

/// ConnectKmsInstance with `KMProvider=XKI`: the network, the connectivity and the proxy's
/// configuration (manual fields or a configuration file), S41–S43.
#[derive(Clone, Default)]
pub struct XkiConnect {
    pub vpc_id: String,
    pub zone_ids: Vec<String>,
    pub vswitch_ids: Vec<String>,
    /// `PublicEndpoint` or `VpcEndpointService`.
    pub connectivity: String,
    pub domain_name: Option<String>,
    pub endpoint_service_id: Option<String>,
    pub path: Option<String>,
    pub fingerprint: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    pub config_file: Option<String>,
}

/// Certificates for binding a hardware instance to its HSM cluster (S32, S33).
#[derive(Debug, Clone, Default)]
pub struct HsmCertificates {
    pub client_p12_base64: Option<String>,
    pub client_password: Option<String>,
    pub security_domain_ca_pem: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub cluster_owner_certificate_pem: Option<String>,
}

impl std::fmt::Debug for XkiConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("XkiConnect")
            .field("vpc_id", &self.vpc_id)
            .field("zone_ids", &self.zone_ids)
            .field("connectivity", &self.connectivity)
            .field("domain_name", &self.domain_name)
            .field("endpoint_service_id", &self.endpoint_service_id)
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &redacted(&self.access_key_secret))
            .field("config_file", &redacted(&self.config_file))
            .finish()
    }
}

/// What the BSS says about a purchase (QueryAvailableInstances).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BssInstance {
    pub id: String,
    pub region: String,
    pub status: String,
    pub renew_status: String,
    pub renewal_duration: i64,
}

/// A purchase as BSS CreateInstance takes it.
#[derive(Debug, Clone, Default)]
pub struct PurchaseOrder {
    pub region: String,
    pub product_version: String,
    pub spec: i64,
    pub key_num: i64,
    pub secret_num: i64,
    pub vpc_num: i64,
    pub log: bool,
    pub log_storage: i64,
    pub deployment_mode: Option<String>,
    pub instance_backup: bool,
    pub expert_service: bool,
    pub period_months: i64,
    pub renewal_status: String,
    pub renew_period_months: i64,
}

/// An upgrade as BSS ModifyInstance takes it: only what changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpgradeOrder {
    pub spec: Option<i64>,
    pub key_num: Option<i64>,
    pub secret_num: Option<i64>,
    pub vpc_num: Option<i64>,
    pub log: Option<bool>,
    pub log_storage: Option<i64>,
}

impl UpgradeOrder {
    pub fn is_empty(&self) -> bool {
        *self == UpgradeOrder::default()
    }

    /// Whether the instance reports every value the upgrade asked for.
    pub fn reached_by(&self, i: &InstanceInfo) -> bool {
        self.spec.is_none_or(|v| i.spec == v)
            && self.key_num.is_none_or(|v| i.key_num == v)
            && self.secret_num.is_none_or(|v| i.secret_num == v)
            && self.vpc_num.is_none_or(|v| i.vpc_num == v)
            && self.log.is_none_or(|v| i.log == v)
            && self.log_storage.is_none_or(|v| i.log_storage == v)
    }

    fn codes(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut num = |code, v: Option<i64>| {
            if let Some(v) = v {
                out.push((code, v.to_string()));
            }
        };
        num("Spec", self.spec);
        num("KeyNum", self.key_num);
        num("SecretNum", self.secret_num);
        num("VpcNum", self.vpc_num);
        num("LogStorage", self.log_storage);
        if let Some(l) = self.log {
            out.push(("Log", u8::from(l).to_string()));
        }
        out
    }
}

fn parameters(codes: Vec<(&str, String)>) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (i, (code, value)) in codes.into_iter().enumerate() {
        params.push(p(&format!("Parameter.{}.Code", i + 1), code));
        params.push(p(&format!("Parameter.{}.Value", i + 1), value));
    }
    params
}

pub(crate) fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Numbers arrive as JSON numbers, except `SecretNum`, which the API sends as a string.
pub(crate) fn n(v: &Value, k: &str) -> i64 {
    match v.get(k) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(Value::Bool(b)) => i64::from(*b),
        _ => 0,
    }
}

/// `ZoneIds` is a JSON array in current SDKs and a comma-separated string in older examples.
fn list(v: &Value, k: &str) -> Vec<String> {
    match v.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

fn p(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

pub fn parse_instance(v: &Value) -> InstanceInfo {
    InstanceInfo {
        id: s(v, "InstanceId"),
        name: s(v, "InstanceName"),
        status: s(v, "Status"),
        vpc_id: s(v, "VpcId"),
        zone_ids: list(v, "ZoneIds"),
        vswitch_ids: list(v, "VswitchIds"),
        spec: n(v, "Spec"),
        key_num: n(v, "KeyNum"),
        secret_num: n(v, "SecretNum"),
        vpc_num: n(v, "VpcNum"),
        log: n(v, "Log") == 1,
        log_storage: n(v, "LogStorage"),
        product_version: s(v, "ProductVersion"),
        deployment_mode: v
            .get("DeploymentMode")
            .and_then(Value::as_str)
            .map(String::from),
        instance_backup: v.get("InstanceBackup").and_then(Value::as_bool),
        expert_service: v.get("ExpertService").and_then(Value::as_bool),
        ca_certificate_pem: s(v, "CaCertificateChainPem"),
        start_date: s(v, "StartDate"),
        end_date: s(v, "EndDate"),
        // A boolean for instances; keys spell their protection `Enabled`/`Disabled`.
        deletion_protection: match v.get("DeletionProtection") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(t)) => t.eq_ignore_ascii_case("enabled") || t == "true",
            _ => false,
        },
        hsm_cluster_id: s(v, "HsmClusterId"),
        hsm_sync_status: s(v, "HsmSyncStatus"),
        xki: XkiInfo {
            connectivity: s(v, "XkiConnectivity"),
            domain_name: s(v, "XkiProxyDomainName"),
            endpoint_service_id: s(v, "XkiEndpointServiceId"),
            path: s(v, "XkiProxyPath"),
            fingerprint: s(v, "XkiCertificateFingerprint"),
            access_key_id: s(v, "XkiAccessKeyId"),
            config_source: s(v, "XkiConfigSource"),
            vendor: s(v, "XkiProxyVendor"),
            status: s(v, "XkiProxyStatus"),
            error: s(v, "XkiProxyError"),
        },
        arn_region: s(v, "KmsInstanceArn")
            .split(':')
            .nth(2)
            .unwrap_or_default()
            .to_string(),
        bind_vpcs: v["BindVpcs"]["BindVpc"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|b| (s(b, "VpcId"), s(b, "VSwitchId")))
                    .collect()
            })
            .unwrap_or_default(),
        shared_accounts: v["ShareAccounts"]["ShareAccount"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|a| match a {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl Client {
    /// GetKmsInstance; `None` when the instance does not exist (or is not visible yet).
    pub async fn find_kms_instance(&self, id: &str) -> Result<Option<InstanceInfo>, ApiError> {
        match self
            .call(Product::Kms, "GetKmsInstance", &[p("KmsInstanceId", id)])
            .await
        {
            Ok(body) => {
                let info = parse_instance(&body["KmsInstance"]);
                Ok((!info.id.is_empty()).then_some(info))
            }
            Err(e) if e.is_instance_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// QueryAvailableInstances for one id; `None` when the BSS does not list it (refunded).
    pub async fn find_bss_instance(&self, id: &str) -> Result<Option<BssInstance>, ApiError> {
        let body = self
            .call(
                Product::Bss,
                "QueryAvailableInstances",
                &[p("ProductCode", "kms"), p("InstanceIDs", id)],
            )
            .await?;
        let found = body["Data"]["InstanceList"]
            .as_array()
            .and_then(|l| l.iter().find(|i| s(i, "InstanceID") == id))
            .map(|i| BssInstance {
                id: s(i, "InstanceID"),
                region: s(i, "Region"),
                status: s(i, "Status"),
                renew_status: s(i, "RenewStatus"),
                renewal_duration: n(i, "RenewalDuration"),
            });
        Ok(found)
    }

    /// BSS CreateInstance. The caller keeps `client_token` for the whole create, so a retried
    /// purchase never buys twice.
    pub async fn create_instance(
        &self,
        order: &PurchaseOrder,
        client_token: &str,
    ) -> Result<String, ApiError> {
        let mut codes: Vec<(&str, String)> = vec![
            ("Region", order.region.clone()),
            ("ProductVersion", order.product_version.clone()),
            ("Spec", order.spec.to_string()),
            ("KeyNum", order.key_num.to_string()),
            ("SecretNum", order.secret_num.to_string()),
            ("VpcNum", order.vpc_num.to_string()),
            ("Log", u8::from(order.log).to_string()),
            ("LogStorage", order.log_storage.to_string()),
        ];
        if let Some(m) = &order.deployment_mode {
            codes.push(("DeploymentMode", m.clone()));
        }
        if order.instance_backup {
            codes.push(("InstanceBackup", "1".into()));
        }
        if order.expert_service {
            codes.push(("ExpertService", "1".into()));
        }
        let mut params = vec![
            p("ProductCode", "kms"),
            p("SubscriptionType", "Subscription"),
            p("Period", order.period_months),
            p("RenewalStatus", &order.renewal_status),
            p("RenewPeriod", order.renew_period_months),
            p("ClientToken", client_token),
        ];
        params.extend(parameters(codes));
        let body = self.call(Product::Bss, "CreateInstance", &params).await?;
        let id = s(&body["Data"], "InstanceId");
        if id.is_empty() {
            return Err(ApiError::Api {
                action: "CreateInstance".into(),
                status: 200,
                code: "MissingInstanceId".into(),
                message: "the purchase succeeded but the response carries no Data.InstanceId"
                    .into(),
                request_id: s(&body, "RequestId"),
            });
        }
        Ok(id)
    }

    pub async fn connect_kms_instance(
        &self,
        id: &str,
        vpc_id: &str,
        zone_ids: &[String],
        vswitch_ids: &[String],
    ) -> Result<(), ApiError> {
        let params = [
            p("KmsInstanceId", id),
            p("KMProvider", "Aliyun"),
            p("VpcId", vpc_id),
            p("ZoneIds", zone_ids.join(",")),
            p("VSwitchIds", vswitch_ids.join(",")),
        ];
        self.call(Product::Kms, "ConnectKmsInstance", &params)
            .await
            .map(drop)
    }

    /// ConnectKmsInstance with `KMProvider=HSM` (mockcloud's stand-in for the console's HSM
    /// binding). Certificates and passwords travel in the form body.
    pub async fn connect_hsm(
        &self,
        id: &str,
        cluster_id: &str,
        zone_ids: &[String],
        vswitch_ids: &[String],
        certs: &HsmCertificates,
    ) -> Result<(), ApiError> {
        let mut params = vec![
            p("KmsInstanceId", id),
            p("KMProvider", "HSM"),
            p("HsmClusterId", cluster_id),
        ];
        if !zone_ids.is_empty() {
            params.push(p("ZoneIds", zone_ids.join(",")));
            params.push(p("VSwitchIds", vswitch_ids.join(",")));
        }
        let mut body = Vec::new();
        for (name, value) in [
            ("ClientCertificate", &certs.client_p12_base64),
            ("ClientCertificatePassword", &certs.client_password),
            ("SecurityDomainCertificate", &certs.security_domain_ca_pem),
            ("HsmUsername", &certs.username),
            ("HsmPassword", &certs.password),
            (
                "ClusterOwnerCertificate",
                &certs.cluster_owner_certificate_pem,
            ),
        ] {
            if let Some(v) = value {
                body.push(p(name, v));
            }
        }
        self.call_with_body(Product::Kms, "ConnectKmsInstance", &params, &body)
            .await
            .map(drop)
    }

    /// ConnectKmsInstance with `KMProvider=XKI` (mockcloud's stand-in for the console's external
    /// enablement). The access key secret and the configuration file travel in the form body.
    pub async fn connect_xki(&self, id: &str, req: &XkiConnect) -> Result<(), ApiError> {
        let mut params = vec![
            p("KmsInstanceId", id),
            p("KMProvider", "XKI"),
            p("VpcId", &req.vpc_id),
            p("XkiConnectivity", &req.connectivity),
        ];
        if !req.zone_ids.is_empty() {
            params.push(p("ZoneIds", req.zone_ids.join(",")));
            params.push(p("VSwitchIds", req.vswitch_ids.join(",")));
        }
        for (name, value) in [
            ("XkiProxyDomainName", &req.domain_name),
            ("XkiEndpointServiceId", &req.endpoint_service_id),
            ("XkiProxyPath", &req.path),
            ("XkiCertificateFingerprint", &req.fingerprint),
            ("XkiAccessKeyId", &req.access_key_id),
        ] {
            if let Some(v) = value {
                params.push(p(name, v));
            }
        }
        let mut body = Vec::new();
        for (name, value) in [
            ("XkiAccessKeySecret", &req.access_key_secret),
            ("XkiConfigFile", &req.config_file),
        ] {
            if let Some(v) = value {
                body.push(p(name, v));
            }
        }
        self.call_with_body(Product::Kms, "ConnectKmsInstance", &params, &body)
            .await
            .map(drop)
    }

    pub async fn update_kms_instance_name(&self, id: &str, name: &str) -> Result<(), ApiError> {
        self.call(
            Product::Kms,
            "UpdateKmsInstance",
            &[p("KmsInstanceId", id), p("InstanceName", name)],
        )
        .await
        .map(drop)
    }

    pub async fn set_deletion_protection(&self, id: &str, enabled: bool) -> Result<(), ApiError> {
        let params = [
            p("KmsInstanceId", id),
            p("EnableDeletionProtection", enabled),
        ];
        self.call(Product::Kms, "SetDeletionProtection", &params)
            .await
            .map(drop)
    }

    /// UpdateKmsInstanceBindVpc replaces the whole list. The VPC owner is left out: the caller's
    /// own VPCs (mockcloud takes the caller's account).
    pub async fn update_bind_vpcs(
        &self,
        id: &str,
        region: &str,
        vpcs: &[(String, String)],
    ) -> Result<(), ApiError> {
        let list: Vec<Value> = vpcs
            .iter()
            .map(|(vpc, vsw)| serde_json::json!({"VpcId": vpc, "VSwitchId": vsw, "RegionId": region}))
            .collect();
        let params = [p("KmsInstanceId", id), p("BindVpcs", Value::Array(list))];
        self.call(Product::Kms, "UpdateKmsInstanceBindVpc", &params)
            .await
            .map(drop)
    }

    /// mockcloud's UpdateKmsInstanceShareAccounts (the real cloud shares through the console).
    pub async fn update_share_accounts(
        &self,
        id: &str,
        accounts: &[String],
    ) -> Result<(), ApiError> {
        let params = [
            p("KmsInstanceId", id),
            p("ShareAccounts", serde_json::json!(accounts)),
        ];
        self.call(Product::Kms, "UpdateKmsInstanceShareAccounts", &params)
            .await
            .map(drop)
    }

    /// BSS ModifyInstance (Upgrade) with only the changed codes.
    pub async fn modify_instance(
        &self,
        id: &str,
        order: &UpgradeOrder,
        client_token: &str,
    ) -> Result<(), ApiError> {
        let mut params = vec![
            p("ProductCode", "kms"),
            p("SubscriptionType", "Subscription"),
            p("ModifyType", "Upgrade"),
            p("InstanceId", id),
            p("ClientToken", client_token),
        ];
        params.extend(parameters(order.codes()));
        self.call(Product::Bss, "ModifyInstance", &params)
            .await
            .map(drop)
    }

    /// BSS SetRenewal.
    pub async fn set_renewal(
        &self,
        id: &str,
        renewal_status: &str,
        months: i64,
    ) -> Result<(), ApiError> {
        let params = [
            p("ProductCode", "kms"),
            p("SubscriptionType", "Subscription"),
            p("InstanceIDs", id),
            p("RenewalStatus", renewal_status),
            p("RenewalPeriod", months),
            p("RenewalPeriodUnit", "M"),
        ];
        self.call(Product::Bss, "SetRenewal", &params)
            .await
            .map(drop)
    }

    /// RefundInstance with immediate release; an instance already gone counts as refunded.
    pub async fn refund_instance(&self, id: &str, client_token: &str) -> Result<(), ApiError> {
        let params = [
            p("ProductCode", "kms"),
            p("InstanceId", id),
            p("ImmediatelyRelease", "1"),
            p("ClientToken", client_token),
        ];
        match self.call(Product::Bss, "RefundInstance", &params).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == "ResourceNotExists" => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instance_fields_parse_with_the_api_types() {
        let info = parse_instance(&json!({
            "InstanceId": "kst-1", "Status": "Connected", "SecretNum": "10", "KeyNum": 1000,
            "ZoneIds": ["a", "b"], "VswitchIds": "vsw-1", "Log": 1
        }));
        assert_eq!(info.secret_num, 10);
        assert_eq!(info.key_num, 1000);
        assert_eq!(info.zone_ids, ["a", "b"]);
        assert_eq!(info.vswitch_ids, ["vsw-1"]);
        assert!(info.log);
    }
}
