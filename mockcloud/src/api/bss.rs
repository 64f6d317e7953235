//! BssOpenApi 2017-12-14 actions for the `kms` product: purchase, query and refund.

use serde_json::{json, Value};

use super::params::{parse_bool, parse_u32};
use super::{unknown_action, Ctx, Fields};
use crate::clock::iso;
use crate::domain::purchase::{Order, PERIODS};
use crate::domain::RenewStatus;
use crate::error::ApiError;

pub fn dispatch(action: &str, ctx: &Ctx) -> Result<Fields, ApiError> {
    match action {
        "CreateInstance" => create_instance(ctx),
        "QueryAvailableInstances" => query_available_instances(ctx),
        "RefundInstance" => refund_instance(ctx),
        "ModifyInstance" => modify_instance(ctx),
        "SetRenewal" => set_renewal(ctx),
        _ => Err(unknown_action(action)),
    }
}

fn success(data: Value) -> Fields {
    let mut f = Fields::new();
    f.insert("Code".into(), json!("Success"));
    f.insert("Message".into(), json!("Successful!"));
    f.insert("Success".into(), json!(true));
    f.insert("Data".into(), data);
    f
}

fn check_product(ctx: &Ctx) -> Result<(), ApiError> {
    match ctx.params.opt("ProductCode") {
        Some("kms") => Ok(()),
        Some(other) => Err(ApiError::invalid(
            "ProductCode",
            format!("{other}: mockcloud sells the kms product only"),
        )),
        None => Err(ApiError::missing("ProductCode")),
    }
}

/// `Parameter.N.Code` / `Parameter.N.Value` pairs into a typed order. Deviation: besides the
/// real codes, `DeploymentMode`, `InstanceBackup`, `ExpertService` and `Quantity` are accepted.
fn order_from_params(ctx: &Ctx) -> Result<Order, ApiError> {
    let values = ctx.params.indexed("Parameter", "Value");
    let mut order = Order::default();
    for (n, code) in ctx.params.indexed("Parameter", "Code") {
        let value = values
            .iter()
            .find(|(i, _)| *i == n)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::missing(format!("Parameter.{n}.Value")))?;
        let num = || parse_u32(&code, value).map(Some);
        let flag = || match value {
            "0" => Ok(Some(false)),
            "1" => Ok(Some(true)),
            v => parse_bool(&code, v).map(Some),
        };
        match code.as_str() {
            "Region" => order.region = Some(value.to_string()),
            "ProductVersion" => order.product_version = Some(value.to_string()),
            "Spec" => order.spec = num()?,
            "KeyNum" => order.key_num = num()?,
            "SecretNum" => order.secret_num = num()?,
            "VpcNum" => order.vpc_num = num()?,
            "Log" => order.log = flag()?,
            "LogStorage" => order.log_storage = num()?,
            "DeploymentMode" => order.deployment_mode = Some(value.to_string()),
            "InstanceBackup" => order.instance_backup = flag()?,
            "ExpertService" => order.expert_service = flag()?,
            "Quantity" => order.quantity = num()?,
            other => {
                return Err(ApiError::invalid(
                    format!("Parameter.{n}.Code"),
                    format!("{other} is not a parameter of the kms product"),
                ))
            }
        }
    }
    order.period = ctx.params.opt_u32("Period")?;
    order.renewal_status = ctx.params.opt("RenewalStatus").map(String::from);
    order.renew_period = ctx.params.opt_u32("RenewPeriod")?;
    Ok(order)
}

fn create_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    check_product(ctx)?;
    if let Some(t) = ctx.params.opt("SubscriptionType") {
        if t != "Subscription" {
            return Err(ApiError::invalid(
                "SubscriptionType",
                format!("{t}: mockcloud sells Subscription instances only"),
            ));
        }
    }
    let order = order_from_params(ctx)?;
    let p = ctx.state.backend.create_instance(
        &ctx.caller,
        ctx.params.opt("ClientToken"),
        ctx.params.opt("ProductType"),
        &order,
    )?;
    Ok(success(
        json!({ "InstanceId": p.instance_id, "OrderId": p.order_id }),
    ))
}

