//! External instances (S40-S45): the world's public domain names and VPC endpoint services,
//! `ConnectKmsInstance` with `KMProvider=XKI` (one `GetProxyInfo` handshake before anything is
//! stored; the proxy's access key secret sealed), the proxy an instance talks to, the
//! reachability probe GetKmsInstance reports, and the cryptographic operations of external keys,
//! which go to the proxy: no key material of an external key exists in the mock cloud.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;

use super::{internal, Backend, Caller, VSwitchRecord, INSTANCE, REGION};
use crate::crypto::{Blob, IV_LEN, KEY_VERSION_ID_LEN};
use crate::domain::external::{
    self, XkiBinding, XkiConnectRequest, XkiConnectivity, XkiFacts, XkiPlan,
};
use crate::domain::{Connection, Instance, Status};
use crate::error::ApiError;
use crate::store::Write;
use crate::world::{EndpointServiceSpec, Region, Site, XkiDomainSpec};
use crate::xki::{ProxyTarget, XkiClient, XkiError};

pub(super) const XKI_DOMAIN: &str = "xki_domain";
pub(super) const ENDPOINT_SERVICE: &str = "endpoint_service";

/// How long a reachability probe's result is reused (wall time), per instance.
const PROBE_CACHE: Duration = Duration::from_secs(2);
/// The longest a probe may take (less when the client's own limit is shorter).
const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// What GetKmsInstance reports about a bound instance's proxy (`XkiProxyStatus`,
/// `XkiProxyError`).
#[derive(Debug, Clone, PartialEq)]
pub struct XkiProbe {
    pub reachable: bool,
    /// Why it is not reachable; empty when it is.
    pub error: String,
}

/// The backend's XKI state: the outbound client and, in memory, the opened proxy targets of
/// bound instances and the last probe of each.
pub(super) struct XkiState {
    client: Arc<XkiClient>,
    probe_client: Arc<XkiClient>,
    /// By instance id: the proxy's address, configuration and opened secret.
    targets: RwLock<HashMap<String, Arc<ProxyTarget>>>,
    /// Bumped by every `forget`: a target derived before a world change is not cached after it.
    generation: std::sync::atomic::AtomicU64,
    probes: Mutex<HashMap<String, (Instant, XkiProbe)>>,
}

impl XkiState {
    pub(super) fn new(timeout: Duration) -> XkiState {
        let client = Arc::new(XkiClient::new(timeout));
        let probe_timeout = timeout.min(PROBE_LIMIT);
        let probe_client = if probe_timeout == timeout {
            client.clone()
        } else {
            Arc::new(XkiClient::new(probe_timeout))
        };
        XkiState {
            client,
            probe_client,
            targets: RwLock::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            probes: Mutex::new(HashMap::new()),
        }
    }

    /// Records what a cryptographic call found out about an instance's proxy, so the next
    /// GetKmsInstance agrees with it: a failure to reach or trust it (transport, timeout,
    /// certificate, credentials, protocol) marks it unreachable; an answer, even a refusal,
    /// clears an unreachable mark.
    fn observed(&self, instance_id: &str, failure: Option<&XkiError>) {
        let mut probes = self.probes.lock().expect("xki probes lock");
        match failure {
            Some(e) if !matches!(e, XkiError::Refused { .. }) => {
                let probe = XkiProbe {
                    reachable: false,
                    error: external::failure_reason(e),
                };
                probes.insert(instance_id.to_string(), (Instant::now(), probe));
            }
            // The proxy answered (even a refusal means it is reachable).
            _ => {
                if probes.get(instance_id).is_some_and(|(_, p)| !p.reachable) {
                    probes.remove(instance_id);
                }
            }
        }
    }

    /// Forgets what was derived from the world or a binding (after an admin change or a new
    /// enablement).
    fn forget(&self, instance_id: Option<&str>) {
        let mut targets = self.targets.write().expect("xki targets lock");
        let mut probes = self.probes.lock().expect("xki probes lock");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match instance_id {
            Some(id) => {
                targets.remove(id);
                probes.remove(id);
            }
            None => {
                targets.clear();
                probes.clear();
            }
        }
    }
}

/// The world's domain names and endpoint services, for the seed batch.
pub(super) fn seed(
    writes: &mut Vec<Write>,
    domains: &[XkiDomainSpec],
    services: &[EndpointServiceSpec],
) {
    for d in domains {
        writes.push(Write::put(XKI_DOMAIN, &XkiDomainSpec::key(&d.name), d));
    }
    for s in services {
        writes.push(Write::put(ENDPOINT_SERVICE, &s.id, s));
    }
}

