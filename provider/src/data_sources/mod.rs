//! One file per data source: read-only views of KMS instances and of the zones and vSwitches an
//! instance can be enabled in. Data sources call typed lookups in `client` and never build
//! requests themselves.
//!
//! Lists of objects are plain `list(object({...}))` attributes: tf-provider 0.2 sends nested
//! attribute types with both `type` and `nested_type`, which Terraform refuses, and blocks cannot
//! be computed. The fields of those objects are declared once, as [`Field`] tables, which give
//! both the attribute type and the generated documentation.

pub mod instance;
pub mod instances;
pub mod zones;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Description, Schema};
use tf_provider::value::{Value, ValueBool, ValueList, ValueNumber, ValueString};
use tf_provider::{DataSource, Diagnostics, DynamicDataSource};

use crate::client::kms::InstanceInfo;
use crate::client::lookup::Renewal;
use crate::client::ApiError;
use crate::provider::{text, Shared};

/// The type of a field of an object in a list attribute.
pub enum FieldKind {
    String,
    Number,
    Bool,
    ListOfString,
    /// A list of objects with these fields.
    Objects(&'static [Field]),
}

/// A field of an object in a list attribute, with its documentation.
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
    pub doc: &'static str,
}

impl FieldKind {
    pub fn ty(&self) -> AttributeType {
        match self {
            FieldKind::String => AttributeType::String,
            FieldKind::Number => AttributeType::Number,
            FieldKind::Bool => AttributeType::Bool,
            FieldKind::ListOfString => AttributeType::List(Box::new(AttributeType::String)),
            FieldKind::Objects(fields) => list_of_objects(fields),
        }
    }
}

/// `list(object({...}))` with these fields.
pub fn list_of_objects(fields: &[Field]) -> AttributeType {
    let fields: HashMap<String, AttributeType> = fields
        .iter()
        .map(|f| (f.name.to_string(), f.kind.ty()))
        .collect();
    AttributeType::List(Box::new(AttributeType::Object(fields)))
}

pub fn attribute(ty: AttributeType, constraint: AttributeConstraint, doc: &str) -> Attribute {
    Attribute {
        attr_type: ty,
        description: Description::markdown(doc),
        constraint,
        sensitive: false,
        deprecated: false,
    }
}

/// Management types and statuses, for plan-time checks of filters.
pub const MANAGEMENT_TYPES: [&str; 3] = ["software", "hardware", "external"];
pub const STATUSES: [&str; 5] = [
    "Uninitialized",
    "Connecting",
    "Connected",
    "Disconnected",
    "Error",
];

/// What the `kms_instance` data source returns and each element of `kms_instances.instances`.
/// The order and names match [`InstanceView`]'s fields (a test checks it).
pub const INSTANCE_FIELDS: &[Field] = &[
    Field { name: "id", kind: FieldKind::String, doc: "Instance id (`kst-…`)." },
    Field { name: "name", kind: FieldKind::String, doc: "Instance name." },
    Field { name: "status", kind: FieldKind::String, doc: "`Uninitialized`, `Connecting`, `Connected`, `Disconnected` or `Error`." },
    Field { name: "management_type", kind: FieldKind::String, doc: "`software`, `hardware` or `external`." },
    Field { name: "region", kind: FieldKind::String, doc: "Region the instance was bought in." },
    Field { name: "deployment_mode", kind: FieldKind::String, doc: "`single_zone`, `dual_zone` or `multi_zone`; null when the endpoint does not report it." },
    Field { name: "compute_performance", kind: FieldKind::Number, doc: "Performance spec (200, 1000, 2000, 4000, …)." },
    Field { name: "key_quota", kind: FieldKind::Number, doc: "Key quota in key versions." },
    Field { name: "secret_quota", kind: FieldKind::Number, doc: "Secret quota." },
    Field { name: "access_management_quota", kind: FieldKind::Number, doc: "VPCs plus shared accounts the instance may serve." },
    Field { name: "log_analysis", kind: FieldKind::Bool, doc: "Whether log analysis is on." },
    Field { name: "log_storage_gb", kind: FieldKind::Number, doc: "Log storage in GB." },
    Field { name: "vpc_id", kind: FieldKind::String, doc: "VPC the instance is enabled in; null before enablement." },
    Field { name: "zone_ids", kind: FieldKind::ListOfString, doc: "Zones of the instance, primary first; empty before enablement." },
    Field { name: "vswitch_ids", kind: FieldKind::ListOfString, doc: "vSwitches of the instance." },
    Field { name: "endpoint", kind: FieldKind::String, doc: "Private endpoint of the instance's data plane (`<id>.cryptoservice.kms.aliyuncs.com`)." },
    Field { name: "ca_certificate_pem", kind: FieldKind::String, doc: "CA certificate chain clients of the endpoint trust; null before enablement." },
    Field { name: "start_time", kind: FieldKind::String, doc: "Subscription start (ISO 8601)." },
    Field { name: "end_time", kind: FieldKind::String, doc: "Subscription end (ISO 8601)." },
    Field { name: "deletion_protection", kind: FieldKind::Bool, doc: "Whether deletion protection is on." },
    Field { name: "auto_renew", kind: FieldKind::Bool, doc: "Whether the subscription renews automatically (BSS); null when the BSS does not list the purchase." },
    Field { name: "auto_renew_months", kind: FieldKind::Number, doc: "Months of each automatic renewal (BSS); null when the BSS does not list the purchase." },
];

