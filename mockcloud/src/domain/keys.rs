//! Keys of a KMS instance (S50): specs, usages, states, versions, rotation policy, and
//! [`Key::permits`], the one rule that says which key state and usage allow which operation.
//! Every key action of the backend asks it before doing anything.

use serde::{Deserialize, Serialize};

use crate::clock::SimMillis;
use crate::error::ApiError;

use super::instance::ManagementType;

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// ScheduleKeyDeletion's `PendingWindowInDays`.
pub const PENDING_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=366;
/// Automatic rotation intervals: 7 to 365 days.
pub const ROTATION_SECONDS: std::ops::RangeInclusive<u64> = 604_800..=31_536_000;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum KeySpec {
    #[serde(rename = "Aliyun_AES_256")]
    Aes256,
    #[serde(rename = "EC_P256")]
    EcP256,
}

/// Specs the real service has that the mock does not serve (refused with a clear message).
const UNSERVED_SPECS: [&str; 11] = [
    "Aliyun_AES_128",
    "Aliyun_AES_192",
    "Aliyun_SM4",
    "Aliyun_DES3_192",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_P256K",
    "EC_SM2",
    "EC_P384",
    "EC_P521",
];

impl KeySpec {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::Aes256 => "Aliyun_AES_256",
            KeySpec::EcP256 => "EC_P256",
        }
    }

    /// `KeySpec` of CreateKey; absent means `Aliyun_AES_256`.
    pub fn parse(v: Option<&str>) -> Result<KeySpec, ApiError> {
        match v {
            None | Some("Aliyun_AES_256") => Ok(KeySpec::Aes256),
            Some("EC_P256") => Ok(KeySpec::EcP256),
            // Deviation: only Aliyun_AES_256 and EC_P256 are served.
            Some(other) if UNSERVED_SPECS.contains(&other) => Err(ApiError::UnsupportedOperation {
                message: format!(
                    "KeySpec {other} is not served by mockcloud; use Aliyun_AES_256 or EC_P256."
                ),
            }),
            Some(other) => Err(ApiError::invalid(
                "KeySpec",
                format!("{other:?} is not a key spec (Aliyun_AES_256, EC_P256, ...)"),
            )),
        }
    }

    pub fn is_symmetric(self) -> bool {
        self == KeySpec::Aes256
    }

    /// The default usage: symmetric keys encrypt, EC keys sign (the only usage they have).
    pub fn default_usage(self) -> KeyUsage {
        match self {
            KeySpec::Aes256 => KeyUsage::EncryptDecrypt,
            KeySpec::EcP256 => KeyUsage::SignVerify,
        }
    }

    /// The one signing algorithm of the spec, if it signs.
    pub fn sign_algorithm(self) -> Option<&'static str> {
        match self {
            KeySpec::Aes256 => None,
            KeySpec::EcP256 => Some("ECDSA_SHA_256"),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum KeyUsage {
    #[serde(rename = "ENCRYPT/DECRYPT")]
    EncryptDecrypt,
    #[serde(rename = "SIGN/VERIFY")]
    SignVerify,
}

impl KeyUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::EncryptDecrypt => "ENCRYPT/DECRYPT",
            KeyUsage::SignVerify => "SIGN/VERIFY",
        }
    }

    pub fn parse(v: &str) -> Result<KeyUsage, ApiError> {
        match v {
            "ENCRYPT/DECRYPT" => Ok(KeyUsage::EncryptDecrypt),
            "SIGN/VERIFY" => Ok(KeyUsage::SignVerify),
            other => Err(ApiError::invalid(
                "KeyUsage",
                format!("{other:?} is not ENCRYPT/DECRYPT or SIGN/VERIFY"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// What is asked of a key. [`Key::permits`] decides for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    Sign,
    Verify,
    GetPublicKey,
    CreateKeyVersion,
    EnableKey,
    DisableKey,
    ScheduleDeletion,
    CancelDeletion,
    UpdateDescription,
    UpdateRotationPolicy,
    /// Aliases, deletion protection: allowed in every state.
    Manage,
}

impl Op {
    fn is_cryptographic(self) -> bool {
        matches!(
            self,
            Op::Encrypt
                | Op::Decrypt
                | Op::GenerateDataKey
                | Op::Sign
                | Op::Verify
                | Op::GetPublicKey
        )
    }
}

/// One version of a key: its material lives in its own record, sealed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyVersion {
    pub id: String,
    pub created_at: SimMillis,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Key {
    pub id: String,
    pub account_id: String,
    pub region_id: String,
    pub instance_id: String,
    /// The kind of the instance the key lives in (protection level, what it may do).
    pub instance_kind: ManagementType,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub description: String,
    pub state: KeyState,
    pub created_at: SimMillis,
    /// When PendingDeletion: the key is gone from then on.
    pub delete_at: Option<SimMillis>,
    /// Oldest first; the last one is the primary version.
    pub versions: Vec<KeyVersion>,
    pub rotation_enabled: bool,
    /// Seconds; set while automatic rotation is enabled.
    pub rotation_interval_s: Option<u64>,
    pub last_rotation_at: SimMillis,
    pub deletion_protection: bool,
    #[serde(default)]
    pub deletion_protection_description: String,
}

impl Key {
    pub fn arn(&self) -> String {
        format!(
            "acs:kms:{}:{}:key/{}",
            self.region_id, self.account_id, self.id
        )
    }

    /// Past its deletion date the key no longer exists (derived from time, like instance status).
    pub fn is_gone(&self, now: SimMillis) -> bool {
        self.state == KeyState::PendingDeletion && self.delete_at.is_some_and(|t| now >= t)
    }

    pub fn primary_version(&self) -> &str {
        self.versions.last().map(|v| v.id.as_str()).unwrap_or("")
    }

    pub fn version(&self, id: &str) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// `SOFTWARE` for software instances, `HSM` for hardware (and external) ones.
    pub fn protection_level(&self) -> &'static str {
        match self.instance_kind {
            ManagementType::Software => "SOFTWARE",
            ManagementType::Hardware | ManagementType::External => "HSM",
        }
    }

    // Deviation: the rotation policy is stored and reported, but versions are made by
    // CreateKeyVersion only; the mock does not rotate on its own.
    pub fn next_rotation_at(&self) -> Option<SimMillis> {
        let secs = self.rotation_interval_s.filter(|_| self.rotation_enabled)?;
        Some(self.last_rotation_at + secs as i64 * 1000)
    }

    /// The one place that says which key states and usages allow which operation, with the
    /// real codes: Disabled and PendingDeletion refuse every cryptographic operation (409),
    /// an operation the key's spec or usage does not have is `Rejected.UnsupportedOperation`.
    pub fn permits(&self, op: Op) -> Result<(), ApiError> {
        let state_refusal = || match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(ApiError::KeyDisabled {
                id: self.id.clone(),
            }),
            KeyState::PendingDeletion => Err(ApiError::KeyPendingDeletion {
                id: self.id.clone(),
            }),
        };
        let unsupported = |what: &str| {
            Err(ApiError::UnsupportedOperation {
                message: format!(
                    "Unsupported operation: {what} is not available for key {} ({}, {}).",
                    self.id,
                    self.spec.as_str(),
                    self.usage.as_str()
                ),
            })
        };
        if op.is_cryptographic() {
            state_refusal()?;
        }
        match op {
            Op::Encrypt | Op::Decrypt | Op::GenerateDataKey => {
                if !(self.spec.is_symmetric() && self.usage == KeyUsage::EncryptDecrypt) {
                    return unsupported(op_name(op));
                }
                Ok(())
            }
            Op::Sign | Op::Verify => {
                if self.spec.sign_algorithm().is_none() || self.usage != KeyUsage::SignVerify {
                    return unsupported(op_name(op));
                }
                Ok(())
            }
            Op::GetPublicKey => {
                if self.spec.is_symmetric() {
                    return unsupported("GetPublicKey");
                }
                Ok(())
            }
            Op::CreateKeyVersion | Op::UpdateRotationPolicy => {
                // Symmetric keys of software instances have versions made on demand, and those
                // of external instances (the proxy makes the material, S45); automatic rotation
                // is for software instances only.
                // Deviation: whether the real cloud serves CreateKeyVersion for keys of
                // external instances is not documented; the mock does.
                let kind_allows = match op {
                    Op::CreateKeyVersion => self.instance_kind != ManagementType::Hardware,
                    _ => self.instance_kind == ManagementType::Software,
                };
                if !self.spec.is_symmetric() || !kind_allows {
                    return unsupported(op_name(op));
                }
                match (op, self.state) {
                    (Op::CreateKeyVersion, _) => state_refusal(),
                    (_, KeyState::PendingDeletion) => state_refusal(),
                    _ => Ok(()),
                }
            }
            Op::EnableKey | Op::DisableKey | Op::ScheduleDeletion | Op::UpdateDescription => {
                match self.state {
                    KeyState::PendingDeletion => Err(ApiError::KeyPendingDeletion {
                        id: self.id.clone(),
                    }),
                    _ => Ok(()),
                }
            }
            Op::CancelDeletion => match self.state {
                KeyState::PendingDeletion => Ok(()),
                other => Err(ApiError::Rejected {
                    code: "Rejected.StateModifiedFailed",
                    message: format!(
                        "Keystate modified failed: key {} is {}, not PendingDeletion.",
                        self.id,
                        other.as_str()
                    ),
                }),
            },
            Op::Manage => Ok(()),
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Encrypt => "Encrypt",
        Op::Decrypt => "Decrypt",
        Op::GenerateDataKey => "GenerateDataKey",
        Op::Sign => "AsymmetricSign",
        Op::Verify => "AsymmetricVerify",
        Op::GetPublicKey => "GetPublicKey",
        Op::CreateKeyVersion => "CreateKeyVersion",
        Op::UpdateRotationPolicy => "automatic rotation",
        _ => "this operation",
    }
}

/// What CreateKey asks for, parsed.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub spec: KeySpec,
    pub usage: Option<KeyUsage>,
    pub description: String,
    pub rotation: Option<u64>,
}

/// Checks a CreateKey request against the instance it goes to; returns the key's usage.
pub fn check_new_key(
    req: &KeyRequest,
    instance_kind: ManagementType,
) -> Result<KeyUsage, ApiError> {
    let usage = req.usage.unwrap_or(req.spec.default_usage());
    let allowed = match req.spec {
        KeySpec::Aes256 => usage == KeyUsage::EncryptDecrypt,
        KeySpec::EcP256 => usage == KeyUsage::SignVerify,
    };
    if !allowed {
        return Err(ApiError::invalid(
            "KeyUsage",
            format!(
                "{} is not a usage of KeySpec {}",
                usage.as_str(),
                req.spec.as_str()
            ),
        ));
    }
    // S45: an external instance holds symmetric keys only.
    if instance_kind == ManagementType::External && !req.spec.is_symmetric() {
        return Err(ApiError::UnsupportedOperation {
            message: format!(
                "KeySpec {}: an external key management instance holds symmetric keys only.",
                req.spec.as_str()
            ),
        });
    }
    check_description(&req.description)?;
    if req.rotation.is_some()
        && !(req.spec.is_symmetric() && instance_kind == ManagementType::Software)
    {
        return Err(ApiError::UnsupportedOperation {
            message: format!(
                "EnableAutomaticRotation: automatic rotation is for symmetric keys of software instances only, not KeySpec {}.",
                req.spec.as_str()
            ),
        });
    }
    Ok(usage)
}

pub fn check_description(d: &str) -> Result<(), ApiError> {
    if d.chars().count() > 8192 {
        return Err(ApiError::invalid(
            "Description",
            "longer than 8192 characters",
        ));
    }
    Ok(())
}

/// `RotationInterval` as `604800s` or `7d`, 7 to 365 days; returns seconds.
pub fn parse_rotation_interval(v: &str) -> Result<u64, ApiError> {
    let bad = |why: &str| ApiError::invalid("RotationInterval", format!("{v:?}: {why}"));
    let (num, unit) = v.split_at(v.len().saturating_sub(1));
    let n: u64 = num
        .parse()
        .map_err(|_| bad("give whole seconds or days, like 604800s or 7d"))?;
    let secs = match unit {
        "s" => n,
        "d" => n.saturating_mul(86_400),
        _ => return Err(bad("give whole seconds or days, like 604800s or 7d")),
    };
    if !ROTATION_SECONDS.contains(&secs) {
        return Err(bad("must be 7 to 365 days (604800s to 31536000s)"));
    }
    Ok(secs)
}

/// The rotation policy of CreateKey and UpdateRotationPolicy: `Some(seconds)` when enabled.
/// An enabled policy needs its interval.
pub fn rotation_policy(enabled: bool, interval: Option<&str>) -> Result<Option<u64>, ApiError> {
    match (enabled, interval) {
        (false, _) => Ok(None),
        (true, None) => Err(ApiError::missing("RotationInterval")),
        (true, Some(v)) => parse_rotation_interval(v).map(Some),
    }
}

pub fn check_pending_window(days: u32) -> Result<(), ApiError> {
    if PENDING_WINDOW_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "PendingWindowInDays",
            format!("{days} is outside 7 to 366 days"),
        ))
    }
}

