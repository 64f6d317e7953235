//! Typed calls for keys and secrets in KMS instances. [`Client::find_key`] and
//! [`Client::find_secret`] are the places that map "not found" for them.

use serde_json::Value;

use super::kms::s;
use super::{ApiError, Client, Product};

/// What DescribeKey says about a key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyInfo {
    pub id: String,
    pub arn: String,
    pub instance_id: String,
    pub key_spec: String,
    pub key_usage: String,
    pub key_state: String,
    pub protection_level: String,
    pub description: String,
    pub automatic_rotation: bool,
    /// Seconds, from `RotationInterval` (`"31536000s"`); 0 when absent.
    pub rotation_interval_secs: i64,
    pub primary_key_version: String,
    pub creation_date: String,
    pub delete_date: String,
}

/// What DescribeSecret and ListSecretVersionIds say about a secret (never its value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretInfo {
    pub name: String,
    pub arn: String,
    pub instance_id: String,
    pub encryption_key_id: String,
    pub description: String,
    pub create_time: String,
    pub planned_delete_time: String,
    /// The version carrying the `ACSCurrent` stage.
    pub current_version: String,
}

/// A secret to create.
pub struct NewSecret<'a> {
    pub name: &'a str,
    pub version_id: &'a str,
    pub value: &'a str,
    pub value_type: &'a str,
    pub encryption_key_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub description: &'a str,
}

fn p(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// `"604800s"`, `"7d"`, `"12h"`: the interval in seconds.
pub fn interval_secs(v: &str) -> Option<i64> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    match unit {
        "s" => Some(n),
        "m" => Some(n * 60),
        "h" => Some(n * 3600),
        "d" => Some(n * 86_400),
        _ => None,
    }
}

pub fn parse_key(m: &Value) -> KeyInfo {
    KeyInfo {
        id: s(m, "KeyId"),
        arn: s(m, "Arn"),
        instance_id: s(m, "DKMSInstanceId"),
        key_spec: s(m, "KeySpec"),
        key_usage: s(m, "KeyUsage"),
        key_state: s(m, "KeyState"),
        protection_level: s(m, "ProtectionLevel"),
        description: s(m, "Description"),
        automatic_rotation: s(m, "AutomaticRotation") == "Enabled",
        rotation_interval_secs: interval_secs(&s(m, "RotationInterval")).unwrap_or(0),
        primary_key_version: s(m, "PrimaryKeyVersion"),
        creation_date: s(m, "CreationDate"),
        delete_date: s(m, "DeleteDate"),
    }
}

fn not_found(e: &ApiError) -> bool {
    matches!(
        e.code(),
        "Forbidden.KeyNotFound" | "Forbidden.AliasNotFound" | "Forbidden.ResourceNotFound"
    )
}