/// One KMS instance as the data sources show it. Field names are the attribute names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceView<'a> {
    pub id: ValueString<'a>,
    pub name: ValueString<'a>,
    pub status: ValueString<'a>,
    pub management_type: ValueString<'a>,
    pub region: ValueString<'a>,
    pub deployment_mode: ValueString<'a>,
    pub compute_performance: ValueNumber,
    pub key_quota: ValueNumber,
    pub secret_quota: ValueNumber,
    pub access_management_quota: ValueNumber,
    pub log_analysis: ValueBool,
    pub log_storage_gb: ValueNumber,
    pub vpc_id: ValueString<'a>,
    pub zone_ids: ValueList<ValueString<'a>>,
    pub vswitch_ids: ValueList<ValueString<'a>>,
    pub endpoint: ValueString<'a>,
    pub ca_certificate_pem: ValueString<'a>,
    pub start_time: ValueString<'a>,
    pub end_time: ValueString<'a>,
    pub deletion_protection: ValueBool,
    pub auto_renew: ValueBool,
    pub auto_renew_months: ValueNumber,
}

/// Text, or null when the API sent nothing.
fn text_or_null<'a>(s: &str) -> ValueString<'a> {
    if s.is_empty() {
        Value::Null
    } else {
        text(s)
    }
}

fn strings<'a>(v: &[String]) -> ValueList<ValueString<'a>> {
    Value::Value(v.iter().map(|x| text(x.clone())).collect())
}

/// BSS `ProductVersion` to the management type (`1` hardware, `external` external, else software).
pub fn management_type(product_version: &str) -> &'static str {
    match product_version {
        "1" => "hardware",
        "external" => "external",
        _ => "software",
    }
}

impl InstanceView<'static> {
    /// The view of an instance from GetKmsInstance and its BSS renewal settings. The region is
    /// the BSS's, else the instance ARN's, else `fallback_region` (the region that was listed).
    pub fn from_api(i: &InstanceInfo, renewal: Option<&Renewal>, fallback_region: &str) -> Self {
        let region = renewal
            .map(|r| r.region.as_str())
            .filter(|r| !r.is_empty())
            .or(Some(i.arn_region.as_str()).filter(|r| !r.is_empty()))
            .unwrap_or(fallback_region);
        InstanceView {
            id: text(&i.id),
            name: text(&i.name),
            status: text(&i.status),
            management_type: text(management_type(&i.product_version)),
            region: text_or_null(region),
            deployment_mode: i.deployment_mode.as_deref().map_or(Value::Null, text),
            compute_performance: Value::Value(i.spec),
            key_quota: Value::Value(i.key_num),
            secret_quota: Value::Value(i.secret_num),
            access_management_quota: Value::Value(i.vpc_num),
            log_analysis: Value::Value(i.log),
            log_storage_gb: Value::Value(i.log_storage),
            vpc_id: text_or_null(&i.vpc_id),
            zone_ids: strings(&i.zone_ids),
            vswitch_ids: strings(&i.vswitch_ids),
            endpoint: text(format!("{}.cryptoservice.kms.aliyuncs.com", i.id)),
            ca_certificate_pem: text_or_null(&i.ca_certificate_pem),
            start_time: text_or_null(&i.start_date),
            end_time: text_or_null(&i.end_date),
            deletion_protection: Value::Value(i.deletion_protection),
            auto_renew: renewal.map_or(Value::Null, |r| {
                Value::Value(r.renew_status == "AutoRenewal")
            }),
            auto_renew_months: renewal.map_or(Value::Null, |r| Value::Value(r.renewal_duration)),
        }
    }
}

