//! One method per API action: the only writer of the store. Reads the simulated clock, applies
//! the domain rules, persists the result. Knows nothing of HTTP or JSON wire shapes.
//!
//! `mod.rs` holds the world, purchase and instance actions; [`keys`] the keys, aliases and
//! cryptographic operations; [`secrets`] the secrets; [`hsm`] the HSM clusters and the
//! enablement of hardware instances; [`external`] the XKI proxies of external instances (their
//! enablement and the cryptography of their keys, which happens in the proxy).

mod external;
mod hsm;
mod keys;
mod secrets;

pub use external::XkiProbe;
pub use hsm::{hsm_certificates_offline, HsmCertificateSet};
pub use keys::{DataKey, NewKey, QuotaUsage};
pub use secrets::{NewSecret, SecretValue};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::clock::{Anchor, RateClock, SimMillis, MINUTE};
use crate::crypto::Sealer;
use crate::domain::connect::{self, ConnectRequest, VSwitchView, VpcView};
use crate::domain::hsm::SyncStatus;
use crate::domain::purchase::{self, Order};
use crate::domain::throttle::InstanceLimits;
use crate::domain::{
    AccountView, BindVpc, Connection, Instance, RenewStatus, Status, SOFTWARE_ENABLE_MS,
};
use crate::error::ApiError;
use crate::store::{Store, Write};
use crate::world::{Region, Site, World};

const ACCOUNT: &str = "account";
const ACCESS_KEY: &str = "access_key";
const REGION: &str = "region";
const VPC: &str = "vpc";
const VSWITCH: &str = "vswitch";
const INSTANCE: &str = "instance";
const TOKEN: &str = "client_token";
const META: &str = "meta";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    pub id: String,
    pub name: String,
    pub site: Site,
    pub private_zone_since: Option<SimMillis>,
    pub entitlements: Vec<String>,
}

