//! Purchase and upgrade rules (S01–S12), applied to a BSS order already parsed into types.

use crate::error::ApiError;
use crate::world::Region;

use super::instance::{Capacity, DeploymentMode, ManagementType, RenewStatus};

/// A BSS CreateInstance / ModifyInstance order: every field as the client sent it (parsed, not
/// yet checked against the rules).
#[derive(Debug, Clone, Default)]
pub struct Order {
    pub region: Option<String>,
    pub product_version: Option<String>,
    pub spec: Option<u32>,
    pub key_num: Option<u32>,
    pub secret_num: Option<u32>,
    pub vpc_num: Option<u32>,
    pub log: Option<bool>,
    pub log_storage: Option<u32>,
    pub deployment_mode: Option<String>,
    pub instance_backup: Option<bool>,
    pub expert_service: Option<bool>,
    pub quantity: Option<u32>,
    pub period: Option<u32>,
    pub renewal_status: Option<String>,
    pub renew_period: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub management_type: ManagementType,
    pub deployment_mode: DeploymentMode,
    pub capacity: Capacity,
    pub instance_backup: bool,
    pub expert_service: bool,
    pub period_months: u32,
    pub renew_status: RenewStatus,
    pub renew_period_months: u32,
}

pub const SPECS: [u32; 4] = [200, 1000, 2000, 4000];
pub const SUPPORT_SPECS: [u32; 2] = [10_000, 20_000];
pub const PERIODS: [u32; 7] = [1, 2, 3, 6, 12, 24, 36];
pub const ENTITLEMENT_HIGH_PERFORMANCE: &str = "high_performance";
pub const ENTITLEMENT_MULTI_INSTANCE: &str = "multi_instance";

fn in_range(name: &str, v: u32, lo: u32, hi: u32) -> Result<u32, ApiError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid(
            name,
            format!("{v} is outside {lo} to {hi}"),
        ))
    }
}

/// S07: log storage is 0 without log analysis, otherwise at least 1000 GB in steps of 1000.
fn check_log(log: bool, storage: u32) -> Result<(), ApiError> {
    match (log, storage) {
        (false, 0) => Ok(()),
        (false, s) => Err(ApiError::invalid(
            "LogStorage",
            format!("{s} GB given but log analysis (Log) is off; it must be 0"),
        )),
        (true, s) if s >= 1000 && s % 1000 == 0 && s <= 500_000 => Ok(()),
        (true, s) => Err(ApiError::invalid(
            "LogStorage",
            format!(
                "{s} GB: with log analysis on it must be at least 1000 GB, in steps of 1000 GB"
            ),
        )),
    }
}

/// S03: the spec values the API accepts; 10,000 and 20,000 only for software with support.
fn check_spec(spec: u32, mt: ManagementType, entitlements: &[String]) -> Result<u32, ApiError> {
    if SPECS.contains(&spec) {
        return Ok(spec);
    }
    if SUPPORT_SPECS.contains(&spec) {
        if mt != ManagementType::Software {
            return Err(ApiError::invalid(
                "Spec",
                format!("{spec} exists for software key management only"),
            ));
        }
        if !entitlements
            .iter()
            .any(|e| e == ENTITLEMENT_HIGH_PERFORMANCE)
        {
            return Err(ApiError::Rejected {
                code: "Rejected.ContactSupport",
                message: format!("A compute performance of {spec} needs a support entitlement: contact Alibaba Cloud support (in mockcloud: add \"{ENTITLEMENT_HIGH_PERFORMANCE}\" to the account's entitlements in the world file)."),
            });
        }
        return Ok(spec);
    }
    Err(ApiError::invalid(
        "Spec",
        format!("{spec}: must be one of 200, 1000, 2000, 4000 (10000 and 20000 with support)"),
    ))
}