/// The region an `acs:kms:<region>:<account>:<resource>` ARN names, if the input is one. The
/// resource it names must live in that region: one endpoint serves every region, so the ARN is
/// the only place a caller says which one.
pub fn arn_region(input: &str) -> Option<&str> {
    input.strip_prefix("acs:kms:")?.split(':').next()
}

/// How a caller names a key: `KeyId` accepts a key id, `alias/<name>`, a key ARN or an alias ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(String),
    /// The full alias name, `alias/...`.
    Alias(String),
}

impl KeyRef {
    /// Parses the input; an ARN must name the caller's account (and the region, when known).
    pub fn parse(input: &str, account_id: &str) -> Result<KeyRef, ApiError> {
        if let Some(rest) = input.strip_prefix("acs:kms:") {
            let mut parts = rest.splitn(3, ':');
            let (_region, uid, resource) = match (parts.next(), parts.next(), parts.next()) {
                (Some(r), Some(u), Some(res)) => (r, u, res),
                _ => {
                    return Err(ApiError::invalid(
                        "KeyId",
                        format!("{input:?} is not a key or alias ARN"),
                    ))
                }
            };
            if uid != account_id {
                return Err(ApiError::KeyNotFound {
                    what: format!("KeyId {input}"),
                });
            }
            return if let Some(id) = resource.strip_prefix("key/") {
                Ok(KeyRef::Id(id.to_string()))
            } else if resource.starts_with("alias/") {
                Ok(KeyRef::Alias(resource.to_string()))
            } else {
                Err(ApiError::invalid(
                    "KeyId",
                    format!("{input:?} is not a key or alias ARN"),
                ))
            };
        }
        if input.starts_with("alias/") {
            Ok(KeyRef::Alias(input.to_string()))
        } else {
            Ok(KeyRef::Id(input.to_string()))
        }
    }
}