impl Client {
    /// DescribeKey; `None` when the key does not exist.
    pub async fn find_key(&self, key_id: &str) -> Result<Option<KeyInfo>, ApiError> {
        match self
            .call(Product::Kms, "DescribeKey", &[p("KeyId", key_id)])
            .await
        {
            Ok(body) => Ok(Some(parse_key(&body["KeyMetadata"]))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create_key(
        &self,
        instance_id: &str,
        key_spec: &str,
        key_usage: &str,
        description: &str,
        rotation: Option<&str>,
    ) -> Result<KeyInfo, ApiError> {
        let mut params = vec![
            p("DKMSInstanceId", instance_id),
            p("KeySpec", key_spec),
            p("KeyUsage", key_usage),
            p("Description", description),
        ];
        if let Some(interval) = rotation {
            params.push(p("EnableAutomaticRotation", true));
            params.push(p("RotationInterval", interval));
        }
        let body = self.call(Product::Kms, "CreateKey", &params).await?;
        Ok(parse_key(&body["KeyMetadata"]))
    }

    /// EnableKey or DisableKey.
    pub async fn set_key_enabled(&self, key_id: &str, enabled: bool) -> Result<(), ApiError> {
        let action = if enabled { "EnableKey" } else { "DisableKey" };
        self.call(Product::Kms, action, &[p("KeyId", key_id)])
            .await
            .map(drop)
    }

    pub async fn update_key_description(
        &self,
        key_id: &str,
        description: &str,
    ) -> Result<(), ApiError> {
        let params = [p("KeyId", key_id), p("Description", description)];
        self.call(Product::Kms, "UpdateKeyDescription", &params)
            .await
            .map(drop)
    }

    /// UpdateRotationPolicy: `Some(interval)` turns rotation on, `None` off.
    pub async fn update_rotation(
        &self,
        key_id: &str,
        rotation: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut params = vec![
            p("KeyId", key_id),
            p("EnableAutomaticRotation", rotation.is_some()),
        ];
        if let Some(interval) = rotation {
            params.push(p("RotationInterval", interval));
        }
        self.call(Product::Kms, "UpdateRotationPolicy", &params)
            .await
            .map(drop)
    }

    /// ScheduleKeyDeletion; a key already gone or pending deletion counts as scheduled.
    pub async fn schedule_key_deletion(&self, key_id: &str, days: i64) -> Result<(), ApiError> {
        let params = [p("KeyId", key_id), p("PendingWindowInDays", days)];
        match self
            .call(Product::Kms, "ScheduleKeyDeletion", &params)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) || e.code() == "Rejected.PendingDeletion" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// DescribeSecret plus the version that is current; `None` when the secret does not exist.
    pub async fn find_secret(&self, name: &str) -> Result<Option<SecretInfo>, ApiError> {
        let body = match self
            .call(Product::Kms, "DescribeSecret", &[p("SecretName", name)])
            .await
        {
            Ok(b) => b,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut info = SecretInfo {
            name: s(&body, "SecretName"),
            arn: s(&body, "Arn"),
            instance_id: s(&body, "DKMSInstanceId"),
            encryption_key_id: s(&body, "EncryptionKeyId"),
            description: s(&body, "Description"),
            create_time: s(&body, "CreateTime"),
            planned_delete_time: s(&body, "PlannedDeleteTime"),
            current_version: String::new(),
        };
        let versions = self
            .call(
                Product::Kms,
                "ListSecretVersionIds",
                &[p("SecretName", name), p("PageSize", 100)],
            )
            .await?;
        let current = versions["VersionIds"]["VersionId"]
            .as_array()
            .and_then(|l| {
                l.iter().find(|v| {
                    v["VersionStages"]["VersionStage"]
                        .as_array()
                        .is_some_and(|st| st.iter().any(|x| x == "ACSCurrent"))
                })
            });
        info.current_version = current.map(|v| s(v, "VersionId")).unwrap_or_default();
        Ok(Some(info))
    }

    /// CreateSecret; the value travels in the form body.
    pub async fn create_secret(&self, new: &NewSecret<'_>) -> Result<(), ApiError> {
        let mut params = vec![
            p("SecretName", new.name),
            p("VersionId", new.version_id),
            p("SecretDataType", new.value_type),
            p("EncryptionKeyId", new.encryption_key_id),
            p("Description", new.description),
        ];
        if let Some(i) = new.instance_id {
            params.push(p("DKMSInstanceId", i));
        }
        self.call_with_body(
            Product::Kms,
            "CreateSecret",
            &params,
            &[p("SecretData", new.value)],
        )
        .await
        .map(drop)
    }

    /// PutSecretValue: a new version that becomes `ACSCurrent`.
    pub async fn put_secret_value(
        &self,
        name: &str,
        version_id: &str,
        value: &str,
        value_type: &str,
    ) -> Result<(), ApiError> {
        let params = [
            p("SecretName", name),
            p("VersionId", version_id),
            p("SecretDataType", value_type),
        ];
        self.call_with_body(
            Product::Kms,
            "PutSecretValue",
            &params,
            &[p("SecretData", value)],
        )
        .await
        .map(drop)
    }

    pub async fn update_secret_description(
        &self,
        name: &str,
        description: &str,
    ) -> Result<(), ApiError> {
        let params = [p("SecretName", name), p("Description", description)];
        self.call(Product::Kms, "UpdateSecret", &params)
            .await
            .map(drop)
    }

    /// DeleteSecret: now (`force`) or after the recovery window.
    pub async fn delete_secret(
        &self,
        name: &str,
        force: bool,
        recovery_days: i64,
    ) -> Result<(), ApiError> {
        let mut params = vec![
            p("SecretName", name),
            p("ForceDeleteWithoutRecovery", force),
        ];
        if !force {
            params.push(p("RecoveryWindowInDays", recovery_days));
        }
        match self.call(Product::Kms, "DeleteSecret", &params).await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intervals_parse_in_the_api_and_user_forms() {
        assert_eq!(interval_secs("604800s"), Some(604_800));
        assert_eq!(interval_secs("7d"), Some(604_800));
        assert_eq!(interval_secs("7 days"), None);
    }

    #[test]
    fn key_metadata_parses() {
        let k = parse_key(
            &json!({"KeyId": "key-1", "KeyState": "Enabled", "AutomaticRotation": "Enabled", "RotationInterval": "31536000s", "DKMSInstanceId": "kst-1"}),
        );
        assert!(k.automatic_rotation);
        assert_eq!(k.rotation_interval_secs, 31_536_000);
        assert_eq!(k.instance_id, "kst-1");
    }
}
