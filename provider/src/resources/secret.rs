//! `kms_secret`: a secret in a KMS instance (CreateSecret), its value put as a new version
//! (PutSecretValue) when it changes. The value is never read back from the API.

use std::borrow::Cow;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{Block, Description, Schema};
use tf_provider::value::{Value, ValueBool, ValueEmpty, ValueNumber, ValueString};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::client::keys::{NewSecret, SecretInfo};
use crate::client::ApiError;
use crate::plan::{default, known, null_if_unknown, replace_if_changed, s, unknown_if_null};
use crate::provider::{text, Shared};
use crate::schema::{computed, optional_computed, required, sensitive, Kind};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State<'a> {
    pub id: ValueString<'a>,
    pub name: ValueString<'a>,
    pub encryption_key_id: ValueString<'a>,
    pub instance_id: ValueString<'a>,
    pub value: ValueString<'a>,
    pub value_type: ValueString<'a>,
    pub description: ValueString<'a>,
    pub version_id: ValueString<'a>,
    pub force_delete: ValueBool,
    pub recovery_window_in_days: ValueNumber,
    pub arn: ValueString<'a>,
    pub create_time: ValueString<'a>,
}

pub struct SecretResource {
    shared: Shared,
}

impl SecretResource {
    pub fn new(shared: Shared) -> Self {
        SecretResource { shared }
    }
}

