//! `kms_hsm_binding`: connects a purchased hardware instance to its HSM cluster (S30–S35). The
//! real cloud has no unbind: destroy only forgets the binding, and nothing changes in place.

use std::time::Instant;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, Block, Description, NestedBlock, Schema};
use tf_provider::value::{serde_as_vec, Value, ValueEmpty, ValueList, ValueString};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::client::kms::{HsmCertificates, InstanceInfo};
use crate::client::ApiError;
use crate::plan::{null_if_unknown, s};
use crate::provider::{text, Shared};
use crate::resources::enable::{self, Timeouts, Zone};
use crate::schema::{computed, object_list, optional, required, sensitive, Kind};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub id: ValueString<'a>,
    pub instance_id: ValueString<'a>,
    pub hsm_cluster_id: ValueString<'a>,
    pub zones: ValueList<Value<Zone<'a>>>,
    pub client_p12: ValueString<'a>,
    pub client_password: ValueString<'a>,
    pub security_domain_ca_pem: ValueString<'a>,
    pub username: ValueString<'a>,
    pub password: ValueString<'a>,
    pub cluster_owner_certificate_pem: ValueString<'a>,
    pub status: ValueString<'a>,
    pub sync_status: ValueString<'a>,
    pub vpc_id: ValueString<'a>,
    pub zone_ids: ValueList<ValueString<'a>>,
    pub vswitch_ids: ValueList<ValueString<'a>>,
    #[serde(with = "serde_as_vec")]
    pub timeouts: Value<Timeouts<'a>>,
}

pub struct HsmBindingResource {
    shared: Shared,
}

impl HsmBindingResource {
    pub fn new(shared: Shared) -> Self {
        HsmBindingResource { shared }
    }
}

/// Arguments fixed once bound: a change is refused at plan time.
const ARGUMENTS: [&str; 9] = [
    "instance_id",
    "hsm_cluster_id",
    "zones",
    "client_p12",
    "client_password",
    "security_domain_ca_pem",
    "username",
    "password",
    "cluster_owner_certificate_pem",
];

fn detail(e: &ApiError) -> String {
    let hint = match e.code() {
        "Rejected.HsmCertificatePasswordIncorrect" => "\nCheck client_password: it must open client_p12 (the generator's default is 12345678).",
        "Rejected.HsmCertificateNotIssuedByCa" => "\nclient_p12 was not issued by security_domain_ca_pem.",
        "Rejected.HsmSecurityDomainMismatch" => "\nThe CA given is not the one that issued the cluster's certificate: use the cluster's own (S32, S33).",
        "InvalidParameter.ClientCertificate" => "\nclient_p12 must be the base64 of a PKCS#12 file (filebase64(\"client.p12\")).",
        "Rejected.HsmUsernameInvalid" => "\nThe operator of an international cluster is kmsuser (S33).",
        "Rejected.HsmPasswordIncorrect" => "\nCheck password: the cluster operator's password.",
        "Rejected.HsmClusterInUse" => "\nOne cluster serves one instance (S30).",
        "InvalidVSwitchId.IpNotEnough" => "\nEach zone's vSwitch needs at least 4 free IP addresses (S31).",
        "Rejected.UnsupportedOperation" => "\nOnly a hardware instance (management_type = \"hardware\") binds to an HSM cluster.",
        _ => "",
    };
    format!("{e}{hint}")
}

