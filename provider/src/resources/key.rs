//! `kms_key`: a key in a KMS instance (CreateKey with DKMSInstanceId), its description, rotation
//! and enabled state updated in place, ScheduleKeyDeletion on destroy.

use std::borrow::Cow;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{Block, Description, Schema};
use tf_provider::value::{Value, ValueBool, ValueEmpty, ValueNumber, ValueString};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::client::keys::{interval_secs, KeyInfo};
use crate::client::ApiError;
use crate::plan::{default, known, null_if_unknown, replace_if_changed, s, unknown_if_null};
use crate::provider::{text, Shared};
use crate::schema::{computed, optional_computed, required, Kind};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub id: ValueString<'a>,
    pub instance_id: ValueString<'a>,
    pub key_spec: ValueString<'a>,
    pub key_usage: ValueString<'a>,
    pub description: ValueString<'a>,
    pub automatic_rotation: ValueBool,
    pub rotation_interval: ValueString<'a>,
    pub enabled: ValueBool,
    pub pending_window_in_days: ValueNumber,
    pub protection_level: ValueString<'a>,
    pub arn: ValueString<'a>,
    pub key_state: ValueString<'a>,
    pub primary_key_version: ValueString<'a>,
    pub creation_date: ValueString<'a>,
}

const SYMMETRIC: [&str; 4] = [
    "Aliyun_AES_256",
    "Aliyun_AES_128",
    "Aliyun_AES_192",
    "Aliyun_SM4",
];
const ASYMMETRIC: [&str; 5] = ["RSA_2048", "RSA_3072", "EC_P256", "EC_P256K", "EC_SM2"];
const USAGES: [&str; 2] = ["ENCRYPT/DECRYPT", "SIGN/VERIFY"];

pub struct KeyResource {
    shared: Shared,
}

impl KeyResource {
    pub fn new(shared: Shared) -> Self {
        KeyResource { shared }
    }
}

fn default_usage(spec: &str) -> &'static str {
    if spec.starts_with("EC_") || spec.starts_with("RSA_") {
        "SIGN/VERIFY"
    } else {
        "ENCRYPT/DECRYPT"
    }
}

fn detail(e: &ApiError) -> String {
    let hint = match e.code() {
        "Forbidden.DKMSInstanceStateInvalid" => "\nKeys live in a Connected instance: check that instance_id is enabled (kms_instance status) and not expired (S52).",
        "Rejected.LimitExceeded" => "\nThe instance's key quota counts key versions (S04): raise key_quota on the kms_instance.",
        "Forbidden.DKMSInstanceNotFound" => "\nCheck instance_id.",
        _ => "",
    };
    format!("{e}{hint}")
}

impl State<'_> {
    fn apply_info(&mut self, k: &KeyInfo) {
        self.id = text(&k.id);
        self.instance_id = text(&k.instance_id);
        self.key_spec = text(&k.key_spec);
        self.key_usage = text(&k.key_usage);
        self.description = text(&k.description);
        self.automatic_rotation = Value::Value(k.automatic_rotation);
        // Keep the user's spelling ("365d") when it means the interval the API reports.
        let same =
            s(&self.rotation_interval).and_then(interval_secs) == Some(k.rotation_interval_secs);
        if !same {
            self.rotation_interval = if k.automatic_rotation && k.rotation_interval_secs > 0 {
                text(format!("{}s", k.rotation_interval_secs))
            } else {
                Value::Null
            };
        }
        self.enabled = Value::Value(k.key_state == "Enabled");
        self.protection_level = text(&k.protection_level);
        self.arn = text(&k.arn);
        self.key_state = text(&k.key_state);
        self.primary_key_version = text(&k.primary_key_version);
        self.creation_date = text(&k.creation_date);
        if !self.pending_window_in_days.is_value() {
            // Not returned by the API (used on destroy only): the default after import.
            self.pending_window_in_days = Value::Value(7);
        }
        null_if_unknown(&mut self.rotation_interval);
    }

    fn rotation(&self) -> Option<String> {
        (known(&self.automatic_rotation) == Some(true))
            .then(|| s(&self.rotation_interval).unwrap_or("365d").to_string())
    }
}