fn new_version_id() -> String {
    format!("tf-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

fn detail(e: &ApiError) -> String {
    let hint = match e.code() {
        "Rejected.LimitExceeded" => "\nThe instance's secret quota is used up (S05): raise secret_quota on the kms_instance.",
        "Rejected.ResourceExist" => "\nA secret with this name exists already.",
        "Forbidden.DKMSInstanceStateInvalid" => "\nSecrets live in a Connected instance (S52).",
        _ => "",
    };
    format!("{e}{hint}")
}

impl State<'_> {
    /// Everything but the value, which only the configuration knows.
    fn apply_info(&mut self, i: &SecretInfo) {
        self.id = text(&i.name);
        self.name = text(&i.name);
        self.encryption_key_id = text(&i.encryption_key_id);
        self.instance_id = text(&i.instance_id);
        self.description = text(&i.description);
        self.arn = text(&i.arn);
        self.create_time = text(&i.create_time);
        if s(&self.version_id) != Some(i.current_version.as_str()) {
            // Another version became current outside Terraform: the configured value is no
            // longer known to be the secret's, so the plan puts it back.
            if self.version_id.is_value() {
                self.value = Value::Null;
            }
            self.version_id = text(&i.current_version);
        }
        if !self.value_type.is_value() {
            self.value_type = text("text");
        }
        if !self.force_delete.is_value() {
            self.force_delete = Value::Value(false);
        }
        if !self.recovery_window_in_days.is_value() {
            self.recovery_window_in_days = Value::Value(30);
        }
    }

    fn null_unknowns(&mut self) {
        for v in [
            &mut self.id,
            &mut self.name,
            &mut self.encryption_key_id,
            &mut self.instance_id,
            &mut self.value,
            &mut self.value_type,
            &mut self.description,
            &mut self.version_id,
            &mut self.arn,
            &mut self.create_time,
        ] {
            null_if_unknown(v);
        }
        null_if_unknown(&mut self.force_delete);
        null_if_unknown(&mut self.recovery_window_in_days);
    }
}

fn check(st: &State, diags: &mut Diagnostics) {
    let path = AttributePath::new;
    if let Some(n) = s(&st.name) {
        if n.is_empty()
            || n.len() > 192
            || n.starts_with("acs/")
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/+=.-@_".contains(c))
        {
            diags.error("Invalid name", format!("{n:?}: use letters, digits and / + = . - @ _ (not starting with acs/), up to 192 characters."), path("name"));
        }
    }
    if let Some(t) = s(&st.value_type) {
        if t != "text" && t != "binary" {
            diags.error(
                "Invalid value_type",
                format!("{t:?} is not text or binary."),
                path("value_type"),
            );
        }
    }
    if let Some(d) = known(&st.recovery_window_in_days) {
        if !(7..=30).contains(&d) {
            diags.error(
                "Invalid recovery_window_in_days",
                format!("{d} is outside 7 to 30 days."),
                path("recovery_window_in_days"),
            );
        }
    }
}

#[async_trait]
impl Resource for SecretResource {
    type State<'a> = State<'a>;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = [
            ("id", computed(Kind::String, "The secret's name.")),
            ("name", required(Kind::String, "Secret name: letters, digits and `/ + = . - @ _`, not starting with `acs/`. Changing it replaces the secret.")),
            ("encryption_key_id", required(Kind::String, "A symmetric key (`kms_key.x.id`) of the instance that encrypts the secret; the secret belongs to that key's instance. Changing it replaces the secret.")),
            ("instance_id", optional_computed(Kind::String, "The KMS instance; must be the key's. Counted against its secret quota (S05). Changing it replaces the secret.")),
            ("value", sensitive(required(Kind::String, "The secret value. Sensitive: kept out of plan output and logs, but stored in the Terraform state like every sensitive attribute (plugin protocol 6.5 has no write-only attributes). Never read back from the API: a change is put as a new version (PutSecretValue); a version made current outside Terraform makes the next plan put this value back."))),
            ("value_type", optional_computed(Kind::String, "`text` (default) or `binary` (the value is then base64).")),
            ("description", optional_computed(Kind::String, "Description. Updated in place.")),
            ("version_id", computed(Kind::String, "The version Terraform last put (`ACSCurrent`).")),
            ("force_delete", optional_computed(Kind::Bool, "On destroy, delete at once instead of after the recovery window (default false).")),
            ("recovery_window_in_days", optional_computed(Kind::Number, "On destroy, days the secret can still be restored, 7 to 30 (default 30).")),
            ("arn", computed(Kind::String, "The secret's ARN.")),
            ("create_time", computed(Kind::String, "When the secret was created (ISO 8601).")),
        ];
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown("A secret in a KMS instance (Secrets Manager). Applications read it with GetSecretValue; Terraform writes it and never reads the value back."),
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
        let name = s(&state.id)?.to_string();
        match cfg.client.find_secret(&name).await {
            // A secret scheduled for deletion is gone as far as Terraform is concerned.
            Ok(Some(i)) if i.planned_delete_time.is_empty() => {
                let mut st = state;
                st.apply_info(&i);
                Some((st, private))
            }
            Ok(_) => None,
            Err(e) => {
                diags.root_error("Read KMS secret failed", detail(&e));
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
        default(&mut st.value_type, Cow::Borrowed("text"));
        default(&mut st.description, Cow::Borrowed(""));
        default(&mut st.force_delete, false);
        default(&mut st.recovery_window_in_days, 30);
        for v in [
            &mut st.id,
            &mut st.instance_id,
            &mut st.version_id,
            &mut st.arn,
            &mut st.create_time,
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
        if config.description.is_null() {
            st.description = text("");
        }
        if config.value_type.is_null() {
            st.value_type = text("text");
        }
        let mut replace = Vec::new();
        replace_if_changed("name", &prior.name, &st.name, &mut replace);
        replace_if_changed(
            "encryption_key_id",
            &prior.encryption_key_id,
            &st.encryption_key_id,
            &mut replace,
        );
        if !config.instance_id.is_null() {
            replace_if_changed(
                "instance_id",
                &prior.instance_id,
                &st.instance_id,
                &mut replace,
            );
        }
        if !replace.is_empty() {
            for v in [
                &mut st.id,
                &mut st.version_id,
                &mut st.arn,
                &mut st.create_time,
            ] {
                *v = Value::Unknown;
            }
            if config.instance_id.is_null() {
                st.instance_id = Value::Unknown;
            }
        } else if prior.value != st.value || prior.value_type != st.value_type {
            st.version_id = Value::Unknown;
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
        let name = s(&st.name).unwrap_or_default().to_string();
        let version = new_version_id();
        let new = NewSecret {
            name: &name,
            version_id: &version,
            value: s(&st.value).unwrap_or_default(),
            value_type: s(&st.value_type).unwrap_or("text"),
            encryption_key_id: s(&st.encryption_key_id).unwrap_or_default(),
            instance_id: s(&st.instance_id),
            description: s(&st.description).unwrap_or(""),
        };
        if let Err(e) = cfg.client.create_secret(&new).await {
            diags.root_error("Create KMS secret failed", detail(&e));
            return None;
        }
        st.version_id = text(version);
        match cfg.client.find_secret(&name).await {
            Ok(Some(i)) => st.apply_info(&i),
            Ok(None) => diags.root_error(
                format!("Create KMS secret {name}"),
                "The secret was created but cannot be read back.",
            ),
            Err(e) => diags.root_error(
                format!("Create KMS secret {name}: reading it back failed"),
                detail(&e),
            ),
        }
        st.null_unknowns();
        Some((st, private))
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
        let name = s(&st.id).unwrap_or_default().to_string();
        if st.version_id.is_unknown() {
            let version = new_version_id();
            let put = cfg
                .client
                .put_secret_value(
                    &name,
                    &version,
                    s(&st.value).unwrap_or_default(),
                    s(&st.value_type).unwrap_or("text"),
                )
                .await;
            match put {
                Ok(()) => st.version_id = text(version),
                Err(e) => {
                    diags.root_error(
                        format!("Update KMS secret {name}: putting the new value failed"),
                        detail(&e),
                    );
                    let mut prior = prior;
                    prior.null_unknowns();
                    return Some((prior, private));
                }
            }
        }
        if s(&prior.description) != s(&st.description) {
            if let Err(e) = cfg
                .client
                .update_secret_description(&name, s(&st.description).unwrap_or(""))
                .await
            {
                diags.root_error(format!("Update KMS secret {name} failed"), detail(&e));
            }
        }
        match cfg.client.find_secret(&name).await {
            Ok(Some(i)) => st.apply_info(&i),
            Ok(None) => {
                diags.root_error(
                    format!("Update KMS secret {name} failed"),
                    "The secret disappeared during the update.",
                );
                return None;
            }
            Err(e) => diags.root_error(
                format!("Update KMS secret {name}: reading it back failed"),
                detail(&e),
            ),
        }
        st.null_unknowns();
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
        let name = s(&prior.id).unwrap_or_default().to_string();
        let force = known(&prior.force_delete).unwrap_or(false);
        let days = known(&prior.recovery_window_in_days).unwrap_or(30);
        match cfg.client.delete_secret(&name, force, days).await {
            Ok(()) => Some(()),
            Err(e) => {
                diags.root_error(format!("Delete KMS secret {name} failed"), detail(&e));
                None
            }
        }
    }

    async fn import<'a>(
        &self,
        _diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        Some((
            State {
                id: Value::Value(Cow::Owned(id)),
                ..Default::default()
            },
            ValueEmpty::default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_config_is_checked_naming_the_attribute() {
        let mut d = Diagnostics::default();
        check(
            &State {
                name: text("acs/x"),
                value_type: text("blob"),
                recovery_window_in_days: Value::Value(60),
                ..Default::default()
            },
            &mut d,
        );
        let text: Vec<String> = d.errors.iter().map(|e| e.summary.to_string()).collect();
        assert_eq!(
            text,
            [
                "Invalid name",
                "Invalid value_type",
                "Invalid recovery_window_in_days"
            ]
        );
    }
}