impl State<'_> {
    fn apply_info(&mut self, i: &InstanceInfo) {
        self.id = text(&i.id);
        self.instance_id = text(&i.id);
        self.hsm_cluster_id = text(&i.hsm_cluster_id);
        self.status = text(&i.status);
        self.sync_status = text(&i.hsm_sync_status);
        self.vpc_id = text(&i.vpc_id);
        self.zone_ids = enable::strings(&i.zone_ids);
        self.vswitch_ids = enable::strings(&i.vswitch_ids);
        if !self.zones.is_value() {
            self.zones = enable::zones_of(i);
        }
        for v in [
            &mut self.client_p12,
            &mut self.client_password,
            &mut self.security_domain_ca_pem,
            &mut self.username,
            &mut self.password,
            &mut self.cluster_owner_certificate_pem,
        ] {
            null_if_unknown(v);
        }
    }

    fn certificates(&self) -> HsmCertificates {
        let o = |v: &ValueString| s(v).map(String::from);
        HsmCertificates {
            client_p12_base64: o(&self.client_p12),
            client_password: o(&self.client_password),
            security_domain_ca_pem: o(&self.security_domain_ca_pem),
            username: o(&self.username),
            password: o(&self.password),
            cluster_owner_certificate_pem: o(&self.cluster_owner_certificate_pem),
        }
    }

    /// The value of an argument, as JSON-ish text for comparing prior and planned.
    fn argument(&self, name: &str) -> String {
        match name {
            "instance_id" => format!("{:?}", self.instance_id),
            "hsm_cluster_id" => format!("{:?}", self.hsm_cluster_id),
            "zones" => format!("{:?}", self.zones),
            "client_p12" => format!("{:?}", self.client_p12),
            "client_password" => format!("{:?}", self.client_password),
            "security_domain_ca_pem" => format!("{:?}", self.security_domain_ca_pem),
            "username" => format!("{:?}", self.username),
            "password" => format!("{:?}", self.password),
            _ => format!("{:?}", self.cluster_owner_certificate_pem),
        }
    }

    fn is_unknown(&self, name: &str) -> bool {
        match name {
            "instance_id" => self.instance_id.is_unknown(),
            "hsm_cluster_id" => self.hsm_cluster_id.is_unknown(),
            "zones" => self.zones.is_unknown(),
            "client_p12" => self.client_p12.is_unknown(),
            "client_password" => self.client_password.is_unknown(),
            "security_domain_ca_pem" => self.security_domain_ca_pem.is_unknown(),
            "username" => self.username.is_unknown(),
            "password" => self.password.is_unknown(),
            _ => self.cluster_owner_certificate_pem.is_unknown(),
        }
    }

    fn is_null(&self, name: &str) -> bool {
        match name {
            "client_p12" => self.client_p12.is_null(),
            "client_password" => self.client_password.is_null(),
            "security_domain_ca_pem" => self.security_domain_ca_pem.is_null(),
            "username" => self.username.is_null(),
            "password" => self.password.is_null(),
            "cluster_owner_certificate_pem" => self.cluster_owner_certificate_pem.is_null(),
            "zones" => self.zones.is_null(),
            _ => false,
        }
    }
}

fn looks_like_pem(v: &str) -> bool {
    v.contains("-----BEGIN CERTIFICATE-----") && v.contains("-----END CERTIFICATE-----")
}

fn check(st: &State, diags: &mut Diagnostics) {
    let path = AttributePath::new;
    if let Some(p12) = s(&st.client_p12) {
        if base64::engine::general_purpose::STANDARD
            .decode(p12.trim())
            .is_err()
        {
            diags.error(
                "Invalid client_p12",
                "not base64: give the PKCS#12 file's content with filebase64(\"client.p12\").",
                path("client_p12"),
            );
        }
    }
    for attr in ["security_domain_ca_pem", "cluster_owner_certificate_pem"] {
        let v = if attr == "security_domain_ca_pem" {
            &st.security_domain_ca_pem
        } else {
            &st.cluster_owner_certificate_pem
        };
        if let Some(pem) = s(v) {
            if !looks_like_pem(pem) {
                diags.error(format!("Invalid {attr}"), "not a PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----).", path(attr));
            }
        }
    }
    if let Some(u) = s(&st.username) {
        if u != "kmsuser" {
            diags.error(
                "Invalid username",
                format!("{u:?}: the operator of an international HSM cluster is kmsuser (S33)."),
                path("username"),
            );
        }
    }
    let set = |v: &ValueString| !v.is_null();
    let mainland = [
        set(&st.client_p12),
        set(&st.client_password),
        set(&st.security_domain_ca_pem),
    ];
    if mainland.iter().any(|x| *x) && !mainland.iter().all(|x| *x) {
        diags.error("Incomplete mainland certificates", "Manual certificates for a Chinese mainland cluster need client_p12, client_password and security_domain_ca_pem together (S32).", path("client_p12"));
    }
    let intl = [
        set(&st.username),
        set(&st.password),
        set(&st.cluster_owner_certificate_pem),
    ];
    if intl.iter().any(|x| *x) && !intl.iter().all(|x| *x) {
        diags.error("Incomplete international certificates", "An international cluster needs username (kmsuser), password and cluster_owner_certificate_pem together (S33).", path("username"));
    }
    if mainland.iter().any(|x| *x) && intl.iter().any(|x| *x) {
        diags.error("Certificates of both kinds", "Give the mainland set (client_p12, client_password, security_domain_ca_pem) or the international set (username, password, cluster_owner_certificate_pem), not both.", path("username"));
    }
}