/// `AliasName`: `alias/` then 1 to 249 of letters, digits, `_ - / :`; not `alias/acs...`.
pub fn check_alias_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::invalid("AliasName", format!("{name:?}: {why}"));
    let rest = name
        .strip_prefix("alias/")
        .ok_or_else(|| bad("must start with alias/"))?;
    if rest.is_empty() || rest.len() > 249 {
        return Err(bad("the name after alias/ must be 1 to 249 characters"));
    }
    if rest.starts_with("acs") {
        return Err(bad("alias/acs is reserved for Alibaba Cloud"));
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | ':'))
    {
        return Err(bad("letters, digits, _ - / : only"));
    }
    Ok(())
}

/// An alias: a name of the caller's account pointing to one of its keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alias {
    pub name: String,
    pub account_id: String,
    pub region_id: String,
    pub key_id: String,
    pub created_at: SimMillis,
}

impl Alias {
    pub fn arn(&self) -> String {
        format!(
            "acs:kms:{}:{}:{}",
            self.region_id, self.account_id, self.name
        )
    }
}

/// AsymmetricSign/Verify: the algorithm must be the key's and the digest a SHA-256 (32 bytes).
pub fn check_signing(key: &Key, algorithm: &str, digest: &[u8]) -> Result<(), ApiError> {
    let expected = key.spec.sign_algorithm().unwrap_or("none");
    if algorithm != expected {
        return Err(ApiError::invalid(
            "Algorithm",
            format!(
                "{algorithm:?} is not an algorithm of KeySpec {} (use {expected})",
                key.spec.as_str()
            ),
        ));
    }
    if digest.len() != 32 {
        return Err(ApiError::invalid(
            "Digest",
            format!(
                "{algorithm} signs a SHA-256 digest of 32 bytes (base64); got {} bytes",
                digest.len()
            ),
        ));
    }
    Ok(())
}

