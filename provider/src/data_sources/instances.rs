//! `kms_instances` (data source): the instances of a region (ListKmsInstances, every page), each
//! read with GetKmsInstance and filtered here by name, management type and status, so the
//! filters mean the same against any endpoint. Renewal settings come from one paged BSS
//! QueryAvailableInstances for the region.

use std::collections::HashMap;

use async_trait::async_trait;
use regex::Regex;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueEmpty, ValueList, ValueString};
use tf_provider::{AttributePath, DataSource, Diagnostics};

use super::{
    attribute, detail, list_of_objects, region_or_default, InstanceView, INSTANCE_FIELDS,
    MANAGEMENT_TYPES, STATUSES,
};
use crate::provider::{text, Shared};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub name_regex: ValueString<'a>,
    pub management_type: ValueString<'a>,
    pub status: ValueString<'a>,
    pub region: ValueString<'a>,
    pub ids: ValueList<ValueString<'a>>,
    pub instances: ValueList<Value<InstanceView<'a>>>,
}

pub struct InstancesDataSource {
    shared: Shared,
}

impl InstancesDataSource {
    pub fn new(shared: Shared) -> Self {
        InstancesDataSource { shared }
    }
}

fn known<'a>(v: &'a ValueString) -> Option<&'a str> {
    v.as_ref_option().map(|c| c.as_ref())
}

/// The filters of a configuration, checked; errors name the attribute.
struct Filters {
    name: Option<Regex>,
    management_type: Option<String>,
    status: Option<String>,
}

impl Filters {
    fn parse(st: &State, diags: &mut Diagnostics) -> Option<Filters> {
        let mut ok = true;
        let name = match known(&st.name_regex).map(Regex::new) {
            Some(Ok(re)) => Some(re),
            Some(Err(e)) => {
                diags.error(
                    "Invalid name_regex",
                    format!("not a regular expression (Rust `regex` syntax): {e}"),
                    AttributePath::new("name_regex"),
                );
                ok = false;
                None
            }
            None => None,
        };
        let mut one_of = |attr: &'static str, v: &ValueString, allowed: &[&str]| {
            let v = known(v)?;
            if !allowed.contains(&v) {
                diags.error(
                    format!("Invalid {attr}"),
                    format!("{v:?} is not one of {}.", allowed.join(", ")),
                    AttributePath::new(attr),
                );
                ok = false;
            }
            Some(v.to_string())
        };
        let management_type = one_of("management_type", &st.management_type, &MANAGEMENT_TYPES);
        let status = one_of("status", &st.status, &STATUSES);
        ok.then_some(Filters {
            name,
            management_type,
            status,
        })
    }

    fn keep(&self, v: &InstanceView) -> bool {
        let is = |want: &Option<String>, got: &ValueString| {
            want.as_deref().is_none_or(|w| known(got) == Some(w))
        };
        self.name
            .as_ref()
            .is_none_or(|re| re.is_match(known(&v.name).unwrap_or_default()))
            && is(&self.management_type, &v.management_type)
            && is(&self.status, &v.status)
    }
}

