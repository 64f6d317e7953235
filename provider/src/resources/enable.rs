//! What `kms_hsm_binding` and `kms_external_proxy` share: both enable a purchased instance that
//! `kms_instance` owns, by a ConnectKmsInstance the cloud cannot undo, then wait for Connected.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tf_provider::value::{Value, ValueList, ValueString};
use tf_provider::Diagnostics;

use crate::client::kms::InstanceInfo;
use crate::client::{ApiError, Client};
use crate::plan::s;
use crate::provider::text;
use crate::wait::{human, parse_duration, until, Poll, WaitError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Zone<'a> {
    pub zone_id: ValueString<'a>,
    pub vswitch_id: ValueString<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeouts<'a> {
    pub create: ValueString<'a>,
}

pub fn strings<'b>(v: &[String]) -> ValueList<ValueString<'b>> {
    Value::Value(v.iter().map(text).collect())
}

/// The `{ zone_id, vswitch_id }` pairs as ConnectKmsInstance takes them: zones and vSwitches.
pub fn requested_zones(zones: &ValueList<Value<Zone>>) -> (Vec<String>, Vec<String>) {
    let mut z = Vec::new();
    let mut v = Vec::new();
    for zone in zones
        .as_ref_option()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_ref_option())
    {
        if let (Some(a), Some(b)) = (s(&zone.zone_id), s(&zone.vswitch_id)) {
            z.push(a.to_string());
            v.push(b.to_string());
        }
    }
    (z, v)
}

/// The pairs an instance reports: each vSwitch with its zone (assigned zones have none).
pub fn zones_of<'b>(i: &InstanceInfo) -> ValueList<Value<Zone<'b>>> {
    Value::Value(
        i.zone_ids
            .iter()
            .zip(&i.vswitch_ids)
            .map(|(z, v)| {
                Value::Value(Zone {
                    zone_id: text(z),
                    vswitch_id: text(v),
                })
            })
            .collect(),
    )
}

/// The `timeouts { create }` value, 60 minutes by default.
pub fn create_timeout(t: &Value<Timeouts>) -> Duration {
    t.as_ref_option()
        .and_then(|t| s(&t.create))
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(3600))
}

/// Polls the instance until it is Connected (or Error, or gone) or the deadline passes.
pub async fn wait_connected(
    client: &Client,
    id: &str,
    deadline: Instant,
    poll: Duration,
) -> Result<InstanceInfo, WaitError> {
    until(
        deadline.saturating_duration_since(Instant::now()),
        poll,
        || async {
            Ok(match client.find_kms_instance(id).await? {
                Some(i) if i.status == "Connected" => Poll::Done(i),
                Some(i) if i.status == "Error" => {
                    Poll::Failed(format!("Enablement of {id} ended in status Error."))
                }
                Some(i) => Poll::Pending(i.status),
                None => Poll::Failed(format!("Instance {id} disappeared while being enabled.")),
            })
        },
    )
    .await
}

/// Why a create's wait ended; `what` names the resource's connection ("binding"), `rule` the
/// seed's timing rule.
pub fn wait_failure(
    e: &WaitError,
    what: &str,
    rule: &str,
    detail: impl Fn(&ApiError) -> String,
) -> String {
    match e {
        WaitError::Timeout { waited, last } => format!("Waited {} for enablement (about 30 minutes with a secret quota, 10 without, {rule}); the instance is still {last}. The {what} is kept in the state (tainted); the instance goes on connecting in the cloud, and the next terraform apply waits for it (without enabling it again).", human(*waited)),
        WaitError::Failed(m) => m.clone(),
        WaitError::Api(a) => detail(a),
    }
}

/// Destroy: the cloud has no unbind, so the resource is only forgotten.
pub fn forget(diags: &mut Diagnostics, what: &str, id: Option<&str>, stays: &str) {
    diags.root_warning(
        format!("{what} of {} forgotten, not undone", id.unwrap_or("the instance")),
        format!("The cloud has no unbind: the instance stays {stays} until the kms_instance is destroyed."),
    );
}

/// Import by instance id; `None` (with an error) for anything else.
pub fn import_id<'a>(diags: &mut Diagnostics, id: String, what: &str) -> Option<ValueString<'a>> {
    if !id.starts_with("kst-") {
        diags.root_error(
            "Invalid import id",
            format!("{id:?}: import {what} by its instance id (kst-…)."),
        );
        return None;
    }
    Some(Value::Value(Cow::Owned(id)))
}