impl AccountRecord {
    fn view(&self) -> AccountView {
        AccountView {
            private_zone_since: self.private_zone_since,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct AccessKeyRecord {
    account_id: String,
    /// The secret, sealed under the data directory's master key.
    sealed_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VpcRecord {
    pub id: String,
    pub account_id: String,
    pub region_id: String,
    pub cidr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VSwitchRecord {
    pub id: String,
    pub vpc_id: String,
    pub zone_id: String,
    pub free_ips: u32,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    seed: u64,
    draws: u64,
    anchor: Anchor,
}

/// Faults injected through `/_mock/faults`, for tests of clients' error handling. Held in
/// memory: a restart clears them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// The next ConnectKmsInstance ends in status Error with this reason.
    #[serde(default)]
    pub connect_error: Option<String>,
    /// The next ConnectKmsInstance never finishes (stays Connecting).
    #[serde(default)]
    pub stay_connecting: bool,
    /// The next N signed requests are answered with `Throttling`.
    #[serde(default)]
    pub throttle: u32,
    /// The next N signed requests are answered with 503 `ServiceUnavailableTemporary`.
    #[serde(default)]
    pub server_error: u32,
    /// The next N signed requests are carried out, then answered with 503 as if the response
    /// was lost: a client that retries must not do the thing twice (ClientToken).
    #[serde(default)]
    pub lose_response: u32,
    /// Extra latency added to every signed request.
    #[serde(default)]
    pub latency_ms: u64,
}

/// What the wire layer must do to one request because of injected faults.
pub enum RequestFault {
    Throttle,
    ServerError,
}

/// The caller, once its signature has been verified.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
}

pub struct BackendConfig {
    pub data_dir: PathBuf,
    pub world: Option<World>,
    pub time_scale: f64,
    pub seed: Option<u64>,
    /// Request-rate limits per instance (S51); off for load tests.
    pub throttle: bool,
    /// The wall clock the limits read.
    pub rate_clock: RateClock,
    /// The time limit of one call to an XKI proxy.
    pub xki_timeout: std::time::Duration,
}

pub struct Backend {
    store: Store,
    sealer: Sealer,
    /// Serialises read-modify-write sequences; sled itself keeps each batch atomic.
    write: Mutex<Meta>,
    /// Last status logged per instance, so each change is logged once.
    seen: Mutex<HashMap<String, Status>>,
    faults: Mutex<Faults>,
    throttle: bool,
    rate_clock: RateClock,
    /// Request-rate windows per instance id (S51); in memory, wall time.
    limits: Mutex<HashMap<String, InstanceLimits>>,
    /// Key material opened from its sealed records, by key version id, so the cryptographic
    /// path does not unseal per request. Material never changes once created.
    materials: RwLock<HashMap<String, Arc<keys::OpenVersion>>>,
    /// Access keys opened from their sealed records: id -> (account, secret).
    access_keys: RwLock<HashMap<String, (String, String)>>,
    /// The XKI client and what is derived from bound external instances (S40-S45).
    xki: external::XkiState,
}

/// What GetKmsInstance answers: the instance (its `end_at` the effective end), its status and,
/// for a hardware instance bound to an HSM cluster, the cluster and the binding's sync health;
/// for an external instance bound to an XKI proxy, whether the proxy answers.
pub struct InstanceView {
    pub instance: Instance,
    pub status: Status,
    pub hsm: Option<(String, SyncStatus)>,
    /// Only from [`Backend::get_kms_instance`]; `None` when not bound or not probed.
    pub xki_probe: Option<XkiProbe>,
}

/// What BSS CreateInstance answers.
pub struct Purchased {
    pub instance_id: String,
    pub order_id: String,
}

impl Backend {
    pub fn open(cfg: BackendConfig) -> anyhow::Result<Backend> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let store = Store::open(&cfg.data_dir)?;
        let sealer = Sealer::open_or_create(&cfg.data_dir)?;
        let meta = match store.get::<Meta>(META, "meta")? {
            Some(mut m) => {
                if m.anchor.scale != cfg.time_scale {
                    m.anchor = m.anchor.rescaled(cfg.time_scale);
                    store.put(META, "meta", &m)?;
                }
                m
            }
            None => {
                let world = cfg.world.unwrap_or_else(World::default_world);
                let meta = Meta {
                    seed: cfg.seed.unwrap_or_else(rand::random),
                    draws: 0,
                    anchor: Anchor::start(cfg.time_scale),
                };
                seed_world(&store, &sealer, &world)?;
                store.put(META, "meta", &meta)?;
                meta
            }
        };
        Ok(Backend {
            store,
            sealer,
            write: Mutex::new(meta),
            seen: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            throttle: cfg.throttle,
            rate_clock: cfg.rate_clock,
            limits: Mutex::new(HashMap::new()),
            materials: RwLock::new(HashMap::new()),
            access_keys: RwLock::new(HashMap::new()),
            xki: external::XkiState::new(cfg.xki_timeout),
        })
    }

    pub fn data_dir_marker(dir: &Path) -> PathBuf {
        dir.join("db")
    }

    pub fn now(&self) -> SimMillis {
        self.write.lock().expect("meta lock").anchor.now()
    }

    pub fn time_scale(&self) -> f64 {
        self.write.lock().expect("meta lock").anchor.scale
    }

    pub fn advance_clock(&self, by_ms: i64) -> Result<SimMillis, ApiError> {
        let mut meta = self.write.lock().expect("meta lock");
        meta.anchor = meta.anchor.advanced(by_ms);
        self.store.put(META, "meta", &*meta).map_err(internal)?;
        Ok(meta.anchor.now())
    }

    /// A generator for one operation, derived from the data directory's seed and a persisted
    /// draw counter, so a run with `--seed` repeats its random choices.
    fn rng(&self, meta: &mut Meta) -> Result<ChaCha20Rng, ApiError> {
        meta.draws += 1;
        self.store.put(META, "meta", &*meta).map_err(internal)?;
        Ok(ChaCha20Rng::seed_from_u64(
            meta.seed ^ meta.draws.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }

    /// The account and secret behind an access key id. Opened once and kept in memory (access
    /// keys never change); sealed in the store.
    pub fn access_key(&self, id: &str) -> Result<(String, String), ApiError> {
        if let Some(found) = self.access_keys.read().expect("access keys lock").get(id) {
            return Ok(found.clone());
        }
        let rec: AccessKeyRecord = self
            .store
            .get(ACCESS_KEY, id)
            .map_err(internal)?
            .ok_or(ApiError::InvalidAccessKeyIdNotFound)?;
        let secret = self.sealer.open(&rec.sealed_secret).map_err(internal)?;
        let found = (rec.account_id, String::from_utf8(secret).map_err(internal)?);
        self.access_keys
            .write()
            .expect("access keys lock")
            .insert(id.to_string(), found.clone());
        Ok(found)
    }

    /// The first access key of the first account in the world: the well-known default.
    pub fn default_credentials(&self) -> anyhow::Result<(String, String)> {
        let accounts: Vec<AccountRecord> = self.store.list(ACCOUNT)?;
        let first = accounts
            .first()
            .ok_or_else(|| anyhow::anyhow!("the world has no account"))?;
        let keys = self.access_keys_of(&first.id)?;
        keys.into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("account {} has no access key", first.id))
    }

    pub fn access_keys_of(&self, account_id: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for id in self.store.list::<String>("access_key_index")? {
            let (acc, secret) = self.access_key(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
            if acc == account_id {
                out.push((id, secret));
            }
        }
        Ok(out)
    }

    fn account(&self, id: &str) -> Result<AccountRecord, ApiError> {
        self.account_shared(id).map(|a| (*a).clone())
    }

    fn account_shared(&self, id: &str) -> Result<Arc<AccountRecord>, ApiError> {
        self.store
            .get_shared(ACCOUNT, id)
            .map_err(internal)?
            .ok_or(ApiError::InvalidAccessKeyIdNotFound)
    }

    pub fn region(&self, id: &str) -> Result<Region, ApiError> {
        self.store
            .get(REGION, id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::InvalidParameterCode {
                code: "InvalidRegionId.NotFound",
                message: format!("The specified region \"{id}\" does not exist."),
            })
    }

    pub fn regions(&self) -> Result<Vec<Region>, ApiError> {
        self.store.list(REGION).map_err(internal)
    }

    /// The one place that maps a missing or foreign instance to "not found". Instances the BSS
    /// sold but KMS does not show yet (S11) are not found here either.
    fn visible_instance(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Instance, ApiError> {
        self.visible_instance_shared(caller, id, now)
            .map(|i| (*i).clone())
    }

    /// [`Backend::visible_instance`] without a copy, for read paths.
    fn visible_instance_shared(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Arc<Instance>, ApiError> {
        match self
            .store
            .get_shared::<Instance>(INSTANCE, id)
            .map_err(internal)?
        {
            Some(i) if i.account_id == caller.account_id && i.is_visible(now) => Ok(i),
            _ => Err(ApiError::DkmsInstanceNotFound { id: id.to_string() }),
        }
    }

    /// A visible instance that has not expired: an expired instance (no auto-renewal, S09) serves
    /// nothing and cannot be changed until it is renewed (S52).
    fn live_instance(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Instance, ApiError> {
        self.live_instance_shared(caller, id, now)
            .map(|i| (*i).clone())
    }

    fn live_instance_shared(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Arc<Instance>, ApiError> {
        let inst = self.visible_instance_shared(caller, id, now)?;
        if inst.is_expired(now) {
            return Err(ApiError::DkmsInstanceStateInvalid {
                id: id.to_string(),
                status: "Expired".into(),
            });
        }
        Ok(inst)
    }

    /// Logs each change of an instance's observed status once (the demo prints these lines).
    fn observe(&self, inst: &Instance, status: Status) {
        let mut seen = self.seen.lock().expect("seen lock");
        if seen.get(&inst.id) != Some(&status) {
            seen.insert(inst.id.clone(), status);
            tracing::info!("instance {} status={}", inst.id, status.as_str());
        }
    }

    // ---- BssOpenApi ----

    pub fn create_instance(
        &self,
        caller: &Caller,
        client_token: Option<&str>,
        product_type: Option<&str>,
        order: &Order,
    ) -> Result<Purchased, ApiError> {
        let mut meta = self.write.lock().expect("meta lock");
        let now = meta.anchor.now();
        let account = self.account(&caller.account_id)?;
        if let Some(token) = client_token {
            if let Some(id) = self
                .store
                .get::<String>(TOKEN, &token_key(&caller.account_id, token))
                .map_err(internal)?
            {
                // The same token never buys twice: answer with the first purchase.
                return Ok(Purchased {
                    order_id: order_id_for(&id),
                    instance_id: id,
                });
            }
        }
        let region_id = order
            .region
            .as_deref()
            .ok_or_else(|| ApiError::missing("Parameter.Region"))?;
        let region = self.region(region_id)?;
        let expected_type = match account.site {
            Site::China => "kms_ddi_public_cn",
            Site::International => "kms_ddi_public_intl",
        };
        if let Some(pt) = product_type {
            if pt != expected_type {
                return Err(ApiError::InvalidParameterCode {
                    code: "NotApplicable",
                    message: format!("ProductType {pt} is not applicable to this account's site; use {expected_type}."),
                });
            }
        }
        let p = purchase::validate_purchase(order, &region, &account.entitlements)?;
        let mut rng = self.rng(&mut meta)?;
        let id = format!("kst-{}{}", region.code, random_alnum(&mut rng, 21));
        let visible_at = now + rng.gen_range(MINUTE..=5 * MINUTE);
        // Deviation: a month is 30 days on the simulated clock.
        let end_at = now + i64::from(p.period_months) * 30 * 24 * 60 * MINUTE;
        let inst = Instance {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            region_id: region.id.clone(),
            management_type: p.management_type,
            deployment_mode: p.deployment_mode,
            capacity: p.capacity,
            instance_backup: p.instance_backup,
            expert_service: p.expert_service,
            product_type: expected_type.to_string(),
            period_months: p.period_months,
            renew_status: p.renew_status,
            renew_period_months: p.renew_period_months,
            purchased_at: now,
            visible_at,
            end_at,
            name: id.clone(),
            connection: None,
            released_at: None,
            deletion_protection: false,
            deletion_protection_description: String::new(),
            bind_vpcs: Vec::new(),
            shared_accounts: Vec::new(),
        };
        let mut writes = vec![Write::put(INSTANCE, &id, &inst)];
        if let Some(token) = client_token {
            writes.push(Write::put(
                TOKEN,
                &token_key(&caller.account_id, token),
                &id,
            ));
        }
        self.store.apply(writes).map_err(internal)?;
        tracing::info!(
            "instance {id} purchased in {} ({:?}), visible in {}s simulated",
            region.id,
            p.management_type,
            (visible_at - now) / 1000
        );
        Ok(Purchased {
            order_id: order_id_for(&id),
            instance_id: id,
        })
    }

    /// Instances the BSS knows (sold and not refunded), visible in KMS or not yet.
    pub fn query_available_instances(
        &self,
        caller: &Caller,
        ids: &[String],
    ) -> Result<Vec<(Instance, &'static str)>, ApiError> {
        let now = self.now();
        let all: Vec<Instance> = self.store.list(INSTANCE).map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|i| i.account_id == caller.account_id && !i.is_released(now))
            .filter(|i| ids.is_empty() || ids.contains(&i.id))
            .map(|mut i| {
                let st = if i.is_expired(now) {
                    "Expired"
                } else {
                    "Normal"
                };
                i.end_at = i.effective_end(now);
                (i, st)
            })
            .collect())
    }

    /// BSS ModifyInstance (Upgrade): quotas only go up, log analysis stays on (S07, S12).
    pub fn modify_instance(
        &self,
        caller: &Caller,
        id: &str,
        order: &Order,
    ) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut inst = self.sold_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        inst.capacity = purchase::validate_upgrade(
            &inst.capacity,
            inst.management_type,
            order,
            &account.entitlements,
        )?;
        self.store.put(INSTANCE, id, &inst).map_err(internal)?;
        tracing::info!("instance {id} upgraded");
        Ok(())
    }

    /// BSS SetRenewal.
    pub fn set_renewal(
        &self,
        caller: &Caller,
        ids: &[String],
        status: RenewStatus,
        months: Option<u32>,
    ) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut writes = Vec::new();
        for id in ids {
            let mut inst = self.sold_instance(caller, id, now)?;
            inst.renew_status = status;
            if let Some(m) = months {
                inst.renew_period_months = m;
            }
            writes.push(Write::put(INSTANCE, id, &inst));
        }
        self.store.apply(writes).map_err(internal)
    }

    /// An instance the BSS sold to the caller and has not refunded (visible in KMS or not yet).
    fn sold_instance(
        &self,
        caller: &Caller,
        id: &str,
        now: SimMillis,
    ) -> Result<Instance, ApiError> {
        match self.store.get::<Instance>(INSTANCE, id).map_err(internal)? {
            Some(i) if i.account_id == caller.account_id && !i.is_released(now) => Ok(i),
            _ => Err(ApiError::ResourceNotExists { id: id.to_string() }),
        }
    }

    pub fn refund_instance(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        let _guard = self.write.lock().expect("meta lock");
        let now = _guard.anchor.now();
        let mut inst = self.sold_instance(caller, id, now)?;
        if inst.deletion_protection {
            return Err(ApiError::Forbidden {
                code: "Forbidden.DeletionProtection",
                message: format!("Instance {id} has deletion protection enabled; turn it off before releasing it."),
            });
        }
        inst.released_at = Some(now);
        let mut writes = vec![Write::put(INSTANCE, id, &inst)];
        // The vSwitch IPs enablement used are given back (a bound HSM cluster is free again).
        if let Some(c) = &inst.connection {
            for vsw_id in &c.vswitch_ids {
                if let Some(mut v) = self
                    .store
                    .get::<VSwitchRecord>(VSWITCH, vsw_id)
                    .map_err(internal)?
                {
                    v.free_ips += c.ips_per_vswitch;
                    writes.push(Write::put(VSWITCH, vsw_id, &v));
                }
            }
        }
        self.store.apply(writes).map_err(internal)?;
        tracing::info!("instance {id} refunded and released");
        Ok(())
    }

    // ---- KMS ----

    /// GetKmsInstance: the view with, for a bound external instance, a (cached) probe of its
    /// proxy.
    pub fn get_kms_instance(&self, caller: &Caller, id: &str) -> Result<InstanceView, ApiError> {
        let mut view = self.kms_instance_view(caller, id)?;
        view.xki_probe = self.xki_probe(&view.instance);
        Ok(view)
    }

    /// The instance's view without probing its XKI proxy (filters, ARN checks).
    pub fn kms_instance_view(&self, caller: &Caller, id: &str) -> Result<InstanceView, ApiError> {
        let now = self.now();
        let mut inst = self.visible_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        let status = inst.status(now, account.view());
        self.observe(&inst, status);
        inst.end_at = inst.effective_end(now);
        let hsm = self.hsm_sync(&inst)?;
        Ok(InstanceView {
            instance: inst,
            status,
            hsm,
            xki_probe: None,
        })
    }

    pub fn list_kms_instances(
        &self,
        caller: &Caller,
        region: Option<&str>,
    ) -> Result<Vec<Instance>, ApiError> {
        let now = self.now();
        let all: Vec<Instance> = self.store.list(INSTANCE).map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|i| i.account_id == caller.account_id && i.is_visible(now))
            .filter(|i| region.is_none_or(|r| r == i.region_id))
            .collect())
    }

    pub fn connect_kms_instance(
        &self,
        caller: &Caller,
        id: &str,
        req: &ConnectRequest,
    ) -> Result<(), ApiError> {
        let mut meta = self.write.lock().expect("meta lock");
        let now = meta.anchor.now();
        let mut inst = self.live_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        // An instance whose enablement failed may be enabled again.
        inst.require_status(now, account.view(), &[Status::Uninitialized, Status::Error])?;
        let region = self.region(&inst.region_id)?;
        // A failed enablement gives its vSwitch IPs back before the new attempt takes them.
        let free = self.released_ips(&inst)?;
        let mut vpc = self.vpc_view(caller, &req.vpc_id, &region.id)?;
        if let Some(view) = vpc.as_mut() {
            for v in &mut view.vswitches {
                if let Some(released) = free.get(&v.id) {
                    v.free_ips = released.free_ips;
                }
            }
        }
        let mut rng = self.rng(&mut meta)?;
        let plan = connect::plan_software_connect(&inst, req, &region, vpc.as_ref(), |n| {
            rng.gen_range(0..n)
        })?;
        let needs_private_zone = match account.site {
            Site::China => !region.mainland,
            Site::International => region.mainland,
        };
        let mut writes = Vec::new();
        let (failure, stuck) = self.take_connect_faults();
        inst.connection = Some(Connection {
            vpc_id: req.vpc_id.clone(),
            zone_ids: plan.zone_ids,
            vswitch_ids: plan.vswitch_ids.clone(),
            requested_at: now,
            duration_ms: SOFTWARE_ENABLE_MS,
            needs_private_zone,
            failure,
            stuck,
            ips_per_vswitch: 1,
            hsm: None,
            xki: None,
        });
        writes.push(Write::put(INSTANCE, id, &inst));
        writes.extend(self.take_ips(&plan.vswitch_ids, 1, free)?);
        self.store.apply(writes).map_err(internal)?;
        self.observe(&inst, inst.status(now, account.view()));
        Ok(())
    }

    /// The vSwitch writes of an enablement: `per_vswitch` IPs taken from each of `vswitch_ids`,
    /// and the records of `free` (IPs given back by an earlier enablement, `released_ips`)
    /// written back.
    pub(super) fn take_ips(
        &self,
        vswitch_ids: &[String],
        per_vswitch: u32,
        mut free: HashMap<String, VSwitchRecord>,
    ) -> Result<Vec<Write>, ApiError> {
        let mut writes = Vec::new();
        for vsw_id in vswitch_ids {
            let mut v = match free.remove(vsw_id) {
                Some(v) => v,
                None => self
                    .store
                    .get::<VSwitchRecord>(VSWITCH, vsw_id)
                    .map_err(internal)?
                    .ok_or_else(|| ApiError::InvalidVSwitchIdNotFound { id: vsw_id.clone() })?,
            };
            v.free_ips = v.free_ips.saturating_sub(per_vswitch);
            writes.push(Write::put(VSWITCH, vsw_id, &v));
        }
        for (vsw_id, v) in free {
            writes.push(Write::put(VSWITCH, &vsw_id, &v));
        }
        Ok(writes)
    }

    pub fn update_kms_instance(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        connect::check_instance_name(name)?;
        let _guard = self.write.lock().expect("meta lock");
        let now = _guard.anchor.now();
        let mut inst = self.live_instance(caller, id, now)?;
        inst.name = name.to_string();
        self.store.put(INSTANCE, id, &inst).map_err(internal)
    }

    pub fn set_deletion_protection(
        &self,
        caller: &Caller,
        id: &str,
        enabled: bool,
        description: &str,
    ) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut inst = self.visible_instance(caller, id, now)?;
        inst.deletion_protection = enabled;
        inst.deletion_protection_description = if enabled {
            description.to_string()
        } else {
            String::new()
        };
        self.store.put(INSTANCE, id, &inst).map_err(internal)
    }

    /// UpdateKmsInstanceBindVpc: replaces the whole list (S06 quota checked).
    pub fn update_bind_vpcs(
        &self,
        caller: &Caller,
        id: &str,
        binds: Vec<BindVpc>,
    ) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut inst = self.live_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        inst.require_status(now, account.view(), &[Status::Connected])?;
        let mut binds = binds;
        for b in &mut binds {
            if b.region_id.is_empty() {
                b.region_id = inst.region_id.clone();
            }
            if b.vpc_owner_id.is_empty() {
                b.vpc_owner_id = caller.account_id.clone();
            }
        }
        for (i, b) in binds.iter().enumerate() {
            if b.region_id != inst.region_id {
                return Err(ApiError::invalid(
                    format!("BindVpcs[{i}].RegionId"),
                    format!(
                        "{}: VPCs bind in the instance's region {} only",
                        b.region_id, inst.region_id
                    ),
                ));
            }
            let owner = Caller {
                account_id: b.vpc_owner_id.clone(),
            };
            let vpc = self
                .vpc_view(&owner, &b.vpc_id, &inst.region_id)?
                .ok_or_else(|| ApiError::InvalidVpcIdNotFound {
                    id: b.vpc_id.clone(),
                })?;
            if !vpc.vswitches.iter().any(|v| v.id == b.vswitch_id) {
                return Err(ApiError::InvalidVSwitchIdNotFound {
                    id: b.vswitch_id.clone(),
                });
            }
            if binds[..i].iter().any(|o| o.vpc_id == b.vpc_id) {
                return Err(ApiError::invalid(
                    format!("BindVpcs[{i}].VpcId"),
                    format!("{} is listed twice", b.vpc_id),
                ));
            }
        }
        inst.check_access_quota(&binds, &inst.shared_accounts)?;
        inst.bind_vpcs = binds;
        self.store.put(INSTANCE, id, &inst).map_err(internal)
    }

