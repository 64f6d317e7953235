//! `kms_instance`: purchase (BSS CreateInstance), enablement of software instances
//! (ConnectKmsInstance), upgrades (ModifyInstance), renewal (SetRenewal), name, refund.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, Block, Description, NestedBlock, Schema};
use tf_provider::value::{
    serde_as_vec, Value, ValueBool, ValueEmpty, ValueList, ValueNumber, ValueSet, ValueString,
};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::client::kms::{BssInstance, InstanceInfo, PurchaseOrder, UpgradeOrder};
use crate::client::ApiError;
use crate::plan::{default, known, null_if_unknown, replace_if_changed, s, unknown_if_null};
use crate::provider::{text, Configured, Shared};
use crate::schema::{computed, object_list, optional, optional_computed, required, Kind};
use crate::wait::{human, parse_duration, until, Poll, WaitError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Zone<'a> {
    pub zone_id: ValueString<'a>,
    pub vswitch_id: ValueString<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoundVpc<'a> {
    pub vpc_id: ValueString<'a>,
    pub vswitch_id: ValueString<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeouts<'a> {
    pub create: ValueString<'a>,
    pub update: ValueString<'a>,
    pub delete: ValueString<'a>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub id: ValueString<'a>,
    pub management_type: ValueString<'a>,
    pub region: ValueString<'a>,
    pub deployment_mode: ValueString<'a>,
    pub compute_performance: ValueNumber,
    pub key_quota: ValueNumber,
    pub secret_quota: ValueNumber,
    pub access_management_quota: ValueNumber,
    pub log_analysis: ValueBool,
    pub log_storage_gb: ValueNumber,
    pub subscription_months: ValueNumber,
    pub auto_renew: ValueBool,
    pub auto_renew_months: ValueNumber,
    pub instance_backup: ValueBool,
    pub expert_service: ValueBool,
    pub name: ValueString<'a>,
    pub vpc_id: ValueString<'a>,
    pub zones: ValueList<Value<Zone<'a>>>,
    pub other_zone_ids: ValueList<ValueString<'a>>,
    pub status: ValueString<'a>,
    pub zone_ids: ValueList<ValueString<'a>>,
    pub vswitch_ids: ValueList<ValueString<'a>>,
    pub endpoint: ValueString<'a>,
    pub ca_certificate_pem: ValueString<'a>,
    pub start_time: ValueString<'a>,
    pub end_time: ValueString<'a>,
    pub deletion_protection: ValueBool,
    pub bound_vpcs: ValueList<Value<BoundVpc<'a>>>,
    pub shared_account_ids: ValueSet<ValueString<'a>>,
    #[serde(with = "serde_as_vec")]
    pub timeouts: Value<Timeouts<'a>>,
    /// Not an attribute: set by a refresh when the BSS reports the subscription expired.
    #[serde(skip)]
    pub expired: bool,
}

const MANAGEMENT_TYPES: [&str; 3] = ["software", "hardware", "external"];
const DEPLOYMENT_MODES: [&str; 3] = ["single_zone", "dual_zone", "multi_zone"];
const SPECS: [i64; 6] = [200, 1000, 2000, 4000, 10_000, 20_000];
const MONTHS: [i64; 7] = [1, 2, 3, 6, 12, 24, 36];

const RESUME_ADVICE: &str = "The instance was bought and is kept in the Terraform state, which marks it tainted. \
To go on with the same instance without buying another, run `terraform untaint <address>` and then `terraform apply`: \
the update drives it on to Connected. To give it up instead, run `terraform destroy` (which refunds it).";

/// Our attribute names next to the alicloud provider's, for the docs.
pub const ALICLOUD_NAMES: &[(&str, &str)] = &[
    (
        "management_type",
        "`product_version` (`3` only; no hardware or external)",
    ),
    ("region", "provider `region`"),
    ("deployment_mode", "none (zone count implied)"),
    ("compute_performance", "`spec`"),
    ("key_quota", "`key_num`"),
    ("secret_quota", "`secret_num`"),
    ("access_management_quota", "`vpc_num`"),
    ("log_analysis", "`log` (`\"0\"`/`\"1\"`)"),
    ("log_storage_gb", "`log_storage`"),
    ("subscription_months", "`period`"),
    ("auto_renew", "`renew_status`"),
    ("auto_renew_months", "`renew_period`"),
    ("instance_backup, expert_service", "none"),
    ("name", "`instance_name`"),
    ("vpc_id", "`vpc_id`"),
    (
        "zones (ordered zone/vSwitch pairs)",
        "`zone_ids` + `vswitch_ids` (unordered sets, see alicloud issue #10273)",
    ),
    ("other_zone_ids", "none"),
    ("status", "`status`"),
    ("ca_certificate_pem", "`ca_certificate_chain_pem`"),
    ("start_time, end_time", "`end_date` only"),
    (
        "bound_vpcs (`{ vpc_id, vswitch_id }`)",
        "`bind_vpcs` (set of blocks with `vpc_owner_id`, `region_id`)",
    ),
    ("shared_account_ids", "none (console only)"),
    (
        "deletion_protection",
        "`deletion_protection` (not honoured on destroy)",
    ),
];

/// What import cannot recover, as HashiCorp's tests list in ImportStateVerifyIgnore.
pub const IMPORT_NOTES: &str = "After import the next plan is empty for an instance created with the defaults. \
`subscription_months` is not returned by any API: it is derived from the subscription's start and end dates. \
`timeouts` are not imported.";

pub struct InstanceResource {
    shared: Shared,
}

impl InstanceResource {
    pub fn new(shared: Shared) -> Self {
        InstanceResource { shared }
    }
}

fn strings<'a>(v: &[String]) -> ValueList<ValueString<'a>> {
    Value::Value(v.iter().map(|x| text(x.clone())).collect())
}

impl<'a> State<'a> {
    fn is_software(&self) -> bool {
        s(&self.management_type) == Some("software")
    }

    fn timeout(&self, op: &str, default: Duration) -> Duration {
        let t = self.timeouts.as_ref_option();
        let v = t.and_then(|t| match op {
            "create" => s(&t.create),
            "update" => s(&t.update),
            _ => s(&t.delete),
        });
        v.and_then(parse_duration).unwrap_or(default)
    }

