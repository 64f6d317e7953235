//! `kms_zones` (data source): the zones of a region (VPC DescribeZones) with their vSwitches and
//! free IP addresses (DescribeVSwitches), so a configuration can pick valid zone/vSwitch pairs.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueEmpty, ValueList, ValueNumber, ValueString};
use tf_provider::{AttributePath, DataSource, Diagnostics};

use super::{attribute, detail, list_of_objects, region_or_default, Field, FieldKind};
use crate::client::lookup::VSwitchInfo;
use crate::provider::{text, Shared};

pub const VSWITCH_FIELDS: &[Field] = &[
    Field {
        name: "vswitch_id",
        kind: FieldKind::String,
        doc: "vSwitch id.",
    },
    Field {
        name: "vpc_id",
        kind: FieldKind::String,
        doc: "VPC of the vSwitch.",
    },
    Field {
        name: "zone_id",
        kind: FieldKind::String,
        doc: "Zone of the vSwitch.",
    },
    Field {
        name: "free_ips",
        kind: FieldKind::Number,
        doc: "Free IP addresses; enabling an instance takes one in each of its vSwitches (S20).",
    },
];

pub const ZONE_FIELDS: &[Field] = &[
    Field {
        name: "zone_id",
        kind: FieldKind::String,
        doc: "Zone id, e.g. `cn-hangzhou-h`.",
    },
    Field {
        name: "local_name",
        kind: FieldKind::String,
        doc: "Display name of the zone.",
    },
    Field {
        name: "vswitches",
        kind: FieldKind::Objects(VSWITCH_FIELDS),
        doc: "The zone's vSwitches (of `vpc_id` when given), sorted by id, with the fields of the top-level `vswitches`.",
    },
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VSwitchView<'a> {
    pub vswitch_id: ValueString<'a>,
    pub vpc_id: ValueString<'a>,
    pub zone_id: ValueString<'a>,
    pub free_ips: ValueNumber,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneView<'a> {
    pub zone_id: ValueString<'a>,
    pub local_name: ValueString<'a>,
    pub vswitches: ValueList<Value<VSwitchView<'a>>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub region: ValueString<'a>,
    pub vpc_id: ValueString<'a>,
    pub zone_ids: ValueList<ValueString<'a>>,
    pub zones: ValueList<Value<ZoneView<'a>>>,
    pub vswitches: ValueList<Value<VSwitchView<'a>>>,
}

pub struct ZonesDataSource {
    shared: Shared,
}

impl ZonesDataSource {
    pub fn new(shared: Shared) -> Self {
        ZonesDataSource { shared }
    }
}

fn vswitch_view<'a>(v: &VSwitchInfo) -> Value<VSwitchView<'a>> {
    Value::Value(VSwitchView {
        vswitch_id: text(&v.id),
        vpc_id: text(&v.vpc_id),
        zone_id: text(&v.zone_id),
        free_ips: Value::Value(v.free_ips),
    })
}

#[async_trait]
impl DataSource for ZonesDataSource {
    type State<'a> = State<'a>;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeConstraint::{Computed, Optional, OptionalComputed};
        let attributes = [
            ("region", attribute(AttributeType::String, OptionalComputed, "Region whose zones to list; defaults to the provider's.")),
            ("vpc_id", attribute(AttributeType::String, Optional, "Only show the vSwitches of this VPC (a software instance's `zones` must use vSwitches of its `vpc_id`).")),
            ("zone_ids", attribute(AttributeType::List(Box::new(AttributeType::String)), Computed, "Zone ids of the region, in the cloud's order.")),
            ("zones", attribute(list_of_objects(ZONE_FIELDS), Computed, "The zones of the region, each with its vSwitches.")),
            ("vswitches", attribute(list_of_objects(VSWITCH_FIELDS), Computed, "Every vSwitch of the region (of `vpc_id` when given), by zone then id: `[for v in ... : v if v.free_ips > 0]` gives the usable ones.")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "Lists the zones of a region with their vSwitches and free IP addresses, to pick the `zones` of a software `kms_instance`: each entry pairs a zone with a vSwitch of the instance's VPC in that zone that has a free IP address.",
                ),
                attributes,
                ..Default::default()
            },
        })
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let cfg = self.shared.require(diags)?;
        let region = region_or_default(&config.region, &cfg.region);
        let vpc_id = config
            .vpc_id
            .as_ref_option()
            .map(|v| v.to_string())
            .filter(|v| !v.is_empty());
        let zones = match cfg.client.describe_zones(&region).await {
            Ok(z) => z,
            Err(e) => {
                diags.error(
                    format!("Listing the zones of {region} failed"),
                    detail(&e),
                    AttributePath::new("region"),
                );
                return None;
            }
        };
        let mut vswitches = match cfg
            .client
            .describe_vswitches(&region, vpc_id.as_deref())
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let attr = if vpc_id.is_some() { "vpc_id" } else { "region" };
                diags.error(
                    format!("Listing the vSwitches of {region} failed"),
                    detail(&e),
                    AttributePath::new(attr),
                );
                return None;
            }
        };
        let rank = |zone: &str| {
            zones
                .iter()
                .position(|z| z.id == zone)
                .unwrap_or(usize::MAX)
        };
        vswitches.sort_by(|a, b| (rank(&a.zone_id), &a.id).cmp(&(rank(&b.zone_id), &b.id)));
        let mut st = config;
        st.region = text(region);
        st.zone_ids = Value::Value(zones.iter().map(|z| text(&z.id)).collect());
        st.zones = Value::Value(
            zones
                .iter()
                .map(|z| {
                    Value::Value(ZoneView {
                        zone_id: text(&z.id),
                        local_name: text(&z.local_name),
                        vswitches: Value::Value(
                            vswitches
                                .iter()
                                .filter(|v| v.zone_id == z.id)
                                .map(vswitch_view)
                                .collect(),
                        ),
                    })
                })
                .collect(),
        );
        st.vswitches = Value::Value(vswitches.iter().map(vswitch_view).collect());
        Some(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_sources::tests::assert_fields_match;

    #[test]
    fn field_tables_match_the_views() {
        assert_fields_match(ZONE_FIELDS, &ZoneView::default());
        assert_fields_match(VSWITCH_FIELDS, &VSwitchView::default());
    }
}
