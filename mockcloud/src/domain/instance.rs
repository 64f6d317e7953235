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
            Some(_) => match self.connected_at(account) {
                Some(t) if now >= t => Status::Connected,
                _ => Status::Connecting,
            },
        }
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
    fn instance_is_invisible_before_delay_and_after_release() {
        let mut i = sample(0);
        assert!(!i.is_visible(MINUTE));
        assert!(i.is_visible(2 * MINUTE));
        i.released_at = Some(3 * MINUTE);
        assert!(!i.is_visible(3 * MINUTE));
    }
}