pub fn validate_purchase(
    order: &Order,
    region: &Region,
    entitlements: &[String],
) -> Result<Purchase, ApiError> {
    let pv = order
        .product_version
        .as_deref()
        .ok_or_else(|| ApiError::missing("ProductVersion"))?;
    let management_type = ManagementType::from_product_version(pv).ok_or_else(|| {
        ApiError::invalid(
            "ProductVersion",
            format!("{pv}: must be 3 (software), 1 (hardware) or external"),
        )
    })?;

    // S02: single-zone regions deploy single-zone only; elsewhere dual (default) or multi.
    let deployment_mode = match order.deployment_mode.as_deref() {
        None if region.zones.len() == 1 => DeploymentMode::SingleZone,
        None => DeploymentMode::DualZone,
        Some(s) => {
            let m = DeploymentMode::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "DeploymentMode",
                    format!("{s}: must be single_zone, dual_zone or multi_zone"),
                )
            })?;
            if m.zone_count() > region.zones.len()
                || (region.zones.len() == 1) != (m == DeploymentMode::SingleZone)
            {
                return Err(ApiError::invalid(
                    "DeploymentMode",
                    format!(
                        "{s} is not available in {} which has {} zone(s)",
                        region.id,
                        region.zones.len()
                    ),
                ));
            }
            m
        }
    };

    let spec = check_spec(
        order.spec.ok_or_else(|| ApiError::missing("Spec"))?,
        management_type,
        entitlements,
    )?;
    let key_num = in_range("KeyNum", order.key_num.unwrap_or(1000), 100, 100_000)?;
    let secret_num = in_range("SecretNum", order.secret_num.unwrap_or(0), 0, 100_000)?;
    let vpc_num = in_range("VpcNum", order.vpc_num.unwrap_or(1), 1, 10_000)?;
    let log = order.log.unwrap_or(false);
    let log_storage = order.log_storage.unwrap_or(0);
    check_log(log, log_storage)?;

    // S10: instance backup exists for software instances only.
    let instance_backup = order.instance_backup.unwrap_or(false);
    if instance_backup && management_type != ManagementType::Software {
        return Err(ApiError::invalid(
            "InstanceBackup",
            "instance backup is available for software key management instances only",
        ));
    }

    // S08: one instance per purchase.
    let quantity = order.quantity.unwrap_or(1);
    if quantity == 0 {
        return Err(ApiError::invalid("Quantity", "must be at least 1"));
    }
    if quantity > 1 && !entitlements.iter().any(|e| e == ENTITLEMENT_MULTI_INSTANCE) {
        return Err(ApiError::Rejected {
            code: "Rejected.QuantityExceeded",
            message: format!("One KMS instance per purchase; buying {quantity} needs support (contact Alibaba Cloud support)."),
        });
    }

    // S09: subscription months and renewal.
    let period_months = order.period.unwrap_or(1);
    if !PERIODS.contains(&period_months) {
        return Err(ApiError::invalid(
            "Period",
            format!("{period_months}: must be one of 1, 2, 3, 6, 12, 24, 36 months"),
        ));
    }
    let renew_status = match order.renewal_status.as_deref() {
        None => RenewStatus::ManualRenewal,
        Some(s) => RenewStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "RenewalStatus",
                format!("{s}: must be AutoRenewal, ManualRenewal or NotRenewal"),
            )
        })?,
    };
    let renew_period_months = order.renew_period.unwrap_or(period_months);
    if !PERIODS.contains(&renew_period_months) {
        return Err(ApiError::invalid(
            "RenewPeriod",
            format!("{renew_period_months}: must be one of 1, 2, 3, 6, 12, 24, 36 months"),
        ));
    }

    Ok(Purchase {
        management_type,
        deployment_mode,
        capacity: Capacity {
            spec,
            key_num,
            secret_num,
            vpc_num,
            log,
            log_storage,
        },
        instance_backup,
        expert_service: order.expert_service.unwrap_or(false),
        period_months,
        renew_status,
        renew_period_months,
    })
}

