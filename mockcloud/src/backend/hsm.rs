//! HSM clusters and hardware instances (S30-S35): clusters seeded from the world or added by the
//! admin API (each with a CA and a server certificate; the CA key and the operator password
//! sealed at rest), `ConnectKmsInstance` with `KMProvider=HSM`, client certificate sets like the
//! real generation tool's, HSMs added later and the binding's sync health (S34).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{internal, Backend, Caller, VSwitchRecord, ACCOUNT, INSTANCE, REGION, VPC, VSWITCH};
use crate::crypto::Sealer;
use crate::domain::connect::VSwitchView;
use crate::domain::hsm::{
    self, ClusterFacts, HsmCluster, HsmConnectRequest, SyncStatus, HSM_IPS_PER_VSWITCH,
};
use crate::domain::{Connection, Instance, Status};
use crate::error::ApiError;
use crate::pki;
use crate::store::{Store, Write};
use crate::world::{HsmClusterSpec, Region, Site, VpcFacts};

pub(super) const HSM_CLUSTER: &str = "hsm_cluster";

/// A cluster with its secrets, sealed under the data directory's master key.
#[derive(Serialize, Deserialize)]
pub(super) struct HsmClusterRecord {
    cluster: HsmCluster,
    /// The CA's private key (PKCS#8 PEM).
    sealed_ca_key: String,
    /// The password of the operator `kmsuser` (international clusters).
    sealed_operator_password: Option<String>,
}

/// A client certificate set for a cluster, as the real generation tool writes it: `client.p12`
/// (protected by `password`) and `rootca.pem`, the cluster's CA (the security domain
/// certificate of mainland clusters, the cluster owner certificate of international ones).
pub struct HsmCertificateSet {
    pub client_p12: Vec<u8>,
    pub password: String,
    pub ca_pem: String,
}

/// Generates the cluster's CA and server certificate and seals what is secret.
pub(super) fn cluster_record(
    spec: &HsmClusterSpec,
    sealer: &Sealer,
) -> anyhow::Result<HsmClusterRecord> {
    let pki = pki::new_cluster_pki(&spec.id)?;
    Ok(HsmClusterRecord {
        cluster: HsmCluster {
            id: spec.id.clone(),
            account_id: spec.account.clone(),
            region_id: spec.region.clone(),
            mainland: spec.mainland,
            vendor: spec.vendor.clone(),
            vpc_id: spec.vpc.clone(),
            vswitch_ids: spec.vswitches.clone(),
            certificate_mode: spec.certificate_mode,
            sync: spec.sync,
            hsms: spec.hsms,
            ca_pem: pki.ca_pem,
            server_cert_pem: pki.server_cert_pem,
        },
        sealed_ca_key: sealer.seal(pki.ca_key_pem.as_bytes()),
        sealed_operator_password: spec
            .operator_password
            .as_ref()
            .map(|p| sealer.seal(p.as_bytes())),
    })
}

/// The world's clusters, for the seed batch.
pub(super) fn seed_clusters(
    writes: &mut Vec<Write>,
    sealer: &Sealer,
    clusters: &[HsmClusterSpec],
) -> anyhow::Result<()> {
    for spec in clusters {
        writes.push(Write::put(
            HSM_CLUSTER,
            &spec.id,
            &cluster_record(spec, sealer)?,
        ));
    }
    Ok(())
}

fn certificate_set(
    rec: &HsmClusterRecord,
    sealer: &Sealer,
    password: &str,
) -> anyhow::Result<HsmCertificateSet> {
    let ca_key = String::from_utf8(sealer.open(&rec.sealed_ca_key)?)?;
    Ok(HsmCertificateSet {
        client_p12: pki::client_p12(&rec.cluster.id, &ca_key, password)?,
        password: password.to_string(),
        ca_pem: rec.cluster.ca_pem.clone(),
    })
}

/// A certificate set generated from a data directory whose server is not running (the store is
/// opened directly; sled refuses while a server holds it).
pub fn hsm_certificates_offline(
    data_dir: &Path,
    cluster_id: &str,
    password: &str,
) -> anyhow::Result<HsmCertificateSet> {
    anyhow::ensure!(
        Backend::data_dir_marker(data_dir).exists() && data_dir.join("master.key").exists(),
        "{} is not a mockcloud data directory (no store)",
        data_dir.display()
    );
    anyhow::ensure!(!password.is_empty(), "the password must not be empty");
    let store = Store::open(data_dir)?;
    let sealer = Sealer::open_or_create(data_dir)?;
    let rec: HsmClusterRecord = store
        .get(HSM_CLUSTER, cluster_id)?
        .ok_or_else(|| anyhow::anyhow!("no HSM cluster {cluster_id} in this data directory"))?;
    certificate_set(&rec, &sealer, password)
}