/// S04: the key quota counts key *versions*; `used` versions already exist in the instance.
pub fn check_key_quota(
    instance_id: &str,
    quota: u32,
    used: u32,
    adding: u32,
) -> Result<(), ApiError> {
    if used.saturating_add(adding) > quota {
        return Err(ApiError::LimitExceeded {
            message: format!(
                "The request was rejected because user create resource limit was exceeded: instance {instance_id} uses {used} of its key quota (KeyNum) of {quota} key versions (S04)."
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(spec: KeySpec, state: KeyState) -> Key {
        Key {
            id: "key-hzz1".into(),
            account_id: "1".into(),
            region_id: "cn-hangzhou".into(),
            instance_id: "kst-1".into(),
            instance_kind: ManagementType::Software,
            spec,
            usage: spec.default_usage(),
            description: String::new(),
            state,
            created_at: 0,
            delete_at: None,
            versions: vec![KeyVersion {
                id: "v1".into(),
                created_at: 0,
            }],
            rotation_enabled: false,
            rotation_interval_s: None,
            last_rotation_at: 0,
            deletion_protection: false,
            deletion_protection_description: String::new(),
        }
    }

    #[test]
    fn disabled_and_pending_keys_refuse_every_cryptographic_operation() {
        for op in [Op::Encrypt, Op::Decrypt, Op::GenerateDataKey] {
            let k = key(KeySpec::Aes256, KeyState::Disabled);
            assert_eq!(k.permits(op).unwrap_err().code(), "Rejected.Disabled");
            let k = key(KeySpec::Aes256, KeyState::PendingDeletion);
            let e = k.permits(op).unwrap_err();
            assert_eq!((e.code(), e.status()), ("Rejected.PendingDeletion", 409));
        }
        for op in [Op::Sign, Op::Verify, Op::GetPublicKey] {
            let k = key(KeySpec::EcP256, KeyState::Disabled);
            assert_eq!(k.permits(op).unwrap_err().status(), 409);
        }
        assert!(key(KeySpec::Aes256, KeyState::Enabled)
            .permits(Op::Encrypt)
            .is_ok());
    }

    #[test]
    fn usage_decides_which_operations_a_key_has() {
        let aes = key(KeySpec::Aes256, KeyState::Enabled);
        let ec = key(KeySpec::EcP256, KeyState::Enabled);
        for (k, op) in [
            (&aes, Op::Sign),
            (&aes, Op::GetPublicKey),
            (&ec, Op::Encrypt),
            (&ec, Op::GenerateDataKey),
            (&ec, Op::CreateKeyVersion),
        ] {
            let e = k.permits(op).unwrap_err();
            assert_eq!(
                (e.code(), e.status()),
                ("Rejected.UnsupportedOperation", 400),
                "{op:?}"
            );
            assert!(e.message().contains(&k.id));
        }
        assert!(ec.permits(Op::Sign).is_ok());
        assert!(aes.permits(Op::CreateKeyVersion).is_ok());
        let mut hsm = aes.clone();
        hsm.instance_kind = ManagementType::Hardware;
        assert_eq!(hsm.protection_level(), "HSM");
        assert!(hsm.permits(Op::CreateKeyVersion).is_err());
    }

    #[test]
    fn state_changes_follow_the_state_machine() {
        let pending = key(KeySpec::Aes256, KeyState::PendingDeletion);
        assert_eq!(
            pending.permits(Op::EnableKey).unwrap_err().code(),
            "Rejected.PendingDeletion"
        );
        assert!(pending.permits(Op::CancelDeletion).is_ok());
        assert_eq!(
            key(KeySpec::Aes256, KeyState::Enabled)
                .permits(Op::CancelDeletion)
                .unwrap_err()
                .code(),
            "Rejected.StateModifiedFailed"
        );
        let mut k = pending;
        k.delete_at = Some(10);
        assert!(!k.is_gone(9));
        assert!(k.is_gone(10));
    }

    #[test]
    fn create_key_defaults_and_refusals() {
        let req = |spec, usage| KeyRequest {
            spec,
            usage,
            description: String::new(),
            rotation: None,
        };
        let sw = ManagementType::Software;
        assert_eq!(
            check_new_key(&req(KeySpec::EcP256, None), sw).unwrap(),
            KeyUsage::SignVerify
        );
        assert_eq!(
            check_new_key(&req(KeySpec::Aes256, None), sw).unwrap(),
            KeyUsage::EncryptDecrypt
        );
        let e =
            check_new_key(&req(KeySpec::EcP256, Some(KeyUsage::EncryptDecrypt)), sw).unwrap_err();
        assert!(e.message().contains("KeyUsage"), "{e}");
        assert!(check_new_key(&req(KeySpec::EcP256, None), ManagementType::External).is_err());
        let mut r = req(KeySpec::EcP256, None);
        r.rotation = Some(604_800);
        assert_eq!(
            check_new_key(&r, sw).unwrap_err().code(),
            "Rejected.UnsupportedOperation"
        );
        assert_eq!(
            KeySpec::parse(Some("RSA_2048")).unwrap_err().code(),
            "Rejected.UnsupportedOperation"
        );
        assert_eq!(
            KeySpec::parse(Some("AES")).unwrap_err().code(),
            "InvalidParameter"
        );
    }

    #[test]
    fn rotation_interval_takes_seconds_or_days_within_a_year() {
        assert_eq!(parse_rotation_interval("604800s").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("7d").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("365d").unwrap(), 31_536_000);
        for bad in ["6d", "366d", "7", "7h", "d", "", "-7d"] {
            let e = parse_rotation_interval(bad).unwrap_err();
            assert!(e.message().contains("RotationInterval"), "{bad}: {e}");
        }
        assert_eq!(rotation_policy(false, Some("1d")).unwrap(), None);
        assert_eq!(
            rotation_policy(true, None).unwrap_err().code(),
            "MissingParameter"
        );
        let mut k = key(KeySpec::Aes256, KeyState::Enabled);
        k.rotation_enabled = true;
        k.rotation_interval_s = Some(604_800);
        k.last_rotation_at = 1000;
        assert_eq!(k.next_rotation_at(), Some(1000 + 604_800_000));
    }

    #[test]
    fn key_id_accepts_ids_aliases_and_arns() {
        assert_eq!(
            KeyRef::parse("key-hzz1", "1").unwrap(),
            KeyRef::Id("key-hzz1".into())
        );
        assert_eq!(
            KeyRef::parse("alias/app", "1").unwrap(),
            KeyRef::Alias("alias/app".into())
        );
        assert_eq!(
            KeyRef::parse("acs:kms:cn-hangzhou:1:key/key-hzz1", "1").unwrap(),
            KeyRef::Id("key-hzz1".into())
        );
        assert_eq!(
            KeyRef::parse("acs:kms:cn-hangzhou:1:alias/app", "1").unwrap(),
            KeyRef::Alias("alias/app".into())
        );
        assert_eq!(
            KeyRef::parse("acs:kms:cn-hangzhou:2:key/key-hzz1", "1")
                .unwrap_err()
                .code(),
            "Forbidden.KeyNotFound"
        );
        assert_eq!(
            KeyRef::parse("acs:kms:cn-hangzhou:1:secret/x", "1")
                .unwrap_err()
                .code(),
            "InvalidParameter"
        );
    }

    #[test]
    fn signing_needs_the_key_algorithm_and_a_sha256_digest() {
        let ec = key(KeySpec::EcP256, KeyState::Enabled);
        assert!(check_signing(&ec, "ECDSA_SHA_256", &[0u8; 32]).is_ok());
        let e = check_signing(&ec, "RSA_PSS_SHA_256", &[0u8; 32]).unwrap_err();
        assert!(e.message().contains("Algorithm"), "{e}");
        let e = check_signing(&ec, "ECDSA_SHA_256", &[0u8; 31]).unwrap_err();
        assert!(e.message().contains("Digest"), "{e}");
    }

    #[test]
    fn alias_names_and_quota_limits() {
        assert!(check_alias_name("alias/app-key_1").is_ok());
        for bad in ["app", "alias/", "alias/acs-x", "alias/a b"] {
            assert!(check_alias_name(bad)
                .unwrap_err()
                .message()
                .contains("AliasName"));
        }
        assert!(check_key_quota("kst-1", 5, 4, 1).is_ok());
        let e = check_key_quota("kst-1", 5, 5, 1).unwrap_err();
        assert_eq!((e.code(), e.status()), ("Rejected.LimitExceeded", 400));
        assert!(e.message().contains("KeyNum"));
        assert!(check_pending_window(7).is_ok() && check_pending_window(366).is_ok());
        assert!(check_pending_window(6).is_err() && check_pending_window(367).is_err());
    }
}
