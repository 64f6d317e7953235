//! KMS 2016-01-20 secret actions (Secrets Manager) in instances of the caller. `SecretData`
//! arrives in the form body; it is never logged.

use serde_json::{json, Value};

use super::{page, wrapped, Ctx, Fields};
use crate::backend::NewSecret;
use crate::clock::iso;
use crate::domain::secrets::Secret;
use crate::error::ApiError;

pub fn dispatch(action: &str, ctx: &Ctx) -> Option<Result<Fields, ApiError>> {
    Some(match action {
        "CreateSecret" => create_secret(ctx),
        "GetSecretValue" => get_secret_value(ctx),
        "PutSecretValue" => put_secret_value(ctx),
        "DescribeSecret" => describe_secret(ctx),
        "UpdateSecret" => update_secret(ctx),
        "ListSecrets" => list_secrets(ctx),
        "ListSecretVersionIds" => list_secret_version_ids(ctx),
        "DeleteSecret" => delete_secret(ctx),
        "RestoreSecret" => restore_secret(ctx),
        _ => return None,
    })
}

fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

fn stages(list: &[String]) -> Value {
    wrapped(
        "VersionStage",
        list.iter().map(|s| Value::from(s.as_str())).collect(),
    )
}

fn create_secret(ctx: &Ctx) -> Result<Fields, ApiError> {
    let p = &ctx.params;
    let new = NewSecret {
        name: p.req("SecretName")?.to_string(),
        version_id: p.req("VersionId")?.to_string(),
        data: p.req("SecretData")?.to_string(),
        data_type: p.opt("SecretDataType").map(String::from),
        secret_type: p.opt("SecretType").map(String::from),
        // Deviation: the mock has no default key; a secret needs a key of an instance.
        encryption_key_id: p.req("EncryptionKeyId")?.to_string(),
        instance_id: p.opt("DKMSInstanceId").map(String::from),
        description: p.opt("Description").unwrap_or("").to_string(),
        extended_config: p.opt("ExtendedConfig").map(String::from),
    };
    if p.opt_bool("EnableAutomaticRotation")? == Some(true) {
        return Err(ApiError::invalid(
            "EnableAutomaticRotation",
            "Generic secrets do not rotate automatically",
        ));
    }
    let s = ctx.state.backend.create_secret(&ctx.caller, &new)?;
    let mut out = json!({
        "Arn": s.arn(),
        "SecretName": s.name,
        "VersionId": new.version_id,
        "SecretType": s.secret_type,
        "DKMSInstanceId": s.instance_id,
    });
    if let Some(c) = &s.extended_config {
        out["ExtendedConfig"] = json!(c);
    }
    Ok(fields(out))
}

fn get_secret_value(ctx: &Ctx) -> Result<Fields, ApiError> {
    let p = &ctx.params;
    let v = ctx.state.backend.get_secret_value(
        &ctx.caller,
        p.req("SecretName")?,
        p.opt("VersionId"),
        p.opt("VersionStage"),
    )?;
    let mut out = json!({
        "SecretName": v.secret.name,
        "SecretType": v.secret.secret_type,
        "SecretData": v.data,
        "SecretDataType": v.version.data_type,
        "VersionId": v.version.id,
        "VersionStages": stages(&v.version.stages),
        "CreateTime": iso(v.version.created_at),
    });
    if p.opt_bool("FetchExtendedConfig")?.unwrap_or(false) {
        out["ExtendedConfig"] = json!(v.secret.extended_config.clone().unwrap_or_default());
    }
    Ok(fields(out))
}

fn put_secret_value(ctx: &Ctx) -> Result<Fields, ApiError> {
    let p = &ctx.params;
    let version_id = p.req("VersionId")?;
    let (secret, st) = ctx.state.backend.put_secret_value(
        &ctx.caller,
        p.req("SecretName")?,
        version_id,
        p.req("SecretData")?,
        p.opt("SecretDataType"),
        p.string_list("VersionStages")?,
    )?;
    Ok(fields(json!({
        "SecretName": secret.name,
        "VersionId": version_id,
        "VersionStages": stages(&st),
    })))
}