fn binding_of(inst: &Instance) -> Option<&XkiBinding> {
    inst.connection.as_ref().and_then(|c| c.xki.as_ref())
}

/// What one phase of an enablement decided, with what it needs to write.
struct Planned {
    inst: Instance,
    account: super::AccountRecord,
    region: Region,
    free: HashMap<String, VSwitchRecord>,
    plan: XkiPlan,
}

impl Backend {
    fn xki_domain(&self, name: &str) -> Result<Option<XkiDomainSpec>, ApiError> {
        self.store
            .get(XKI_DOMAIN, &XkiDomainSpec::key(name))
            .map_err(internal)
    }

    fn endpoint_service(&self, id: &str) -> Result<Option<EndpointServiceSpec>, ApiError> {
        self.store.get(ENDPOINT_SERVICE, id).map_err(internal)
    }

    /// The checks of an external enablement against the current state (caller holds the write
    /// lock).
    fn plan_xki(
        &self,
        caller: &Caller,
        id: &str,
        req: &XkiConnectRequest,
        now: crate::clock::SimMillis,
        pick: impl FnMut(usize) -> usize,
    ) -> Result<Planned, ApiError> {
        let inst = self.live_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        // An instance whose enablement failed may be enabled again.
        inst.require_status(now, account.view(), &[Status::Uninitialized, Status::Error])?;
        let region = self.region(&inst.region_id)?;
        let free = self.released_ips(&inst)?;
        let mut vpc = self.vpc_view(caller, &req.network.vpc_id, &region.id)?;
        if let Some(view) = vpc.as_mut() {
            for v in &mut view.vswitches {
                if let Some(released) = free.get(&v.id) {
                    v.free_ips = released.free_ips;
                }
            }
        }
        let domain = match req.xki.proxy_domain_name.as_deref() {
            Some(name) if !name.is_empty() => self.xki_domain(name)?,
            _ => None,
        };
        let service = match req.xki.endpoint_service_id.as_deref() {
            Some(sid) if !sid.is_empty() => self.endpoint_service(sid)?,
            _ => None,
        };
        let plan = external::plan_external_connect(
            &inst,
            req,
            &region,
            vpc.as_ref(),
            &XkiFacts {
                domain_address: domain.map(|d| d.address),
                endpoint_service: service.as_ref(),
            },
            pick,
        )?;
        Ok(Planned {
            inst,
            account,
            region,
            free,
            plan,
        })
    }

    /// ConnectKmsInstance with `KMProvider=XKI`: binds an external instance to its XKI proxy
    /// (S40-S44). Every check runs first, then one `GetProxyInfo` handshake with the proxy
    /// (outside the write lock, so a slow proxy holds up nothing else), then the checks again
    /// and the write. A refusal changes nothing.
    pub fn connect_external(
        &self,
        caller: &Caller,
        id: &str,
        req: &XkiConnectRequest,
    ) -> Result<(), ApiError> {
        let first = {
            let mut meta = self.write.lock().expect("meta lock");
            let now = meta.anchor.now();
            let mut rng = self.rng(&mut meta)?;
            self.plan_xki(caller, id, req, now, |n| rng.gen_range(0..n))?
                .plan
        };
        let target = ProxyTarget {
            address: first.address,
            server_name: first.server_name.clone(),
            path: first.config.path.clone(),
            fingerprint: first.config.fingerprint.clone(),
            access_key_id: first.config.access_key_id.clone(),
            access_key_secret: first.config.access_key_secret.clone(),
        };
        let info = self
            .xki
            .client
            .info(&target)
            .map_err(|e| external::handshake_refusal(&first, &e))?;
        external::check_vendor(&info.vendor)?;

        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        // The same request with the zones the first phase settled on: nothing random is left.
        let mut settled = req.clone();
        settled.network.zone_ids = first.network.zone_ids.clone();
        let Planned {
            mut inst,
            account,
            region,
            free,
            plan,
        } = self.plan_xki(caller, id, &settled, now, |_| 0)?;
        let needs_private_zone = match account.site {
            Site::China => !region.mainland,
            Site::International => region.mainland,
        };
        let (failure, stuck) = self.take_connect_faults();
        let sealed = self.sealer.seal(plan.config.access_key_secret.as_bytes());
        inst.connection = Some(Connection {
            vpc_id: req.network.vpc_id.clone(),
            zone_ids: plan.network.zone_ids.clone(),
            vswitch_ids: plan.network.vswitch_ids.clone(),
            requested_at: now,
            duration_ms: plan.duration_ms,
            needs_private_zone,
            failure,
            stuck,
            ips_per_vswitch: 1,
            hsm: None,
            xki: Some(plan.binding(sealed, &info.vendor)),
        });
        let mut writes = vec![Write::put(INSTANCE, id, &inst)];
        writes.extend(self.take_ips(&plan.network.vswitch_ids, 1, free)?);
        self.store.apply(writes).map_err(internal)?;
        self.xki.forget(Some(id));
        tracing::info!(
            "instance {id} connecting to the XKI proxy at {} (vendor {})",
            plan.describe(),
            info.vendor
        );
        self.observe(&inst, inst.status(now, account.view()));
        Ok(())
    }

