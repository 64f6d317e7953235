//! KMS 2016-01-20 actions.

use serde_json::{json, Value};

use super::{unknown_action, wrapped, Ctx, Fields};
use crate::backend::InstanceView;
use crate::clock::iso;
use crate::domain::connect::ConnectRequest;
use crate::domain::external::{XkiConnectRequest, XkiParams, XKI_PARAMETERS};
use crate::domain::hsm::{HsmConnectRequest, HsmCredentials};
use crate::domain::{BindVpc, Instance};
use crate::error::ApiError;

pub fn dispatch(action: &str, ctx: &Ctx) -> Result<Fields, ApiError> {
    match action {
        "GetKmsInstance" => get_kms_instance(ctx),
        "ListKmsInstances" => list_kms_instances(ctx),
        "ConnectKmsInstance" => connect_kms_instance(ctx),
        "UpdateKmsInstance" => update_kms_instance(ctx),
        "SetDeletionProtection" => set_deletion_protection(ctx),
        "UpdateKmsInstanceBindVpc" => update_kms_instance_bind_vpc(ctx),
        "UpdateKmsInstanceShareAccounts" => update_kms_instance_share_accounts(ctx),
        "DescribeRegions" => describe_regions(ctx),
        "GetKmsInstanceQuotaInfos" => get_kms_instance_quota_infos(ctx),
        _ => super::keys::dispatch(action, ctx)
            .or_else(|| super::secrets::dispatch(action, ctx))
            .unwrap_or_else(|| Err(unknown_action(action))),
    }
}

fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

fn arn(inst: &Instance) -> String {
    format!(
        "acs:kms:{}:{}:keystore/{}",
        inst.region_id, inst.account_id, inst.id
    )
}

/// `inst.end_at` is the effective end (auto-renewal applied) the backend reports.
fn instance_json(view: &InstanceView, ca_pem: &str, now: i64) -> Value {
    let (inst, status) = (&view.instance, view.status);
    let (hsm_cluster_id, hsm_sync_status) = match &view.hsm {
        Some((cluster, sync)) => (cluster.as_str(), sync.as_str()),
        None => ("", ""),
    };
    let sale_status = if now >= inst.end_at {
        "Expired"
    } else {
        "Normal"
    };
    let (vpc_id, zone_ids, vswitch_ids) = match &inst.connection {
        Some(c) => (c.vpc_id.clone(), c.zone_ids.clone(), c.vswitch_ids.clone()),
        None => (String::new(), Vec::new(), Vec::new()),
    };
    let bind_vpcs: Vec<Value> = inst
        .bind_vpcs
        .iter()
        .map(|b| json!({"RegionId": b.region_id, "VpcId": b.vpc_id, "VSwitchId": b.vswitch_id, "VpcOwnerId": b.vpc_owner_id}))
        .collect();
    let shared: Vec<Value> = inst
        .shared_accounts
        .iter()
        .map(|a| Value::from(a.as_str()))
        .collect();
    let cap = &inst.capacity;
    let xki = inst.connection.as_ref().and_then(|c| c.xki.as_ref());
    let xki_text = |f: fn(&crate::domain::external::XkiBinding) -> &str| xki.map(f).unwrap_or("");
    let (xki_status, xki_error) = match &view.xki_probe {
        Some(p) if p.reachable => ("Reachable", ""),
        Some(p) => ("Unreachable", p.error.as_str()),
        None => ("", ""),
    };
    json!({
        "InstanceId": inst.id,
        "InstanceName": inst.name,
        "KmsInstanceArn": arn(inst),
        "Status": status.as_str(),
        "CreateTime": iso(inst.purchased_at),
        "StartDate": iso(inst.purchased_at),
        "EndDate": iso(inst.end_at),
        "Spec": cap.spec,
        "KeyNum": cap.key_num,
        "SecretNum": cap.secret_num.to_string(),
        "VpcNum": cap.vpc_num,
        "VpcId": vpc_id,
        "ZoneIds": zone_ids,
        "VswitchIds": vswitch_ids,
        "CaCertificateChainPem": if inst.connection.is_some() { ca_pem } else { "" },
        "ChargeType": "PREPAY",
        "ProductType": inst.product_type,
        "ProductVersion": inst.management_type.product_version(),
        "SaleStatus": sale_status,
        "Log": u32::from(cap.log),
        "LogStorage": cap.log_storage,
        "DeletionProtection": inst.deletion_protection,
        "DeletionProtectionDescription": inst.deletion_protection_description,
        // Deviation: these three fields are not in the real response; purchase parameters the
        // provider must read back for import to give an empty plan.
        "DeploymentMode": inst.deployment_mode.as_str(),
        "InstanceBackup": inst.instance_backup,
        "ExpertService": inst.expert_service,
        "BindVpcs": wrapped("BindVpc", bind_vpcs),
        // Deviation: the accounts the instance is shared with (no public field in the real API).
        "ShareAccounts": wrapped("ShareAccount", shared),
        // Deviation: the HSM cluster of a hardware instance and the health of its
        // synchronisation (`Healthy` | `SyncFailed`, S34); empty when not bound. The real API
        // has no public field for either.
        "HsmClusterId": hsm_cluster_id,
        "HsmSyncStatus": hsm_sync_status,
        // Deviation: the XKI proxy of an external instance (S41, S42), what its handshake
        // reported, and whether it answers now (`Reachable` | `Unreachable`, a probe cached 2
        // seconds); empty when not bound. The real API has no public fields for these.
        "XkiConnectivity": xki.map(|b| b.connectivity.as_str()).unwrap_or(""),
        "XkiProxyDomainName": xki_text(|b| &b.proxy_domain_name),
        "XkiEndpointServiceId": xki_text(|b| &b.endpoint_service_id),
        "XkiProxyPath": xki_text(|b| &b.proxy_path),
        "XkiCertificateFingerprint": xki_text(|b| &b.certificate_fingerprint),
        "XkiAccessKeyId": xki_text(|b| &b.access_key_id),
        "XkiConfigSource": xki.map(|b| b.config_source.as_str()).unwrap_or(""),
        "XkiProxyVendor": xki_text(|b| &b.vendor),
        "XkiProxyStatus": xki_status,
        "XkiProxyError": xki_error,
    })
}

