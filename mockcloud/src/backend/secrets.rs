//! Secrets (S05, S52). A secret belongs to the instance of its encryption key; its values are
//! sealed with the data directory's [`Sealer`](crate::crypto::Sealer) before they reach a
//! record, and need that key usable to be written or read.

use super::keys::KEY;
use super::{internal, Backend, Caller, INSTANCE};
use crate::clock::SimMillis;
use crate::crypto::Blob;
use crate::domain::keys::{Key, Op};
use crate::domain::secrets::{
    self, check_secret_data, check_secret_name, check_secret_quota, check_secret_type,
    check_version_id, in_delete_window, Secret, SecretVersion, CURRENT,
};
use crate::domain::{Instance, ManagementType};
use crate::error::ApiError;
use crate::store::Write;

const SECRET: &str = "secret";

/// CreateSecret, parsed.
pub struct NewSecret {
    pub name: String,
    pub version_id: String,
    pub data: String,
    pub data_type: Option<String>,
    pub secret_type: Option<String>,
    pub encryption_key_id: String,
    /// `DKMSInstanceId`: optional; when given it must be the key's instance.
    pub instance_id: Option<String>,
    pub description: String,
    pub extended_config: Option<String>,
}

/// GetSecretValue's answer: the secret, the version and its value, opened.
pub struct SecretValue {
    pub secret: Secret,
    pub version: SecretVersion,
    pub data: String,
}

// Deviation: one endpoint serves every region, so secret names are unique per account.
fn record_id(account_id: &str, name: &str) -> String {
    format!("{account_id}/{name}")
}

fn not_found(name: &str) -> ApiError {
    ApiError::ResourceNotFound {
        what: format!("SecretName {name}"),
    }
}