    /// The proxy of a bound external instance: where its domain name resolves or its endpoint
    /// service leads now, with the configuration and the opened secret. Kept in memory.
    fn xki_target(&self, inst: &Instance) -> Result<Arc<ProxyTarget>, String> {
        if let Some(t) = self
            .xki
            .targets
            .read()
            .expect("xki targets lock")
            .get(&inst.id)
        {
            return Ok(t.clone());
        }
        let generation = self
            .xki
            .generation
            .load(std::sync::atomic::Ordering::SeqCst);
        let b = binding_of(inst).ok_or_else(|| "the instance has no XKI proxy".to_string())?;
        let fail = |e: ApiError| e.message();
        let (address, server_name) = match b.connectivity {
            XkiConnectivity::PublicEndpoint => {
                let d = self
                    .xki_domain(&b.proxy_domain_name)
                    .map_err(fail)?
                    .ok_or_else(|| {
                        format!(
                            "unreachable: the domain name {} does not resolve",
                            b.proxy_domain_name
                        )
                    })?;
                (d.address, b.proxy_domain_name.clone())
            }
            XkiConnectivity::VpcEndpointService => {
                let s = self
                    .endpoint_service(&b.endpoint_service_id)
                    .map_err(fail)?
                    .ok_or_else(|| {
                        format!(
                            "unreachable: the endpoint service {} does not exist",
                            b.endpoint_service_id
                        )
                    })?;
                (s.target, b.endpoint_service_id.clone())
            }
        };
        let secret = self
            .sealer
            .open(&b.sealed_access_key_secret)
            .and_then(|s| Ok(String::from_utf8(s)?))
            .map_err(|e| {
                tracing::error!("instance {}: XKI secret does not open: {e}", inst.id);
                "the stored proxy credentials do not open".to_string()
            })?;
        let target = Arc::new(ProxyTarget {
            address,
            server_name,
            path: b.proxy_path.clone(),
            fingerprint: b.certificate_fingerprint.clone(),
            access_key_id: b.access_key_id.clone(),
            access_key_secret: secret,
        });
        let mut targets = self.xki.targets.write().expect("xki targets lock");
        // A world change (domain or endpoint service) in the meantime: use, don't keep.
        if self
            .xki
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
            == generation
        {
            targets.insert(inst.id.clone(), target.clone());
        }
        Ok(target)
    }

    /// A proxy call of a cryptographic operation; any failure is `Rejected.XkiProxyUnavailable`
    /// (S45: nothing falls back).
    // Deviation: the instance's Status stays Connected while its proxy fails; the failure shows
    // in the operation's error and in GetKmsInstance's `XkiProxyStatus`.
    fn with_proxy<T>(
        &self,
        inst: &Instance,
        call: impl FnOnce(&XkiClient, &ProxyTarget) -> Result<T, XkiError>,
    ) -> Result<T, ApiError> {
        let target = self
            .xki_target(inst)
            .map_err(|reason| ApiError::XkiProxyUnavailable {
                instance: inst.id.clone(),
                reason,
            })?;
        let result = call(&self.xki.client, &target);
        // A real call is fresher news than the last probe: GetKmsInstance reports it.
        self.xki.observed(&inst.id, result.as_ref().err());
        result.map_err(|e| {
            // Debug only: a stopped proxy under load would flood the log otherwise.
            tracing::debug!(
                "instance {}: XKI proxy call failed: {}",
                inst.id,
                external::failure_reason(&e)
            );
            external::crypto_refusal(&inst.id, &e)
        })
    }

    /// The proxy makes the material of a new key version (its KeyId is the version id).
    pub(super) fn xki_create_key(&self, inst: &Instance, version_id: &str) -> Result<(), ApiError> {
        self.with_proxy(inst, |c, t| c.create_key(t, version_id))
    }