    /// The zones the user gave: (zone ids, vSwitch ids), primary first, then other zone ids.
    fn requested_zones(&self) -> Option<(Vec<String>, Vec<String>)> {
        let mut zone_ids = Vec::new();
        let mut vswitch_ids = Vec::new();
        for z in self.zones.as_ref_option()? {
            let z = z.as_ref_option()?;
            zone_ids.push(s(&z.zone_id)?.to_string());
            vswitch_ids.push(s(&z.vswitch_id)?.to_string());
        }
        if let Value::Value(others) = &self.other_zone_ids {
            for o in others {
                zone_ids.push(s(o)?.to_string());
            }
        }
        Some((zone_ids, vswitch_ids))
    }

    /// The further VPCs as (VPC, vSwitch) pairs, when every one is known.
    fn known_bound_vpcs(&self) -> Option<Vec<(String, String)>> {
        self.bound_vpcs
            .as_ref_option()?
            .iter()
            .map(|b| {
                let b = b.as_ref_option()?;
                Some((s(&b.vpc_id)?.to_string(), s(&b.vswitch_id)?.to_string()))
            })
            .collect()
    }

    fn known_shared(&self) -> Option<Vec<String>> {
        self.shared_account_ids
            .as_ref_option()?
            .iter()
            .map(|a| s(a).map(String::from))
            .collect()
    }

    fn purchase_order(&self, provider_region: &str) -> PurchaseOrder {
        let n = |v: &ValueNumber, d: i64| known(v).unwrap_or(d);
        let b = |v: &ValueBool| known(v).unwrap_or(false);
        PurchaseOrder {
            region: s(&self.region).unwrap_or(provider_region).to_string(),
            product_version: match s(&self.management_type) {
                Some("hardware") => "1",
                Some("external") => "external",
                _ => "3",
            }
            .to_string(),
            spec: n(&self.compute_performance, 1000),
            key_num: n(&self.key_quota, 1000),
            secret_num: n(&self.secret_quota, 0),
            vpc_num: n(&self.access_management_quota, 1),
            log: b(&self.log_analysis),
            log_storage: n(&self.log_storage_gb, 0),
            deployment_mode: s(&self.deployment_mode).map(String::from),
            instance_backup: b(&self.instance_backup),
            expert_service: b(&self.expert_service),
            period_months: n(&self.subscription_months, 1),
            renewal_status: renewal_status(b(&self.auto_renew)).to_string(),
            renew_period_months: n(&self.auto_renew_months, 1),
        }
    }

    /// Fills the state from what the API reports. Attributes that only the user's configuration
    /// knows while the instance is not enabled yet (VPC, zones) are kept.
    fn apply_info(&mut self, info: &InstanceInfo, bss: Option<&BssInstance>) {
        self.id = text(&info.id);
        self.name = text(&info.name);
        self.status = text(&info.status);
        if !self.management_type.is_value() {
            self.management_type = text(match info.product_version.as_str() {
                "1" => "hardware",
                "external" => "external",
                _ => "software",
            });
        }
        if let Some(m) = &info.deployment_mode {
            self.deployment_mode = text(m);
        }
        self.compute_performance = Value::Value(info.spec);
        self.key_quota = Value::Value(info.key_num);
        self.secret_quota = Value::Value(info.secret_num);
        self.access_management_quota = Value::Value(info.vpc_num);
        self.log_analysis = Value::Value(info.log);
        self.log_storage_gb = Value::Value(info.log_storage);
        if let Some(b) = info.instance_backup {
            self.instance_backup = Value::Value(b);
        }
        if let Some(e) = info.expert_service {
            self.expert_service = Value::Value(e);
        }
        if !info.vpc_id.is_empty() {
            let paired = info.vswitch_ids.len().min(info.zone_ids.len());
            self.vpc_id = text(&info.vpc_id);
            self.zones = Value::Value(
                info.zone_ids[..paired]
                    .iter()
                    .zip(&info.vswitch_ids)
                    .map(|(z, v)| {
                        Value::Value(Zone {
                            zone_id: text(z),
                            vswitch_id: text(v),
                        })
                    })
                    .collect(),
            );
            self.other_zone_ids = strings(&info.zone_ids[paired..]);
        }
        self.deletion_protection = Value::Value(info.deletion_protection);
        self.bound_vpcs = Value::Value(
            info.bind_vpcs
                .iter()
                .map(|(vpc, vsw)| {
                    Value::Value(BoundVpc {
                        vpc_id: text(vpc),
                        vswitch_id: text(vsw),
                    })
                })
                .collect(),
        );
        self.shared_account_ids = Value::Value(info.shared_accounts.iter().map(text).collect());
        self.zone_ids = strings(&info.zone_ids);
        self.vswitch_ids = strings(&info.vswitch_ids);
        self.endpoint = text(format!("{}.cryptoservice.kms.aliyuncs.com", info.id));
        self.ca_certificate_pem = if info.ca_certificate_pem.is_empty() {
            Value::Null
        } else {
            text(&info.ca_certificate_pem)
        };
        self.start_time = text(&info.start_date);
        self.end_time = text(&info.end_date);
        if let Some(b) = bss {
            if !self.region.is_value() && !b.region.is_empty() {
                self.region = text(&b.region);
            }
            self.auto_renew = Value::Value(b.renew_status == "AutoRenewal");
            self.auto_renew_months = Value::Value(b.renewal_duration);
        }
        if !self.subscription_months.is_value() {
            // Not returned by any API: derive it from the subscription's dates (30-day months).
            self.subscription_months = months_between(&info.start_date, &info.end_date)
                .map(Value::Value)
                .unwrap_or(Value::Null);
        }
        self.nullify_unknowns();
    }

