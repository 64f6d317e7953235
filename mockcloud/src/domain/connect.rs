//! Enablement of a software instance (S20–S24): which zones and vSwitches, and what it consumes.

use crate::error::ApiError;
use crate::world::Region;

use super::instance::{Instance, ManagementType};

#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub vpc_id: String,
    /// The primary zone first, then other zones the client chose (may be fewer than the mode's).
    pub zone_ids: Vec<String>,
    /// `vswitch_ids[i]` sits in `zone_ids[i]`; at least the primary zone's.
    pub vswitch_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VSwitchView {
    pub id: String,
    pub zone: String,
    pub free_ips: u32,
}

#[derive(Debug, Clone)]
pub struct VpcView {
    pub id: String,
    pub vswitches: Vec<VSwitchView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectPlan {
    pub zone_ids: Vec<String>,
    pub vswitch_ids: Vec<String>,
}

/// Checks a software enablement request and completes the zone list. `pick(n)` returns a random
/// index below `n`, used to assign other zones the client left out (S22).
pub fn plan_software_connect(
    inst: &Instance,
    req: &ConnectRequest,
    region: &Region,
    vpc: Option<&VpcView>,
    pick: impl FnMut(usize) -> usize,
) -> Result<ConnectPlan, ApiError> {
    if inst.management_type != ManagementType::Software {
        return Err(ApiError::Rejected {
            code: "Rejected.UnsupportedOperation",
            message: format!(
                "ConnectKmsInstance with KMProvider=Aliyun enables software key management instances only; {} is a {:?} instance.",
                inst.id, inst.management_type
            ),
        });
    }
    plan_network(inst, req, region, vpc, pick)
}

/// The network checks of a software enablement (S20, S22), shared by external instances (S43):
/// the VPC, the zones of the region with one vSwitch each (at least the primary zone's), at
/// least 1 free IP in each, the other zones up to the deployment mode's count assigned with
/// `pick` when left out.
pub fn plan_network(
    inst: &Instance,
    req: &ConnectRequest,
    region: &Region,
    vpc: Option<&VpcView>,
    mut pick: impl FnMut(usize) -> usize,
) -> Result<ConnectPlan, ApiError> {
    let vpc = vpc.ok_or_else(|| ApiError::InvalidVpcIdNotFound {
        id: req.vpc_id.clone(),
    })?;
    if req.zone_ids.is_empty() {
        return Err(ApiError::missing("ZoneIds"));
    }
    if req.vswitch_ids.is_empty() {
        return Err(ApiError::missing("VSwitchIds"));
    }
    let wanted = inst.deployment_mode.zone_count();
    if req.zone_ids.len() > wanted {
        return Err(ApiError::invalid(
            "ZoneIds",
            format!(
                "{} zones given but a {} instance uses {wanted}",
                req.zone_ids.len(),
                inst.deployment_mode.as_str()
            ),
        ));
    }
    for (i, z) in req.zone_ids.iter().enumerate() {
        if !region.zones.contains(z) {
            return Err(ApiError::InvalidZoneIdNotFound { id: z.clone() });
        }
        if req.zone_ids[..i].contains(z) {
            return Err(ApiError::invalid(
                "ZoneIds",
                format!("zone {z} is listed twice"),
            ));
        }
    }
    if req.vswitch_ids.len() > req.zone_ids.len() {
        return Err(ApiError::invalid(
            "VSwitchIds",
            "more vSwitches than zones: give one vSwitch per zone, in the same order",
        ));
    }
    for (vsw_id, zone) in req.vswitch_ids.iter().zip(&req.zone_ids) {
        let vsw = vpc
            .vswitches
            .iter()
            .find(|v| &v.id == vsw_id)
            .ok_or_else(|| ApiError::InvalidVSwitchIdNotFound { id: vsw_id.clone() })?;
        if &vsw.zone != zone {
            return Err(ApiError::InvalidParameterCode {
                code: "InvalidParameter.VSwitchZoneMismatch",
                message: format!(
                    "The vSwitch \"{vsw_id}\" is in zone {}, not in zone {zone} it is paired with.",
                    vsw.zone
                ),
            });
        }
        if vsw.free_ips < 1 {
            return Err(ApiError::VSwitchIpNotEnough {
                id: vsw_id.clone(),
                needed: 1,
            });
        }
    }
    let mut zone_ids = req.zone_ids.clone();
    let mut rest: Vec<&String> = region
        .zones
        .iter()
        .filter(|z| !zone_ids.contains(z))
        .collect();
    while zone_ids.len() < wanted && !rest.is_empty() {
        let z = rest.remove(pick(rest.len()));
        zone_ids.push(z.clone());
    }
    Ok(ConnectPlan {
        zone_ids,
        vswitch_ids: req.vswitch_ids.clone(),
    })
}

/// S21: letters, digits and `_ / + = . @ -` only.
pub fn check_instance_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::invalid(
            "InstanceName",
            "must be 1 to 128 characters",
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_/+=.@-".contains(*c)))
    {
        return Err(ApiError::invalid(
            "InstanceName",
            format!("character {c:?} is not allowed: use letters, digits and _ / + = . @ - only"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instance::{DeploymentMode, Instance};

    fn inst() -> Instance {
        let mut i: Instance = serde_json::from_value(serde_json::json!({
            "id": "kst-1", "account_id": "1", "region_id": "r", "management_type": "software",
            "deployment_mode": "dual_zone",
            "capacity": {"spec": 1000, "key_num": 1000, "secret_num": 0, "vpc_num": 1, "log": false, "log_storage": 0},
            "instance_backup": false, "expert_service": false, "product_type": "p", "period_months": 1,
            "renew_status": "ManualRenewal", "renew_period_months": 1, "purchased_at": 0, "visible_at": 0,
            "end_at": 1, "name": "kst-1", "connection": null, "released_at": null, "deletion_protection": false
        }))
        .unwrap();
        i.deployment_mode = DeploymentMode::DualZone;
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

    fn vpc(free: u32) -> VpcView {
        VpcView {
            id: "vpc".into(),
            vswitches: vec![
                VSwitchView {
                    id: "vsw-a".into(),
                    zone: "a".into(),
                    free_ips: free,
                },
                VSwitchView {
                    id: "vsw-b".into(),
                    zone: "b".into(),
                    free_ips: 5,
                },
            ],
        }
    }

    fn req(zones: &[&str], vsws: &[&str]) -> ConnectRequest {
        ConnectRequest {
            vpc_id: "vpc".into(),
            zone_ids: zones.iter().map(|s| s.to_string()).collect(),
            vswitch_ids: vsws.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn connect_assigns_the_missing_other_zone() {
        let plan = plan_software_connect(
            &inst(),
            &req(&["a"], &["vsw-a"]),
            &region(),
            Some(&vpc(1)),
            |n| n - 1,
        )
        .unwrap();
        assert_eq!(plan.zone_ids, ["a", "c"]);
    }

    #[test]
    fn connect_fails_when_vswitch_has_no_free_ip() {
        let err = plan_software_connect(
            &inst(),
            &req(&["a"], &["vsw-a"]),
            &region(),
            Some(&vpc(0)),
            |_| 0,
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidVSwitchId.IpNotEnough");
    }

    #[test]
    fn connect_fails_when_vswitch_is_in_another_zone() {
        let err = plan_software_connect(
            &inst(),
            &req(&["b", "a"], &["vsw-a"]),
            &region(),
            Some(&vpc(1)),
            |_| 0,
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidParameter.VSwitchZoneMismatch");
    }

    #[test]
    fn connect_fails_for_unknown_zone_vpc_and_too_many_zones() {
        let e = plan_software_connect(
            &inst(),
            &req(&["x"], &["vsw-a"]),
            &region(),
            Some(&vpc(1)),
            |_| 0,
        )
        .unwrap_err();
        assert_eq!(e.code(), "InvalidZoneId.NotFound");
        let e = plan_software_connect(&inst(), &req(&["a"], &["vsw-a"]), &region(), None, |_| 0)
            .unwrap_err();
        assert_eq!(e.code(), "InvalidVpcId.NotFound");
        let e = plan_software_connect(
            &inst(),
            &req(&["a", "b", "c"], &["vsw-a"]),
            &region(),
            Some(&vpc(1)),
            |_| 0,
        )
        .unwrap_err();
        assert!(e.message().contains("ZoneIds"));
    }

    #[test]
    fn instance_name_allows_only_the_seed_charset() {
        assert!(check_instance_name("kms_prod/a+b=c.d@e-f").is_ok());
        assert!(check_instance_name("has space")
            .unwrap_err()
            .message()
            .contains("InstanceName"));
        assert!(check_instance_name("").is_err());
    }
}