fn get_kms_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let view = ctx.state.backend.get_kms_instance(&ctx.caller, id)?;
    Ok(fields(
        json!({ "KmsInstance": instance_json(&view, &ctx.state.ca_pem, ctx.state.backend.now()) }),
    ))
}

fn list_kms_instances(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (page_number, page_size) = ctx.params.paging(20)?;
    let filters = ctx.params.filters(&LIST_FILTER_KEYS)?;
    let listed = ctx
        .state
        .backend
        .list_kms_instances(&ctx.caller, ctx.region.as_deref())?;
    let mut all = Vec::with_capacity(listed.len());
    for inst in listed {
        if filters.is_empty() || list_filters_match(ctx, &filters, &inst)? {
            all.push(inst);
        }
    }
    let total = all.len();
    let items: Vec<Value> = all
        .iter()
        .skip((page_number as usize - 1).saturating_mul(page_size as usize))
        .take(page_size as usize)
        .map(|i| json!({"KmsInstanceId": i.id, "KmsInstanceArn": arn(i)}))
        .collect();
    Ok(fields(json!({
        "PageNumber": page_number,
        "PageSize": page_size,
        "TotalCount": total,
        "KmsInstances": wrapped("KmsInstance", items),
    })))
}

/// The keys `ListKmsInstances` filters on. Different keys combine with AND, the values of one key
/// with OR, as in `ListKeys`.
// Deviation: the real API documents `Filters` without listing its keys; the mock serves
// `InstanceName` (what aliyun/alicloud sends), `Status` and `ManagementType` (`software`,
// `hardware`, `external`). Values match exactly.
const LIST_FILTER_KEYS: [&str; 3] = ["InstanceName", "Status", "ManagementType"];

