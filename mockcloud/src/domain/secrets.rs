//! Secrets of a KMS instance (S05): names, versions and their stages (`ACSCurrent`,
//! `ACSPrevious`), at most ten versions kept, deletion with a recovery window or at once.
//! Secret values are opaque here: the backend seals them before they reach a record.

use serde::{Deserialize, Serialize};

use crate::clock::SimMillis;
use crate::error::ApiError;

use super::keys::DAY_MS;

pub const CURRENT: &str = "ACSCurrent";
pub const PREVIOUS: &str = "ACSPrevious";
/// A secret keeps at most this many versions; the oldest roll off.
pub const MAX_VERSIONS: usize = 10;
/// DeleteSecret's `RecoveryWindowInDays`, default 30.
pub const RECOVERY_DAYS: std::ops::RangeInclusive<u32> = 7..=30;
pub const DEFAULT_RECOVERY_DAYS: u32 = 30;
/// `SecretData` up to 30 KB.
pub const MAX_DATA_BYTES: usize = 30 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretVersion {
    pub id: String,
    pub created_at: SimMillis,
    /// Stage labels; a version with none is deprecated.
    pub stages: Vec<String>,
    /// `text` or `binary` (then the data is base64).
    pub data_type: String,
    /// The value, sealed by the backend.
    pub sealed_data: String,
    /// Whether `sealed_data` holds the value as the XKI proxy encrypted it (a secret under an
    /// external key, S45) rather than the value itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Secret {
    pub name: String,
    pub account_id: String,
    pub region_id: String,
    pub instance_id: String,
    pub encryption_key_id: String,
    pub description: String,
    pub secret_type: String,
    pub extended_config: Option<String>,
    pub created_at: SimMillis,
    pub updated_at: SimMillis,
    /// Set by DeleteSecret: the secret is gone from then on, unless restored before.
    pub planned_delete_at: Option<SimMillis>,
    /// Oldest first.
    pub versions: Vec<SecretVersion>,
}

impl Secret {
    pub fn arn(&self) -> String {
        format!(
            "acs:kms:{}:{}:secret/{}",
            self.region_id, self.account_id, self.name
        )
    }

    pub fn is_gone(&self, now: SimMillis) -> bool {
        self.planned_delete_at.is_some_and(|t| now >= t)
    }

    /// Deleted with a recovery window that has not passed yet.
    pub fn in_delete_window(&self, now: SimMillis) -> bool {
        self.planned_delete_at.is_some_and(|t| now < t)
    }

    /// Reading or changing the value refuses a secret that is planned for deletion.
    pub fn require_not_deleting(&self, now: SimMillis) -> Result<(), ApiError> {
        if self.in_delete_window(now) {
            return Err(in_delete_window(&self.name));
        }
        Ok(())
    }

    pub fn version(&self, id: &str) -> Option<&SecretVersion> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// The version GetSecretValue means: by id, by stage (default ACSCurrent), or both, which
    /// must then agree.
    pub fn select(
        &self,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<&SecretVersion, ApiError> {
        let not_found = |what: String| ApiError::ResourceNotFound { what };
        let by_stage = |stage: &str| {
            self.versions
                .iter()
                .find(|v| v.stages.iter().any(|s| s == stage))
        };
        match (version_id, stage) {
            (Some(id), stage) => {
                let v = self
                    .version(id)
                    .ok_or_else(|| not_found(format!("VersionId {id} of secret {}", self.name)))?;
                if let Some(st) = stage {
                    if !v.stages.iter().any(|s| s == st) {
                        return Err(not_found(format!(
                            "VersionId {id} of secret {} has no VersionStage {st}",
                            self.name
                        )));
                    }
                }
                Ok(v)
            }
            (None, stage) => {
                let st = stage.unwrap_or(CURRENT);
                by_stage(st)
                    .ok_or_else(|| not_found(format!("VersionStage {st} of secret {}", self.name)))
            }
        }
    }

    /// Adds a version carrying `stages`. Taking `ACSCurrent` moves the old current version to
    /// `ACSPrevious`; any other label moves from the version that had it. Versions left without
    /// labels are deprecated and the oldest roll off past [`MAX_VERSIONS`].
    pub fn add_version(&mut self, mut version: SecretVersion, stages: &[String], now: SimMillis) {
        let takes_current = stages.iter().any(|s| s == CURRENT);
        for v in &mut self.versions {
            let was_current = v.stages.iter().any(|s| s == CURRENT);
            v.stages.retain(|s| !stages.contains(s));
            if takes_current {
                v.stages.retain(|s| s != PREVIOUS);
                if was_current {
                    v.stages.push(PREVIOUS.to_string());
                }
            }
        }
        version.stages = stages.to_vec();
        self.versions.push(version);
        while self.versions.len() > MAX_VERSIONS {
            // The oldest deprecated version goes first; failing that the oldest one that is
            // neither current nor previous.
            let victim = self
                .versions
                .iter()
                .position(|v| v.stages.is_empty())
                .or_else(|| {
                    self.versions
                        .iter()
                        .position(|v| !v.stages.iter().any(|s| s == CURRENT || s == PREVIOUS))
                });
            match victim {
                Some(i) => {
                    self.versions.remove(i);
                }
                None => break,
            }
        }
        self.updated_at = now;
    }
}

pub fn in_delete_window(name: &str) -> ApiError {
    ApiError::Rejected {
        code: "Rejected.ResourceInDeleteWindow",
        message: format!("The secret is planned to be deleted: secret {name} is in its recovery window; RestoreSecret it first."),
    }
}

/// `SecretName`: 1 to 192 of letters, digits and `/ _ + = . @ -`, not starting with `acs/`.
pub fn check_secret_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::invalid("SecretName", format!("{name:?}: {why}"));
    if name.is_empty() || name.len() > 192 {
        return Err(bad("must be 1 to 192 characters"));
    }
    if name.starts_with("acs/") {
        return Err(bad("names starting with acs/ are reserved"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        return Err(bad("letters, digits and / _ + = . @ - only"));
    }
    Ok(())
}

/// `VersionId`: 1 to 64 of letters, digits and `. _ -`.
pub fn check_version_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(ApiError::invalid(
            "VersionId",
            format!("{id:?}: 1 to 64 letters, digits, . _ -"),
        ));
    }
    Ok(())
}