fn describe_secret(ctx: &Ctx) -> Result<Fields, ApiError> {
    let s = ctx
        .state
        .backend
        .describe_secret(&ctx.caller, ctx.params.req("SecretName")?)?;
    let mut out = json!({
        "Arn": s.arn(),
        "SecretName": s.name,
        "SecretType": s.secret_type,
        "Description": s.description,
        "EncryptionKeyId": s.encryption_key_id,
        "DKMSInstanceId": s.instance_id,
        "CreateTime": iso(s.created_at),
        "UpdateTime": iso(s.updated_at),
        "AutomaticRotation": "Disabled",
        "Tags": wrapped("Tag", Vec::new()),
    });
    if let Some(at) = s.planned_delete_at {
        out["PlannedDeleteTime"] = json!(iso(at));
    }
    if let Some(c) = &s.extended_config {
        out["ExtendedConfig"] = json!(c);
    }
    Ok(fields(out))
}

fn update_secret(ctx: &Ctx) -> Result<Fields, ApiError> {
    let p = &ctx.params;
    // Description may be set to empty: read it raw.
    let description = p.raw("Description");
    let s = ctx.state.backend.update_secret(
        &ctx.caller,
        p.req("SecretName")?,
        description,
        p.opt("ExtendedConfig"),
    )?;
    Ok(fields(json!({ "SecretName": s.name })))
}

// Deviation: tags are not stored, so the tag filters are not served.
const SECRET_FILTERS: [&str; 2] = ["SecretName", "Description"];

fn list_secrets(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (page_number, page_size) = ctx.params.paging(10)?;
    let filters = ctx.params.filters(&SECRET_FILTERS)?;
    let fetch_tags = ctx.params.opt_bool("FetchTags")?.unwrap_or(false);
    let secrets: Vec<Secret> = ctx
        .state
        .backend
        .list_secrets(&ctx.caller, ctx.region.as_deref())?
        .into_iter()
        .filter(|s| {
            // Values match as substrings (the console's fuzzy search).
            filters.iter().all(|(name, values)| {
                let actual = if *name == "SecretName" {
                    &s.name
                } else {
                    &s.description
                };
                values.iter().any(|v| actual.contains(v.as_str()))
            })
        })
        .collect();
    let items = page(&secrets, page_number, page_size)
        .iter()
        .map(|s| {
            let mut item = json!({
                "SecretName": s.name,
                "SecretType": s.secret_type,
                "CreateTime": iso(s.created_at),
                "UpdateTime": iso(s.updated_at),
            });
            if let Some(at) = s.planned_delete_at {
                item["PlannedDeleteTime"] = json!(iso(at));
            }
            if fetch_tags {
                item["Tags"] = wrapped("Tag", Vec::new());
            }
            item
        })
        .collect();
    Ok(fields(json!({
        "PageNumber": page_number,
        "PageSize": page_size,
        "TotalCount": secrets.len(),
        "SecretList": wrapped("Secret", items),
    })))
}

fn list_secret_version_ids(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (page_number, page_size) = ctx.params.paging(10)?;
    let include_deprecated = ctx.params.opt_bool("IncludeDeprecated")?.unwrap_or(false);
    let s = ctx
        .state
        .backend
        .describe_secret(&ctx.caller, ctx.params.req("SecretName")?)?;
    let versions: Vec<_> = s
        .versions
        .iter()
        .filter(|v| include_deprecated || !v.stages.is_empty())
        .collect();
    let items = page(&versions, page_number, page_size)
        .iter()
        .map(|v| {
            json!({
                "VersionId": v.id,
                "CreateTime": iso(v.created_at),
                "VersionStages": stages(&v.stages),
            })
        })
        .collect();
    Ok(fields(json!({
        "SecretName": s.name,
        "PageNumber": page_number,
        "PageSize": page_size,
        "TotalCount": versions.len(),
        "VersionIds": wrapped("VersionId", items),
    })))
}

fn delete_secret(ctx: &Ctx) -> Result<Fields, ApiError> {
    let p = &ctx.params;
    let force = p.opt_bool("ForceDeleteWithoutRecovery")?.unwrap_or(false);
    let window = p.opt_u32("RecoveryWindowInDays")?;
    let (s, at) =
        ctx.state
            .backend
            .delete_secret(&ctx.caller, p.req("SecretName")?, force, window)?;
    Ok(fields(json!({
        "SecretName": s.name,
        "PlannedDeleteTime": iso(at),
    })))
}

fn restore_secret(ctx: &Ctx) -> Result<Fields, ApiError> {
    let s = ctx
        .state
        .backend
        .restore_secret(&ctx.caller, ctx.params.req("SecretName")?)?;
    Ok(fields(json!({ "SecretName": s.name })))
}
