//! `kms_instance` (data source): one KMS instance by id, from GetKmsInstance and the BSS's
//! renewal settings (QueryAvailableInstances).

use async_trait::async_trait;
use tf_provider::schema::{AttributeConstraint, Block, Description, Schema};
use tf_provider::value::ValueEmpty;
use tf_provider::{AttributePath, DataSource, Diagnostics};

use super::{attribute, detail, InstanceView, INSTANCE_FIELDS};
use crate::client::lookup::Renewal;
use crate::provider::Shared;

pub struct InstanceDataSource {
    shared: Shared,
}

impl InstanceDataSource {
    pub fn new(shared: Shared) -> Self {
        InstanceDataSource { shared }
    }
}

const NOT_FOUND_ADVICE: &str = "Check `id`: no instance with this id is visible to the account of the provider's credentials. \
A purchase shows in KMS 1 to 5 minutes after it is made (S11); a refunded instance is gone.";

#[async_trait]
impl DataSource for InstanceDataSource {
    type State<'a> = InstanceView<'a>;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = INSTANCE_FIELDS
            .iter()
            .map(|f| {
                let a = if f.name == "id" {
                    attribute(
                        f.kind.ty(),
                        AttributeConstraint::Required,
                        "Id of the instance to read (`kst-…`).",
                    )
                } else {
                    attribute(f.kind.ty(), AttributeConstraint::Computed, f.doc)
                };
                (f.name.to_string(), a)
            })
            .collect();
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "Reads one KMS instance by id: its capacity, status, network, endpoint and renewal settings. \
Reading an id that does not exist is an error naming the API code (`Forbidden.DKMSInstanceNotFound`).",
                ),
                attributes,
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        if let Some(id) = config.id.as_ref_option() {
            if !id.starts_with("kst-") {
                diags.error(
                    "Invalid id",
                    format!("{id:?} is not a KMS instance id, which looks like kst-hzz62d8f5e0sgtx8h0000."),
                    AttributePath::new("id"),
                );
            }
        }
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let cfg = self.shared.require(diags)?;
        let Some(id) = config.id.as_ref_option().map(|s| s.to_string()) else {
            diags.error_short(
                "id must be known to read an instance",
                AttributePath::new("id"),
            );
            return None;
        };
        let found = match cfg.client.get_kms_instance_detail(&id).await {
            Ok(d) => d,
            Err(e) if e.is_instance_not_found() => {
                diags.error(
                    format!("KMS instance {id} not found"),
                    format!("{}\n{NOT_FOUND_ADVICE}", detail(&e)),
                    AttributePath::new("id"),
                );
                return None;
            }
            Err(e) => {
                diags.error(
                    format!("Read KMS instance {id} failed"),
                    detail(&e),
                    AttributePath::new("id"),
                );
                return None;
            }
        };
        let renewal = match cfg.client.find_bss_instance(&id).await {
            Ok(b) => b.map(|b| Renewal {
                id: b.id,
                region: b.region,
                renew_status: b.renew_status,
                renewal_duration: b.renewal_duration,
            }),
            Err(e) => {
                diags.root_error(
                    format!("Read KMS instance {id}: the renewal settings could not be read"),
                    detail(&e),
                );
                return None;
            }
        };
        Some(InstanceView::from_api(&found, renewal.as_ref(), ""))
    }
}