impl Backend {
    /// `SecretName` takes a name or a secret ARN of the caller's account.
    fn secret_name<'a>(&self, caller: &Caller, input: &'a str) -> Result<&'a str, ApiError> {
        match input.strip_prefix("acs:kms:") {
            None => Ok(input),
            Some(rest) => {
                let mut parts = rest.splitn(3, ':');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(_), Some(uid), Some(res)) if uid == caller.account_id => {
                        res.strip_prefix("secret/").ok_or_else(|| {
                            ApiError::invalid(
                                "SecretName",
                                format!("{input:?} is not a secret ARN"),
                            )
                        })
                    }
                    (Some(_), Some(_), Some(_)) => Err(not_found(input)),
                    _ => Err(ApiError::invalid(
                        "SecretName",
                        format!("{input:?} is not a secret ARN"),
                    )),
                }
            }
        }
    }

    /// A secret of the caller that exists at `now` (pending deletion included).
    fn find_secret(
        &self,
        caller: &Caller,
        input: &str,
        now: SimMillis,
    ) -> Result<Secret, ApiError> {
        let name = self.secret_name(caller, input)?;
        self.store
            .get::<Secret>(SECRET, &record_id(&caller.account_id, name))
            .map_err(internal)?
            .filter(|s| !s.is_gone(now))
            .filter(|s| crate::domain::keys::arn_region(input).is_none_or(|r| r == s.region_id))
            .ok_or_else(|| not_found(input))
    }

    /// The secret and its instance, which must be serving (S52).
    fn secret_in_service(
        &self,
        caller: &Caller,
        input: &str,
        now: SimMillis,
    ) -> Result<(Secret, std::sync::Arc<Instance>), ApiError> {
        let secret = self.find_secret(caller, input, now)?;
        let inst = self.serving_instance(caller, &secret.instance_id, now)?;
        Ok((secret, inst))
    }

    /// The key that protects the secret's values, which must allow `op`.
    fn secret_key(
        &self,
        caller: &Caller,
        secret: &Secret,
        op: Op,
        now: SimMillis,
    ) -> Result<Key, ApiError> {
        let key = self
            .store
            .get::<Key>(KEY, &secret.encryption_key_id)
            .map_err(internal)?
            .filter(|k| k.account_id == caller.account_id && !k.is_gone(now))
            .ok_or_else(|| ApiError::KeyNotFound {
                what: format!(
                    "EncryptionKeyId {} of secret {}",
                    secret.encryption_key_id, secret.name
                ),
            })?;
        key.permits(op)?;
        Ok(key)
    }

    /// S05: secrets of the instance that exist at `now`.
    pub(super) fn secrets_used(&self, instance_id: &str, now: SimMillis) -> Result<u32, ApiError> {
        let all: Vec<Secret> = self.store.list(SECRET).map_err(internal)?;
        Ok(all
            .iter()
            .filter(|s| s.instance_id == instance_id && !s.is_gone(now))
            .count() as u32)
    }

    /// S45: the value of a secret whose key lives behind an XKI proxy is encrypted by the
    /// proxy, bound to the account, the secret's name and the version id.
    fn secret_aad(account_id: &str, name: &str, version_id: &str) -> Vec<u8> {
        format!("secret:{account_id}:{name}:{version_id}").into_bytes()
    }

    /// Before the write lock: the proxy's encryption of a value when the key is external
    /// (`None` otherwise, or when a check fails: the locked path then refuses with the right
    /// error). Proxy calls never run under the write lock.
    fn external_value(
        &self,
        caller: &Caller,
        key_input: &str,
        aad: &[u8],
        data: &str,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let now = self.now();
        let Ok(key) = self.find_key(caller, key_input, now) else {
            return Ok(None);
        };
        if key.instance_kind != ManagementType::External || key.permits(Op::Encrypt).is_err() {
            return Ok(None);
        }
        let Ok(inst) = self.serving_instance(caller, &key.instance_id, now) else {
            return Ok(None);
        };
        self.xki_encrypt(&inst, key.primary_version(), data.as_bytes(), aad)
            .map(Some)
    }

    // Deviation: values are sealed under the data directory's master key, not under the
    // secret's EncryptionKeyId (which must still be usable to read or write them); a value
    // under an external key is first encrypted by the key's XKI proxy (S45) and that blob is
    // sealed.
    fn seal_version(
        &self,
        id: &str,
        data: &str,
        external: Option<Vec<u8>>,
        data_type: String,
        now: SimMillis,
    ) -> SecretVersion {
        let (sealed_data, external) = match external {
            Some(blob) => (self.sealer.seal(&blob), true),
            None => (self.sealer.seal(data.as_bytes()), false),
        };
        SecretVersion {
            id: id.to_string(),
            created_at: now,
            stages: Vec::new(),
            data_type,
            sealed_data,
            external,
        }
    }

    /// A version's value; one under an external key is decrypted by the instance's proxy, so
    /// it is unavailable (`Rejected.XkiProxyUnavailable`) while the proxy is.
    fn open_data(
        &self,
        secret: &Secret,
        inst: &Instance,
        v: &SecretVersion,
    ) -> Result<String, ApiError> {
        let raw = self.sealer.open(&v.sealed_data).map_err(internal)?;
        let raw = if v.external {
            let blob =
                Blob::parse(&raw).ok_or_else(|| internal("a stored external blob is malformed"))?;
            let aad = Self::secret_aad(&secret.account_id, &secret.name, &v.id);
            self.xki_decrypt(inst, &blob, &aad)?.ok_or_else(|| {
                internal("the XKI proxy did not authenticate a stored secret value")
            })?
        } else {
            raw
        };
        String::from_utf8(raw).map_err(internal)
    }

    pub fn create_secret(&self, caller: &Caller, new: &NewSecret) -> Result<Secret, ApiError> {
        check_secret_name(&new.name)?;
        check_version_id(&new.version_id)?;
        let data_type = check_secret_data(&new.data, new.data_type.as_deref())?;
        let secret_type = check_secret_type(new.secret_type.as_deref())?;
        crate::domain::keys::check_description(&new.description)?;
        let aad = Self::secret_aad(&caller.account_id, &new.name, &new.version_id);
        let mut external = self.external_value(caller, &new.encryption_key_id, &aad, &new.data)?;
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let key = self
            .find_key(caller, &new.encryption_key_id, now)
            .map_err(|e| match e {
                ApiError::KeyNotFound { .. } => ApiError::KeyNotFound {
                    what: format!("EncryptionKeyId {}", new.encryption_key_id),
                },
                other => other,
            })?;
        if let Some(given) = &new.instance_id {
            if *given != key.instance_id {
                return Err(ApiError::invalid(
                    "DKMSInstanceId",
                    format!(
                        "{given}: EncryptionKeyId {} is a key of instance {}; a secret lives in its key's instance",
                        new.encryption_key_id, key.instance_id
                    ),
                ));
            }
        }
        let inst = self.serving_instance(caller, &key.instance_id, now)?;
        key.permits(Op::Encrypt)?;
        let id = record_id(&caller.account_id, &new.name);
        if let Some(old) = self.store.get::<Secret>(SECRET, &id).map_err(internal)? {
            if old.in_delete_window(now) {
                return Err(in_delete_window(&new.name));
            }
            if !old.is_gone(now) {
                return Err(ApiError::Rejected {
                    code: "Rejected.ResourceExist",
                    message: format!("The resource already exists: secret {} exists.", new.name),
                });
            }
        }
        let used = self.secrets_used(&inst.id, now)?;
        check_secret_quota(&inst.id, inst.capacity.secret_num, used)?;
        let mut secret = Secret {
            name: new.name.clone(),
            account_id: caller.account_id.clone(),
            region_id: inst.region_id.clone(),
            instance_id: inst.id.clone(),
            encryption_key_id: key.id.clone(),
            description: new.description.clone(),
            secret_type,
            extended_config: new.extended_config.clone(),
            created_at: now,
            updated_at: now,
            planned_delete_at: None,
            versions: Vec::new(),
        };
        if key.instance_kind == ManagementType::External && external.is_none() {
            // The key became usable between the two looks: rare; encrypt now.
            external =
                Some(self.xki_encrypt(&inst, key.primary_version(), new.data.as_bytes(), &aad)?);
        }
        let version = self.seal_version(&new.version_id, &new.data, external, data_type, now);
        secret.add_version(version, &[CURRENT.to_string()], now);
        self.store.put(SECRET, &id, &secret).map_err(internal)?;
        tracing::info!("secret created in instance {}", inst.id);
        Ok(secret)
    }

    pub fn get_secret_value(
        &self,
        caller: &Caller,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<SecretValue, ApiError> {
        let now = self.now();
        let (secret, inst) = self.secret_in_service(caller, name, now)?;
        secret.require_not_deleting(now)?;
        self.secret_key(caller, &secret, Op::Decrypt, now)?;
        let version = secret.select(version_id, stage)?.clone();
        let data = self.open_data(&secret, &inst, &version)?;
        Ok(SecretValue {
            secret,
            version,
            data,
        })
    }

    /// PutSecretValue; returns the secret and the stages of the version put. The same
    /// `VersionId` with the same value is a no-op; with another value it is refused.
    pub fn put_secret_value(
        &self,
        caller: &Caller,
        name: &str,
        version_id: &str,
        data: &str,
        data_type: Option<&str>,
        stages: Option<Vec<String>>,
    ) -> Result<(Secret, Vec<String>), ApiError> {
        check_version_id(version_id)?;
        let data_type = check_secret_data(data, data_type)?;
        let stages = secrets::check_stages(stages)?;
        // An external key's proxy encrypts the value before the write lock is taken.
        let mut external = match self.find_secret(caller, name, self.now()) {
            Ok(found) => {
                let aad = Self::secret_aad(&caller.account_id, &found.name, version_id);
                if found.version(version_id).is_some() {
                    None
                } else {
                    self.external_value(caller, &found.encryption_key_id, &aad, data)?
                }
            }
            Err(_) => None,
        };
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let (mut secret, inst) = self.secret_in_service(caller, name, now)?;
        secret.require_not_deleting(now)?;
        let key = self.secret_key(caller, &secret, Op::Encrypt, now)?;
        if let Some(existing) = secret.version(version_id) {
            if existing.data_type == data_type && self.open_data(&secret, &inst, existing)? == data
            {
                let st = existing.stages.clone();
                return Ok((secret, st));
            }
            return Err(ApiError::Rejected {
                code: "Rejected.ResourceExist",
                message: format!(
                    "The resource already exists: VersionId {version_id} of secret {} holds another value.",
                    secret.name
                ),
            });
        }
        if key.instance_kind == ManagementType::External && external.is_none() {
            let aad = Self::secret_aad(&caller.account_id, &secret.name, version_id);
            external =
                Some(self.xki_encrypt(&inst, key.primary_version(), data.as_bytes(), &aad)?);
        }
        let version = self.seal_version(version_id, data, external, data_type, now);
        secret.add_version(version, &stages, now);
        let id = record_id(&caller.account_id, &secret.name);
        self.store.put(SECRET, &id, &secret).map_err(internal)?;
        Ok((secret, stages))
    }

    pub fn describe_secret(&self, caller: &Caller, name: &str) -> Result<Secret, ApiError> {
        let now = self.now();
        Ok(self.secret_in_service(caller, name, now)?.0)
    }

    /// UpdateSecret: the description and, when given, the extended configuration.
    pub fn update_secret(
        &self,
        caller: &Caller,
        name: &str,
        description: Option<&str>,
        extended_config: Option<&str>,
    ) -> Result<Secret, ApiError> {
        if let Some(d) = description {
            crate::domain::keys::check_description(d)?;
        }
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let (mut secret, _) = self.secret_in_service(caller, name, now)?;
        secret.require_not_deleting(now)?;
        if let Some(d) = description {
            secret.description = d.to_string();
        }
        if let Some(c) = extended_config {
            secret.extended_config = Some(c.to_string());
        }
        secret.updated_at = now;
        let id = record_id(&caller.account_id, &secret.name);
        self.store.put(SECRET, &id, &secret).map_err(internal)?;
        Ok(secret)
    }

    /// ListSecrets: the caller's secrets in instances that are not released, by name; in one
    /// region when given.
    pub fn list_secrets(
        &self,
        caller: &Caller,
        region: Option<&str>,
    ) -> Result<Vec<Secret>, ApiError> {
        let now = self.now();
        let all: Vec<Secret> = self.store.list(SECRET).map_err(internal)?;
        let mut out = Vec::new();
        for s in all {
            if s.account_id != caller.account_id
                || s.is_gone(now)
                || region.is_some_and(|r| r != s.region_id)
            {
                continue;
            }
            let live = self
                .store
                .get::<Instance>(INSTANCE, &s.instance_id)
                .map_err(internal)?
                .is_some_and(|i| !i.is_released(now));
            if live {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// DeleteSecret; returns when the secret goes. `force` deletes it at once.
    pub fn delete_secret(
        &self,
        caller: &Caller,
        name: &str,
        force: bool,
        window_days: Option<u32>,
    ) -> Result<(Secret, SimMillis), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let (mut secret, _) = self.secret_in_service(caller, name, now)?;
        if !force && secret.in_delete_window(now) {
            return Err(in_delete_window(&secret.name));
        }
        let at = secrets::planned_delete(now, force, window_days)?;
        let id = record_id(&caller.account_id, &secret.name);
        secret.planned_delete_at = Some(at);
        if force {
            self.store
                .apply(vec![Write::remove(SECRET, &id)])
                .map_err(internal)?;
        } else {
            self.store.put(SECRET, &id, &secret).map_err(internal)?;
        }
        Ok((secret, at))
    }

    pub fn restore_secret(&self, caller: &Caller, name: &str) -> Result<Secret, ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let (mut secret, _) = self.secret_in_service(caller, name, now)?;
        if !secret.in_delete_window(now) {
            return Err(ApiError::Rejected {
                code: "Rejected.ResourceInUse",
                message: format!(
                    "restore normal secret: secret {} is not planned for deletion.",
                    secret.name
                ),
            });
        }
        secret.planned_delete_at = None;
        secret.updated_at = now;
        let id = record_id(&caller.account_id, &secret.name);
        self.store.put(SECRET, &id, &secret).map_err(internal)?;
        Ok(secret)
    }
}
