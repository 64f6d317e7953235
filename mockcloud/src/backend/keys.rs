//! Keys, key versions, aliases and the cryptographic operations (S04, S50–S52).
//!
//! Key material is generated here, sealed with the data directory's [`Sealer`] before it
//! reaches a record, and kept opened in memory by key version id. The cryptographic path
//! (Encrypt, Decrypt, ...) reads records and writes nothing. Keys of external instances have no
//! material here: their versions are made by, and their cryptography happens in, the
//! instance's XKI proxy (`external.rs`, S45).

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::{internal, random_alnum, Backend, Caller, INSTANCE};
use crate::clock::SimMillis;
use crate::crypto::{context_aad, Blob, KeyMaterial};
use crate::domain::keys::{
    self, check_alias_name, check_key_quota, check_pending_window, check_signing, Alias, Key,
    KeyRef, KeyRequest, KeySpec, KeyState, KeyVersion, Op, DAY_MS,
};
use crate::domain::throttle::{InstanceLimits, OpClass};
use crate::domain::{Instance, ManagementType, Status};
use crate::error::ApiError;
use crate::store::Write;

pub(super) const KEY: &str = "key";
pub(super) const KEY_VERSION: &str = "key_version";
const ALIAS: &str = "alias";

/// One key version's material, sealed under the data directory's master key.
#[derive(Serialize, Deserialize)]
struct KeyVersionRecord {
    id: String,
    key_id: String,
    account_id: String,
    spec: KeySpec,
    created_at: SimMillis,
    /// `None` for a version of an external key: its material lives in the XKI proxy only.
    #[serde(default)]
    sealed_material: Option<String>,
}

/// An opened key version: which key it belongs to and its material (none for external keys).
pub(super) struct OpenVersion {
    key_id: String,
    material: Option<KeyMaterial>,
}

impl OpenVersion {
    /// The local material of a software or hardware key version.
    fn local(&self) -> Result<&KeyMaterial, ApiError> {
        self.material.as_ref().ok_or_else(|| {
            tracing::error!(
                "key {} has no local material (an external key used locally)",
                self.key_id
            );
            ApiError::Internal
        })
    }
}

/// Decrypt's refusal of a blob that does not authenticate, local or in a proxy.
fn blob_does_not_authenticate() -> ApiError {
    ApiError::invalid(
        "CiphertextBlob",
        "it does not authenticate: it was changed, or the EncryptionContext differs from the one it was encrypted with",
    )
}

/// CreateKey: the instance and what was asked.
pub struct NewKey {
    pub instance_id: String,
    pub request: KeyRequest,
}

/// GenerateDataKey's answer: `plaintext` is the base64 of the data key (absent without
/// plaintext); the blob encrypts that base64 text.
pub struct DataKey {
    pub key: Arc<Key>,
    pub key_version_id: String,
    pub plaintext: Option<String>,
    pub blob: Vec<u8>,
}

/// GetKmsInstanceQuotaInfos: quotas and what uses them.
pub struct QuotaUsage {
    pub instance_id: String,
    pub spec: u32,
    pub key_quota: u32,
    /// Key versions (S04).
    pub key_used: u32,
    pub secret_quota: u32,
    pub secret_used: u32,
    pub vpc_quota: u32,
    pub vpc_used: u32,
}

// Deviation: one endpoint serves every region, so alias names are unique per account.
fn alias_id(account_id: &str, name: &str) -> String {
    format!("{account_id}/{name}")
}