#[async_trait]
impl DataSource for InstancesDataSource {
    type State<'a> = State<'a>;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeConstraint::{Computed, Optional, OptionalComputed};
        let string = || AttributeType::String;
        let attributes = [
            ("name_regex", attribute(string(), Optional, "Keep instances whose name matches this regular expression (Rust `regex` syntax, unanchored: use `^…$` for a whole name).")),
            ("management_type", attribute(string(), Optional, "Keep instances of this management type: `software`, `hardware` or `external`.")),
            ("status", attribute(string(), Optional, "Keep instances in this status: `Uninitialized`, `Connecting`, `Connected`, `Disconnected` or `Error`.")),
            ("region", attribute(string(), OptionalComputed, "Region to list; defaults to the provider's.")),
            ("ids", attribute(AttributeType::List(Box::new(string())), Computed, "Ids of the matching instances, sorted.")),
            ("instances", attribute(list_of_objects(INSTANCE_FIELDS), Computed, "The matching instances, sorted by id, with the attributes of the `kms_instance` data source (below).")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "Lists the KMS instances of a region with their details, optionally filtered by name, management type and status.",
                ),
                attributes,
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        Filters::parse(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let cfg = self.shared.require(diags)?;
        let filters = Filters::parse(&config, diags)?;
        let region = region_or_default(&config.region, &cfg.region);
        let client = &cfg.client;
        let fail = |diags: &mut Diagnostics, e| {
            diags.root_error(
                format!("Listing the KMS instances of {region} failed"),
                detail(e),
            );
        };
        let mut ids = match client.list_kms_instance_ids(&region).await {
            Ok(ids) => ids,
            Err(e) => {
                fail(diags, &e);
                return None;
            }
        };
        ids.sort();
        ids.dedup();
        let renewals: HashMap<String, _> = match client.renewals_in(&region).await {
            Ok(list) => list.into_iter().map(|r| (r.id.clone(), r)).collect(),
            Err(e) => {
                fail(diags, &e);
                return None;
            }
        };
        let mut found = Vec::new();
        for id in &ids {
            let d = match client.get_kms_instance_detail(id).await {
                Ok(d) => d,
                // Released between the list and the read: not an instance any more.
                Err(e) if e.is_instance_not_found() => continue,
                Err(e) => {
                    fail(diags, &e);
                    return None;
                }
            };
            let view = InstanceView::from_api(&d, renewals.get(id), &region);
            if filters.keep(&view) {
                found.push(view);
            }
        }
        let mut st = config;
        st.region = text(region);
        st.ids = Value::Value(found.iter().map(|v| v.id.clone()).collect());
        st.instances = Value::Value(found.into_iter().map(Value::Value).collect());
        Some(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, management_type: &str, status: &str) -> InstanceView<'static> {
        InstanceView {
            name: text(name),
            management_type: text(management_type),
            status: text(status),
            ..Default::default()
        }
    }

    fn errors(st: &State) -> Vec<String> {
        let mut d = Diagnostics::default();
        Filters::parse(st, &mut d);
        d.errors
            .iter()
            .map(|e| format!("{} {}", e.summary, e.detail))
            .collect()
    }

    #[test]
    fn filters_combine_and_the_regex_is_unanchored() {
        let mut d = Diagnostics::default();
        let st = State {
            name_regex: text("^app-"),
            status: text("Connected"),
            ..Default::default()
        };
        let f = Filters::parse(&st, &mut d).unwrap();
        assert!(f.keep(&view("app-1", "software", "Connected")));
        assert!(!f.keep(&view("my-app-1", "software", "Connected")));
        assert!(!f.keep(&view("app-1", "software", "Connecting")));
        let st = State {
            name_regex: text("prod"),
            management_type: text("hardware"),
            ..Default::default()
        };
        let f = Filters::parse(&st, &mut d).unwrap();
        assert!(f.keep(&view("eu-prod-2", "hardware", "Uninitialized")));
        assert!(!f.keep(&view("eu-prod-2", "software", "Uninitialized")));
        assert!(Filters::parse(&State::default(), &mut d)
            .unwrap()
            .keep(&view("x", "external", "Error")));
    }

    #[test]
    fn bad_filters_name_their_attribute_and_unknowns_pass() {
        let st = State {
            name_regex: text("(unclosed"),
            management_type: text("cloud"),
            status: text("Running"),
            ..Default::default()
        };
        let e = errors(&st);
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("name_regex"), "{e:?}");
        assert!(
            e[1].contains("management_type") && e[1].contains("software"),
            "{e:?}"
        );
        assert!(
            e[2].contains("status") && e[2].contains("Connected"),
            "{e:?}"
        );
        let st = State {
            name_regex: Value::Unknown,
            status: Value::Unknown,
            ..Default::default()
        };
        assert!(errors(&st).is_empty());
    }
}