fn query_available_instances(ctx: &Ctx) -> Result<Fields, ApiError> {
    let ids = ctx.params.csv("InstanceIDs");
    let page_num = ctx.params.opt_u32("PageNum")?.unwrap_or(1).max(1);
    let page_size = ctx.params.opt_u32("PageSize")?.unwrap_or(20).clamp(1, 300);
    let found = ctx
        .state
        .backend
        .query_available_instances(&ctx.caller, &ids)?;
    let region = ctx.params.opt("Region");
    let list: Vec<Value> = found
        .iter()
        .filter(|(i, _)| region.is_none_or(|r| r == i.region_id))
        .map(|(i, status)| {
            json!({
                "InstanceID": i.id,
                "ProductCode": "kms",
                "ProductType": i.product_type,
                "SubscriptionType": "Subscription",
                "Region": i.region_id,
                "Status": status,
                "CreateTime": iso(i.purchased_at),
                "EndTime": iso(i.end_at),
                "RenewStatus": i.renew_status.as_str(),
                "RenewalDuration": i.renew_period_months,
                "RenewalDurationUnit": "M",
                "SellerId": 26842,
            })
        })
        .collect();
    let total = list.len();
    let page: Vec<Value> = list
        .into_iter()
        .skip((page_num as usize - 1).saturating_mul(page_size as usize))
        .take(page_size as usize)
        .collect();
    Ok(success(
        json!({ "PageNum": page_num, "PageSize": page_size, "TotalCount": total, "InstanceList": page }),
    ))
}

fn refund_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    let id = ctx.params.req("InstanceId")?;
    if let Some(v) = ctx.params.opt("ImmediatelyRelease") {
        if v != "1" {
            return Err(ApiError::invalid(
                "ImmediatelyRelease",
                format!("{v}: mockcloud releases on refund; send 1"),
            ));
        }
    }
    ctx.state.backend.refund_instance(&ctx.caller, id)?;
    Ok(success(json!({ "InstanceId": id })))
}

fn modify_instance(ctx: &Ctx) -> Result<Fields, ApiError> {
    check_product(ctx)?;
    let id = ctx.params.req("InstanceId")?;
    match ctx.params.opt("ModifyType") {
        Some("Upgrade") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                "ModifyType",
                format!("{other}: KMS instances can only be upgraded (S12)"),
            ))
        }
        None => return Err(ApiError::missing("ModifyType")),
    }
    let order = order_from_params(ctx)?;
    if order.region.is_some() || order.product_version.is_some() || order.deployment_mode.is_some()
    {
        return Err(ApiError::invalid(
            "Parameter",
            "Region, ProductVersion and DeploymentMode cannot change after purchase",
        ));
    }
    ctx.state.backend.modify_instance(&ctx.caller, id, &order)?;
    Ok(success(json!({ "HostId": "", "OrderId": "" })))
}

fn set_renewal(ctx: &Ctx) -> Result<Fields, ApiError> {
    check_product(ctx)?;
    let ids = ctx.params.csv("InstanceIDs");
    if ids.is_empty() {
        return Err(ApiError::missing("InstanceIDs"));
    }
    let raw = ctx.params.req("RenewalStatus")?;
    let status = RenewStatus::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "RenewalStatus",
            format!("{raw}: must be AutoRenewal, ManualRenewal or NotRenewal"),
        )
    })?;
    let months = ctx.params.opt_u32("RenewalPeriod")?;
    if let Some(m) = months {
        let unit = ctx.params.opt("RenewalPeriodUnit").unwrap_or("M");
        if unit != "M" {
            return Err(ApiError::invalid(
                "RenewalPeriodUnit",
                format!("{unit}: mockcloud takes months (M)"),
            ));
        }
        if !PERIODS.contains(&m) {
            return Err(ApiError::invalid(
                "RenewalPeriod",
                format!("{m}: must be one of 1, 2, 3, 6, 12, 24, 36 months"),
            ));
        }
    }
    ctx.state
        .backend
        .set_renewal(&ctx.caller, &ids, status, months)?;
    Ok(success(Value::Null))
}