/// A key version id: a UUID (36 ASCII bytes, what the blob layout relies on).
fn version_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Backend {
    /// S52: only a Connected, unexpired, unreleased instance of the caller serves keys and
    /// secrets. Unknown, foreign or released: `Forbidden.DKMSInstanceNotFound`; expired or not
    /// Connected: `Forbidden.DKMSInstanceStateInvalid`.
    pub(super) fn serving_instance(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Arc<Instance>, ApiError> {
        let inst = self.live_instance_shared(caller, id, now)?;
        let account = self.account_shared(&caller.account_id)?;
        inst.require_status(now, account.view(), &[Status::Connected])?;
        Ok(inst)
    }

    /// S51: admits one request of the class on the instance, or refuses it with `Throttling`.
    fn admit(&self, inst: &Instance, class: OpClass) -> Result<(), ApiError> {
        if !self.throttle {
            return Ok(());
        }
        let now_us = self.rate_clock.now_us();
        let spec = inst.capacity.spec;
        let mut limits = self.limits.lock().expect("limits lock");
        let l = match limits.get_mut(&inst.id) {
            // An upgrade changes the compute performance: start over at the new rate.
            Some(l) if l.spec() == spec => l,
            _ => {
                limits.insert(inst.id.clone(), InstanceLimits::new(spec));
                limits.get_mut(&inst.id).expect("just inserted")
            }
        };
        l.try_acquire(class, now_us)
            .map_err(|wait_us| ApiError::Throttling {
                retry_after_ms: Some((wait_us as u64).div_ceil(1000)),
            })
    }

    /// A key of the caller by id, alias or ARN; gone keys (past their deletion date) are not
    /// found.
    pub(super) fn find_key(
        &self,
        caller: &Caller,
        key_id: &str,
        now: SimMillis,
    ) -> Result<Arc<Key>, ApiError> {
        let id = match KeyRef::parse(key_id, &caller.account_id)? {
            KeyRef::Id(id) => id,
            KeyRef::Alias(name) => {
                let alias: Alias = self
                    .store
                    .get(ALIAS, &alias_id(&caller.account_id, &name))
                    .map_err(internal)?
                    .ok_or(ApiError::AliasNotFound { name })?;
                alias.key_id
            }
        };
        self.key_by_id(caller, &id, now)?
            .filter(|k| crate::domain::keys::arn_region(key_id).is_none_or(|r| r == k.region_id))
            .ok_or_else(|| ApiError::KeyNotFound {
                what: format!("KeyId {key_id}"),
            })
    }

    fn key_by_id(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Option<Arc<Key>>, ApiError> {
        Ok(self
            .store
            .get_shared::<Key>(KEY, id)
            .map_err(internal)?
            .filter(|k| k.account_id == caller.account_id && !k.is_gone(now)))
    }

    /// The key and its instance, which must be serving (S52).
    fn key_in_service(
        &self,
        caller: &Caller,
        key_id: &str,
        now: SimMillis,
    ) -> Result<(Arc<Key>, Arc<Instance>), ApiError> {
        let key = self.find_key(caller, key_id, now)?;
        let inst = self.serving_instance(caller, &key.instance_id, now)?;
        Ok((key, inst))
    }

    /// The opened material of a key version, from the cache or its sealed record.
    fn open_version(&self, version_id: &str) -> Result<Option<Arc<OpenVersion>>, ApiError> {
        if let Some(v) = self
            .materials
            .read()
            .expect("materials lock")
            .get(version_id)
        {
            return Ok(Some(v.clone()));
        }
        let Some(rec) = self
            .store
            .get::<KeyVersionRecord>(KEY_VERSION, version_id)
            .map_err(internal)?
        else {
            return Ok(None);
        };
        let material = match &rec.sealed_material {
            Some(sealed) => {
                let raw = self.sealer.open(sealed).map_err(internal)?;
                Some(KeyMaterial::from_raw(rec.spec, &raw).map_err(internal)?)
            }
            None => None,
        };
        let opened = Arc::new(OpenVersion {
            key_id: rec.key_id,
            material,
        });
        self.materials
            .write()
            .expect("materials lock")
            .insert(version_id.to_string(), opened.clone());
        Ok(Some(opened))
    }

    fn material(&self, key: &Key, version_id: &str) -> Result<Arc<OpenVersion>, ApiError> {
        match self.open_version(version_id)? {
            Some(v) if v.key_id == key.id => Ok(v),
            _ => {
                tracing::error!("key {} has no material for version {version_id}", key.id);
                Err(ApiError::Internal)
            }
        }
    }

    /// New material for a key version, sealed into its record (returned as a write) and kept
    /// opened in memory.
    fn new_version(
        &self,
        caller: &Caller,
        key_id: &str,
        spec: KeySpec,
        id: &str,
        now: SimMillis,
    ) -> Write {
        let (material, raw) = KeyMaterial::generate(spec);
        let rec = KeyVersionRecord {
            id: id.to_string(),
            key_id: key_id.to_string(),
            account_id: caller.account_id.clone(),
            spec,
            created_at: now,
            sealed_material: Some(self.sealer.seal(&raw)),
        };
        self.materials.write().expect("materials lock").insert(
            id.to_string(),
            Arc::new(OpenVersion {
                key_id: key_id.to_string(),
                material: Some(material),
            }),
        );
        Write::put(KEY_VERSION, id, &rec)
    }

    /// The record of an external key's version: no material (it is in the proxy).
    pub(super) fn external_version(
        &self,
        caller: &Caller,
        key_id: &str,
        spec: KeySpec,
        id: &str,
        now: SimMillis,
    ) -> Write {
        let rec = KeyVersionRecord {
            id: id.to_string(),
            key_id: key_id.to_string(),
            account_id: caller.account_id.clone(),
            spec,
            created_at: now,
            sealed_material: None,
        };
        Write::put(KEY_VERSION, id, &rec)
    }

    /// All keys of the caller that exist at `now`.
    fn keys_of(&self, caller: &Caller, now: SimMillis) -> Result<Vec<Key>, ApiError> {
        let all: Vec<Key> = self.store.list(KEY).map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|k| k.account_id == caller.account_id && !k.is_gone(now))
            .collect())
    }

    /// S04: key versions of the instance's existing keys.
    fn key_versions_used(&self, instance_id: &str, now: SimMillis) -> Result<u32, ApiError> {
        let all: Vec<Key> = self.store.list(KEY).map_err(internal)?;
        Ok(all
            .iter()
            .filter(|k| k.instance_id == instance_id && !k.is_gone(now))
            .map(|k| k.versions.len() as u32)
            .sum())
    }

    // ---- key management ----

    pub fn create_key(&self, caller: &Caller, new: &NewKey) -> Result<Key, ApiError> {
        let mut meta = self.write.lock().expect("meta lock");
        let now = meta.anchor.now();
        let inst = self.serving_instance(caller, &new.instance_id, now)?;
        let usage = keys::check_new_key(&new.request, inst.management_type)?;
        let used = self.key_versions_used(&inst.id, now)?;
        check_key_quota(&inst.id, inst.capacity.key_num, used, 1)?;
        let region = self.region(&inst.region_id)?;
        let mut rng = self.rng(&mut meta)?;
        let id = format!("key-{}{}", region.code, random_alnum(&mut rng, 18));
        let kvid = version_id(&mut rng);
        let key = Key {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            region_id: inst.region_id.clone(),
            instance_id: inst.id.clone(),
            instance_kind: inst.management_type,
            spec: new.request.spec,
            usage,
            description: new.request.description.clone(),
            state: KeyState::Enabled,
            created_at: now,
            delete_at: None,
            versions: vec![KeyVersion {
                id: kvid.clone(),
                created_at: now,
            }],
            rotation_enabled: new.request.rotation.is_some(),
            rotation_interval_s: new.request.rotation,
            last_rotation_at: now,
            deletion_protection: false,
            deletion_protection_description: String::new(),
        };
        if key.instance_kind == ManagementType::External {
            // The proxy is called outside the write lock; the checks are made again after it.
            drop(meta);
            return self.store_external_key(caller, &inst, key, &new.request);
        }
        let version = self.new_version(caller, &id, key.spec, &kvid, now);
        self.store
            .apply(vec![Write::put(KEY, &id, &key), version])
            .map_err(internal)?;
        tracing::info!(
            "key {id} ({}) created in instance {}",
            key.spec.as_str(),
            inst.id
        );
        Ok(key)
    }

    pub fn describe_key(&self, caller: &Caller, key_id: &str) -> Result<Arc<Key>, ApiError> {
        let now = self.now();
        Ok(self.key_in_service(caller, key_id, now)?.0)
    }

    /// ListKeys: the caller's keys in instances that are not released, oldest first; in one
    /// region when given.
    pub fn list_keys(&self, caller: &Caller, region: Option<&str>) -> Result<Vec<Key>, ApiError> {
        let now = self.now();
        let mut out = Vec::new();
        let mut live: BTreeMap<String, bool> = BTreeMap::new();
        for k in self.keys_of(caller, now)? {
            if region.is_some_and(|r| r != k.region_id) {
                continue;
            }
            let ok = match live.get(&k.instance_id) {
                Some(ok) => *ok,
                None => {
                    let ok = self
                        .store
                        .get::<Instance>(INSTANCE, &k.instance_id)
                        .map_err(internal)?
                        .is_some_and(|i| !i.is_released(now));
                    live.insert(k.instance_id.clone(), ok);
                    ok
                }
            };
            if ok {
                out.push(k);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// A read-modify-write of one key in service: `change` checks (through `Key::permits`) and
    /// changes it; the result is stored.
    fn change_key(
        &self,
        caller: &Caller,
        key_id: &str,
        change: impl FnOnce(&mut Key, SimMillis) -> Result<(), ApiError>,
    ) -> Result<Key, ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut key = Key::clone(&self.key_in_service(caller, key_id, now)?.0);
        change(&mut key, now)?;
        self.store.put(KEY, &key.id, &key).map_err(internal)?;
        Ok(key)
    }

    pub fn enable_key(&self, caller: &Caller, key_id: &str) -> Result<(), ApiError> {
        self.change_key(caller, key_id, |k, _| {
            k.permits(Op::EnableKey)?;
            k.state = KeyState::Enabled;
            Ok(())
        })
        .map(drop)
    }

    pub fn disable_key(&self, caller: &Caller, key_id: &str) -> Result<(), ApiError> {
        self.change_key(caller, key_id, |k, _| {
            k.permits(Op::DisableKey)?;
            k.state = KeyState::Disabled;
            Ok(())
        })
        .map(drop)
    }

    /// Returns the deletion date.
    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        key_id: &str,
        days: u32,
    ) -> Result<SimMillis, ApiError> {
        check_pending_window(days)?;
        let key = self.change_key(caller, key_id, |k, now| {
            k.permits(Op::ScheduleDeletion)?;
            if k.deletion_protection {
                return Err(ApiError::Forbidden {
                    code: "Forbidden.DeletionProtection",
                    message: format!(
                        "Key {} has deletion protection enabled; turn it off (SetDeletionProtection) before scheduling its deletion.",
                        k.id
                    ),
                });
            }
            k.state = KeyState::PendingDeletion;
            k.delete_at = Some(now + i64::from(days) * DAY_MS);
            Ok(())
        })?;
        Ok(key.delete_at.unwrap_or_default())
    }

    pub fn cancel_key_deletion(&self, caller: &Caller, key_id: &str) -> Result<(), ApiError> {
        self.change_key(caller, key_id, |k, _| {
            k.permits(Op::CancelDeletion)?;
            k.state = KeyState::Enabled;
            k.delete_at = None;
            Ok(())
        })
        .map(drop)
    }

    pub fn update_key_description(
        &self,
        caller: &Caller,
        key_id: &str,
        description: &str,
    ) -> Result<(), ApiError> {
        keys::check_description(description)?;
        self.change_key(caller, key_id, |k, _| {
            k.permits(Op::UpdateDescription)?;
            k.description = description.to_string();
            Ok(())
        })
        .map(drop)
    }

    /// `rotation`: `Some(seconds)` turns automatic rotation on, `None` off.
    pub fn update_rotation_policy(
        &self,
        caller: &Caller,
        key_id: &str,
        rotation: Option<u64>,
    ) -> Result<(), ApiError> {
        self.change_key(caller, key_id, |k, _| {
            if rotation.is_some() {
                k.permits(Op::UpdateRotationPolicy)?;
            }
            k.rotation_enabled = rotation.is_some();
            k.rotation_interval_s = rotation;
            Ok(())
        })
        .map(drop)
    }

    /// SetDeletionProtection for a key (`KeyId` or a key ARN in `ProtectedResourceArn`).
    pub fn set_key_deletion_protection(
        &self,
        caller: &Caller,
        key_id: &str,
        enabled: bool,
        description: &str,
    ) -> Result<(), ApiError> {
        self.change_key(caller, key_id, |k, _| {
            k.permits(Op::Manage)?;
            k.deletion_protection = enabled;
            k.deletion_protection_description = if enabled {
                description.to_string()
            } else {
                String::new()
            };
            Ok(())
        })
        .map(drop)
    }

    /// A new primary version (S04: it uses one unit of the key quota).
    pub fn create_key_version(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<(Key, KeyVersion), ApiError> {
        let mut meta = self.write.lock().expect("meta lock");
        let now = meta.anchor.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        let mut key = Key::clone(&key);
        key.permits(Op::CreateKeyVersion)?;
        let used = self.key_versions_used(&inst.id, now)?;
        check_key_quota(&inst.id, inst.capacity.key_num, used, 1)?;
        let mut rng = self.rng(&mut meta)?;
        let version = KeyVersion {
            id: version_id(&mut rng),
            created_at: now,
        };
        if key.instance_kind == ManagementType::External {
            drop(meta);
            return self.store_external_version(caller, &inst, &key.id, version);
        }
        let write = self.new_version(caller, &key.id, key.spec, &version.id, now);
        key.versions.push(version.clone());
        key.last_rotation_at = now;
        self.store
            .apply(vec![Write::put(KEY, &key.id, &key), write])
            .map_err(internal)?;
        tracing::info!("key {} has a new primary version", key.id);
        Ok((key, version))
    }

    /// CreateKey in an external instance, after the first checks: the proxy makes the
    /// version's material first (outside the write lock), then the checks are made again and
    /// the key is stored. A failure of the proxy stores nothing.
    fn store_external_key(
        &self,
        caller: &Caller,
        inst: &Instance,
        key: Key,
        request: &KeyRequest,
    ) -> Result<Key, ApiError> {
        self.xki_create_key(inst, key.primary_version())?;
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let inst = self.serving_instance(caller, &key.instance_id, now)?;
        keys::check_new_key(request, inst.management_type)?;
        let used = self.key_versions_used(&inst.id, now)?;
        check_key_quota(&inst.id, inst.capacity.key_num, used, 1)?;
        let version = self.external_version(caller, &key.id, key.spec, key.primary_version(), now);
        self.store
            .apply(vec![Write::put(KEY, &key.id, &key), version])
            .map_err(internal)?;
        tracing::info!(
            "key {} ({}) created in external instance {}",
            key.id,
            key.spec.as_str(),
            inst.id
        );
        Ok(key)
    }

    /// CreateKeyVersion of an external key: the proxy makes the material first, then the key is
    /// checked again and the version stored.
    fn store_external_version(
        &self,
        caller: &Caller,
        inst: &Instance,
        key_id: &str,
        version: KeyVersion,
    ) -> Result<(Key, KeyVersion), ApiError> {
        self.xki_create_key(inst, &version.id)?;
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        let mut key = Key::clone(&key);
        key.permits(Op::CreateKeyVersion)?;
        let used = self.key_versions_used(&inst.id, now)?;
        check_key_quota(&inst.id, inst.capacity.key_num, used, 1)?;
        let write = self.external_version(caller, &key.id, key.spec, &version.id, now);
        key.versions.push(version.clone());
        key.last_rotation_at = now;
        self.store
            .apply(vec![Write::put(KEY, &key.id, &key), write])
            .map_err(internal)?;
        tracing::info!("external key {} has a new primary version", key.id);
        Ok((key, version))
    }

    pub fn describe_key_version(
        &self,
        caller: &Caller,
        key_id: &str,
        version_id: &str,
    ) -> Result<(Arc<Key>, KeyVersion), ApiError> {
        let key = self.describe_key(caller, key_id)?;
        let v = version_of(&key, version_id)?.clone();
        Ok((key, v))
    }

    // ---- aliases ----

    pub fn create_alias(&self, caller: &Caller, name: &str, key_id: &str) -> Result<(), ApiError> {
        check_alias_name(name)?;
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let (key, _) = self.key_in_service(caller, key_id, now)?;
        key.permits(Op::Manage)?;
        let id = alias_id(&caller.account_id, name);
        if let Some(old) = self.store.get::<Alias>(ALIAS, &id).map_err(internal)? {
            // An alias of a key that is gone is free again.
            if self.key_by_id(caller, &old.key_id, now)?.is_some() {
                return Err(ApiError::AliasAlreadyExists {
                    name: name.to_string(),
                });
            }
        }
        let alias = Alias {
            name: name.to_string(),
            account_id: caller.account_id.clone(),
            region_id: key.region_id.clone(),
            key_id: key.id.clone(),
            created_at: now,
        };
        self.store.put(ALIAS, &id, &alias).map_err(internal)
    }

    /// UpdateAlias: points an existing alias at another key.
    pub fn update_alias(&self, caller: &Caller, name: &str, key_id: &str) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let id = alias_id(&caller.account_id, name);
        let mut alias: Alias = self
            .store
            .get(ALIAS, &id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::AliasNotFound {
                name: name.to_string(),
            })?;
        let (key, _) = self.key_in_service(caller, key_id, now)?;
        alias.key_id = key.id.clone();
        alias.region_id = key.region_id.clone();
        self.store.put(ALIAS, &id, &alias).map_err(internal)
    }

    pub fn delete_alias(&self, caller: &Caller, name: &str) -> Result<(), ApiError> {
        let _guard = self.write.lock().expect("meta lock");
        let id = alias_id(&caller.account_id, name);
        if self
            .store
            .get::<Alias>(ALIAS, &id)
            .map_err(internal)?
            .is_none()
        {
            return Err(ApiError::AliasNotFound {
                name: name.to_string(),
            });
        }
        self.store
            .apply(vec![Write::remove(ALIAS, &id)])
            .map_err(internal)
    }

    /// The caller's aliases of existing keys, by name; of one key when `key_id` is given.
    pub fn list_aliases(
        &self,
        caller: &Caller,
        key_id: Option<&str>,
    ) -> Result<Vec<Alias>, ApiError> {
        let now = self.now();
        let only = match key_id {
            Some(k) => Some(self.find_key(caller, k, now)?.id.clone()),
            None => None,
        };
        let keys: BTreeMap<String, Key> = self
            .keys_of(caller, now)?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        let all: Vec<Alias> = self.store.list(ALIAS).map_err(internal)?;
        let mut out: Vec<Alias> = all
            .into_iter()
            .filter(|a| a.account_id == caller.account_id && keys.contains_key(&a.key_id))
            .filter(|a| only.as_ref().is_none_or(|k| *k == a.key_id))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    // ---- cryptographic operations: read only ----

    /// Encrypt: the UTF-8 bytes of `plaintext` under the primary version, bound to the context.
    pub fn encrypt(
        &self,
        caller: &Caller,
        key_id: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<(Arc<Key>, String, Vec<u8>), ApiError> {
        let now = self.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        self.admit(&inst, OpClass::Symmetric)?;
        key.permits(Op::Encrypt)?;
        let kvid = key.primary_version().to_string();
        let blob = if key.instance_kind == ManagementType::External {
            self.xki_encrypt(&inst, &kvid, plaintext, &context_aad(context))?
        } else {
            self.material(&key, &kvid)?
                .local()?
                .encrypt(&kvid, plaintext, &context_aad(context))
                .ok_or(ApiError::Internal)?
        };
        Ok((key, kvid, blob))
    }

    /// Decrypt: the key comes from the version id at the head of the blob.
    pub fn decrypt(
        &self,
        caller: &Caller,
        raw_blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<(Arc<Key>, String, Vec<u8>), ApiError> {
        let now = self.now();
        let blob = Blob::parse(raw_blob).ok_or_else(|| {
            ApiError::invalid(
                "CiphertextBlob",
                "not a ciphertext blob of this service (key version id, IV, ciphertext, tag)",
            )
        })?;
        let not_found = || ApiError::KeyNotFound {
            what: format!(
                "key version {} named by the CiphertextBlob",
                blob.key_version_id
            ),
        };
        let version = self
            .open_version(blob.key_version_id)?
            .ok_or_else(not_found)?;
        let key = self
            .key_by_id(caller, &version.key_id, now)?
            .ok_or_else(not_found)?;
        let inst = self.serving_instance(caller, &key.instance_id, now)?;
        self.admit(&inst, OpClass::Symmetric)?;
        key.permits(Op::Decrypt)?;
        let plaintext = if key.instance_kind == ManagementType::External {
            self.xki_decrypt(&inst, &blob, &context_aad(context))?
        } else {
            version.local()?.decrypt(&blob, &context_aad(context))
        }
        .ok_or_else(blob_does_not_authenticate)?;
        Ok((key, blob.key_version_id.to_string(), plaintext))
    }

    /// GenerateDataKey(WithoutPlaintext): `bytes` random bytes; the blob encrypts their base64.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        key_id: &str,
        bytes: usize,
        context: &BTreeMap<String, String>,
        with_plaintext: bool,
    ) -> Result<DataKey, ApiError> {
        let now = self.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        self.admit(&inst, OpClass::Symmetric)?;
        key.permits(Op::GenerateDataKey)?;
        let mut data_key = vec![0u8; bytes];
        rand::rngs::OsRng.fill(&mut data_key[..]);
        let text = base64::Engine::encode(&b64(), &data_key);
        let kvid = key.primary_version().to_string();
        // External keys: the data key is made here and encrypted by the proxy (S45).
        let blob = if key.instance_kind == ManagementType::External {
            self.xki_encrypt(&inst, &kvid, text.as_bytes(), &context_aad(context))?
        } else {
            self.material(&key, &kvid)?
                .local()?
                .encrypt(&kvid, text.as_bytes(), &context_aad(context))
                .ok_or(ApiError::Internal)?
        };
        Ok(DataKey {
            key,
            key_version_id: kvid,
            plaintext: with_plaintext.then_some(text),
            blob,
        })
    }

    /// AsymmetricSign: a DER signature over the pre-hashed digest.
    pub fn asymmetric_sign(
        &self,
        caller: &Caller,
        key_id: &str,
        version_id: &str,
        algorithm: &str,
        digest: &[u8],
    ) -> Result<(Arc<Key>, Vec<u8>), ApiError> {
        let now = self.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        self.admit(&inst, OpClass::Asymmetric)?;
        key.permits(Op::Sign)?;
        version_of(&key, version_id)?;
        check_signing(&key, algorithm, digest)?;
        let sig = self
            .material(&key, version_id)?
            .local()?
            .sign_digest(digest)
            .ok_or(ApiError::Internal)?;
        Ok((key, sig))
    }

    pub fn asymmetric_verify(
        &self,
        caller: &Caller,
        key_id: &str,
        version_id: &str,
        algorithm: &str,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(Arc<Key>, bool), ApiError> {
        let now = self.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        self.admit(&inst, OpClass::Asymmetric)?;
        key.permits(Op::Verify)?;
        version_of(&key, version_id)?;
        check_signing(&key, algorithm, digest)?;
        let ok = self
            .material(&key, version_id)?
            .local()?
            .verify_digest(digest, signature);
        Ok((key, ok))
    }

    /// GetPublicKey: PEM SubjectPublicKeyInfo.
    pub fn get_public_key(
        &self,
        caller: &Caller,
        key_id: &str,
        version_id: &str,
    ) -> Result<(Arc<Key>, String), ApiError> {
        let now = self.now();
        let (key, inst) = self.key_in_service(caller, key_id, now)?;
        self.admit(&inst, OpClass::Asymmetric)?;
        key.permits(Op::GetPublicKey)?;
        version_of(&key, version_id)?;
        let pem = self
            .material(&key, version_id)?
            .local()?
            .public_key_pem()
            .ok_or(ApiError::Internal)?;
        Ok((key, pem))
    }

    // ---- quotas ----

    /// GetKmsInstanceQuotaInfos: what the instance's quotas are and what uses them.
    pub fn quota_usage(&self, caller: &Caller, instance_id: &str) -> Result<QuotaUsage, ApiError> {
        let now = self.now();
        let inst = self.visible_instance(caller, instance_id, now)?;
        Ok(QuotaUsage {
            instance_id: inst.id.clone(),
            spec: inst.capacity.spec,
            key_quota: inst.capacity.key_num,
            key_used: self.key_versions_used(&inst.id, now)?,
            secret_quota: inst.capacity.secret_num,
            secret_used: self.secrets_used(&inst.id, now)?,
            vpc_quota: inst.capacity.vpc_num,
            vpc_used: inst.access_units(&inst.bind_vpcs, &inst.shared_accounts),
        })
    }
}

fn version_of<'k>(key: &'k Key, version_id: &str) -> Result<&'k KeyVersion, ApiError> {
    key.version(version_id)
        .ok_or_else(|| ApiError::KeyNotFound {
            what: format!("KeyVersionId {version_id} of key {}", key.id),
        })
}