    /// Encrypts under an external key version: the usual blob `KeyVersionId ‖ IV ‖ ct‖tag`,
    /// made by the proxy.
    pub(super) fn xki_encrypt(
        &self,
        inst: &Instance,
        version_id: &str,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        if version_id.len() != KEY_VERSION_ID_LEN {
            tracing::error!("key version id {version_id} does not fit a ciphertext blob");
            return Err(ApiError::Internal);
        }
        let (iv, sealed) =
            self.with_proxy(inst, |c, t| c.encrypt(t, version_id, plaintext, aad))?;
        if iv.len() != IV_LEN {
            return Err(ApiError::XkiProxyUnavailable {
                instance: inst.id.clone(),
                reason: format!("protocol: the proxy returned a {}-byte IV", iv.len()),
            });
        }
        let mut blob = Vec::with_capacity(KEY_VERSION_ID_LEN + IV_LEN + sealed.len());
        blob.extend_from_slice(version_id.as_bytes());
        blob.extend_from_slice(&iv);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Decrypts a blob of an external key version through the proxy; `None` when it does not
    /// authenticate (the proxy's `DecryptionFailed`), like local material.
    pub(super) fn xki_decrypt(
        &self,
        inst: &Instance,
        blob: &Blob<'_>,
        aad: &[u8],
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let result = self.with_proxy(inst, |c, t| {
            match c.decrypt(t, blob.key_version_id, blob.iv, blob.sealed, aad) {
                Ok(p) => Ok(Some(p)),
                Err(XkiError::Refused { code, .. }) if code == "DecryptionFailed" => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        Ok(result)
    }

    /// `XkiProxyStatus` of a bound external instance: a `GetProxyInfo` probe, its result kept
    /// for 2 wall seconds per instance; `None` when the instance has no proxy.
    pub fn xki_probe(&self, inst: &Instance) -> Option<XkiProbe> {
        binding_of(inst)?;
        if let Some((at, probe)) = self
            .xki
            .probes
            .lock()
            .expect("xki probes lock")
            .get(&inst.id)
        {
            if at.elapsed() < PROBE_CACHE {
                return Some(probe.clone());
            }
        }
        let probe = match self.xki_target(inst) {
            Err(reason) => XkiProbe {
                reachable: false,
                error: reason,
            },
            Ok(target) => match self.xki.probe_client.info(&target) {
                Ok(_) => XkiProbe {
                    reachable: true,
                    error: String::new(),
                },
                Err(e) => XkiProbe {
                    reachable: false,
                    error: external::failure_reason(&e),
                },
            },
        };
        self.xki
            .probes
            .lock()
            .expect("xki probes lock")
            .insert(inst.id.clone(), (Instant::now(), probe.clone()));
        Some(probe)
    }

    // ---- admin ----

    pub fn xki_domains(&self) -> Result<Vec<XkiDomainSpec>, ApiError> {
        self.store.list(XKI_DOMAIN).map_err(internal)
    }

    /// `POST /_mock/xki/domains`: adds a public domain name or moves it to another address.
    // Deviation: public DNS and PrivateLink endpoint services are world facts managed through
    // `/_mock/`; neither service's own API is emulated.
    pub fn put_xki_domain(&self, spec: &XkiDomainSpec) -> Result<XkiDomainSpec, ApiError> {
        spec.check().map_err(|e| ApiError::InvalidParameterCode {
            code: "InvalidXkiDomain",
            message: e.to_string(),
        })?;
        let _guard = self.write.lock().expect("meta lock");
        self.store
            .put(XKI_DOMAIN, &XkiDomainSpec::key(&spec.name), spec)
            .map_err(internal)?;
        self.xki.forget(None);
        tracing::info!("XKI domain {} resolves to {}", spec.name, spec.address);
        Ok(spec.clone())
    }

    pub fn endpoint_services(&self) -> Result<Vec<EndpointServiceSpec>, ApiError> {
        self.store.list(ENDPOINT_SERVICE).map_err(internal)
    }

    /// `POST /_mock/endpoint-services`: adds an endpoint service or replaces it, checked
    /// against the store's region as the world file's are.
    pub fn put_endpoint_service(
        &self,
        spec: &EndpointServiceSpec,
    ) -> Result<EndpointServiceSpec, ApiError> {
        let _guard = self.write.lock().expect("meta lock");
        let region: Option<Region> = self.store.get(REGION, &spec.region).map_err(internal)?;
        spec.check(region.as_ref())
            .map_err(|e| ApiError::InvalidParameterCode {
                code: "InvalidEndpointService",
                message: e.to_string(),
            })?;
        self.store
            .put(ENDPOINT_SERVICE, &spec.id, spec)
            .map_err(internal)?;
        self.xki.forget(None);
        tracing::info!(
            "endpoint service {} in {} leads to {}",
            spec.id,
            spec.region,
            spec.target
        );
        Ok(spec.clone())
    }
}