/// A diagnostic detail for an API error, with what to do next where we know.
pub fn detail(e: &ApiError) -> String {
    let hint = match e.code() {
        "SignatureDoesNotMatch" | "IncompleteSignature" => {
            "\nCheck the provider's secret_key (ALIBABA_CLOUD_ACCESS_KEY_SECRET)."
        }
        "InvalidAccessKeyId.NotFound" => {
            "\nCheck the provider's access_key (ALIBABA_CLOUD_ACCESS_KEY_ID)."
        }
        "InvalidRegionId.NotFound" => "\nCheck `region` (or the provider's region).",
        _ => "",
    };
    format!("{e}{hint}")
}

/// The `region` argument, or the provider's.
pub fn region_or_default(region: &ValueString, default: &str) -> String {
    region
        .as_ref_option()
        .map(|r| r.to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A data source with what its documentation page needs.
pub struct Documented {
    /// The name without the `kms_` prefix, as registered.
    pub name: &'static str,
    /// One line for the page's front matter.
    pub summary: &'static str,
    pub schema: Schema,
    /// List-of-object attributes and the fields of their objects.
    pub nested: Vec<(&'static str, &'static [Field])>,
}

/// Every data source, documented, for `docs/data-sources/`.
pub fn documented() -> Vec<Documented> {
    let mut diags = Diagnostics::default();
    let shared = Shared::default();
    let schema = |s: Option<Schema>| s.expect("data source schema");
    vec![
        Documented {
            name: "instance",
            summary: "One KMS instance by id.",
            schema: schema(DataSource::schema(
                &instance::InstanceDataSource::new(shared.clone()),
                &mut diags,
            )),
            nested: vec![],
        },
        Documented {
            name: "instances",
            summary: "The KMS instances of a region, filtered.",
            schema: schema(DataSource::schema(
                &instances::InstancesDataSource::new(shared.clone()),
                &mut diags,
            )),
            nested: vec![("instances", INSTANCE_FIELDS)],
        },
        Documented {
            name: "zones",
            summary: "The zones of a region with their vSwitches and free IP addresses.",
            schema: schema(DataSource::schema(
                &zones::ZonesDataSource::new(shared),
                &mut diags,
            )),
            nested: vec![
                ("zones", zones::ZONE_FIELDS),
                ("vswitches", zones::VSWITCH_FIELDS),
            ],
        },
    ]
}

/// The provider's data sources by name (without the `kms_` prefix).
pub fn all(shared: &Shared) -> HashMap<String, Box<dyn DynamicDataSource>> {
    let mut m: HashMap<String, Box<dyn DynamicDataSource>> = HashMap::new();
    m.insert(
        "instance".into(),
        Box::new(instance::InstanceDataSource::new(shared.clone())),
    );
    m.insert(
        "instances".into(),
        Box::new(instances::InstancesDataSource::new(shared.clone())),
    );
    m.insert(
        "zones".into(),
        Box::new(zones::ZonesDataSource::new(shared.clone())),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::kms::InstanceInfo;

    /// The object type declared from a field table must have exactly the keys the view
    /// serialises, or Terraform refuses the value.
    pub fn assert_fields_match<T: Serialize>(fields: &[Field], value: &T) {
        let json = serde_json::to_value(value).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut declared: Vec<&str> = fields.iter().map(|f| f.name).collect();
        let mut keys = keys;
        keys.sort();
        declared.sort();
        assert_eq!(keys, declared);
    }

    #[test]
    fn instance_fields_match_the_view() {
        assert_fields_match(INSTANCE_FIELDS, &InstanceView::default());
    }

    #[test]
    fn view_prefers_the_bss_region_then_the_arn_and_nulls_what_is_absent() {
        let d = InstanceInfo {
            id: "kst-1".into(),
            product_version: "1".into(),
            arn_region: "cn-shanghai".into(),
            deletion_protection: true,
            ..Default::default()
        };
        let v = InstanceView::from_api(&d, None, "cn-hangzhou");
        assert_eq!(v.region, text("cn-shanghai"));
        assert_eq!(v.management_type, text("hardware"));
        assert_eq!(v.endpoint, text("kst-1.cryptoservice.kms.aliyuncs.com"));
        assert_eq!(v.vpc_id, Value::Null);
        assert_eq!(v.ca_certificate_pem, Value::Null);
        assert_eq!(v.auto_renew, Value::Null);
        assert_eq!(v.deletion_protection, Value::Value(true));
        let r = Renewal {
            id: "kst-1".into(),
            region: "ap-southeast-1".into(),
            renew_status: "AutoRenewal".into(),
            renewal_duration: 6,
        };
        let v = InstanceView::from_api(&d, Some(&r), "cn-hangzhou");
        assert_eq!(v.region, text("ap-southeast-1"));
        assert_eq!(v.auto_renew, Value::Value(true));
        assert_eq!(v.auto_renew_months, Value::Value(6));
    }
}