fn check(st: &State, diags: &mut Diagnostics) {
    let path = AttributePath::new;
    if let Some(spec) = s(&st.key_spec) {
        if !SYMMETRIC.contains(&spec) && !ASYMMETRIC.contains(&spec) {
            diags.error(
                "Invalid key_spec",
                format!(
                    "{spec:?} is not one of {} (S50).",
                    [&SYMMETRIC[..], &ASYMMETRIC[..]].concat().join(", ")
                ),
                path("key_spec"),
            );
        }
    }
    if let Some(u) = s(&st.key_usage) {
        if !USAGES.contains(&u) {
            diags.error(
                "Invalid key_usage",
                format!("{u:?} is not ENCRYPT/DECRYPT or SIGN/VERIFY."),
                path("key_usage"),
            );
        }
        if s(&st.key_spec).is_some_and(|k| SYMMETRIC.contains(&k)) && u == "SIGN/VERIFY" {
            diags.error(
                "Invalid key_usage",
                "symmetric keys are for ENCRYPT/DECRYPT only.",
                path("key_usage"),
            );
        }
    }
    if let Some(d) = known(&st.pending_window_in_days) {
        if !(7..=366).contains(&d) {
            diags.error(
                "Invalid pending_window_in_days",
                format!("{d} is outside 7 to 366 days."),
                path("pending_window_in_days"),
            );
        }
    }
    if let Some(i) = s(&st.rotation_interval) {
        match interval_secs(i) {
            Some(secs) if (7 * 86_400..=365 * 86_400).contains(&secs) => {}
            _ => diags.error(
                "Invalid rotation_interval",
                format!("{i:?}: give 7d to 365d (or seconds like \"604800s\")."),
                path("rotation_interval"),
            ),
        }
    }
    if known(&st.automatic_rotation) == Some(true)
        && s(&st.key_spec).is_some_and(|k| ASYMMETRIC.contains(&k))
    {
        diags.error(
            "Invalid automatic_rotation",
            "only symmetric keys rotate automatically.",
            path("automatic_rotation"),
        );
    }
}