fn list_filters_match(
    ctx: &Ctx,
    filters: &[(&'static str, Vec<String>)],
    inst: &Instance,
) -> Result<bool, ApiError> {
    for (key, values) in filters {
        let actual = match *key {
            "InstanceName" => inst.name.clone(),
            "Status" => {
                let view = ctx.state.backend.kms_instance_view(&ctx.caller, &inst.id)?;
                view.status.as_str().to_string()
            }
            _ => match inst.management_type {
                crate::domain::ManagementType::Software => "software",
                crate::domain::ManagementType::Hardware => "hardware",
                crate::domain::ManagementType::External => "external",
            }
            .to_string(),
        };
        if !values.contains(&actual) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn connect_kms_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let provider = ctx.params.opt("KMProvider").unwrap_or("Aliyun");
    match provider {
        "Aliyun" => {
            refuse_hsm_parameters(ctx, "a software instance (KMProvider=Aliyun)")?;
            refuse_xki_parameters(ctx, "a software instance (KMProvider=Aliyun)")?;
        }
        "HSM" => {
            refuse_xki_parameters(ctx, "a hardware instance (KMProvider=HSM)")?;
            return connect_hsm(ctx, id);
        }
        "XKI" => return connect_external(ctx, id),
        _ => {
            return Err(ApiError::invalid(
                "KMProvider",
                format!(
                    "{provider}: Aliyun (software), HSM (hardware) and XKI (external) are served"
                ),
            ))
        }
    }
    let req = ConnectRequest {
        vpc_id: ctx.params.req("VpcId")?.to_string(),
        zone_ids: ctx.params.csv("ZoneIds"),
        vswitch_ids: ctx.params.csv("VSwitchIds"),
    };
    ctx.state
        .backend
        .connect_kms_instance(&ctx.caller, id, &req)?;
    Ok(Fields::new())
}

/// Parameters of an external enablement mean the caller meant KMProvider=XKI: say so.
fn refuse_xki_parameters(ctx: &Ctx, what: &str) -> Result<(), ApiError> {
    refuse_parameters(
        ctx,
        &XKI_PARAMETERS,
        "KMProvider=XKI (external instances)",
        what,
    )
}

/// Parameters of a hardware binding mean the caller meant KMProvider=HSM: say so.
fn refuse_hsm_parameters(ctx: &Ctx, what: &str) -> Result<(), ApiError> {
    const HSM_PARAMETERS: [&str; 7] = [
        "HsmClusterId",
        "ClientCertificate",
        "ClientCertificatePassword",
        "SecurityDomainCertificate",
        "HsmUsername",
        "HsmPassword",
        "ClusterOwnerCertificate",
    ];
    refuse_parameters(
        ctx,
        &HSM_PARAMETERS,
        "KMProvider=HSM (hardware instances)",
        what,
    )
}

fn refuse_parameters(
    ctx: &Ctx,
    names: &[&str],
    applies_to: &str,
    what: &str,
) -> Result<(), ApiError> {
    for name in names {
        if ctx.params.opt(name).is_some() {
            return Err(ApiError::invalid(
                *name,
                format!("applies to {applies_to} only; this request enables {what}"),
            ));
        }
    }
    Ok(())
}

/// Deviation: the real cloud enables external instances in the console only ("Connect to
/// HSM" on the External Key Management tab); the mock takes `ConnectKmsInstance` with
/// `KMProvider=XKI`, the network parameters of a software enablement (`VpcId`, `ZoneIds`,
/// `VSwitchIds`, S43), `XkiConnectivity` (`PublicEndpoint` | `VpcEndpointService`) with
/// `XkiProxyDomainName` or `XkiEndpointServiceId`, and the proxy configuration: either
/// `XkiProxyPath`, `XkiCertificateFingerprint`, `XkiAccessKeyId`, `XkiAccessKeySecret` or
/// `XkiConfigFile` (the file's JSON content). Secrets may come in the query or the form body.
/// HSM parameters are refused, naming them.
fn connect_external(ctx: &Ctx, id: &str) -> Result<Fields, ApiError> {
    refuse_hsm_parameters(ctx, "an external instance (KMProvider=XKI)")?;
    let opt = |name: &str| ctx.params.opt(name).map(String::from);
    let req = XkiConnectRequest {
        network: ConnectRequest {
            vpc_id: ctx.params.req("VpcId")?.to_string(),
            zone_ids: ctx.params.csv("ZoneIds"),
            vswitch_ids: ctx.params.csv("VSwitchIds"),
        },
        xki: XkiParams {
            connectivity: opt("XkiConnectivity"),
            proxy_domain_name: opt("XkiProxyDomainName"),
            endpoint_service_id: opt("XkiEndpointServiceId"),
            proxy_path: opt("XkiProxyPath"),
            certificate_fingerprint: opt("XkiCertificateFingerprint"),
            access_key_id: opt("XkiAccessKeyId"),
            access_key_secret: opt("XkiAccessKeySecret"),
            config_file: opt("XkiConfigFile"),
        },
    };
    ctx.state.backend.connect_external(&ctx.caller, id, &req)?;
    Ok(Fields::new())
}

/// Deviation: the real cloud enables hardware instances in the console only; the mock takes
/// `ConnectKmsInstance` with `KMProvider=HSM`, `HsmClusterId`, optional `VpcId` (the cluster's),
/// `ZoneIds` and `VSwitchIds` (default the cluster's own vSwitches) and the certificate
/// parameters of the cluster's kind. Secrets may come in the query or the form body.
fn connect_hsm(ctx: &Ctx, id: &str) -> Result<Fields, ApiError> {
    let opt = |name: &str| ctx.params.opt(name).map(String::from);
    let req = HsmConnectRequest {
        cluster_id: ctx.params.req("HsmClusterId")?.to_string(),
        vpc_id: opt("VpcId"),
        zone_ids: ctx.params.csv("ZoneIds"),
        vswitch_ids: ctx.params.csv("VSwitchIds"),
        credentials: HsmCredentials {
            client_certificate: opt("ClientCertificate"),
            client_certificate_password: opt("ClientCertificatePassword"),
            security_domain_certificate: opt("SecurityDomainCertificate"),
            hsm_username: opt("HsmUsername"),
            hsm_password: opt("HsmPassword"),
            cluster_owner_certificate: opt("ClusterOwnerCertificate"),
        },
    };
    ctx.state.backend.connect_hsm(&ctx.caller, id, &req)?;
    Ok(Fields::new())
}

fn update_kms_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let name = ctx.params.req("InstanceName")?;
    ctx.state
        .backend
        .update_kms_instance(&ctx.caller, id, name)?;
    Ok(Fields::new())
}

fn describe_regions(ctx: &Ctx) -> Result<Fields, ApiError> {
    let regions: Vec<Value> = ctx
        .state
        .backend
        .regions()?
        .iter()
        .map(|r| json!({"RegionId": r.id}))
        .collect();
    Ok(fields(json!({ "Regions": wrapped("Region", regions) })))
}

/// SetDeletionProtection: of an instance (`KmsInstanceId`, or its keystore ARN in
/// `ProtectedResourceArn`) or of a key (`KeyId`, or its key ARN).
fn set_deletion_protection(ctx: &Ctx) -> Result<Fields, ApiError> {
    let enabled = ctx
        .params
        .opt_bool("EnableDeletionProtection")?
        .ok_or_else(|| ApiError::missing("EnableDeletionProtection"))?;
    let description = ctx
        .params
        .opt("DeletionProtectionDescription")
        .unwrap_or("");
    let arn = ctx.params.opt("ProtectedResourceArn");
    // `acs:kms:<region>:<account>:keystore/<id>`: every part must name the caller's instance.
    let keystore = match arn
        .and_then(|a| a.strip_prefix("acs:kms:"))
        .map(|rest| rest.splitn(3, ':').collect::<Vec<_>>())
    {
        Some(parts) if parts.len() == 3 && parts[2].starts_with("keystore/") => {
            let id = &parts[2]["keystore/".len()..];
            let not_found = || ApiError::DkmsInstanceNotFound { id: id.to_string() };
            if parts[1] != ctx.caller.account_id {
                return Err(not_found());
            }
            let view = ctx.state.backend.kms_instance_view(&ctx.caller, id)?;
            if view.instance.region_id != parts[0] {
                return Err(not_found());
            }
            Some(id)
        }
        _ => None,
    };
    let key = ctx
        .params
        .opt("KeyId")
        .or_else(|| arn.filter(|a| a.contains(":key/")));
    match (ctx.params.opt("KmsInstanceId").or(keystore), key) {
        (Some(id), _) => {
            ctx.state
                .backend
                .set_deletion_protection(&ctx.caller, id, enabled, description)?
        }
        (None, Some(key_id)) => ctx.state.backend.set_key_deletion_protection(
            &ctx.caller,
            key_id,
            enabled,
            description,
        )?,
        (None, None) => match arn {
            Some(a) => {
                return Err(ApiError::invalid(
                    "ProtectedResourceArn",
                    format!("{a:?} is not an instance (keystore) or key ARN"),
                ))
            }
            None => return Err(ApiError::missing("KmsInstanceId")),
        },
    }
    Ok(Fields::new())
}

/// GetKmsInstanceQuotaInfos: `ResourceType` `key` (key versions, S04), `secret` (S05), `vpc`
/// (access management, S06) or `qps` (the spec); all of them when absent. The list is not
/// wrapped.
fn get_kms_instance_quota_infos(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let kinds = match ctx.params.opt("ResourceType") {
        None => vec!["key", "secret", "vpc", "qps"],
        Some(t @ ("key" | "secret" | "vpc" | "qps")) => vec![t],
        Some(other) => {
            return Err(ApiError::invalid(
                "ResourceType",
                format!("{other:?} is not key, secret, vpc or qps"),
            ))
        }
    };
    let u = ctx.state.backend.quota_usage(&ctx.caller, id)?;
    let infos: Vec<Value> = kinds
        .into_iter()
        .map(|kind| {
            // Deviation: the real service does not document what qps reports as used.
            let (quota, used) = match kind {
                "key" => (u.key_quota, u.key_used),
                "secret" => (u.secret_quota, u.secret_used),
                "vpc" => (u.vpc_quota, u.vpc_used),
                _ => (u.spec, 0),
            };
            json!({"ResourceType": kind, "ResourceQuota": quota, "UsedQuantity": used})
        })
        .collect();
    Ok(fields(json!({
        "KmsInstanceId": u.instance_id,
        "KmsInstanceQuotaInfos": infos,
    })))
}

/// `BindVpcs` is JSON: `[{"VpcId","VSwitchId","RegionId","VpcOwnerId"}]`; `VpcOwnerId` arrives as
/// a JSON number from most SDKs and as a string from some.
fn update_kms_instance_bind_vpc(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let raw = ctx.params.opt("BindVpcs").unwrap_or("[]");
    let list: Vec<Value> = serde_json::from_str(raw)
        .map_err(|e| ApiError::invalid("BindVpcs", format!("not a JSON list of objects: {e}")))?;
    let text = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut binds = Vec::new();
    for (i, v) in list.iter().enumerate() {
        if !v.is_object() {
            return Err(ApiError::invalid(
                format!("BindVpcs[{i}]"),
                "must be an object",
            ));
        }
        let vpc_id = text(v, "VpcId");
        let vswitch_id = text(v, "VSwitchId");
        if vpc_id.is_empty() {
            return Err(ApiError::missing(format!("BindVpcs[{i}].VpcId")));
        }
        if vswitch_id.is_empty() {
            return Err(ApiError::missing(format!("BindVpcs[{i}].VSwitchId")));
        }
        binds.push(BindVpc {
            vpc_id,
            vswitch_id,
            region_id: text(v, "RegionId"),
            vpc_owner_id: text(v, "VpcOwnerId"),
        });
    }
    ctx.state.backend.update_bind_vpcs(&ctx.caller, id, binds)?;
    Ok(Fields::new())
}

/// Deviation: `ShareAccounts` is a JSON list of account ids.
fn update_kms_instance_share_accounts(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let raw = ctx.params.opt("ShareAccounts").unwrap_or("[]");
    let list: Vec<Value> = serde_json::from_str(raw).map_err(|e| {
        ApiError::invalid(
            "ShareAccounts",
            format!("not a JSON list of account ids: {e}"),
        )
    })?;
    let accounts = list
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(ApiError::invalid(
                format!("ShareAccounts[{i}]"),
                "must be an account id",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    ctx.state
        .backend
        .update_share_accounts(&ctx.caller, id, accounts)?;
    Ok(Fields::new())
}