    fn nullify_unknowns(&mut self) {
        null_if_unknown(&mut self.deletion_protection);
        null_if_unknown(&mut self.bound_vpcs);
        null_if_unknown(&mut self.shared_account_ids);
        null_if_unknown(&mut self.id);
        null_if_unknown(&mut self.management_type);
        null_if_unknown(&mut self.region);
        null_if_unknown(&mut self.deployment_mode);
        null_if_unknown(&mut self.compute_performance);
        null_if_unknown(&mut self.key_quota);
        null_if_unknown(&mut self.secret_quota);
        null_if_unknown(&mut self.access_management_quota);
        null_if_unknown(&mut self.log_analysis);
        null_if_unknown(&mut self.log_storage_gb);
        null_if_unknown(&mut self.subscription_months);
        null_if_unknown(&mut self.auto_renew);
        null_if_unknown(&mut self.auto_renew_months);
        null_if_unknown(&mut self.instance_backup);
        null_if_unknown(&mut self.expert_service);
        null_if_unknown(&mut self.name);
        null_if_unknown(&mut self.vpc_id);
        null_if_unknown(&mut self.zones);
        null_if_unknown(&mut self.other_zone_ids);
        null_if_unknown(&mut self.status);
        null_if_unknown(&mut self.zone_ids);
        null_if_unknown(&mut self.vswitch_ids);
        null_if_unknown(&mut self.endpoint);
        null_if_unknown(&mut self.ca_certificate_pem);
        null_if_unknown(&mut self.start_time);
        null_if_unknown(&mut self.end_time);
    }

    /// Attributes the apply fills in or may change.
    fn mark_computed_unknown(&mut self) {
        unknown_if_null(&mut self.id);
        unknown_if_null(&mut self.deployment_mode);
        unknown_if_null(&mut self.name);
        unknown_if_null(&mut self.status);
        unknown_if_null(&mut self.zone_ids);
        unknown_if_null(&mut self.vswitch_ids);
        unknown_if_null(&mut self.endpoint);
        unknown_if_null(&mut self.ca_certificate_pem);
        unknown_if_null(&mut self.start_time);
        unknown_if_null(&mut self.end_time);
        unknown_if_null(&mut self.other_zone_ids);
        if !self.is_software() {
            unknown_if_null(&mut self.vpc_id);
            unknown_if_null(&mut self.zones);
        }
    }

    fn apply_defaults(&mut self) {
        default(&mut self.deletion_protection, false);
        default(&mut self.bound_vpcs, Vec::new());
        default(&mut self.shared_account_ids, Default::default());
        default(&mut self.key_quota, 1000);
        default(&mut self.secret_quota, 0);
        default(&mut self.access_management_quota, 1);
        default(&mut self.log_analysis, false);
        default(&mut self.log_storage_gb, 0);
        default(&mut self.subscription_months, 1);
        default(&mut self.auto_renew, false);
        default(&mut self.auto_renew_months, 1);
        default(&mut self.instance_backup, false);
        default(&mut self.expert_service, false);
    }
}

fn renewal_status(auto: bool) -> &'static str {
    if auto {
        "AutoRenewal"
    } else {
        "ManualRenewal"
    }
}

fn months_between(start: &str, end: &str) -> Option<i64> {
    let fmt = time::format_description::well_known::Rfc3339;
    let a = time::OffsetDateTime::parse(start, &fmt).ok()?;
    let b = time::OffsetDateTime::parse(end, &fmt).ok()?;
    let days = (b - a).whole_days();
    let months = ((days as f64) / 30.0).round() as i64;
    MONTHS.iter().copied().min_by_key(|m| (m - months).abs())
}