    /// Deviation: UpdateKmsInstanceShareAccounts stands in for the console's sharing (S06).
    pub fn update_share_accounts(
        &self,
        caller: &Caller,
        id: &str,
        accounts: Vec<String>,
    ) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut inst = self.live_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        inst.require_status(now, account.view(), &[Status::Connected])?;
        for (i, a) in accounts.iter().enumerate() {
            if a.is_empty() || !a.chars().all(|c| c.is_ascii_digit()) {
                return Err(ApiError::invalid(
                    format!("ShareAccounts[{i}]"),
                    format!("{a:?} is not an account id (digits)"),
                ));
            }
            if a == &caller.account_id {
                return Err(ApiError::invalid(
                    format!("ShareAccounts[{i}]"),
                    "an instance is not shared with its own account",
                ));
            }
            if accounts[..i].contains(a) {
                return Err(ApiError::invalid(
                    format!("ShareAccounts[{i}]"),
                    format!("{a} is listed twice"),
                ));
            }
        }
        inst.check_access_quota(&inst.bind_vpcs, &accounts)?;
        inst.shared_accounts = accounts;
        self.store.put(INSTANCE, id, &inst).map_err(internal)
    }

    // ---- admin ----

    /// Activates PrivateZone for an account (S23): enablement held back by it then finishes.
    pub fn activate_private_zone(&self, account_id: &str) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut account = self.account(account_id).map_err(|_| ApiError::NotFound {
            code: "AccountNotFound",
            message: format!("No account {account_id} in this world."),
        })?;
        if account.private_zone_since.is_none() {
            account.private_zone_since = Some(now);
            self.store
                .put(ACCOUNT, account_id, &account)
                .map_err(internal)?;
        }
        Ok(())
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = faults;
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().expect("faults lock").clone()
    }

    /// The injected latency, read per request.
    pub fn latency_ms(&self) -> u64 {
        self.faults.lock().expect("faults lock").latency_ms
    }

    /// Whether the response of a request just carried out is to be lost (see `Faults`).
    pub fn take_lost_response(&self) -> bool {
        let mut f = self.faults.lock().expect("faults lock");
        if f.lose_response > 0 {
            f.lose_response -= 1;
            true
        } else {
            false
        }
    }

    /// Takes one request-level fault, if any is armed, and the latency to add.
    pub fn take_request_fault(&self) -> (Option<RequestFault>, u64) {
        let mut f = self.faults.lock().expect("faults lock");
        let fault = if f.throttle > 0 {
            f.throttle -= 1;
            Some(RequestFault::Throttle)
        } else if f.server_error > 0 {
            f.server_error -= 1;
            Some(RequestFault::ServerError)
        } else {
            None
        };
        (fault, f.latency_ms)
    }

    fn vpc_view(
        &self,
        caller: &Caller,
        vpc_id: &str,
        region_id: &str,
    ) -> Result<Option<VpcView>, ApiError> {
        let vpc: Option<VpcRecord> = self.store.get(VPC, vpc_id).map_err(internal)?;
        let Some(vpc) =
            vpc.filter(|v| v.account_id == caller.account_id && v.region_id == region_id)
        else {
            return Ok(None);
        };
        let vswitches = self
            .vswitches_of(&vpc.id)?
            .into_iter()
            .map(|v| VSwitchView {
                id: v.id,
                zone: v.zone_id,
                free_ips: v.free_ips,
            })
            .collect();
        Ok(Some(VpcView {
            id: vpc.id,
            vswitches,
        }))
    }

    pub fn vswitches_of(&self, vpc_id: &str) -> Result<Vec<VSwitchRecord>, ApiError> {
        let all: Vec<VSwitchRecord> = self.store.list(VSWITCH).map_err(internal)?;
        Ok(all.into_iter().filter(|v| v.vpc_id == vpc_id).collect())
    }

    pub fn vpcs_of(
        &self,
        caller: &Caller,
        region_id: Option<&str>,
    ) -> Result<Vec<VpcRecord>, ApiError> {
        let all: Vec<VpcRecord> = self.store.list(VPC).map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|v| {
                v.account_id == caller.account_id && region_id.is_none_or(|r| r == v.region_id)
            })
            .collect())
    }
}