#[async_trait]
impl Resource for KeyResource {
    type State<'a> = State<'a>;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = [
            ("id", computed(Kind::String, "Key id (`key-…`).")),
            ("instance_id", required(Kind::String, "The KMS instance (`kms_instance.x.id`) that holds the key; it must be Connected (S52). Changing it replaces the key.")),
            ("key_spec", optional_computed(Kind::String, "`Aliyun_AES_256` (default), `Aliyun_AES_128`, `Aliyun_AES_192`, `Aliyun_SM4`, `RSA_2048`, `RSA_3072`, `EC_P256`, `EC_P256K` or `EC_SM2`; what the instance accepts depends on its type. Changing it replaces the key.")),
            ("key_usage", optional_computed(Kind::String, "`ENCRYPT/DECRYPT` (default for symmetric keys) or `SIGN/VERIFY` (default for EC keys). Changing it replaces the key.")),
            ("description", optional_computed(Kind::String, "Description. Updated in place.")),
            ("automatic_rotation", optional_computed(Kind::Bool, "Rotate automatically (symmetric keys only). Each new version counts against the instance's key quota (S04). Default false; updated in place.")),
            ("rotation_interval", optional_computed(Kind::String, "Rotation interval, `7d` to `365d` (or seconds, `604800s`); default `365d` when rotation is on.")),
            ("enabled", optional_computed(Kind::Bool, "Whether the key is Enabled (true, default) or Disabled; a disabled key refuses every cryptographic operation. Updated in place.")),
            ("pending_window_in_days", optional_computed(Kind::Number, "Days between `terraform destroy` and the key's deletion (ScheduleKeyDeletion), 7 to 366, default 7. Not returned by the API: after import it is 7.")),
            ("protection_level", computed(Kind::String, "`SOFTWARE` or `HSM`, from the instance's type; never forces a replacement.")),
            ("arn", computed(Kind::String, "The key's ARN.")),
            ("key_state", computed(Kind::String, "`Enabled`, `Disabled` or `PendingDeletion`.")),
            ("primary_key_version", computed(Kind::String, "The version new ciphertext is made with.")),
            ("creation_date", computed(Kind::String, "When the key was created (ISO 8601).")),
        ];
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown("A key in a KMS instance: symmetric (AES) for encrypt, decrypt and data keys, or asymmetric (EC, RSA) for sign and verify."),
                attributes: attributes.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
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
        match cfg.client.find_key(&id).await {
            // A key pending deletion is gone as far as Terraform is concerned.
            Ok(Some(k)) if k.key_state != "PendingDeletion" => {
                let mut st = state;
                st.apply_info(&k);
                Some((st, private))
            }
            Ok(_) => None,
            Err(e) => {
                diags.root_error("Read KMS key failed", detail(&e));
                Some((state, private))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        _diags: &mut Diagnostics,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let mut st = proposed;
        default(&mut st.key_spec, Cow::Borrowed("Aliyun_AES_256"));
        if st.key_usage.is_null() {
            if let Some(spec) = s(&st.key_spec) {
                st.key_usage = text(default_usage(spec));
            }
        }
        default(&mut st.description, Cow::Borrowed(""));
        default(&mut st.automatic_rotation, false);
        if known(&st.automatic_rotation) == Some(true) {
            default(&mut st.rotation_interval, Cow::Borrowed("365d"));
        }
        default(&mut st.enabled, true);
        default(&mut st.pending_window_in_days, 7);
        for v in [
            &mut st.id,
            &mut st.protection_level,
            &mut st.arn,
            &mut st.key_state,
            &mut st.primary_key_version,
            &mut st.creation_date,
            &mut st.key_usage,
        ] {
            unknown_if_null(v);
        }
        Some((st, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        _diags: &mut Diagnostics,
        prior: Self::State<'a>,
        proposed: Self::State<'a>,
        config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let mut st = proposed;
        // Left out of the configuration means the defaults, so changes made outside show.
        if config.description.is_null() {
            st.description = text("");
        }
        if config.automatic_rotation.is_null() {
            st.automatic_rotation = Value::Value(false);
        }
        if config.enabled.is_null() {
            st.enabled = Value::Value(true);
        }
        if known(&st.automatic_rotation) == Some(false) && config.rotation_interval.is_null() {
            st.rotation_interval = Value::Null;
        } else if known(&st.automatic_rotation) == Some(true)
            && config.rotation_interval.is_null()
            && prior.rotation_interval.is_null()
        {
            st.rotation_interval = text("365d");
        }
        let mut replace = Vec::new();
        replace_if_changed(
            "instance_id",
            &prior.instance_id,
            &st.instance_id,
            &mut replace,
        );
        replace_if_changed("key_spec", &prior.key_spec, &st.key_spec, &mut replace);
        replace_if_changed("key_usage", &prior.key_usage, &st.key_usage, &mut replace);
        if !replace.is_empty() {
            for v in [
                &mut st.id,
                &mut st.protection_level,
                &mut st.arn,
                &mut st.primary_key_version,
                &mut st.creation_date,
            ] {
                *v = Value::Unknown;
            }
        }
        if known(&prior.enabled) != known(&st.enabled) || !replace.is_empty() {
            st.key_state = Value::Unknown;
        }
        Some((st, private, replace))
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
        let rotation = st.rotation();
        let created = cfg
            .client
            .create_key(
                s(&st.instance_id).unwrap_or_default(),
                s(&st.key_spec).unwrap_or("Aliyun_AES_256"),
                s(&st.key_usage).unwrap_or("ENCRYPT/DECRYPT"),
                s(&st.description).unwrap_or(""),
                rotation.as_deref(),
            )
            .await;
        let key = match created {
            Ok(k) => k,
            Err(e) => {
                diags.root_error("Create KMS key failed", detail(&e));
                return None;
            }
        };
        st.id = text(&key.id);
        let mut result = Ok(());
        if known(&st.enabled) == Some(false) {
            result = cfg.client.set_key_enabled(&key.id, false).await;
        }
        match (result, cfg.client.find_key(&key.id).await) {
            (Ok(()), Ok(Some(k))) => {
                st.apply_info(&k);
                Some((st, private))
            }
            (r, found) => {
                if let Ok(Some(k)) = &found {
                    st.apply_info(k);
                }
                let msg = match (r, found) {
                    (Err(e), _) | (_, Err(e)) => detail(&e),
                    _ => "the key could not be read back".to_string(),
                };
                diags.root_error(format!("Create KMS key {}: finishing failed", key.id), msg);
                null_all_unknown(&mut st);
                Some((st, private))
            }
        }
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let cfg = self.shared.require(diags)?;
        let mut st = planned;
        let id = s(&st.id).unwrap_or_default().to_string();
        let c = &cfg.client;
        let mut steps: Vec<Result<(), ApiError>> = Vec::new();
        if s(&prior.description) != s(&st.description) {
            steps.push(
                c.update_key_description(&id, s(&st.description).unwrap_or(""))
                    .await,
            );
        }
        if prior.rotation().map(|r| interval_secs(&r)) != st.rotation().map(|r| interval_secs(&r)) {
            steps.push(c.update_rotation(&id, st.rotation().as_deref()).await);
        }
        if known(&prior.enabled) != known(&st.enabled) {
            steps.push(
                c.set_key_enabled(&id, known(&st.enabled).unwrap_or(true))
                    .await,
            );
        }
        if let Some(Err(e)) = steps.into_iter().find(Result::is_err) {
            diags.root_error(format!("Update KMS key {id} failed"), detail(&e));
        }
        match c.find_key(&id).await {
            Ok(Some(k)) => st.apply_info(&k),
            Ok(None) => {
                diags.root_error(
                    format!("Update KMS key {id} failed"),
                    "The key disappeared during the update.",
                );
                return None;
            }
            Err(e) => diags.root_error(
                format!("Update KMS key {id}: reading it back failed"),
                detail(&e),
            ),
        }
        null_all_unknown(&mut st);
        Some((st, private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        let cfg = self.shared.require(diags)?;
        let id = s(&prior.id).unwrap_or_default().to_string();
        let days = known(&prior.pending_window_in_days).unwrap_or(7);
        match cfg.client.schedule_key_deletion(&id, days).await {
            Ok(()) => Some(()),
            Err(e) => {
                diags.root_error(format!("Delete KMS key {id} failed"), detail(&e));
                None
            }
        }
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        if !id.starts_with("key-") {
            diags.root_error("Invalid import id", format!("{id:?} is not a key id; import with the key id, e.g. key-hzz62f1cb66fa42qo0000."));
            return None;
        }
        Some((
            State {
                id: Value::Value(Cow::Owned(id)),
                ..Default::default()
            },
            ValueEmpty::default(),
        ))
    }
}

fn null_all_unknown(st: &mut State) {
    for v in [
        &mut st.id,
        &mut st.instance_id,
        &mut st.key_spec,
        &mut st.key_usage,
        &mut st.description,
        &mut st.rotation_interval,
        &mut st.protection_level,
        &mut st.arn,
        &mut st.key_state,
        &mut st.primary_key_version,
        &mut st.creation_date,
    ] {
        null_if_unknown(v);
    }
    null_if_unknown(&mut st.automatic_rotation);
    null_if_unknown(&mut st.enabled);
    null_if_unknown(&mut st.pending_window_in_days);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(st: &State) -> Vec<String> {
        let mut d = Diagnostics::default();
        check(st, &mut d);
        d.errors
            .iter()
            .map(|e| format!("{} {}", e.summary, e.detail))
            .collect()
    }

    #[test]
    fn key_config_is_checked_naming_the_attribute() {
        assert!(errors(&State {
            key_spec: text("Aliyun_AES_256"),
            ..Default::default()
        })
        .is_empty());
        assert!(errors(&State {
            key_spec: text("AES"),
            ..Default::default()
        })[0]
            .contains("key_spec"));
        assert!(errors(&State {
            pending_window_in_days: Value::Value(3),
            ..Default::default()
        })[0]
            .contains("pending_window_in_days"));
        assert!(errors(&State {
            rotation_interval: text("2d"),
            ..Default::default()
        })[0]
            .contains("rotation_interval"));
        let st = State {
            key_spec: text("EC_P256"),
            automatic_rotation: Value::Value(true),
            ..Default::default()
        };
        assert!(errors(&st)[0].contains("automatic_rotation"));
    }
}
