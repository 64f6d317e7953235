//! The KMS instance record and its derived status.

use serde::{Deserialize, Serialize};

use crate::clock::{SimMillis, MINUTE};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ManagementType {
    Software,
    Hardware,
    External,
}

impl ManagementType {
    /// BSS `ProductVersion`: `3` software and `1` hardware are real.
    // Deviation: the real cloud sells external key management under a product code we do not
    // know; the mock uses ProductVersion `external`.
    pub fn product_version(self) -> &'static str {
        match self {
            ManagementType::Software => "3",
            ManagementType::Hardware => "1",
            ManagementType::External => "external",
        }
    }

    pub fn from_product_version(v: &str) -> Option<Self> {
        match v {
            "3" | "5" => Some(ManagementType::Software),
            "1" => Some(ManagementType::Hardware),
            "external" => Some(ManagementType::External),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentMode {
    SingleZone,
    DualZone,
    MultiZone,
}

impl DeploymentMode {
    pub fn zone_count(self) -> usize {
        match self {
            DeploymentMode::SingleZone => 1,
            DeploymentMode::DualZone => 2,
            DeploymentMode::MultiZone => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentMode::SingleZone => "single_zone",
            DeploymentMode::DualZone => "dual_zone",
            DeploymentMode::MultiZone => "multi_zone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single_zone" => Some(DeploymentMode::SingleZone),
            "dual_zone" => Some(DeploymentMode::DualZone),
            "multi_zone" => Some(DeploymentMode::MultiZone),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum RenewStatus {
    AutoRenewal,
    ManualRenewal,
    NotRenewal,
}

impl RenewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RenewStatus::AutoRenewal => "AutoRenewal",
            RenewStatus::ManualRenewal => "ManualRenewal",
            RenewStatus::NotRenewal => "NotRenewal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AutoRenewal" => Some(RenewStatus::AutoRenewal),
            "ManualRenewal" => Some(RenewStatus::ManualRenewal),
            "NotRenewal" => Some(RenewStatus::NotRenewal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Uninitialized,
    Connecting,
    Connected,
    Disconnected,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Uninitialized => "Uninitialized",
            Status::Connecting => "Connecting",
            Status::Connected => "Connected",
            Status::Disconnected => "Disconnected",
            Status::Error => "Error",
        }
    }
}

/// What was bought: the purchase parameters after validation (S01–S10).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Capacity {
    pub spec: u32,
    pub key_num: u32,
    pub secret_num: u32,
    pub vpc_num: u32,
    pub log: bool,
    pub log_storage: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Connection {
    pub vpc_id: String,
    pub zone_ids: Vec<String>,
    pub vswitch_ids: Vec<String>,
    pub requested_at: SimMillis,
    /// How long enablement takes once it can proceed (S24: about 30 minutes).
    pub duration_ms: i64,
    /// Cross-site purchases need PrivateZone activated before enablement can finish (S23).
    pub needs_private_zone: bool,
    /// An injected failure: enablement ends in status Error with this reason.
    #[serde(default)]
    pub failure: Option<String>,
    /// An injected fault: enablement never finishes.
    #[serde(default)]
    pub stuck: bool,
    /// IPs taken from each vSwitch (S20: 1 for software, S31: 4 for hardware); given back on
    /// release or a new enablement.
    #[serde(default = "one_ip")]
    pub ips_per_vswitch: u32,
    /// The HSM cluster of a hardware instance (S30).
    #[serde(default)]
    pub hsm: Option<HsmBinding>,
    /// The XKI proxy of an external instance (S41, S42).
    #[serde(default)]
    pub xki: Option<super::external::XkiBinding>,
}

fn one_ip() -> u32 {
    1
}

/// A hardware instance's HSM cluster, and how many HSMs the cluster had when the binding was
/// made: an HSM added later to a manual-sync cluster is not synchronised (S34).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HsmBinding {
    pub cluster_id: String,
    pub hsms_at_bind: u32,
}

/// A further VPC the instance is reachable from (UpdateKmsInstanceBindVpc).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BindVpc {
    pub vpc_id: String,
    pub vswitch_id: String,
    pub region_id: String,
    pub vpc_owner_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Instance {
    pub id: String,
    pub account_id: String,
    pub region_id: String,
    pub management_type: ManagementType,
    pub deployment_mode: DeploymentMode,
    pub capacity: Capacity,
    pub instance_backup: bool,
    pub expert_service: bool,
    pub product_type: String,
    pub period_months: u32,
    pub renew_status: RenewStatus,
    pub renew_period_months: u32,
    pub purchased_at: SimMillis,
    /// The instance shows in KMS 1 to 5 minutes after purchase (S11).
    pub visible_at: SimMillis,
    pub end_at: SimMillis,
    pub name: String,
    pub connection: Option<Connection>,
    pub released_at: Option<SimMillis>,
    pub deletion_protection: bool,
    #[serde(default)]
    pub deletion_protection_description: String,
    #[serde(default)]
    pub bind_vpcs: Vec<BindVpc>,
    /// Accounts the instance is shared with.
    #[serde(default)]
    pub shared_accounts: Vec<String>,
}

/// The account facts that status derivation needs.
#[derive(Debug, Clone, Copy)]
pub struct AccountView {
    /// When PrivateZone was activated, if it is.
    pub private_zone_since: Option<SimMillis>,
}

impl Instance {
    pub fn is_released(&self, now: SimMillis) -> bool {
        self.released_at.is_some_and(|t| t <= now)
    }

    /// Visible in KMS (GetKmsInstance, ListKmsInstances): purchased, past the delay, not released.
    pub fn is_visible(&self, now: SimMillis) -> bool {
        now >= self.visible_at && !self.is_released(now)
    }

    /// When enablement finishes, if it can (None while PrivateZone blocks it).
    pub fn connected_at(&self, account: AccountView) -> Option<SimMillis> {
        let c = self.connection.as_ref()?;
        let start = if c.needs_private_zone {
            c.requested_at.max(account.private_zone_since?)
        } else {
            c.requested_at
        };
        Some(start + c.duration_ms)
    }

    pub fn status(&self, now: SimMillis, account: AccountView) -> Status {
        match &self.connection {
            None => Status::Uninitialized,
            Some(c) if c.failure.is_some() => Status::Error,
            Some(c) if c.stuck => Status::Connecting,
            Some(_) => match self.connected_at(account) {
                Some(t) if now >= t => Status::Connected,
                _ => Status::Connecting,
            },
        }
    }

    /// The end of the subscription: with auto-renewal it moves on by the renewal length each
    /// time it is reached (S09). Deviation: a month is 30 simulated days.
    pub fn effective_end(&self, now: SimMillis) -> SimMillis {
        let mut end = self.end_at;
        if self.renew_status == RenewStatus::AutoRenewal {
            let step = i64::from(self.renew_period_months.max(1)) * 30 * 24 * 60 * MINUTE;
            if now >= end {
                end += ((now - end) / step + 1) * step;
            }
        }
        end
    }

    /// Expired without auto-renewal: the instance serves nothing (S52).
    pub fn is_expired(&self, now: SimMillis) -> bool {
        now >= self.effective_end(now)
    }

    /// Access management units in use (S06): the instance's own VPC, every further VPC it is
    /// reachable from, and every account it is shared with.
    pub fn access_units(&self, bind_vpcs: &[BindVpc], shared: &[String]) -> u32 {
        let own = self.connection.as_ref().map(|c| c.vpc_id.as_str());
        let extra = bind_vpcs
            .iter()
            .filter(|b| Some(b.vpc_id.as_str()) != own)
            .count();
        (1 + extra + shared.len()) as u32
    }

    /// S06: refuses a binding or sharing the access management quota does not cover.
    pub fn check_access_quota(
        &self,
        bind_vpcs: &[BindVpc],
        shared: &[String],
    ) -> Result<(), ApiError> {
        let need = self.access_units(bind_vpcs, shared);
        if need > self.capacity.vpc_num {
            return Err(ApiError::Rejected {
                code: "Rejected.ShareQuotaExceedLimit",
                message: format!(
                    "Instance Share Quota Exceed Limit: {} VPC(s) and {} shared account(s) need an access management quota of {need}; instance {} has {} (S06).",
                    need as usize - shared.len(),
                    shared.len(),
                    self.id,
                    self.capacity.vpc_num
                ),
            });
        }
        Ok(())
    }

    /// One place that says which statuses an action accepts.
    pub fn require_status(
        &self,
        now: SimMillis,
        account: AccountView,
        accepted: &[Status],
    ) -> Result<Status, ApiError> {
        let s = self.status(now, account);
        if accepted.contains(&s) {
            Ok(s)
        } else {
            Err(ApiError::DkmsInstanceStateInvalid {
                id: self.id.clone(),
                status: s.as_str().into(),
            })
        }
    }
}

/// Enablement takes about 30 minutes for software instances (S24).
pub const SOFTWARE_ENABLE_MS: i64 = 30 * MINUTE;

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(now: SimMillis) -> Instance {
        Instance {
            id: "kst-hzz000".into(),
            account_id: "1".into(),
            region_id: "cn-hangzhou".into(),
            management_type: ManagementType::Software,
            deployment_mode: DeploymentMode::DualZone,
            capacity: Capacity {
                spec: 1000,
                key_num: 1000,
                secret_num: 0,
                vpc_num: 1,
                log: false,
                log_storage: 0,
            },
            instance_backup: false,
            expert_service: false,
            product_type: "kms_ddi_public_cn".into(),
            period_months: 1,
            renew_status: RenewStatus::ManualRenewal,
            renew_period_months: 1,
            purchased_at: now,
            visible_at: now + 2 * MINUTE,
            end_at: now + 30 * 24 * 60 * MINUTE,
            name: "kst-hzz000".into(),
            connection: None,
            released_at: None,
            deletion_protection: false,
            deletion_protection_description: String::new(),
            bind_vpcs: Vec::new(),
            shared_accounts: Vec::new(),
        }
    }

    fn connection(at: SimMillis, needs_pz: bool) -> Connection {
        Connection {
            vpc_id: "vpc".into(),
            zone_ids: vec!["a".into(), "b".into()],
            vswitch_ids: vec!["vsw".into()],
            requested_at: at,
            duration_ms: SOFTWARE_ENABLE_MS,
            needs_private_zone: needs_pz,
            failure: None,
            stuck: false,
            ips_per_vswitch: 1,
            hsm: None,
            xki: None,
        }
    }

    const NO_PZ: AccountView = AccountView {
        private_zone_since: None,
    };

    #[test]
    fn status_goes_uninitialized_connecting_connected_after_thirty_minutes() {
        let mut i = sample(0);
        assert_eq!(i.status(0, NO_PZ), Status::Uninitialized);
        i.connection = Some(connection(10 * MINUTE, false));
        assert_eq!(i.status(10 * MINUTE, NO_PZ), Status::Connecting);
        assert_eq!(i.status(40 * MINUTE - 1, NO_PZ), Status::Connecting);
        assert_eq!(i.status(40 * MINUTE, NO_PZ), Status::Connected);
    }

    #[test]
    fn cross_site_instance_stays_connecting_until_private_zone_is_activated() {
        let mut i = sample(0);
        i.connection = Some(connection(0, true));
        assert_eq!(i.status(1000 * MINUTE, NO_PZ), Status::Connecting);
        let pz = AccountView {
            private_zone_since: Some(100 * MINUTE),
        };
        assert_eq!(i.status(129 * MINUTE, pz), Status::Connecting);
        assert_eq!(i.status(130 * MINUTE, pz), Status::Connected);
    }

    #[test]
    fn injected_failure_gives_error_and_auto_renewal_moves_the_end() {
        let mut i = sample(0);
        let mut c = connection(0, false);
        c.failure = Some("boom".into());
        i.connection = Some(c);
        assert_eq!(i.status(100 * MINUTE, NO_PZ), Status::Error);
        let month = 30 * 24 * 60 * MINUTE;
        assert!(i.is_expired(i.end_at));
        i.renew_status = RenewStatus::AutoRenewal;
        assert_eq!(i.effective_end(i.end_at), i.end_at + month);
        assert!(!i.is_expired(i.end_at + month / 2));
    }

    #[test]
    fn access_quota_counts_own_vpc_extra_vpcs_and_shared_accounts() {
        let mut i = sample(0);
        i.connection = Some(connection(0, false));
        let b = |id: &str| BindVpc {
            vpc_id: id.into(),
            vswitch_id: "v".into(),
            region_id: "r".into(),
            vpc_owner_id: "1".into(),
        };
        let shared = vec!["2".to_string(), "3".to_string()];
        assert_eq!(
            i.access_units(&[b("vpc"), b("vpc-2"), b("vpc-3")], &shared),
            5
        );
        i.capacity.vpc_num = 4;
        assert_eq!(
            i.check_access_quota(&[b("vpc-2"), b("vpc-3")], &shared)
                .unwrap_err()
                .code(),
            "Rejected.ShareQuotaExceedLimit"
        );
        i.capacity.vpc_num = 5;
        assert!(i
            .check_access_quota(&[b("vpc-2"), b("vpc-3")], &shared)
            .is_ok());
    }

    #[test]
    fn instance_is_invisible_before_delay_and_after_release() {
        let mut i = sample(0);
        assert!(!i.is_visible(MINUTE));
        assert!(i.is_visible(2 * MINUTE));
        i.released_at = Some(3 * MINUTE);
        assert!(!i.is_visible(3 * MINUTE));
    }
}
