//! VPC 2016-04-28 read-only lookups: enough for users and tools to find valid VPC, zone and
//! vSwitch combinations.

use serde_json::{json, Value};

use super::{unknown_action, wrapped, Ctx, Fields};
use crate::error::ApiError;

pub fn dispatch(action: &str, ctx: &Ctx) -> Result<Fields, ApiError> {
    match action {
        "DescribeVpcs" => describe_vpcs(ctx),
        "DescribeVSwitches" => describe_vswitches(ctx),
        "DescribeZones" => describe_zones(ctx),
        _ => Err(unknown_action(action)),
    }
}

fn page(ctx: &Ctx) -> Result<(u32, u32), ApiError> {
    Ok((
        ctx.params.opt_u32("PageNumber")?.unwrap_or(1).max(1),
        ctx.params.opt_u32("PageSize")?.unwrap_or(10).clamp(1, 50),
    ))
}

fn describe_vpcs(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (n, size) = page(ctx)?;
    let vpcs = ctx
        .state
        .backend
        .vpcs_of(&ctx.caller, ctx.region.as_deref())?;
    let items: Vec<Value> = vpcs
        .iter()
        .skip((n as usize - 1).saturating_mul(size as usize))
        .take(size as usize)
        .map(|v| {
            let vsws: Vec<String> = ctx.state.backend.vswitches_of(&v.id).unwrap_or_default().into_iter().map(|s| s.id).collect();
            json!({"VpcId": v.id, "RegionId": v.region_id, "CidrBlock": v.cidr, "Status": "Available", "OwnerId": v.account_id, "VSwitchIds": wrapped("VSwitchId", vsws.into_iter().map(Value::from).collect())})
        })
        .collect();
    let mut f = Fields::new();
    f.insert("TotalCount".into(), json!(vpcs.len()));
    f.insert("PageNumber".into(), json!(n));
    f.insert("PageSize".into(), json!(size));
    f.insert("Vpcs".into(), wrapped("Vpc", items));
    Ok(f)
}

fn describe_vswitches(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (n, size) = page(ctx)?;
    let vpcs = ctx
        .state
        .backend
        .vpcs_of(&ctx.caller, ctx.region.as_deref())?;
    let vpc_filter = ctx.params.opt("VpcId");
    let zone_filter = ctx.params.opt("ZoneId");
    let mut all = Vec::new();
    for v in vpcs.iter().filter(|v| vpc_filter.is_none_or(|f| f == v.id)) {
        for s in ctx.state.backend.vswitches_of(&v.id)? {
            if zone_filter.is_none_or(|z| z == s.zone_id) {
                all.push(json!({"VSwitchId": s.id, "VpcId": v.id, "ZoneId": s.zone_id, "AvailableIpAddressCount": s.free_ips, "Status": "Available"}));
            }
        }
    }
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((n as usize - 1).saturating_mul(size as usize))
        .take(size as usize)
        .collect();
    let mut f = Fields::new();
    f.insert("TotalCount".into(), json!(total));
    f.insert("PageNumber".into(), json!(n));
    f.insert("PageSize".into(), json!(size));
    f.insert("VSwitches".into(), wrapped("VSwitch", items));
    Ok(f)
}

/// The zones of `RegionId` (required, as in the real API), in the world file's order.
fn describe_zones(ctx: &Ctx) -> Result<Fields, ApiError> {
    let region_id = ctx
        .region
        .as_deref()
        .ok_or_else(|| ApiError::missing("RegionId"))?;
    let region = ctx.state.backend.region(region_id)?;
    let zones: Vec<Value> = region
        .zones
        .iter()
        .map(|z| json!({"ZoneId": z, "LocalName": local_name(&region.id, z), "ZoneType": "AvailabilityZone"}))
        .collect();
    let mut f = Fields::new();
    f.insert("Zones".into(), wrapped("Zone", zones));
    Ok(f)
}

// Deviation: the world file has no display names; `LocalName` is made from the zone id
// (`cn-hangzhou-h` -> `cn-hangzhou Zone H`) where the real cloud returns a localised name.
fn local_name(region_id: &str, zone_id: &str) -> String {
    let suffix = zone_id
        .strip_prefix(region_id)
        .map(|s| s.trim_start_matches('-'))
        .filter(|s| !s.is_empty())
        .unwrap_or(zone_id);
    format!("{region_id} Zone {}", suffix.to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::local_name;

    #[test]
    fn local_names_are_made_from_the_zone_suffix() {
        assert_eq!(
            local_name("cn-hangzhou", "cn-hangzhou-h"),
            "cn-hangzhou Zone H"
        );
        assert_eq!(
            local_name("ap-southeast-1", "ap-southeast-1a"),
            "ap-southeast-1 Zone A"
        );
        assert_eq!(local_name("r", "other"), "r Zone OTHER");
    }
}