#[async_trait]
impl Resource for HsmBindingResource {
    type State<'a> = State<'a>;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = [
            ("id", computed(Kind::String, "The instance id.")),
            ("instance_id", required(Kind::String, "A hardware instance (`kms_instance` with `management_type = \"hardware\"`), Uninitialized.")),
            ("hsm_cluster_id", required(Kind::String, "The HSM cluster; one cluster per instance, and the instance's VPC is the cluster's (S30).")),
            ("client_p12", sensitive(optional(Kind::String, "Chinese mainland cluster, manual certificates: the PKCS#12 client certificate, base64 (`filebase64(\"client.p12\")`) (S32)."))),
            ("client_password", sensitive(optional(Kind::String, "Its protection password (the generator's default is 12345678)."))),
            ("security_domain_ca_pem", optional(Kind::String, "The security domain certificate: the PEM CA that issued the cluster's TLS server certificate.")),
            ("username", optional(Kind::String, "International cluster: the operator, always `kmsuser` (S33).")),
            ("password", sensitive(optional(Kind::String, "International cluster: the operator's password."))),
            ("cluster_owner_certificate_pem", optional(Kind::String, "International cluster: the cluster owner certificate (PEM).")),
            ("status", computed(Kind::String, "The instance's status: `Connecting` until enablement ends (about 30 minutes with a secret quota, 10 without, S35), then `Connected`.")),
            ("sync_status", computed(Kind::String, "`Healthy`, or `SyncFailed` after HSMs were added to a cluster with manual synchronisation (S34).")),
            ("vpc_id", computed(Kind::String, "The cluster's VPC, now the instance's.")),
            ("zone_ids", computed(Kind::ListOfString, "The instance's zones.")),
            ("vswitch_ids", computed(Kind::ListOfString, "The instance's vSwitches.")),
        ];
        let mut attributes: std::collections::HashMap<String, _> = attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        attributes.insert(
            "zones".into(),
            object_list(AttributeConstraint::OptionalComputed, "`{ zone_id, vswitch_id }` pairs, one per zone of the deployment, in different zones; each vSwitch needs at least 4 free IPs (S31). Default: the cluster's own vSwitches.", &["zone_id", "vswitch_id"]),
        );
        let timeouts = Block {
            description: Description::plain("How long to wait."),
            attributes: [(
                "create".to_string(),
                optional(Kind::String, "Create timeout (default `60m`)."),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown("Binds a purchased hardware KMS instance to an HSM cluster and waits until it is Connected. The cloud has no unbind: destroying this resource forgets the binding and leaves the instance connected (it goes with its `kms_instance`); its arguments cannot change in place."),
                attributes,
                blocks: [("timeouts".to_string(), NestedBlock::Optional(timeouts))].into_iter().collect(),
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        check(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let id = s(&state.id)?.to_string();
        match cfg.client.find_kms_instance(&id).await {
            Ok(Some(i)) if !i.hsm_cluster_id.is_empty() => {
                let mut st = state;
                st.apply_info(&i);
                if i.hsm_sync_status == "SyncFailed" {
                    diags.root_warning(
                        format!("HSM cluster {} of instance {id} failed to synchronise", i.hsm_cluster_id),
                        "HSMs were added to a cluster whose synchronisation is manual (S34): set the cluster's synchronisation to automatic.",
                    );
                }
                Some((st, private))
            }
            Ok(_) => None,
            Err(e) => {
                diags.root_error("Read HSM binding failed", detail(&e));
                Some((state, private))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let mut st = proposed;
        // The instance is known at plan time when it exists already: refuse a software one now.
        if let (Some(cfg), Some(id)) = (self.shared.get(), s(&st.instance_id)) {
            if let Ok(Some(i)) = cfg.client.find_kms_instance(id).await {
                if i.product_version != "1" {
                    diags.error("Not a hardware instance", format!("{id} is not a hardware key management instance: only management_type = \"hardware\" binds to an HSM cluster (S30)."), AttributePath::new("instance_id"));
                }
            }
        }
        for v in [
            &mut st.id,
            &mut st.status,
            &mut st.sync_status,
            &mut st.vpc_id,
        ] {
            *v = Value::Unknown;
        }
        st.zone_ids = Value::Unknown;
        st.vswitch_ids = Value::Unknown;
        if st.zones.is_null() {
            st.zones = Value::Unknown;
        }
        Some((st, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        proposed: Self::State<'a>,
        config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let mut st = proposed;
        // Another instance (also one being replaced, whose id is unknown until applied) is a
        // new binding: this resource is replaced, which forgets the old one.
        if st.instance_id.is_unknown()
            || prior.argument("instance_id") != st.argument("instance_id")
        {
            return Some((st, private, vec![AttributePath::new("instance_id")]));
        }
        for name in ARGUMENTS {
            // After an import the secrets are null: taking the configured ones changes nothing.
            // An unknown value is checked again when it is known.
            if prior.is_null(name)
                || (name == "zones" && config.is_null(name))
                || st.is_unknown(name)
            {
                continue;
            }
            if prior.argument(name) != st.argument(name) {
                diags.error(
                    format!("{name} cannot change"),
                    format!("An HSM binding cannot be changed or undone in the cloud. To bind differently, replace the instance: terraform apply -replace=<the kms_instance address>. (changing {name})"),
                    AttributePath::new(name),
                );
            }
        }
        if config.zones.is_null() {
            st.zones = prior.zones.clone();
        }
        Some((st, private, vec![]))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        Some(private)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let mut st = planned;
        let id = s(&st.instance_id).unwrap_or_default().to_string();
        let cluster = s(&st.hsm_cluster_id).unwrap_or_default().to_string();
        let deadline = Instant::now() + enable::create_timeout(&st.timeouts);
        let (zone_ids, vswitch_ids) = enable::requested_zones(&st.zones);
        // A binding whose create timed out (tainted, then replaced) is already under way in the
        // cloud: wait for it instead of binding twice.
        let under_way = match cfg.client.find_kms_instance(&id).await {
            Ok(Some(i)) => {
                i.hsm_cluster_id == cluster
                    && matches!(i.status.as_str(), "Connecting" | "Connected")
            }
            _ => false,
        };
        if under_way {
            diags.root_warning(
                format!("Instance {id} is already bound to HSM cluster {cluster}"),
                "Its binding is waited for, not made again.",
            );
        } else if let Err(e) = cfg
            .client
            .connect_hsm(&id, &cluster, &zone_ids, &vswitch_ids, &st.certificates())
            .await
        {
            diags.root_error(
                format!("Bind instance {id} to HSM cluster {cluster} failed"),
                detail(&e),
            );
            return None;
        }
        let client = &cfg.client;
        match enable::wait_connected(client, &id, deadline, cfg.poll_interval).await {
            Ok(i) => {
                st.apply_info(&i);
                Some((st, private))
            }
            Err(e) => {
                if let Ok(Some(i)) = client.find_kms_instance(&id).await {
                    st.apply_info(&i);
                }
                for v in [
                    &mut st.id,
                    &mut st.status,
                    &mut st.sync_status,
                    &mut st.vpc_id,
                ] {
                    null_if_unknown(v);
                }
                null_if_unknown(&mut st.zone_ids);
                null_if_unknown(&mut st.vswitch_ids);
                null_if_unknown(&mut st.zones);
                let msg = enable::wait_failure(&e, "binding", "S35", detail);
                diags.root_error(
                    format!(
                        "Bind instance {id} to HSM cluster {cluster}: enablement did not finish"
                    ),
                    msg,
                );
                Some((st, private))
            }
        }
    }

    async fn update<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: Self::State<'a>,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        // Only values the API never returns (secrets after an import) reach here: nothing to send.
        Some((planned, private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        enable::forget(
            diags,
            "HSM binding",
            s(&prior.id),
            "connected to its HSM cluster",
        );
        Some(())
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let id = enable::import_id(diags, id, "an HSM binding")?;
        Some((
            State {
                id,
                ..Default::default()
            },
            ValueEmpty::default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(st: &State) -> Vec<String> {
        let mut d = Diagnostics::default();
        check(st, &mut d);
        d.errors.iter().map(|e| e.summary.to_string()).collect()
    }

    #[test]
    fn certificate_sets_are_checked_for_syntax_and_completeness() {
        assert!(errors(&State::default()).is_empty());
        let st = State {
            client_p12: text("not base64!"),
            client_password: text("x"),
            security_domain_ca_pem: text(
                "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----",
            ),
            ..Default::default()
        };
        assert_eq!(errors(&st), ["Invalid client_p12"]);
        let st = State {
            client_p12: text("AAAA"),
            ..Default::default()
        };
        assert_eq!(errors(&st), ["Incomplete mainland certificates"]);
        let st = State {
            username: text("root"),
            password: text("p"),
            cluster_owner_certificate_pem: text("nope"),
            ..Default::default()
        };
        assert_eq!(
            errors(&st),
            ["Invalid cluster_owner_certificate_pem", "Invalid username"]
        );
    }
}