/// `SecretDataType` (default `text`) and `SecretData` (30 KB at most; base64 when `binary`).
pub fn check_secret_data(data: &str, data_type: Option<&str>) -> Result<String, ApiError> {
    let data_type = data_type.unwrap_or("text");
    if data.len() > MAX_DATA_BYTES {
        return Err(ApiError::invalid(
            "SecretData",
            format!("{} bytes: at most {MAX_DATA_BYTES}", data.len()),
        ));
    }
    match data_type {
        "text" => {}
        "binary" => {
            use base64::Engine;
            if base64::engine::general_purpose::STANDARD
                .decode(data)
                .is_err()
            {
                return Err(ApiError::invalid(
                    "SecretData",
                    "SecretDataType is binary but the value is not base64",
                ));
            }
        }
        other => {
            return Err(ApiError::invalid(
                "SecretDataType",
                format!("{other:?} is not text or binary"),
            ))
        }
    }
    Ok(data_type.to_string())
}

/// `SecretType`: only `Generic` secrets are served.
pub fn check_secret_type(t: Option<&str>) -> Result<String, ApiError> {
    match t.unwrap_or("Generic") {
        "Generic" => Ok("Generic".into()),
        // Deviation: managed secrets (Rds, Redis, RAMCredentials, ECS, PolarDB) need the
        // services they rotate; the mock has none.
        "Rds" | "Redis" | "RAMCredentials" | "ECS" | "PolarDB" => {
            Err(ApiError::UnsupportedOperation {
                message: format!(
                    "SecretType {} is not served by mockcloud; use Generic.",
                    t.unwrap_or_default()
                ),
            })
        }
        other => Err(ApiError::invalid(
            "SecretType",
            format!("{other:?} is not a secret type"),
        )),
    }
}

/// `VersionStages` of PutSecretValue (default `["ACSCurrent"]`).
pub fn check_stages(stages: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let stages = stages.unwrap_or_else(|| vec![CURRENT.to_string()]);
    if stages.is_empty() || stages.len() > 10 {
        return Err(ApiError::invalid(
            "VersionStages",
            "give 1 to 10 stage labels",
        ));
    }
    for (i, s) in stages.iter().enumerate() {
        if s.is_empty()
            || s.len() > 64
            || stages[..i].contains(s)
            || s == PREVIOUS
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(ApiError::invalid(
                "VersionStages",
                format!("{s:?}: labels are 1 to 64 letters, digits, . _ -, unique, and ACSPrevious is set by the service"),
            ));
        }
    }
    Ok(stages)
}

/// DeleteSecret: when the secret goes. `force` means now, otherwise after the window.
pub fn planned_delete(
    now: SimMillis,
    force: bool,
    window_days: Option<u32>,
) -> Result<SimMillis, ApiError> {
    if force {
        return Ok(now);
    }
    let days = window_days.unwrap_or(DEFAULT_RECOVERY_DAYS);
    if !RECOVERY_DAYS.contains(&days) {
        return Err(ApiError::invalid(
            "RecoveryWindowInDays",
            format!("{days} is outside 7 to 30 days"),
        ));
    }
    Ok(now + i64::from(days) * DAY_MS)
}