/// Plan-time checks of everything knowable from the configuration (unknown values pass).
fn check_config(st: &State, diags: &mut Diagnostics) {
    let path = AttributePath::new;
    let mut err =
        |attr: &'static str, msg: String| diags.error(format!("Invalid {attr}"), msg, path(attr));
    if let Some(m) = s(&st.management_type) {
        if !MANAGEMENT_TYPES.contains(&m) {
            err(
                "management_type",
                format!("{m:?} is not one of software, hardware, external (S01)."),
            );
        }
    }
    if let Some(m) = s(&st.deployment_mode) {
        if !DEPLOYMENT_MODES.contains(&m) {
            err(
                "deployment_mode",
                format!("{m:?} is not one of single_zone, dual_zone, multi_zone (S02)."),
            );
        }
    }
    if let Some(v) = known(&st.compute_performance) {
        if !SPECS.contains(&v) {
            err("compute_performance", format!("{v} is not one of 200, 1000, 2000, 4000 (10000 and 20000 for software with a support entitlement) (S03)."));
        }
    }
    let range = |v: &ValueNumber, lo: i64, hi: i64| known(v).filter(|x| !(lo..=hi).contains(x));
    if let Some(v) = range(&st.key_quota, 100, 100_000) {
        err(
            "key_quota",
            format!("{v} is outside 100 to 100000 key versions (S04, S09)."),
        );
    }
    if let Some(v) = range(&st.secret_quota, 0, 100_000) {
        err(
            "secret_quota",
            format!("{v} is outside 0 to 100000 secrets (S05, S09)."),
        );
    }
    if let Some(v) = range(&st.access_management_quota, 1, 10_000) {
        err(
            "access_management_quota",
            format!("{v} is outside 1 to 10000; the instance's own VPC uses one (S06)."),
        );
    }
    match (known(&st.log_analysis), known(&st.log_storage_gb)) {
        (Some(false), Some(gb)) if gb != 0 => err("log_storage_gb", format!("{gb} GB given but log_analysis is false; it must be 0 (S07).")),
        (Some(true), Some(gb)) if gb < 1000 || gb % 1000 != 0 => {
            err("log_storage_gb", format!("{gb} GB: with log analysis on, log storage is at least 1000 GB in steps of 1000 GB (S07)."))
        }
        _ => {}
    }
    for (attr, v) in [
        ("subscription_months", &st.subscription_months),
        ("auto_renew_months", &st.auto_renew_months),
    ] {
        if let Some(m) = known(v) {
            if !MONTHS.contains(&m) {
                err(
                    attr,
                    format!("{m} is not one of 1, 2, 3, 6, 12, 24, 36 months (S09)."),
                );
            }
        }
    }
    if let Some(name) = s(&st.name) {
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_/+=.@-".contains(*c)))
        {
            err("name", format!("character {c:?} is not allowed: use letters, digits and _ / + = . @ - only (S21)."));
        } else if name.is_empty() || name.len() > 128 {
            err("name", "must be 1 to 128 characters (S21).".into());
        }
    }
    if known(&st.instance_backup) == Some(true)
        && s(&st.management_type).is_some_and(|m| m != "software")
    {
        err(
            "instance_backup",
            "instance backup is available for software key management instances only (S10).".into(),
        );
    }
    if let Some(t) = st.timeouts.as_ref_option() {
        for (op, v) in [
            ("create", &t.create),
            ("update", &t.update),
            ("delete", &t.delete),
        ] {
            if let Some(d) = s(v) {
                if parse_duration(d).is_none() {
                    diags.error(
                        "Invalid timeout",
                        format!("{d:?} is not a duration like \"60m\" or \"1h30m\"."),
                        path("timeouts").index(0).attribute(op),
                    );
                }
            }
        }
    }
    // S06: the own VPC, every further VPC and every shared account use one unit each.
    if let (Some(vpcs), Some(shared), Some(quota)) = (
        st.known_bound_vpcs(),
        st.known_shared(),
        known(&st.access_management_quota),
    ) {
        let own = s(&st.vpc_id);
        let extra = vpcs.iter().filter(|(v, _)| Some(v.as_str()) != own).count() as i64;
        let need = 1 + extra + shared.len() as i64;
        if need > quota {
            diags.error(
                "access_management_quota too small",
                format!(
                    "The instance's own VPC, {extra} further VPC(s) in bound_vpcs and {} shared account(s) need an access management quota of {need}, but access_management_quota is {quota} (S06). Raise it to {need} or more.",
                    shared.len()
                ),
                path("access_management_quota"),
            );
        }
        for (i, (v, _)) in vpcs.iter().enumerate() {
            if vpcs[..i].iter().any(|(o, _)| o == v) {
                diags.error(
                    "Duplicate VPC",
                    format!("{v} is listed twice in bound_vpcs."),
                    path("bound_vpcs"),
                );
            }
        }
    }
    match s(&st.management_type) {
        Some("software") => {
            if st.vpc_id.is_null() {
                diags.error(
                    "Missing vpc_id",
                    "A software instance is enabled in a VPC: set vpc_id (S20).",
                    path("vpc_id"),
                );
            }
            match &st.zones {
                Value::Null => diags.error("Missing zones", "A software instance needs at least its primary zone and vSwitch: zones = [{ zone_id = \"...\", vswitch_id = \"...\" }] (S20, S22).", path("zones")),
                Value::Value(z) if z.is_empty() => diags.error("Missing zones", "zones needs at least the primary zone with its vSwitch (S22).", path("zones")),
                Value::Value(z) if z.len() > 3 => diags.error("Too many zones", "A KMS instance spans at most 3 zones (S02, S22).", path("zones")),
                _ => {}
            }
            if let Some((zone_ids, _)) = st.requested_zones() {
                for (i, z) in zone_ids.iter().enumerate() {
                    if zone_ids[..i].contains(z) {
                        diags.error(
                            "Duplicate zone",
                            format!(
                                "zone {z} is listed twice across zones and other_zone_ids (S22)."
                            ),
                            path("zones"),
                        );
                    }
                }
                let wanted = match s(&st.deployment_mode) {
                    Some("single_zone") => Some(1),
                    Some("dual_zone") => Some(2),
                    Some("multi_zone") => Some(3),
                    _ => None,
                };
                if let Some(w) = wanted.filter(|w| zone_ids.len() > *w) {
                    diags.error(
                        "Too many zones",
                        format!(
                            "{} zones given but deployment_mode {:?} uses {w} (S02, S22).",
                            zone_ids.len(),
                            s(&st.deployment_mode).unwrap_or("")
                        ),
                        path("zones"),
                    );
                }
            }
        }
        Some(_) => {
            for attr in ["vpc_id", "zones", "other_zone_ids"] {
                let set = match attr {
                    "vpc_id" => st.vpc_id.is_value(),
                    "zones" => st.zones.is_value(),
                    _ => st.other_zone_ids.is_value(),
                };
                if set {
                    diags.error(
                        format!("{attr} is for software instances"),
                        format!("Hardware and external instances get their network from kms_hsm_binding or kms_external_proxy; remove {attr}."),
                        path(attr),
                    );
                }
            }
        }
        None => {}
    }
}

/// A diagnostic detail for an API error, with what to do next where we know.
fn detail(e: &ApiError) -> String {
    let hint = match e.code() {
        "SignatureDoesNotMatch" | "IncompleteSignature" => {
            "\nCheck the provider's secret_key (ALIBABA_CLOUD_ACCESS_KEY_SECRET)."
        }
        "InvalidAccessKeyId.NotFound" => {
            "\nCheck the provider's access_key (ALIBABA_CLOUD_ACCESS_KEY_ID)."
        }
        "InvalidVSwitchId.IpNotEnough" => {
            "\nPick a vSwitch with a free IP address in that zone (S20)."
        }
        "InvalidParameter.VSwitchZoneMismatch" => {
            "\nEach zones entry pairs a zone with a vSwitch in that zone (S22)."
        }
        "Forbidden.DeletionProtection" => {
            "\nThe instance has deletion protection on: set deletion_protection = false and apply first."
        }
        "Rejected.ShareQuotaExceedLimit" => {
            "\nRaise access_management_quota: the own VPC, each bound VPC and each shared account use one (S06)."
        }
        _ => "",
    };
    format!("{e}{hint}")
}

fn wait_detail(e: &WaitError, what: &str) -> String {
    match e {
        WaitError::Api(a) => detail(a),
        WaitError::Timeout { waited, last } => format!(
            "Waited {} for {what}; the instance is still {last}.",
            human(*waited)
        ),
        WaitError::Failed(s) => s.clone(),
    }
}

const PRIVATE_ZONE_HINT: &str = "An instance that stays Connecting is most often a cross-site purchase without PrivateZone activated (S23): \
a China-site account buying outside the Chinese mainland, or an international-site account buying inside it, must activate PrivateZone first. \
In the real cloud, activate it in the PrivateZone console; in mockcloud, set private_zone_activated for the account in the world file. \
Enablement then finishes on its own: run `terraform apply` again.";