fn cluster_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "InvalidHsmClusterId.NotFound",
        message: format!("The specified HsmClusterId \"{id}\" is not found."),
    }
}

impl Backend {
    fn hsm_cluster_record(&self, id: &str) -> Result<Option<HsmClusterRecord>, ApiError> {
        self.store.get(HSM_CLUSTER, id).map_err(internal)
    }

    /// The other unreleased instance bound to the cluster, if any (S30: one instance per
    /// cluster). An instance whose enablement ended in Error keeps its cluster until it is
    /// enabled again or released.
    fn instance_bound_to(
        &self,
        cluster_id: &str,
        except: &str,
        now: crate::clock::SimMillis,
    ) -> Result<Option<String>, ApiError> {
        let all: Vec<Instance> = self.store.list(INSTANCE).map_err(internal)?;
        Ok(all
            .into_iter()
            .find(|i| {
                i.id != except
                    && !i.is_released(now)
                    && i.connection
                        .as_ref()
                        .and_then(|c| c.hsm.as_ref())
                        .is_some_and(|b| b.cluster_id == cluster_id)
            })
            .map(|i| i.id))
    }

    /// ConnectKmsInstance with `KMProvider=HSM`: binds a hardware instance to an HSM cluster
    /// (S30-S35). Checks everything first; a refusal changes nothing.
    pub fn connect_hsm(
        &self,
        caller: &Caller,
        id: &str,
        req: &HsmConnectRequest,
    ) -> Result<(), ApiError> {
        let guard = self.write.lock().expect("meta lock");
        let now = guard.anchor.now();
        let mut inst = self.live_instance(caller, id, now)?;
        let account = self.account(&caller.account_id)?;
        // An instance whose enablement failed may be enabled again.
        inst.require_status(now, account.view(), &[Status::Uninitialized, Status::Error])?;
        let region = self.region(&inst.region_id)?;
        let free = self.released_ips(&inst)?;
        let rec = self.hsm_cluster_record(&req.cluster_id)?;
        let (bound_to, mut vswitches, operator_password) = match &rec {
            Some(r) => {
                let bound = self.instance_bound_to(&r.cluster.id, &inst.id, now)?;
                let vsws: Vec<VSwitchView> = self
                    .vswitches_of(&r.cluster.vpc_id)?
                    .into_iter()
                    .map(|v| VSwitchView {
                        id: v.id,
                        zone: v.zone_id,
                        free_ips: v.free_ips,
                    })
                    .collect();
                let password = match &r.sealed_operator_password {
                    Some(sealed) => Some(
                        String::from_utf8(self.sealer.open(sealed).map_err(internal)?)
                            .map_err(internal)?,
                    ),
                    None => None,
                };
                (bound, vsws, password)
            }
            None => (None, Vec::new(), None),
        };
        for v in &mut vswitches {
            if let Some(released) = free.get(&v.id) {
                v.free_ips = released.free_ips;
            }
        }
        let plan = hsm::plan_hsm_connect(
            &inst,
            req,
            &region,
            &ClusterFacts {
                cluster: rec.as_ref().map(|r| &r.cluster),
                bound_to: bound_to.as_deref(),
                vswitches: &vswitches,
                operator_password: operator_password.as_deref(),
            },
        )?;
        let needs_private_zone = match account.site {
            Site::China => !region.mainland,
            Site::International => region.mainland,
        };
        let (failure, stuck) = self.take_connect_faults();
        let cluster_id = plan.binding.cluster_id.clone();
        inst.connection = Some(Connection {
            vpc_id: plan.vpc_id,
            zone_ids: plan.zone_ids,
            vswitch_ids: plan.vswitch_ids.clone(),
            requested_at: now,
            duration_ms: plan.duration_ms,
            needs_private_zone,
            failure,
            stuck,
            ips_per_vswitch: HSM_IPS_PER_VSWITCH,
            hsm: Some(plan.binding),
            xki: None,
        });
        let mut writes = vec![Write::put(INSTANCE, id, &inst)];
        writes.extend(self.take_ips(&plan.vswitch_ids, HSM_IPS_PER_VSWITCH, free)?);
        self.store.apply(writes).map_err(internal)?;
        tracing::info!("instance {id} connecting to HSM cluster {cluster_id}");
        self.observe(&inst, inst.status(now, account.view()));
        Ok(())
    }

    /// The HSM cluster of a bound hardware instance and the binding's sync health (S34).
    pub fn hsm_sync(&self, inst: &Instance) -> Result<Option<(String, SyncStatus)>, ApiError> {
        let Some(binding) = inst.connection.as_ref().and_then(|c| c.hsm.as_ref()) else {
            return Ok(None);
        };
        let status = match self.hsm_cluster_record(&binding.cluster_id)? {
            Some(rec) => hsm::sync_status(&rec.cluster, binding),
            None => SyncStatus::Healthy,
        };
        Ok(Some((binding.cluster_id.clone(), status)))
    }