fn seed_world(store: &Store, sealer: &Sealer, world: &World) -> anyhow::Result<()> {
    let mut writes = Vec::new();
    for r in &world.regions {
        writes.push(Write::put(REGION, &r.id, r));
    }
    for a in &world.accounts {
        let rec = AccountRecord {
            id: a.id.clone(),
            name: a.name.clone(),
            site: a.site,
            private_zone_since: a.private_zone_activated.then_some(0),
            entitlements: a.entitlements.clone(),
        };
        writes.push(Write::put(ACCOUNT, &a.id, &rec));
        for k in &a.access_keys {
            let sealed_secret = sealer.seal(k.secret.as_bytes());
            writes.push(Write::put(
                ACCESS_KEY,
                &k.id,
                &AccessKeyRecord {
                    account_id: a.id.clone(),
                    sealed_secret,
                },
            ));
            writes.push(Write::put(
                "access_key_index",
                &format!("{}/{}", a.id, k.id),
                &k.id,
            ));
        }
    }
    for v in &world.vpcs {
        let rec = VpcRecord {
            id: v.id.clone(),
            account_id: v.account.clone(),
            region_id: v.region.clone(),
            cidr: v.cidr.clone(),
        };
        writes.push(Write::put(VPC, &v.id, &rec));
        for s in &v.vswitches {
            let vs = VSwitchRecord {
                id: s.id.clone(),
                vpc_id: v.id.clone(),
                zone_id: s.zone.clone(),
                free_ips: s.free_ips,
            };
            writes.push(Write::put(VSWITCH, &s.id, &vs));
        }
    }
    hsm::seed_clusters(&mut writes, sealer, &world.hsm_clusters)?;
    external::seed(&mut writes, &world.xki_domains, &world.endpoint_services);
    store.apply(writes)
}

fn token_key(account: &str, token: &str) -> String {
    format!("{account}/{token}")
}

fn order_id_for(instance_id: &str) -> String {
    let digest = crate::sign::sha256_hex(instance_id.as_bytes());
    digest
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(15)
        .collect()
}

fn random_alnum(rng: &mut impl Rng, n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Store failures are logged with context; the client sees only `InternalFailure`.
fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("internal failure: {e}");
    ApiError::Internal
}