impl InstanceResource {
    /// Drives the instance from wherever it is to its target: visible, connected (software),
    /// named. Used by create and, to resume an interrupted create, by update.
    async fn drive(
        &self,
        cfg: &Configured,
        st: &mut State<'_>,
        deadline: Instant,
    ) -> Result<InstanceInfo, String> {
        let client = &cfg.client;
        let id = s(&st.id).unwrap_or_default().to_string();
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let visible = until(remaining(), cfg.poll_interval, || async {
            Ok(match client.find_kms_instance(&id).await? {
                Some(info) => Poll::Done(info),
                None => Poll::Pending(
                    "not visible in KMS yet (purchases show after 1 to 5 minutes, S11)".into(),
                ),
            })
        })
        .await
        .map_err(|e| wait_detail(&e, "the purchased instance to appear"))?;

        let mut info = visible;
        if st.is_software() {
            // Uninitialized: never enabled. Error: the last enablement failed; try it again.
            if info.status == "Uninitialized" || info.status == "Error" {
                let (zone_ids, vswitch_ids) = st.requested_zones().ok_or("zones are not known")?;
                let vpc_id = s(&st.vpc_id).ok_or("vpc_id is not known")?.to_string();
                client
                    .connect_kms_instance(&id, &vpc_id, &zone_ids, &vswitch_ids)
                    .await
                    .map_err(|e| detail(&e))?;
            }
            info = until(remaining(), cfg.poll_interval, || async {
                Ok(match client.find_kms_instance(&id).await? {
                    Some(i) if i.status == "Connected" => Poll::Done(i),
                    Some(i) if i.status == "Error" || i.status == "Disconnected" => {
                        Poll::Failed(format!("Enablement of {id} ended in status {}.", i.status))
                    }
                    Some(i) => Poll::Pending(i.status),
                    None => Poll::Failed(format!("Instance {id} disappeared while being enabled.")),
                })
            })
            .await
            .map_err(|e| {
                let mut d = wait_detail(
                    &e,
                    "enablement (status Connected, about 30 minutes in the real cloud, S24)",
                );
                if matches!(&e, WaitError::Timeout { last, .. } if last == "Connecting") {
                    d.push_str("\n\n");
                    d.push_str(PRIVATE_ZONE_HINT);
                }
                d
            })?;
        }
        if let Some(name) = s(&st.name) {
            if name != info.name {
                client
                    .update_kms_instance_name(&id, name)
                    .await
                    .map_err(|e| detail(&e))?;
                info.name = name.to_string();
            }
        }
        Ok(info)
    }

    /// Applies upgrades and renewal changes between `prior` and `planned`, then waits until the
    /// instance reports the upgraded values.
    async fn modify(
        &self,
        cfg: &Configured,
        prior: &State<'_>,
        planned: &State<'_>,
        deadline: Instant,
    ) -> Result<(), String> {
        let client = &cfg.client;
        let id = s(&planned.id).unwrap_or_default().to_string();
        let changed = |a: &ValueNumber, b: &ValueNumber| known(b).filter(|v| known(a) != Some(*v));
        let order = UpgradeOrder {
            spec: changed(&prior.compute_performance, &planned.compute_performance),
            key_num: changed(&prior.key_quota, &planned.key_quota),
            secret_num: changed(&prior.secret_quota, &planned.secret_quota),
            vpc_num: changed(
                &prior.access_management_quota,
                &planned.access_management_quota,
            ),
            log: known(&planned.log_analysis).filter(|v| known(&prior.log_analysis) != Some(*v)),
            log_storage: changed(&prior.log_storage_gb, &planned.log_storage_gb),
        };
        if !order.is_empty() {
            client
                .modify_instance(&id, &order, &uuid::Uuid::new_v4().to_string())
                .await
                .map_err(|e| detail(&e))?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            until(remaining, cfg.poll_interval, || async {
                Ok(match client.find_kms_instance(&id).await? {
                    Some(i) if order.reached_by(&i) => Poll::Done(()),
                    Some(_) => Poll::Pending("upgrading".into()),
                    None => {
                        Poll::Failed(format!("Instance {id} disappeared while being upgraded."))
                    }
                })
            })
            .await
            .map_err(|e| wait_detail(&e, "the upgrade to show"))?;
        }
        if known(&prior.auto_renew) != known(&planned.auto_renew)
            || known(&prior.auto_renew_months) != known(&planned.auto_renew_months)
        {
            let auto = known(&planned.auto_renew).unwrap_or(false);
            let months = known(&planned.auto_renew_months).unwrap_or(1);
            client
                .set_renewal(&id, renewal_status(auto), months)
                .await
                .map_err(|e| detail(&e))?;
        }
        Ok(())
    }

    /// Deletion protection, further VPCs and shared accounts: sent when they differ from what
    /// the instance has (`prior`; `None` for a new instance, which has none of them).
    async fn access(
        &self,
        cfg: &Configured,
        prior: Option<&State<'_>>,
        planned: &State<'_>,
    ) -> Result<(), String> {
        let client = &cfg.client;
        let id = s(&planned.id).unwrap_or_default().to_string();
        let region = s(&planned.region).unwrap_or(&cfg.region).to_string();
        let prior_vpcs = prior.and_then(|p| p.known_bound_vpcs()).unwrap_or_default();
        let prior_shared = prior.and_then(|p| p.known_shared()).unwrap_or_default();
        let prior_protected = prior
            .and_then(|p| known(&p.deletion_protection))
            .unwrap_or(false);
        if let Some(vpcs) = planned.known_bound_vpcs() {
            if vpcs != prior_vpcs {
                client
                    .update_bind_vpcs(&id, &region, &vpcs)
                    .await
                    .map_err(|e| detail(&e))?;
            }
        }
        if let Some(shared) = planned.known_shared() {
            if shared != prior_shared {
                client
                    .update_share_accounts(&id, &shared)
                    .await
                    .map_err(|e| detail(&e))?;
            }
        }
        if let Some(protect) = known(&planned.deletion_protection) {
            if protect != prior_protected {
                client
                    .set_deletion_protection(&id, protect)
                    .await
                    .map_err(|e| detail(&e))?;
            }
        }
        Ok(())
    }

    /// Reads the instance back into `st`; Ok(false) when it is gone.
    async fn refresh(&self, cfg: &Configured, st: &mut State<'_>) -> Result<bool, ApiError> {
        let id = s(&st.id).unwrap_or_default().to_string();
        let bss = cfg.client.find_bss_instance(&id).await?;
        match cfg.client.find_kms_instance(&id).await? {
            Some(info) => {
                st.apply_info(&info, bss.as_ref());
                st.expired = bss.is_some_and(|b| b.status == "Expired");
                Ok(true)
            }
            // Sold but not shown by KMS yet (S11): not gone.
            None => Ok(bss.is_some()),
        }
    }
}