    // ---- admin ----

    /// Every HSM cluster of the world, without secrets.
    pub fn hsm_clusters(&self) -> Result<Vec<HsmCluster>, ApiError> {
        let all: Vec<HsmClusterRecord> = self.store.list(HSM_CLUSTER).map_err(internal)?;
        Ok(all.into_iter().map(|r| r.cluster).collect())
    }

    /// `POST /_mock/hsm-clusters`: a cluster joins the world, checked against the store as the
    /// world file's are checked against the file; its CA is generated now.
    pub fn add_hsm_cluster(&self, spec: &HsmClusterSpec) -> Result<HsmCluster, ApiError> {
        let _guard = self.write.lock().expect("meta lock");
        if self.hsm_cluster_record(&spec.id)?.is_some() {
            return Err(ApiError::Rejected {
                code: "HsmClusterAlreadyExists",
                message: format!("HSM cluster {} already exists.", spec.id),
            });
        }
        let account_known = self
            .store
            .get::<super::AccountRecord>(ACCOUNT, &spec.account)
            .map_err(internal)?
            .is_some();
        let region: Option<Region> = self.store.get(REGION, &spec.region).map_err(internal)?;
        let vpc: Option<super::VpcRecord> = self.store.get(VPC, &spec.vpc).map_err(internal)?;
        let vsws = match &vpc {
            Some(v) => self.vswitches_of(&v.id)?,
            None => Vec::new(),
        };
        let facts = vpc.as_ref().map(|v| VpcFacts {
            account: &v.account_id,
            region: &v.region_id,
            vswitches: vsws
                .iter()
                .map(|s| (s.id.as_str(), s.zone_id.as_str()))
                .collect(),
        });
        spec.check(account_known, region.as_ref(), facts)
            .map_err(|e| ApiError::InvalidParameterCode {
                code: "InvalidHsmCluster",
                message: e.to_string(),
            })?;
        let rec = cluster_record(spec, &self.sealer).map_err(internal)?;
        self.store
            .put(HSM_CLUSTER, &spec.id, &rec)
            .map_err(internal)?;
        tracing::info!("HSM cluster {} added in {}", spec.id, spec.region);
        Ok(rec.cluster)
    }

    /// `POST /_mock/hsm-clusters/{id}/hsms`: one more HSM in the cluster. With manual
    /// synchronisation the instance bound to it reports `SyncFailed` from now on (S34).
    pub fn add_hsm(&self, cluster_id: &str) -> Result<HsmCluster, ApiError> {
        let _guard = self.write.lock().expect("meta lock");
        let mut rec = self
            .hsm_cluster_record(cluster_id)?
            .ok_or_else(|| cluster_not_found(cluster_id))?;
        rec.cluster.hsms += 1;
        self.store
            .put(HSM_CLUSTER, cluster_id, &rec)
            .map_err(internal)?;
        tracing::info!(
            "HSM cluster {cluster_id} has {} HSMs ({:?} synchronisation)",
            rec.cluster.hsms,
            rec.cluster.sync
        );
        Ok(rec.cluster)
    }

    /// `POST /_mock/hsm-clusters/{id}/certificates`: a client certificate set for the cluster.
    pub fn hsm_certificates(
        &self,
        cluster_id: &str,
        password: &str,
    ) -> Result<HsmCertificateSet, ApiError> {
        if password.is_empty() {
            return Err(ApiError::invalid("password", "must not be empty"));
        }
        let rec = self
            .hsm_cluster_record(cluster_id)?
            .ok_or_else(|| cluster_not_found(cluster_id))?;
        certificate_set(&rec, &self.sealer, password).map_err(internal)
    }

    /// The vSwitch IPs an earlier (failed) enablement of the instance took, given back: the
    /// vSwitch records with their IPs restored, by id, for the new attempt to take from.
    pub(super) fn released_ips(
        &self,
        inst: &Instance,
    ) -> Result<HashMap<String, VSwitchRecord>, ApiError> {
        let mut free = HashMap::new();
        if let Some(old) = &inst.connection {
            for vsw_id in &old.vswitch_ids {
                if let Some(mut v) = self
                    .store
                    .get::<VSwitchRecord>(VSWITCH, vsw_id)
                    .map_err(internal)?
                {
                    v.free_ips += old.ips_per_vswitch;
                    free.insert(vsw_id.clone(), v);
                }
            }
        }
        Ok(free)
    }

    /// The injected faults the next enablement takes: a failure reason, or never finishing.
    pub(super) fn take_connect_faults(&self) -> (Option<String>, bool) {
        let mut f = self.faults.lock().expect("faults lock");
        let failure = f.connect_error.take();
        let stuck = std::mem::take(&mut f.stay_connecting);
        (failure, stuck)
    }
}
