//! Enablement of a hardware instance: connecting it to an HSM cluster (S30-S35), and the
//! cluster's synchronisation health afterwards (S34).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::clock::MINUTE;
use crate::error::ApiError;
use crate::pki::{self, Pkcs12Problem};
use crate::world::{CertificateMode, Region, SyncMode};

use super::connect::VSwitchView;
use super::instance::{HsmBinding, Instance, ManagementType};

/// The operator user of international clusters (S33).
pub const HSM_OPERATOR: &str = "kmsuser";

/// Free IPs each vSwitch needs, and enablement takes (S31).
pub const HSM_IPS_PER_VSWITCH: u32 = 4;

/// S35: about 30 minutes with a secret quota, about 10 without.
pub const HSM_ENABLE_WITH_SECRETS_MS: i64 = 30 * MINUTE;
pub const HSM_ENABLE_MS: i64 = 10 * MINUTE;

/// An HSM cluster as the store keeps it, without its secrets (the CA key and the operator
/// password are sealed beside it by the backend).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HsmCluster {
    pub id: String,
    pub account_id: String,
    pub region_id: String,
    pub mainland: bool,
    pub vendor: String,
    pub vpc_id: String,
    pub vswitch_ids: Vec<String>,
    pub certificate_mode: CertificateMode,
    pub sync: SyncMode,
    /// HSMs in the cluster now; grows with `POST /_mock/hsm-clusters/{id}/hsms`.
    pub hsms: u32,
    /// The cluster's CA: the security domain certificate (mainland), the cluster owner
    /// certificate (international).
    pub ca_pem: String,
    /// The TLS server certificate of the cluster, issued by its CA.
    pub server_cert_pem: String,
}

/// The certificate parameters of `ConnectKmsInstance` with `KMProvider=HSM`, as given. Debug
/// shows which are present, never their values.
#[derive(Clone, Default)]
pub struct HsmCredentials {
    /// Base64 of a PKCS#12 file (mainland, manual certificates).
    pub client_certificate: Option<String>,
    pub client_certificate_password: Option<String>,
    /// PEM CA (mainland, manual certificates).
    pub security_domain_certificate: Option<String>,
    /// International, manual certificates: `kmsuser`, its password and the cluster owner
    /// certificate (PEM).
    pub hsm_username: Option<String>,
    pub hsm_password: Option<String>,
    pub cluster_owner_certificate: Option<String>,
}

impl HsmCredentials {
    /// The parameters present, by wire name.
    fn present(&self) -> Vec<&'static str> {
        [
            ("ClientCertificate", &self.client_certificate),
            (
                "ClientCertificatePassword",
                &self.client_certificate_password,
            ),
            (
                "SecurityDomainCertificate",
                &self.security_domain_certificate,
            ),
            ("HsmUsername", &self.hsm_username),
            ("HsmPassword", &self.hsm_password),
            ("ClusterOwnerCertificate", &self.cluster_owner_certificate),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(name, _)| name)
        .collect()
    }
}

impl std::fmt::Debug for HsmCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmCredentials")
            .field("present", &self.present())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct HsmConnectRequest {
    pub cluster_id: String,
    /// Optional; must be the cluster's VPC when given (S30).
    pub vpc_id: Option<String>,
    /// Optional; default the zones of the cluster's own vSwitches.
    pub zone_ids: Vec<String>,
    /// Optional; one per zone, in the same order; default the cluster's own vSwitches (S31).
    pub vswitch_ids: Vec<String>,
    pub credentials: HsmCredentials,
}

/// What the cluster facts the backend looked up say about the binding.
pub struct ClusterFacts<'a> {
    /// The cluster named by `HsmClusterId`, if it exists at all.
    pub cluster: Option<&'a HsmCluster>,
    /// Another (unreleased) instance already bound to it.
    pub bound_to: Option<&'a str>,
    /// The vSwitches of the cluster's VPC.
    pub vswitches: &'a [VSwitchView],
    /// The operator password of an international cluster.
    pub operator_password: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HsmPlan {
    pub vpc_id: String,
    pub zone_ids: Vec<String>,
    pub vswitch_ids: Vec<String>,
    pub duration_ms: i64,
    pub binding: HsmBinding,
}