/// S07, S12: an upgrade only raises quotas, and log analysis once on stays on.
pub fn validate_upgrade(
    current: &Capacity,
    mt: ManagementType,
    order: &Order,
    entitlements: &[String],
) -> Result<Capacity, ApiError> {
    fn up(name: &str, cur: u32, new: Option<u32>) -> Result<u32, ApiError> {
        match new {
            Some(v) if v < cur => Err(ApiError::Rejected {
                code: "Rejected.DowngradeNotSupported",
                message: format!(
                    "{name} can only go up: the instance has {cur}, the order asks for {v}."
                ),
            }),
            Some(v) => Ok(v),
            None => Ok(cur),
        }
    }
    let spec = up("Spec", current.spec, order.spec)?;
    if spec != current.spec {
        check_spec(spec, mt, entitlements)?;
    }
    let capacity = Capacity {
        spec,
        key_num: in_range(
            "KeyNum",
            up("KeyNum", current.key_num, order.key_num)?,
            100,
            100_000,
        )?,
        secret_num: in_range(
            "SecretNum",
            up("SecretNum", current.secret_num, order.secret_num)?,
            0,
            100_000,
        )?,
        vpc_num: in_range(
            "VpcNum",
            up("VpcNum", current.vpc_num, order.vpc_num)?,
            1,
            10_000,
        )?,
        log: match order.log {
            Some(false) if current.log => {
                return Err(ApiError::Rejected {
                    code: "Rejected.LogAnalysisCannotBeDisabled",
                    message: "Log analysis cannot be disabled once it is enabled.".into(),
                })
            }
            Some(v) => v,
            None => current.log,
        },
        log_storage: up("LogStorage", current.log_storage, order.log_storage)?,
    };
    check_log(capacity.log, capacity.log_storage)?;
    Ok(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(zones: usize) -> Region {
        Region {
            id: "r".into(),
            code: "rrr".into(),
            mainland: true,
            zones: (0..zones).map(|i| format!("z{i}")).collect(),
        }
    }

    fn order() -> Order {
        Order {
            product_version: Some("3".into()),
            spec: Some(1000),
            ..Default::default()
        }
    }

    #[test]
    fn purchase_gets_seed_defaults() {
        let p = validate_purchase(&order(), &region(3), &[]).unwrap();
        assert_eq!(p.deployment_mode, DeploymentMode::DualZone);
        assert_eq!(
            p.capacity,
            Capacity {
                spec: 1000,
                key_num: 1000,
                secret_num: 0,
                vpc_num: 1,
                log: false,
                log_storage: 0
            }
        );
        assert_eq!(p.renew_status, RenewStatus::ManualRenewal);
    }

    #[test]
    fn single_zone_region_defaults_to_single_zone_and_refuses_dual() {
        assert_eq!(
            validate_purchase(&order(), &region(1), &[])
                .unwrap()
                .deployment_mode,
            DeploymentMode::SingleZone
        );
        let o = Order {
            deployment_mode: Some("dual_zone".into()),
            ..order()
        };
        assert_eq!(
            validate_purchase(&o, &region(1), &[]).unwrap_err().code(),
            "InvalidParameter"
        );
    }

    #[test]
    fn support_spec_is_refused_without_entitlement() {
        let o = Order {
            spec: Some(10_000),
            ..order()
        };
        assert_eq!(
            validate_purchase(&o, &region(3), &[]).unwrap_err().code(),
            "Rejected.ContactSupport"
        );
        assert!(validate_purchase(&o, &region(3), &[ENTITLEMENT_HIGH_PERFORMANCE.into()]).is_ok());
        let o = Order {
            spec: Some(300),
            ..order()
        };
        assert!(validate_purchase(&o, &region(3), &[])
            .unwrap_err()
            .message()
            .contains("Spec"));
    }

    #[test]
    fn log_storage_needs_log_and_thousands() {
        let o = Order {
            log: Some(true),
            log_storage: Some(1500),
            ..order()
        };
        assert!(validate_purchase(&o, &region(3), &[])
            .unwrap_err()
            .message()
            .contains("LogStorage"));
        let o = Order {
            log: Some(false),
            log_storage: Some(1000),
            ..order()
        };
        assert!(validate_purchase(&o, &region(3), &[]).is_err());
        let o = Order {
            log: Some(true),
            log_storage: Some(2000),
            ..order()
        };
        assert!(validate_purchase(&o, &region(3), &[]).is_ok());
    }

    #[test]
    fn more_than_one_instance_per_purchase_is_refused() {
        let o = Order {
            quantity: Some(2),
            ..order()
        };
        assert_eq!(
            validate_purchase(&o, &region(3), &[]).unwrap_err().code(),
            "Rejected.QuantityExceeded"
        );
    }

    #[test]
    fn upgrade_refuses_lower_quota_and_disabling_log() {
        let cur = Capacity {
            spec: 1000,
            key_num: 2000,
            secret_num: 0,
            vpc_num: 1,
            log: true,
            log_storage: 1000,
        };
        let o = Order {
            key_num: Some(1000),
            ..Default::default()
        };
        assert_eq!(
            validate_upgrade(&cur, ManagementType::Software, &o, &[])
                .unwrap_err()
                .code(),
            "Rejected.DowngradeNotSupported"
        );
        let o = Order {
            log: Some(false),
            ..Default::default()
        };
        assert_eq!(
            validate_upgrade(&cur, ManagementType::Software, &o, &[])
                .unwrap_err()
                .code(),
            "Rejected.LogAnalysisCannotBeDisabled"
        );
        let o = Order {
            secret_num: Some(10),
            ..Default::default()
        };
        assert_eq!(
            validate_upgrade(&cur, ManagementType::Software, &o, &[])
                .unwrap()
                .secret_num,
            10
        );
    }
}