/// S05: the secret quota counts secrets, whatever their versions.
pub fn check_secret_quota(instance_id: &str, quota: u32, used: u32) -> Result<(), ApiError> {
    if used >= quota {
        return Err(ApiError::LimitExceeded {
            message: format!(
                "The request was rejected because user create resource limit was exceeded: instance {instance_id} uses {used} of its secret quota (SecretNum) of {quota} (S05)."
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str) -> SecretVersion {
        SecretVersion {
            id: id.into(),
            created_at: 0,
            stages: Vec::new(),
            data_type: "text".into(),
            sealed_data: format!("sealed-{id}"),
            external: false,
        }
    }

    fn secret() -> Secret {
        let mut s = Secret {
            name: "db/pass".into(),
            account_id: "1".into(),
            region_id: "cn-hangzhou".into(),
            instance_id: "kst-1".into(),
            encryption_key_id: "key-1".into(),
            description: String::new(),
            secret_type: "Generic".into(),
            extended_config: None,
            created_at: 0,
            updated_at: 0,
            planned_delete_at: None,
            versions: Vec::new(),
        };
        s.add_version(version("v1"), &[CURRENT.into()], 0);
        s
    }

    fn stages_of(s: &Secret, id: &str) -> Vec<String> {
        s.version(id).unwrap().stages.clone()
    }

    #[test]
    fn a_new_current_version_makes_the_old_one_previous() {
        let mut s = secret();
        s.add_version(version("v2"), &[CURRENT.into()], 1);
        assert_eq!(stages_of(&s, "v2"), [CURRENT]);
        assert_eq!(stages_of(&s, "v1"), [PREVIOUS]);
        s.add_version(version("v3"), &[CURRENT.into()], 2);
        assert_eq!(stages_of(&s, "v2"), [PREVIOUS]);
        assert!(stages_of(&s, "v1").is_empty(), "v1 is deprecated");
        assert_eq!(s.select(None, None).unwrap().id, "v3");
        assert_eq!(s.select(None, Some(PREVIOUS)).unwrap().id, "v2");
        assert_eq!(s.select(Some("v1"), None).unwrap().id, "v1");
        let e = s.select(Some("v1"), Some(CURRENT)).unwrap_err();
        assert_eq!((e.code(), e.status()), ("Forbidden.ResourceNotFound", 404));
        assert!(s.select(Some("v9"), None).is_err());
    }

    #[test]
    fn a_custom_stage_leaves_current_alone_and_moves_between_versions() {
        let mut s = secret();
        s.add_version(version("v2"), &["ACSNext".into()], 1);
        assert_eq!(stages_of(&s, "v1"), [CURRENT]);
        s.add_version(version("v3"), &["ACSNext".into()], 2);
        assert!(stages_of(&s, "v2").is_empty());
        assert_eq!(s.select(None, Some("ACSNext")).unwrap().id, "v3");
    }

    #[test]
    fn at_most_ten_versions_are_kept_oldest_first() {
        let mut s = secret();
        for i in 2..=15 {
            s.add_version(version(&format!("v{i}")), &[CURRENT.into()], i);
        }
        assert_eq!(s.versions.len(), MAX_VERSIONS);
        assert_eq!(s.versions[0].id, "v6");
        assert_eq!(stages_of(&s, "v15"), [CURRENT]);
        assert_eq!(stages_of(&s, "v14"), [PREVIOUS]);
    }

    #[test]
    fn deletion_window_is_seven_to_thirty_days_or_now() {
        assert_eq!(planned_delete(100, true, Some(3)).unwrap(), 100);
        assert_eq!(planned_delete(0, false, None).unwrap(), 30 * DAY_MS);
        assert_eq!(planned_delete(0, false, Some(7)).unwrap(), 7 * DAY_MS);
        for d in [6, 31] {
            let e = planned_delete(0, false, Some(d)).unwrap_err();
            assert!(e.message().contains("RecoveryWindowInDays"));
        }
        let mut s = secret();
        s.planned_delete_at = Some(10);
        assert!(s.in_delete_window(9) && !s.is_gone(9));
        assert!(s.is_gone(10) && !s.in_delete_window(10));
        assert_eq!(
            s.require_not_deleting(5).unwrap_err().code(),
            "Rejected.ResourceInDeleteWindow"
        );
    }

    #[test]
    fn names_versions_data_and_quota_are_checked() {
        assert!(check_secret_name("db/pass+1=x.y@z-w_").is_ok());
        for bad in ["", "acs/x", "a b", &"x".repeat(193)] {
            assert!(check_secret_name(bad)
                .unwrap_err()
                .message()
                .contains("SecretName"));
        }
        assert!(check_version_id("v1.0_a-b").is_ok());
        assert!(check_version_id("v 1").is_err());
        assert_eq!(check_secret_data("x", None).unwrap(), "text");
        assert!(check_secret_data("aGk=", Some("binary")).is_ok());
        assert!(check_secret_data("not base64!", Some("binary")).is_err());
        assert!(check_secret_data(&"x".repeat(MAX_DATA_BYTES + 1), None).is_err());
        assert!(check_secret_type(Some("Rds")).is_err());
        assert_eq!(check_stages(None).unwrap(), vec![CURRENT.to_string()]);
        assert!(check_stages(Some(vec![PREVIOUS.into()])).is_err());
        assert!(check_secret_quota("kst-1", 2, 1).is_ok());
        let e = check_secret_quota("kst-1", 2, 2).unwrap_err();
        assert_eq!((e.code(), e.status()), ("Rejected.LimitExceeded", 400));
        assert!(e.message().contains("SecretNum"));
        assert!(check_secret_quota("kst-1", 0, 0).is_err());
    }
}