#[async_trait]
impl Resource for InstanceResource {
    type State<'a> = State<'a>;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let timeouts = Block {
            description: Description::plain("How long to wait for each operation."),
            attributes: [
                (
                    "create",
                    optional(
                        Kind::String,
                        "Create timeout (default `60m`): purchase, visibility and enablement.",
                    ),
                ),
                (
                    "update",
                    optional(Kind::String, "Update timeout (default `60m`)."),
                ),
                (
                    "delete",
                    optional(Kind::String, "Delete timeout (default `10m`)."),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            ..Default::default()
        };
        let attributes = [
            ("id", computed(Kind::String, "Instance id (`kst-…`).")),
            ("management_type", required(Kind::String, "`software`, `hardware` or `external` (S01). Changing it replaces the instance.")),
            ("region", optional_computed(Kind::String, "Region to buy in; defaults to the provider's. Changing it replaces the instance.")),
            ("deployment_mode", optional_computed(Kind::String, "`single_zone`, `dual_zone` or `multi_zone` (up to 3 zones). Single-zone regions (Manila, Bangkok) only allow and default to `single_zone`; elsewhere the default is `dual_zone` (S02). Changing it replaces the instance.")),
            ("compute_performance", required(Kind::Number, "Performance spec: 200, 1000, 2000 or 4000; N gives N symmetric and 0.15 x N asymmetric operations per second. 10000 and 20000 exist for software instances with a support entitlement (S03). Can only go up, in place.")),
            ("key_quota", optional_computed(Kind::Number, "Key quota in key *versions* (100 to 100000, default 1000, S04). Can only go up, in place.")),
            ("secret_quota", optional_computed(Kind::Number, "Secret quota (0 to 100000, default 0, S05). Can only go up, in place.")),
            ("access_management_quota", optional_computed(Kind::Number, "VPCs the instance is reachable from (its own included) plus accounts it is shared with (default 1, S06). Can only go up, in place.")),
            ("log_analysis", optional_computed(Kind::Bool, "Log analysis. Once enabled it can never be disabled (S07).")),
            ("log_storage_gb", optional_computed(Kind::Number, "Log storage in GB: 0 without log analysis, otherwise at least 1000 in steps of 1000 (S07). Can only go up.")),
            ("subscription_months", optional_computed(Kind::Number, "Subscription length in months: 1, 2, 3, 6, 12, 24 or 36 (default 1, S09). Used at purchase only; after import it is derived from the subscription dates.")),
            ("auto_renew", optional_computed(Kind::Bool, "Renew automatically on expiry (default false, S09). Updated in place (SetRenewal) and read back, so changes made outside Terraform show in the plan.")),
            ("auto_renew_months", optional_computed(Kind::Number, "Months of each automatic renewal: 1, 2, 3, 6, 12, 24 or 36 (default 1).")),
            ("instance_backup", optional_computed(Kind::Bool, "Value-added instance backup, for software instances only (S10). Every enabled software instance also gets free backups kept 90 days. Changing it replaces the instance.")),
            ("expert_service", optional_computed(Kind::Bool, "Value-added expert service (S10). Changing it replaces the instance.")),
            ("name", optional_computed(Kind::String, "Instance name: letters, digits and `_ / + = . @ -` (S21). Defaults to the id. Updated in place.")),
            ("vpc_id", optional_computed(Kind::String, "Software: the VPC the instance is enabled in (required; changing it replaces the instance). Hardware and external: computed.")),
            ("other_zone_ids", optional_computed(Kind::ListOfString, "Further zones without a vSwitch of their own, up to the deployment mode's count. Omitted zones are assigned at random by the cloud and reported here (S22). Changing it replaces the instance.")),
            ("status", computed(Kind::String, "`Uninitialized`, `Connecting`, `Connected`, `Disconnected` or `Error`.")),
            ("zone_ids", computed(Kind::ListOfString, "Every zone of the instance, primary first.")),
            ("vswitch_ids", computed(Kind::ListOfString, "The vSwitches of the instance.")),
            ("endpoint", computed(Kind::String, "Private endpoint of the instance's data plane.")),
            ("ca_certificate_pem", computed(Kind::String, "CA certificate chain that clients of the instance endpoint trust.")),
            ("start_time", computed(Kind::String, "Subscription start (ISO 8601).")),
            ("end_time", computed(Kind::String, "Subscription end (ISO 8601).")),
        ];
        let mut attributes: std::collections::HashMap<String, _> = attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        attributes.insert(
            "bound_vpcs".into(),
            object_list(
                AttributeConstraint::OptionalComputed,
                "Further VPCs of the account, in the instance's region, that can reach the instance: `{ vpc_id, vswitch_id }` pairs (UpdateKmsInstanceBindVpc, which replaces the whole list). Each uses one unit of `access_management_quota` (S06). Left out means none. Updated in place.",
                &["vpc_id", "vswitch_id"],
            ),
        );
        attributes.insert(
            "shared_account_ids".into(),
            optional_computed(
                Kind::SetOfString,
                "Accounts the instance is shared with; each uses one unit of `access_management_quota` (S06). Left out means none. Updated in place.",
            ),
        );
        attributes.insert(
            "deletion_protection".into(),
            optional_computed(
                Kind::Bool,
                "Refuse deletion while true (SetDeletionProtection): `terraform destroy` fails naming this attribute until it is set to false and applied. Default false.",
            ),
        );
        attributes.insert(
            "zones".into(),
            object_list(
                AttributeConstraint::OptionalComputed,
                "Software: ordered `{ zone_id, vswitch_id }` pairs, the first is the primary zone (S22). `zone_id` must belong to the region; `vswitch_id` is a vSwitch of `vpc_id` in that zone with at least one free IP address (S20). Changing them replaces the instance. Hardware and external: computed.",
                &["zone_id", "vswitch_id"],
            ),
        );
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown("A KMS instance: bought through BssOpenApi and, for software key management, enabled in a VPC. Create waits until the instance is `Connected`."),
                attributes,
                blocks: [("timeouts".to_string(), NestedBlock::Optional(timeouts))].into_iter().collect(),
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        check_config(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Self::State<'a>,
        private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        if !state.id.is_value() {
            return None;
        }
        let mut st = state;
        match self.refresh(&cfg, &mut st).await {
            Ok(true) => {
                if st.expired {
                    diags.root_warning(
                        format!("KMS instance {} has expired", s(&st.id).unwrap_or_default()),
                        format!(
                            "Its subscription ended at {} without automatic renewal: it serves no cryptographic operation and cannot be changed until it is renewed (S09, S52). Set auto_renew = true for instances that must not lapse.",
                            s(&st.end_time).unwrap_or("its end time")
                        ),
                    );
                }
                Some((st, private_state))
            }
            Ok(false) => None,
            Err(e) => {
                diags.root_error("Read KMS instance failed", detail(&e));
                Some((st, private_state))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let mut st = proposed_state;
        if st.region.is_null() {
            st.region = match self.shared.get() {
                Some(c) => text(c.region.clone()),
                None => Value::Unknown,
            };
        }
        st.apply_defaults();
        st.mark_computed_unknown();
        let _ = diags;
        Some((st, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        proposed_state: Self::State<'a>,
        config_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let mut st = proposed_state;
        let prior = &prior_state;
        // Renewal settings left out of the configuration mean the defaults, not "whatever the
        // cloud has": a change made outside Terraform then shows in the plan. Quotas left out
        // keep what the instance has, since they can only go up.
        if config_state.auto_renew.is_null() {
            st.auto_renew = Value::Value(false);
        }
        if config_state.auto_renew_months.is_null() {
            st.auto_renew_months = Value::Value(1);
        }
        if config_state.deletion_protection.is_null() {
            st.deletion_protection = Value::Value(false);
        }
        if config_state.bound_vpcs.is_null() {
            st.bound_vpcs = Value::Value(Vec::new());
        }
        if config_state.shared_account_ids.is_null() {
            st.shared_account_ids = Value::Value(Default::default());
        }
        st.apply_defaults();
        let mut replace = Vec::new();
        replace_if_changed(
            "management_type",
            &prior.management_type,
            &st.management_type,
            &mut replace,
        );
        replace_if_changed("region", &prior.region, &st.region, &mut replace);
        replace_if_changed(
            "deployment_mode",
            &prior.deployment_mode,
            &st.deployment_mode,
            &mut replace,
        );
        replace_if_changed(
            "instance_backup",
            &prior.instance_backup,
            &st.instance_backup,
            &mut replace,
        );
        replace_if_changed(
            "expert_service",
            &prior.expert_service,
            &st.expert_service,
            &mut replace,
        );
        if st.is_software() {
            replace_if_changed("vpc_id", &prior.vpc_id, &st.vpc_id, &mut replace);
            replace_if_changed("zones", &prior.zones, &st.zones, &mut replace);
            if config_state.other_zone_ids.is_null() {
                st.other_zone_ids = prior.other_zone_ids.clone();
            } else {
                replace_if_changed(
                    "other_zone_ids",
                    &prior.other_zone_ids,
                    &st.other_zone_ids,
                    &mut replace,
                );
            }
        }
        if !replace.is_empty() {
            // A new instance: everything computed is known only after the apply.
            let keep = st.clone();
            st.id = Value::Unknown;
            st.status = Value::Unknown;
            st.zone_ids = Value::Unknown;
            st.vswitch_ids = Value::Unknown;
            st.endpoint = Value::Unknown;
            st.ca_certificate_pem = Value::Unknown;
            st.start_time = Value::Unknown;
            st.end_time = Value::Unknown;
            if config_state.name.is_null() {
                st.name = Value::Unknown;
            }
            if config_state.deployment_mode.is_null() {
                st.deployment_mode = Value::Unknown;
            }
            if config_state.other_zone_ids.is_null() {
                st.other_zone_ids = Value::Unknown;
            }
            if !keep.is_software() {
                st.vpc_id = Value::Unknown;
                st.zones = Value::Unknown;
            }
            return Some((st, prior_private_state, replace));
        }

        // In place: quotas only go up (S12), log analysis stays on (S07).
        for (attr, before, after) in [
            (
                "compute_performance",
                &prior.compute_performance,
                &st.compute_performance,
            ),
            ("key_quota", &prior.key_quota, &st.key_quota),
            ("secret_quota", &prior.secret_quota, &st.secret_quota),
            (
                "access_management_quota",
                &prior.access_management_quota,
                &st.access_management_quota,
            ),
            ("log_storage_gb", &prior.log_storage_gb, &st.log_storage_gb),
        ] {
            if let (Some(b), Some(a)) = (known(before), known(after)) {
                if a < b {
                    diags.error(
                        format!("{attr} cannot go down"),
                        format!("The instance has {attr} = {b}; quotas and performance can only be raised by an upgrade (S12). Keep {b} or more, or replace the instance."),
                        AttributePath::new(attr),
                    );
                }
            }
        }
        if known(&prior.log_analysis) == Some(true) && known(&st.log_analysis) == Some(false) {
            diags.error(
                "log_analysis cannot be disabled",
                "Log analysis, once enabled, can never be disabled (S07). Set log_analysis = true.",
                AttributePath::new("log_analysis"),
            );
        }
        if known(&prior.subscription_months).is_some()
            && known(&prior.subscription_months) != known(&st.subscription_months)
        {
            diags.warning(
                "subscription_months applies to the purchase only",
                "Changing it records the new value but buys nothing; the length of automatic renewals is auto_renew_months.",
                AttributePath::new("subscription_months"),
            );
        }
        // An instance whose create was interrupted (Uninitialized, Connecting, Error) is driven
        // on to Connected by the update: its computed network attributes may change.
        if st.is_software() && s(&prior.status) != Some("Connected") {
            st.status = Value::Unknown;
            st.zone_ids = Value::Unknown;
            st.vswitch_ids = Value::Unknown;
            st.ca_certificate_pem = Value::Unknown;
            if config_state.other_zone_ids.is_null() {
                st.other_zone_ids = Value::Unknown;
            }
        }
        if config_state.name.is_null() && prior.name.is_value() {
            st.name = prior.name.clone();
        }
        Some((st, prior_private_state, vec![]))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        Some(prior_private_state)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        planned_private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let mut st = planned_state;
        let deadline = Instant::now() + st.timeout("create", Duration::from_secs(3600));
        let order = st.purchase_order(&cfg.region);
        // One token for the whole create: a retried purchase never buys twice.
        let token = uuid::Uuid::new_v4().to_string();
        let id = match cfg.client.create_instance(&order, &token).await {
            Ok(id) => id,
            Err(e) => {
                diags.root_error(
                    "Create KMS instance failed: the purchase was refused",
                    detail(&e),
                );
                return None;
            }
        };
        st.id = text(id.clone());
        let result = match self.drive(&cfg, &mut st, deadline).await {
            Ok(_) => match self.access(&cfg, None, &st).await {
                Ok(()) => cfg
                    .client
                    .find_kms_instance(&id)
                    .await
                    .ok()
                    .flatten()
                    .ok_or_else(|| format!("Instance {id} could not be read back.")),
                Err(e) => Err(e),
            },
            other => other,
        };
        let bss = cfg.client.find_bss_instance(&id).await.ok().flatten();
        match result {
            Ok(info) => {
                st.apply_info(&info, bss.as_ref());
                Some((st, planned_private_state))
            }
            Err(msg) => {
                if let Ok(Some(info)) = cfg.client.find_kms_instance(&id).await {
                    st.apply_info(&info, bss.as_ref());
                }
                st.nullify_unknowns();
                diags.root_error(
                    format!("Create KMS instance {id} failed after the purchase"),
                    format!("{msg}\n\n{RESUME_ADVICE}"),
                );
                Some((st, planned_private_state))
            }
        }
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        planned_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        planned_private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let mut st = planned_state;
        let id = s(&st.id).unwrap_or_default().to_string();
        let deadline = Instant::now() + st.timeout("update", Duration::from_secs(3600));
        let result = match self.drive(&cfg, &mut st, deadline).await {
            Ok(_) => match self.modify(&cfg, &prior_state, &st, deadline).await {
                Ok(()) => self.access(&cfg, Some(&prior_state), &st).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let mut fresh = st.clone();
        let refreshed = self.refresh(&cfg, &mut fresh).await;
        if let Err(msg) = result {
            diags.root_error(format!("Update KMS instance {id} failed"), msg);
            if matches!(refreshed, Ok(true)) {
                return Some((fresh, planned_private_state));
            }
            let mut prior = prior_state;
            prior.nullify_unknowns();
            return Some((prior, planned_private_state));
        }
        match refreshed {
            Ok(true) => Some((fresh, planned_private_state)),
            Ok(false) => {
                diags.root_error(
                    format!("Update KMS instance {id} failed"),
                    "The instance disappeared during the update.",
                );
                None
            }
            Err(e) => {
                diags.root_error(
                    format!("Update KMS instance {id}: reading it back failed"),
                    detail(&e),
                );
                st.nullify_unknowns();
                Some((st, planned_private_state))
            }
        }
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        _planned_private_state: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        let cfg = self.shared.require(diags)?;
        let id = s(&prior_state.id).unwrap_or_default().to_string();
        if known(&prior_state.deletion_protection) == Some(true) {
            diags.error(
                format!("Delete KMS instance {id} refused: deletion protection is on"),
                "Set deletion_protection = false and apply, then destroy (or remove the resource from the configuration).",
                AttributePath::new("deletion_protection"),
            );
            return None;
        }
        let timeout = prior_state.timeout("delete", Duration::from_secs(600));
        if let Err(e) = cfg
            .client
            .refund_instance(&id, &uuid::Uuid::new_v4().to_string())
            .await
        {
            diags.root_error(format!("Delete KMS instance {id} failed"), detail(&e));
            return None;
        }
        let client = &cfg.client;
        let gone = until(timeout, cfg.poll_interval, || async {
            let kms = client.find_kms_instance(&id).await?;
            let bss = client.find_bss_instance(&id).await?;
            Ok(match (kms, bss) {
                (None, None) => Poll::Done(()),
                (Some(i), _) => Poll::Pending(format!("still listed by KMS ({})", i.status)),
                (None, Some(_)) => Poll::Pending("still listed by BSS".into()),
            })
        })
        .await;
        if let Err(e) = gone {
            diags.root_error(
                format!("Delete KMS instance {id}: refunded, but it did not go away"),
                wait_detail(&e, "the instance to be released"),
            );
            return None;
        }
        Some(())
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        if !id.starts_with("kst-") {
            diags.root_error("Invalid import id", format!("{id:?} is not a KMS instance id; import with the instance id, e.g. kst-hzz62d8f5e0sgtx8h0000."));
            return None;
        }
        let st = State {
            id: Value::Value(Cow::Owned(id)),
            ..Default::default()
        };
        Some((st, ValueEmpty::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> State<'static> {
        State {
            management_type: text("software"),
            compute_performance: Value::Value(1000),
            vpc_id: text("vpc-1"),
            zones: Value::Value(vec![Value::Value(Zone {
                zone_id: text("cn-hangzhou-k"),
                vswitch_id: text("vsw-1"),
            })]),
            ..Default::default()
        }
    }

    fn errors_of(st: &State) -> Vec<String> {
        let mut d = Diagnostics::default();
        check_config(st, &mut d);
        d.errors
            .iter()
            .map(|e| format!("{} {}", e.summary, e.detail))
            .collect()
    }

    #[test]
    fn valid_config_passes_and_unknowns_pass() {
        assert!(errors_of(&config()).is_empty());
        let st = State {
            compute_performance: Value::Unknown,
            key_quota: Value::Unknown,
            ..config()
        };
        assert!(errors_of(&st).is_empty());
    }

    #[test]
    fn bad_values_are_refused_naming_the_attribute_and_rule() {
        let st = State {
            compute_performance: Value::Value(300),
            ..config()
        };
        assert!(errors_of(&st)[0].contains("compute_performance"));
        let st = State {
            log_analysis: Value::Value(true),
            log_storage_gb: Value::Value(1500),
            ..config()
        };
        assert!(errors_of(&st)[0].contains("S07"));
        let st = State {
            name: text("bad name"),
            ..config()
        };
        assert!(errors_of(&st)[0].contains("S21"));
        let st = State {
            vpc_id: Value::Null,
            ..config()
        };
        assert!(errors_of(&st)[0].contains("vpc_id"));
    }

    #[test]
    fn subscription_months_are_derived_from_dates() {
        assert_eq!(
            months_between("2026-01-01T00:00:00Z", "2026-12-27T00:00:00Z"),
            Some(12)
        );
        assert_eq!(
            months_between("2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z"),
            Some(1)
        );
    }
}