fn cluster_not_found(id: &str, region: &str) -> ApiError {
    ApiError::NotFound {
        code: "InvalidHsmClusterId.NotFound",
        message: format!("The specified HsmClusterId \"{id}\" is not found in region {region}."),
    }
}

/// Checks a hardware enablement request against the instance, the cluster, the network and the
/// certificates, in that order. Nothing is changed here: a refusal leaves everything as it was.
pub fn plan_hsm_connect(
    inst: &Instance,
    req: &HsmConnectRequest,
    region: &Region,
    facts: &ClusterFacts<'_>,
) -> Result<HsmPlan, ApiError> {
    if inst.management_type != ManagementType::Hardware {
        return Err(ApiError::Rejected {
            code: "Rejected.UnsupportedOperation",
            message: format!(
                "ConnectKmsInstance with KMProvider=HSM enables hardware key management instances only; {} is a {:?} instance.",
                inst.id, inst.management_type
            ),
        });
    }
    let cluster = facts
        .cluster
        .filter(|c| c.account_id == inst.account_id && c.region_id == inst.region_id)
        .ok_or_else(|| cluster_not_found(&req.cluster_id, &inst.region_id))?;
    if let Some(other) = facts.bound_to {
        return Err(ApiError::Rejected {
            code: "Rejected.HsmClusterInUse",
            message: format!(
                "The HSM cluster \"{}\" is already bound to instance {other}; a cluster serves one instance (S30).",
                cluster.id
            ),
        });
    }
    if cluster.mainland != region.mainland {
        return Err(ApiError::invalid(
            "HsmClusterId",
            format!(
                "{} is {} cluster and region {} does not match it",
                cluster.id,
                if cluster.mainland {
                    "a Chinese mainland"
                } else {
                    "an international"
                },
                region.id
            ),
        ));
    }
    if let Some(vpc) = req.vpc_id.as_deref() {
        if vpc != cluster.vpc_id {
            return Err(ApiError::invalid(
                "VpcId",
                format!(
                    "{vpc}: a hardware instance uses the VPC of its HSM cluster, {}, which cannot be changed",
                    cluster.vpc_id
                ),
            ));
        }
    }
    let (zone_ids, vswitch_ids) = zones_and_vswitches(inst, req, region, cluster, facts)?;
    check_credentials(cluster, &req.credentials, facts.operator_password)?;
    let duration_ms = if inst.capacity.secret_num > 0 {
        HSM_ENABLE_WITH_SECRETS_MS
    } else {
        HSM_ENABLE_MS
    };
    Ok(HsmPlan {
        vpc_id: cluster.vpc_id.clone(),
        zone_ids,
        vswitch_ids,
        duration_ms,
        binding: HsmBinding {
            cluster_id: cluster.id.clone(),
            hsms_at_bind: cluster.hsms,
        },
    })
}

