//! KMS 2016-01-20 actions.

use serde_json::{json, Value};

use super::{unknown_action, wrapped, Ctx, Fields};
use crate::clock::iso;
use crate::domain::connect::ConnectRequest;
use crate::domain::{Instance, Status};
use crate::error::ApiError;

pub fn dispatch(action: &str, ctx: &Ctx) -> Result<Fields, ApiError> {
    match action {
        "GetKmsInstance" => get_kms_instance(ctx),
        "ListKmsInstances" => list_kms_instances(ctx),
        "ConnectKmsInstance" => connect_kms_instance(ctx),
        "UpdateKmsInstance" => update_kms_instance(ctx),
        "DescribeRegions" => describe_regions(ctx),
        _ => Err(unknown_action(action)),
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

fn instance_json(inst: &Instance, status: Status, ca_pem: &str) -> Value {
    let (vpc_id, zone_ids, vswitch_ids) = match &inst.connection {
        Some(c) => (c.vpc_id.clone(), c.zone_ids.clone(), c.vswitch_ids.clone()),
        None => (String::new(), Vec::new(), Vec::new()),
    };
    let bind_vpcs: Vec<Value> = inst
        .connection
        .iter()
        .map(|c| {
            json!({"RegionId": inst.region_id, "VpcId": c.vpc_id, "VSwitchId": c.vswitch_ids.first().cloned().unwrap_or_default(), "VpcOwnerId": inst.account_id})
        })
        .collect();
    let cap = &inst.capacity;
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
        "SaleStatus": "Normal",
        "Log": u32::from(cap.log),
        "LogStorage": cap.log_storage,
        "DeletionProtection": inst.deletion_protection,
        "DeletionProtectionDescription": "",
        // Deviation: these three fields are not in the real response; purchase parameters the
        // provider must read back for import to give an empty plan.
        "DeploymentMode": inst.deployment_mode.as_str(),
        "InstanceBackup": inst.instance_backup,
        "ExpertService": inst.expert_service,
        "BindVpcs": wrapped("BindVpc", bind_vpcs),
    })
}

fn get_kms_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let (inst, status) = ctx.state.backend.get_kms_instance(&ctx.caller, id)?;
    Ok(fields(
        json!({ "KmsInstance": instance_json(&inst, status, &ctx.state.ca_pem) }),
    ))
}

fn list_kms_instances(ctx: &Ctx) -> Result<Fields, ApiError> {
    let page_number = ctx.params.opt_u32("PageNumber")?.unwrap_or(1).max(1);
    let page_size = ctx.params.opt_u32("PageSize")?.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::invalid(
            "PageSize",
            format!("{page_size}: must be 1 to 100"),
        ));
    }
    let all = ctx
        .state
        .backend
        .list_kms_instances(&ctx.caller, ctx.region.as_deref())?;
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

fn connect_kms_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("KmsInstanceId")?;
    let provider = ctx.params.opt("KMProvider").unwrap_or("Aliyun");
    if provider != "Aliyun" {
        return Err(ApiError::invalid(
            "KMProvider",
            format!("{provider}: only Aliyun (software key management) is served yet"),
        ));
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