/// S31: one vSwitch per zone of the deployment mode, in the cluster's VPC, in different zones,
/// each with at least 4 free IPs. Left out, they are the cluster's own vSwitches.
fn zones_and_vswitches(
    inst: &Instance,
    req: &HsmConnectRequest,
    region: &Region,
    cluster: &HsmCluster,
    facts: &ClusterFacts<'_>,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let find = |id: &str| find_vswitch(facts.vswitches, id);
    let wanted = inst.deployment_mode.zone_count();
    let defaulted = req.zone_ids.is_empty() && req.vswitch_ids.is_empty();
    let vswitch_ids: Vec<String> = if !req.vswitch_ids.is_empty() {
        req.vswitch_ids.clone()
    } else if defaulted {
        cluster.vswitch_ids.clone()
    } else {
        // Zones without vSwitches: the cluster's own vSwitch in each zone.
        req.zone_ids
            .iter()
            .map(|z| {
                cluster
                    .vswitch_ids
                    .iter()
                    .find(|v| find(v.as_str()).is_some_and(|v| &v.zone == z))
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "VSwitchIds",
                            format!("the HSM cluster has no vSwitch in zone {z}: give one vSwitch per zone"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?
    };
    if !req.zone_ids.is_empty() && req.zone_ids.len() != vswitch_ids.len() {
        return Err(ApiError::invalid(
            "VSwitchIds",
            format!(
                "{} vSwitches for {} zones: give one vSwitch per zone, in the same order",
                vswitch_ids.len(),
                req.zone_ids.len()
            ),
        ));
    }
    if vswitch_ids.len() != wanted {
        let what = if defaulted {
            format!(
                "the HSM cluster's own vSwitches cover {} zones",
                vswitch_ids.len()
            )
        } else {
            format!("{} zones given", vswitch_ids.len())
        };
        return Err(ApiError::invalid(
            "ZoneIds",
            format!(
                "{what} but a {} instance uses {wanted}: give ZoneIds and VSwitchIds",
                inst.deployment_mode.as_str()
            ),
        ));
    }
    let mut zone_ids: Vec<String> = Vec::with_capacity(wanted);
    for (i, vsw_id) in vswitch_ids.iter().enumerate() {
        let vsw = find(vsw_id.as_str())
            .ok_or_else(|| ApiError::InvalidVSwitchIdNotFound { id: vsw_id.clone() })?;
        let zone = req.zone_ids.get(i).unwrap_or(&vsw.zone);
        if !region.zones.contains(zone) {
            return Err(ApiError::InvalidZoneIdNotFound { id: zone.clone() });
        }
        if &vsw.zone != zone {
            return Err(ApiError::InvalidParameterCode {
                code: "InvalidParameter.VSwitchZoneMismatch",
                message: format!(
                    "The vSwitch \"{vsw_id}\" is in zone {}, not in zone {zone} it is paired with.",
                    vsw.zone
                ),
            });
        }
        if zone_ids.contains(zone) {
            return Err(ApiError::invalid(
                "ZoneIds",
                format!("zone {zone} is used twice: the vSwitches must be in different zones"),
            ));
        }
        if vsw.free_ips < HSM_IPS_PER_VSWITCH {
            return Err(ApiError::VSwitchIpNotEnough {
                id: vsw_id.clone(),
                needed: HSM_IPS_PER_VSWITCH,
            });
        }
        zone_ids.push(zone.clone());
    }
    Ok((zone_ids, vswitch_ids))
}

fn find_vswitch<'a>(all: &'a [VSwitchView], id: &str) -> Option<&'a VSwitchView> {
    all.iter().find(|v| v.id == id)
}

fn invalid_code(code: &'static str, name: &str, reason: &str) -> ApiError {
    ApiError::InvalidParameterCode {
        code,
        message: format!("The specified parameter \"{name}\" is not valid: {reason}."),
    }
}

fn rejected(code: &'static str, message: String) -> ApiError {
    ApiError::RejectedInput { code, message }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value.as_deref().ok_or_else(|| ApiError::missing(name))
}

/// S32, S33: the certificate input the cluster's kind and certificate mode call for, checked
/// for real. Messages name parameters, never their content.
// Deviation: the real console takes these as uploads; the parameter names and the codes
// (`InvalidParameter.ClientCertificate`, `Rejected.Hsm*`, ...) are the mock's, in the real style.
pub fn check_credentials(
    cluster: &HsmCluster,
    creds: &HsmCredentials,
    operator_password: Option<&str>,
) -> Result<(), ApiError> {
    let (allowed, kind): (&[&str], &str) = match (cluster.certificate_mode, cluster.mainland) {
        (CertificateMode::Automatic, _) => (&[], "automatic certificates"),
        (CertificateMode::Manual, true) => (
            &[
                "ClientCertificate",
                "ClientCertificatePassword",
                "SecurityDomainCertificate",
            ],
            "a Chinese mainland HSM cluster with manual certificates",
        ),
        (CertificateMode::Manual, false) => (
            &["HsmUsername", "HsmPassword", "ClusterOwnerCertificate"],
            "an international HSM cluster with manual certificates",
        ),
    };
    if let Some(extra) = creds.present().into_iter().find(|p| !allowed.contains(p)) {
        return Err(ApiError::invalid(
            extra,
            format!("not used with {kind} (cluster {})", cluster.id),
        ));
    }
    let server = pki::pem_certificate(&cluster.server_cert_pem).ok_or(ApiError::Internal)?;
    match (cluster.certificate_mode, cluster.mainland) {
        (CertificateMode::Automatic, _) => Ok(()),
        (CertificateMode::Manual, true) => {
            let p12_b64 = required(&creds.client_certificate, "ClientCertificate")?;
            let password = required(
                &creds.client_certificate_password,
                "ClientCertificatePassword",
            )?;
            let ca_pem = required(
                &creds.security_domain_certificate,
                "SecurityDomainCertificate",
            )?;
            let compact: String = p12_b64
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let p12 = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| {
                    invalid_code(
                        "InvalidParameter.ClientCertificate",
                        "ClientCertificate",
                        "not the base64 of a PKCS#12 file",
                    )
                })?;
            let leaf = pki::open_p12(&p12, password).map_err(|p| match p {
                Pkcs12Problem::Malformed => invalid_code(
                    "InvalidParameter.ClientCertificate",
                    "ClientCertificate",
                    "not a PKCS#12 file holding a client certificate and its private key",
                ),
                Pkcs12Problem::WrongPassword => rejected(
                    "Rejected.HsmCertificatePasswordIncorrect",
                    "The ClientCertificatePassword does not open the ClientCertificate (PKCS#12 protection password)."
                        .into(),
                ),
            })?;
            let ca = pki::pem_certificate(ca_pem).ok_or_else(|| {
                invalid_code(
                    "InvalidParameter.SecurityDomainCertificate",
                    "SecurityDomainCertificate",
                    "not a PEM X.509 certificate",
                )
            })?;
            if !pki::issued_by(&leaf, &ca) {
                return Err(rejected(
                    "Rejected.HsmCertificateNotIssuedByCa",
                    "The ClientCertificate was not issued by the SecurityDomainCertificate.".into(),
                ));
            }
            if !pki::issued_by(&server, &ca) {
                return Err(rejected(
                    "Rejected.HsmSecurityDomainMismatch",
                    format!(
                        "The SecurityDomainCertificate is not the CA that issued the TLS server certificate of HSM cluster {}.",
                        cluster.id
                    ),
                ));
            }
            Ok(())
        }
        (CertificateMode::Manual, false) => {
            let username = required(&creds.hsm_username, "HsmUsername")?;
            let password = required(&creds.hsm_password, "HsmPassword")?;
            let owner_pem = required(&creds.cluster_owner_certificate, "ClusterOwnerCertificate")?;
            if username != HSM_OPERATOR {
                return Err(rejected(
                    "Rejected.HsmUsernameInvalid",
                    format!("The HsmUsername must be {HSM_OPERATOR}, the HSM operator (CU user)."),
                ));
            }
            if operator_password != Some(password) {
                return Err(rejected(
                    "Rejected.HsmPasswordIncorrect",
                    format!(
                        "The HsmPassword is not the password of the operator {HSM_OPERATOR} of HSM cluster {}.",
                        cluster.id
                    ),
                ));
            }
            let owner = pki::pem_certificate(owner_pem).ok_or_else(|| {
                invalid_code(
                    "InvalidParameter.ClusterOwnerCertificate",
                    "ClusterOwnerCertificate",
                    "not a PEM X.509 certificate",
                )
            })?;
            if !pki::issued_by(&server, &owner) {
                return Err(rejected(
                    "Rejected.HsmSecurityDomainMismatch",
                    format!(
                        "The ClusterOwnerCertificate is not the certificate of HSM cluster {}.",
                        cluster.id
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// The synchronisation health of a binding (S34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    Healthy,
    SyncFailed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Healthy => "Healthy",
            SyncStatus::SyncFailed => "SyncFailed",
        }
    }
}

/// S34: HSMs added to a cluster after the binding are synchronised only when the cluster's
/// synchronisation is automatic; with manual synchronisation the binding fails from then on.
pub fn sync_status(cluster: &HsmCluster, binding: &HsmBinding) -> SyncStatus {
    if cluster.sync == SyncMode::Manual && cluster.hsms > binding.hsms_at_bind {
        SyncStatus::SyncFailed
    } else {
        SyncStatus::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instance::DeploymentMode;

    struct Fixture {
        cluster: HsmCluster,
        ca_key_pem: String,
        vswitches: Vec<VSwitchView>,
    }

    fn fixture(mode: CertificateMode, mainland: bool) -> Fixture {
        let p = pki::new_cluster_pki("hsm-1").unwrap();
        Fixture {
            cluster: HsmCluster {
                id: "hsm-1".into(),
                account_id: "1".into(),
                region_id: "r".into(),
                mainland,
                vendor: "v".into(),
                vpc_id: "vpc".into(),
                vswitch_ids: vec!["vsw-a".into(), "vsw-b".into()],
                certificate_mode: mode,
                sync: SyncMode::Manual,
                hsms: 2,
                ca_pem: p.ca_pem,
                server_cert_pem: p.server_cert_pem,
            },
            ca_key_pem: p.ca_key_pem,
            vswitches: vec![
                VSwitchView {
                    id: "vsw-a".into(),
                    zone: "a".into(),
                    free_ips: 4,
                },
                VSwitchView {
                    id: "vsw-b".into(),
                    zone: "b".into(),
                    free_ips: 252,
                },
                VSwitchView {
                    id: "vsw-c".into(),
                    zone: "c".into(),
                    free_ips: 3,
                },
                VSwitchView {
                    id: "vsw-b2".into(),
                    zone: "b".into(),
                    free_ips: 252,
                },
            ],
        }
    }

    fn hardware() -> Instance {
        let mut i: Instance = serde_json::from_value(serde_json::json!({
            "id": "kst-1", "account_id": "1", "region_id": "r", "management_type": "hardware",
            "deployment_mode": "dual_zone",
            "capacity": {"spec": 1000, "key_num": 1000, "secret_num": 0, "vpc_num": 1, "log": false, "log_storage": 0},
            "instance_backup": false, "expert_service": false, "product_type": "p", "period_months": 1,
            "renew_status": "ManualRenewal", "renew_period_months": 1, "purchased_at": 0, "visible_at": 0,
            "end_at": 1, "name": "kst-1", "connection": null, "released_at": null, "deletion_protection": false
        }))
        .unwrap();
        i.deployment_mode = DeploymentMode::DualZone;
        i
    }

    fn region(mainland: bool) -> Region {
        Region {
            id: "r".into(),
            code: "rrr".into(),
            mainland,
            zones: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    fn req(creds: HsmCredentials) -> HsmConnectRequest {
        HsmConnectRequest {
            cluster_id: "hsm-1".into(),
            vpc_id: None,
            zone_ids: Vec::new(),
            vswitch_ids: Vec::new(),
            credentials: creds,
        }
    }

    fn plan(f: &Fixture, inst: &Instance, r: &HsmConnectRequest) -> Result<HsmPlan, ApiError> {
        plan_hsm_connect(
            inst,
            r,
            &region(f.cluster.mainland),
            &ClusterFacts {
                cluster: Some(&f.cluster),
                bound_to: None,
                vswitches: &f.vswitches,
                operator_password: Some("op-pass"),
            },
        )
    }

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    fn mainland_creds(f: &Fixture, password: &str) -> HsmCredentials {
        let p12 = pki::client_p12("hsm-1", &f.ca_key_pem, "12345678").unwrap();
        HsmCredentials {
            client_certificate: Some(b64(&p12)),
            client_certificate_password: Some(password.into()),
            security_domain_certificate: Some(f.cluster.ca_pem.clone()),
            ..Default::default()
        }
    }

    #[test]
    fn automatic_cluster_defaults_to_its_own_vswitches_and_ten_minutes() {
        let f = fixture(CertificateMode::Automatic, true);
        let p = plan(&f, &hardware(), &req(HsmCredentials::default())).unwrap();
        assert_eq!(p.zone_ids, ["a", "b"]);
        assert_eq!(p.vswitch_ids, ["vsw-a", "vsw-b"]);
        assert_eq!((p.vpc_id.as_str(), p.duration_ms), ("vpc", HSM_ENABLE_MS));
        assert_eq!(p.binding.hsms_at_bind, 2);
        let mut with_secrets = hardware();
        with_secrets.capacity.secret_num = 10;
        let p = plan(&f, &with_secrets, &req(HsmCredentials::default())).unwrap();
        assert_eq!(p.duration_ms, HSM_ENABLE_WITH_SECRETS_MS);
    }

    #[test]
    fn automatic_cluster_refuses_certificate_input_by_name() {
        let f = fixture(CertificateMode::Automatic, true);
        let e = plan(
            &f,
            &hardware(),
            &req(HsmCredentials {
                hsm_password: Some("x".into()),
                ..Default::default()
            }),
        )
        .unwrap_err();
        assert_eq!(e.code(), "InvalidParameter");
        assert!(e.message().contains("HsmPassword"), "{}", e.message());
        assert!(!e.message().contains("\"x\""));
    }

    #[test]
    fn network_rules_of_s31() {
        let f = fixture(CertificateMode::Automatic, true);
        let inst = hardware();
        let with = |zones: &[&str], vsws: &[&str]| {
            let mut r = req(HsmCredentials::default());
            r.zone_ids = zones.iter().map(|s| s.to_string()).collect();
            r.vswitch_ids = vsws.iter().map(|s| s.to_string()).collect();
            plan(&f, &inst, &r)
        };
        let e = with(&["a", "c"], &["vsw-a", "vsw-c"]).unwrap_err();
        assert_eq!(e.code(), "InvalidVSwitchId.IpNotEnough");
        assert!(e.message().contains("at least 4"), "{}", e.message());
        assert_eq!(
            with(&["a"], &["vsw-a"]).unwrap_err().code(),
            "InvalidParameter"
        );
        assert!(with(&[], &["vsw-b", "vsw-b2"])
            .unwrap_err()
            .message()
            .contains("different zones"));
        assert_eq!(
            with(&["a", "c"], &["vsw-a", "vsw-b"]).unwrap_err().code(),
            "InvalidParameter.VSwitchZoneMismatch"
        );
        assert_eq!(
            with(&[], &["vsw-a", "vsw-x"]).unwrap_err().code(),
            "InvalidVSwitchId.NotFound"
        );
        let p = with(&["b", "a"], &[]).unwrap();
        assert_eq!(p.vswitch_ids, ["vsw-b", "vsw-a"]);
        let p = with(&[], &["vsw-b2", "vsw-a"]).unwrap();
        assert_eq!(p.zone_ids, ["b", "a"]);
        let mut r = req(HsmCredentials::default());
        r.vpc_id = Some("vpc-other".into());
        assert!(plan(&f, &inst, &r).unwrap_err().message().contains("VpcId"));
    }

    #[test]
    fn cluster_must_be_the_callers_free_and_the_instance_hardware() {
        let f = fixture(CertificateMode::Automatic, true);
        let mut software = hardware();
        software.management_type = ManagementType::Software;
        let e = plan(&f, &software, &req(HsmCredentials::default())).unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (409, "Rejected.UnsupportedOperation")
        );
        let mut foreign = hardware();
        foreign.account_id = "2".into();
        let e = plan(&f, &foreign, &req(HsmCredentials::default())).unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (404, "InvalidHsmClusterId.NotFound")
        );
        let e = plan_hsm_connect(
            &hardware(),
            &req(HsmCredentials::default()),
            &region(true),
            &ClusterFacts {
                cluster: Some(&f.cluster),
                bound_to: Some("kst-other"),
                vswitches: &f.vswitches,
                operator_password: None,
            },
        )
        .unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "Rejected.HsmClusterInUse"));
    }

    #[test]
    fn mainland_manual_certificates_are_checked_for_real() {
        let f = fixture(CertificateMode::Manual, true);
        let inst = hardware();
        assert!(plan(&f, &inst, &req(mainland_creds(&f, "12345678"))).is_ok());

        let e = plan(&f, &inst, &req(mainland_creds(&f, "wrong"))).unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (400, "Rejected.HsmCertificatePasswordIncorrect")
        );
        assert!(!e.message().contains("wrong"));

        let mut c = mainland_creds(&f, "12345678");
        c.client_certificate = Some(b64(b"definitely not pkcs12"));
        let e = plan(&f, &inst, &req(c)).unwrap_err();
        assert_eq!(e.code(), "InvalidParameter.ClientCertificate");
        let mut c = mainland_creds(&f, "12345678");
        c.client_certificate = Some("%%% not base64".into());
        assert_eq!(
            plan(&f, &inst, &req(c)).unwrap_err().code(),
            "InvalidParameter.ClientCertificate"
        );

        let mut c = mainland_creds(&f, "12345678");
        c.security_domain_certificate = Some("-----BEGIN CERTIFICATE-----\nxx".into());
        assert_eq!(
            plan(&f, &inst, &req(c)).unwrap_err().code(),
            "InvalidParameter.SecurityDomainCertificate"
        );

        // A set generated for another cluster: it chains to its own CA, not this cluster's.
        let other = fixture(CertificateMode::Manual, true);
        let e = plan(&f, &inst, &req(mainland_creds(&other, "12345678"))).unwrap_err();
        assert_eq!(e.code(), "Rejected.HsmSecurityDomainMismatch");
        // This cluster's CA with another cluster's client certificate.
        let mut c = mainland_creds(&other, "12345678");
        c.security_domain_certificate = Some(f.cluster.ca_pem.clone());
        let e = plan(&f, &inst, &req(c)).unwrap_err();
        assert_eq!(e.code(), "Rejected.HsmCertificateNotIssuedByCa");

        let mut c = mainland_creds(&f, "12345678");
        c.security_domain_certificate = None;
        assert_eq!(
            plan(&f, &inst, &req(c)).unwrap_err(),
            ApiError::missing("SecurityDomainCertificate")
        );
        let mut c = mainland_creds(&f, "12345678");
        c.hsm_username = Some("kmsuser".into());
        assert!(plan(&f, &inst, &req(c))
            .unwrap_err()
            .message()
            .contains("HsmUsername"));
    }

    #[test]
    fn international_manual_needs_kmsuser_its_password_and_the_owner_certificate() {
        let f = fixture(CertificateMode::Manual, false);
        let inst = hardware();
        let creds = |user: &str, pass: &str, owner: &str| HsmCredentials {
            hsm_username: Some(user.into()),
            hsm_password: Some(pass.into()),
            cluster_owner_certificate: Some(owner.into()),
            ..Default::default()
        };
        let ca = f.cluster.ca_pem.clone();
        assert!(plan(&f, &inst, &req(creds("kmsuser", "op-pass", &ca))).is_ok());
        let code = |c| plan(&f, &inst, &req(c)).unwrap_err().code().to_string();
        assert_eq!(
            code(creds("admin", "op-pass", &ca)),
            "Rejected.HsmUsernameInvalid"
        );
        assert_eq!(
            code(creds("kmsuser", "nope", &ca)),
            "Rejected.HsmPasswordIncorrect"
        );
        let other = fixture(CertificateMode::Manual, false);
        assert_eq!(
            code(creds("kmsuser", "op-pass", &other.cluster.ca_pem)),
            "Rejected.HsmSecurityDomainMismatch"
        );
        assert_eq!(
            code(creds("kmsuser", "op-pass", "junk")),
            "InvalidParameter.ClusterOwnerCertificate"
        );
        // The server certificate is no owner certificate: it did not issue itself.
        assert_eq!(
            code(creds("kmsuser", "op-pass", &f.cluster.server_cert_pem)),
            "Rejected.HsmSecurityDomainMismatch"
        );
    }

    #[test]
    fn hsm_added_to_manual_sync_cluster_fails_the_binding() {
        let mut f = fixture(CertificateMode::Automatic, true);
        let binding = HsmBinding {
            cluster_id: "hsm-1".into(),
            hsms_at_bind: 2,
        };
        assert_eq!(sync_status(&f.cluster, &binding), SyncStatus::Healthy);
        f.cluster.hsms = 3;
        assert_eq!(sync_status(&f.cluster, &binding), SyncStatus::SyncFailed);
        f.cluster.sync = SyncMode::Automatic;
        assert_eq!(sync_status(&f.cluster, &binding), SyncStatus::Healthy);
    }
}
