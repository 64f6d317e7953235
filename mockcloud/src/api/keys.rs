//! KMS 2016-01-20 key actions: keys, versions, aliases and the cryptographic operations, in
//! instances of the caller (`DKMSInstanceId`).

use base64::Engine;
use serde_json::{json, Value};

use super::{page, wrapped, Ctx, Fields};
use crate::backend::NewKey;
use crate::clock::iso;
use crate::domain::keys::{
    rotation_policy, Alias, Key, KeyRequest, KeySpec, KeyState, KeyUsage, KeyVersion,
};
use crate::error::ApiError;

/// Encrypt takes at most 6 KB of plaintext.
const MAX_PLAINTEXT: usize = 6 * 1024;

/// The key actions; `None` when `action` is not one of them.
// Deviation: `DryRun` is not honoured (the call is carried out) and `Recipient` is ignored.
pub fn dispatch(action: &str, ctx: &Ctx) -> Option<Result<Fields, ApiError>> {
    Some(match action {
        "CreateKey" => create_key(ctx),
        "DescribeKey" => describe_key(ctx),
        "ListKeys" => list_keys(ctx),
        "EnableKey" => enable_key(ctx),
        "DisableKey" => disable_key(ctx),
        "ScheduleKeyDeletion" => schedule_key_deletion(ctx),
        "CancelKeyDeletion" => cancel_key_deletion(ctx),
        "UpdateKeyDescription" => update_key_description(ctx),
        "UpdateRotationPolicy" => update_rotation_policy(ctx),
        "CreateKeyVersion" => create_key_version(ctx),
        "ListKeyVersions" => list_key_versions(ctx),
        "DescribeKeyVersion" => describe_key_version(ctx),
        "CreateAlias" => create_alias(ctx),
        "UpdateAlias" => update_alias(ctx),
        "DeleteAlias" => delete_alias(ctx),
        "ListAliases" => list_aliases(ctx, None),
        "ListAliasesByKeyId" => ctx
            .params
            .req("KeyId")
            .and_then(|k| list_aliases(ctx, Some(k))),
        "Encrypt" => encrypt(ctx),
        "Decrypt" => decrypt(ctx),
        "GenerateDataKey" => generate_data_key(ctx, true),
        "GenerateDataKeyWithoutPlaintext" => generate_data_key(ctx, false),
        "AsymmetricSign" => asymmetric_sign(ctx),
        "AsymmetricVerify" => asymmetric_verify(ctx),
        "GetPublicKey" => get_public_key(ctx),
        _ => return None,
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

fn enabled(b: bool) -> &'static str {
    if b {
        "Enabled"
    } else {
        "Disabled"
    }
}

/// `KeyMetadata` of CreateKey and DescribeKey (wire reference 3.2).
fn key_metadata(k: &Key) -> Value {
    let mut m = json!({
        "KeyId": k.id,
        "Arn": k.arn(),
        "KeyState": k.state.as_str(),
        "KeySpec": k.spec.as_str(),
        "KeyUsage": k.usage.as_str(),
        "Origin": "Aliyun_KMS",
        "ProtectionLevel": k.protection_level(),
        "Description": k.description,
        "Creator": k.account_id,
        "CreationDate": iso(k.created_at),
        "LastRotationDate": iso(k.last_rotation_at),
        "PrimaryKeyVersion": k.primary_version(),
        "AutomaticRotation": enabled(k.rotation_enabled),
        "MaterialExpireTime": "",
        "DKMSInstanceId": k.instance_id,
        "DeletionProtection": enabled(k.deletion_protection),
        "DeletionProtectionDescription": k.deletion_protection_description,
    });
    if let (Some(secs), Some(next)) = (k.rotation_interval_s, k.next_rotation_at()) {
        m["RotationInterval"] = json!(format!("{secs}s"));
        m["NextRotationDate"] = json!(iso(next));
    }
    if let (KeyState::PendingDeletion, Some(at)) = (k.state, k.delete_at) {
        m["DeleteDate"] = json!(iso(at));
    }
    m
}

fn key_version_json(key_id: &str, v: &KeyVersion) -> Value {
    json!({"KeyId": key_id, "KeyVersionId": v.id, "CreationDate": iso(v.created_at)})
}

fn create_key(ctx: &Ctx) -> Result<Fields, ApiError> {
    let p = &ctx.params;
    // Deviation: keys live in instances only; a key without DKMSInstanceId (a default key) is
    // not served.
    let instance_id = p.req("DKMSInstanceId")?;
    if let Some(origin) = p.opt("Origin") {
        if origin != "Aliyun_KMS" {
            return Err(ApiError::UnsupportedOperation {
                message: format!(
                    "Origin {origin}: importing key material is not served by mockcloud; use Aliyun_KMS."
                ),
            });
        }
    }
    let spec = KeySpec::parse(p.opt("KeySpec"))?;
    let usage = p.opt("KeyUsage").map(KeyUsage::parse).transpose()?;
    let rotation = rotation_policy(
        p.opt_bool("EnableAutomaticRotation")?.unwrap_or(false),
        p.opt("RotationInterval"),
    )?;
    // ProtectionLevel is ignored with DKMSInstanceId: it follows the instance.
    let new = NewKey {
        instance_id: instance_id.to_string(),
        request: KeyRequest {
            spec,
            usage,
            description: p.opt("Description").unwrap_or("").to_string(),
            rotation,
        },
    };
    let key = ctx.state.backend.create_key(&ctx.caller, &new)?;
    Ok(fields(json!({ "KeyMetadata": key_metadata(&key) })))
}

fn describe_key(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key = ctx
        .state
        .backend
        .describe_key(&ctx.caller, ctx.params.req("KeyId")?)?;
    Ok(fields(json!({ "KeyMetadata": key_metadata(&key) })))
}

const KEY_FILTERS: [&str; 6] = [
    "KeyState",
    "KeySpec",
    "KeyUsage",
    "ProtectionLevel",
    "CreatorType",
    "DKMSInstanceId",
];

fn list_keys(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (page_number, page_size) = ctx.params.paging(10)?;
    let filters = ctx.params.filters(&KEY_FILTERS)?;
    let keys: Vec<Key> = ctx
        .state
        .backend
        .list_keys(&ctx.caller, ctx.region.as_deref())?
        .into_iter()
        .filter(|k| {
            filters.iter().all(|(name, values)| {
                let actual = match *name {
                    "KeyState" => k.state.as_str(),
                    "KeySpec" => k.spec.as_str(),
                    "KeyUsage" => k.usage.as_str(),
                    "ProtectionLevel" => k.protection_level(),
                    // Every key of the mock is a user's key.
                    "CreatorType" => "User",
                    _ => k.instance_id.as_str(),
                };
                values.iter().any(|v| v == actual)
            })
        })
        .collect();
    let items = page(&keys, page_number, page_size)
        .iter()
        .map(|k| json!({"KeyId": k.id, "KeyArn": k.arn()}))
        .collect();
    Ok(fields(json!({
        "PageNumber": page_number,
        "PageSize": page_size,
        "TotalCount": keys.len(),
        "Keys": wrapped("Key", items),
    })))
}

fn enable_key(ctx: &Ctx) -> Result<Fields, ApiError> {
    ctx.state
        .backend
        .enable_key(&ctx.caller, ctx.params.req("KeyId")?)?;
    Ok(Fields::new())
}

fn disable_key(ctx: &Ctx) -> Result<Fields, ApiError> {
    ctx.state
        .backend
        .disable_key(&ctx.caller, ctx.params.req("KeyId")?)?;
    Ok(Fields::new())
}

fn schedule_key_deletion(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let days = ctx
        .params
        .opt_u32("PendingWindowInDays")?
        .ok_or_else(|| ApiError::missing("PendingWindowInDays"))?;
    ctx.state
        .backend
        .schedule_key_deletion(&ctx.caller, key_id, days)?;
    Ok(Fields::new())
}

fn cancel_key_deletion(ctx: &Ctx) -> Result<Fields, ApiError> {
    ctx.state
        .backend
        .cancel_key_deletion(&ctx.caller, ctx.params.req("KeyId")?)?;
    Ok(Fields::new())
}

fn update_key_description(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let description = ctx.params.opt("Description").unwrap_or("");
    ctx.state
        .backend
        .update_key_description(&ctx.caller, key_id, description)?;
    Ok(Fields::new())
}

fn update_rotation_policy(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let enabled = ctx
        .params
        .opt_bool("EnableAutomaticRotation")?
        .ok_or_else(|| ApiError::missing("EnableAutomaticRotation"))?;
    let rotation = rotation_policy(enabled, ctx.params.opt("RotationInterval"))?;
    ctx.state
        .backend
        .update_rotation_policy(&ctx.caller, key_id, rotation)?;
    Ok(Fields::new())
}

fn create_key_version(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (key, v) = ctx
        .state
        .backend
        .create_key_version(&ctx.caller, ctx.params.req("KeyId")?)?;
    Ok(fields(
        json!({ "KeyVersion": key_version_json(&key.id, &v) }),
    ))
}

fn list_key_versions(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let (page_number, page_size) = ctx.params.paging(10)?;
    let key = ctx.state.backend.describe_key(&ctx.caller, key_id)?;
    let items = page(&key.versions, page_number, page_size)
        .iter()
        .map(|v| key_version_json(&key.id, v))
        .collect();
    Ok(fields(json!({
        "PageNumber": page_number,
        "PageSize": page_size,
        "TotalCount": key.versions.len(),
        "KeyVersions": wrapped("KeyVersion", items),
    })))
}

fn describe_key_version(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let version_id = ctx.params.req("KeyVersionId")?;
    let (key, v) = ctx
        .state
        .backend
        .describe_key_version(&ctx.caller, key_id, version_id)?;
    Ok(fields(
        json!({ "KeyVersion": key_version_json(&key.id, &v) }),
    ))
}

fn create_alias(ctx: &Ctx) -> Result<Fields, ApiError> {
    let name = ctx.params.req("AliasName")?;
    let key_id = ctx.params.req("KeyId")?;
    ctx.state.backend.create_alias(&ctx.caller, name, key_id)?;
    Ok(Fields::new())
}

fn update_alias(ctx: &Ctx) -> Result<Fields, ApiError> {
    let name = ctx.params.req("AliasName")?;
    let key_id = ctx.params.req("KeyId")?;
    ctx.state.backend.update_alias(&ctx.caller, name, key_id)?;
    Ok(Fields::new())
}

fn delete_alias(ctx: &Ctx) -> Result<Fields, ApiError> {
    ctx.state
        .backend
        .delete_alias(&ctx.caller, ctx.params.req("AliasName")?)?;
    Ok(Fields::new())
}

fn list_aliases(ctx: &Ctx, key_id: Option<&str>) -> Result<Fields, ApiError> {
    let (page_number, page_size) = ctx.params.paging(10)?;
    let aliases: Vec<Alias> = ctx.state.backend.list_aliases(&ctx.caller, key_id)?;
    let items = page(&aliases, page_number, page_size)
        .iter()
        .map(|a| json!({"AliasName": a.name, "AliasArn": a.arn(), "KeyId": a.key_id}))
        .collect();
    Ok(fields(json!({
        "PageNumber": page_number,
        "PageSize": page_size,
        "TotalCount": aliases.len(),
        "Aliases": wrapped("Alias", items),
    })))
}

fn encrypt(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    // The UTF-8 bytes of Plaintext as given: the service does not base64-decode it.
    let plaintext = ctx.params.req("Plaintext")?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(ApiError::invalid(
            "Plaintext",
            format!("{} bytes: at most {MAX_PLAINTEXT}", plaintext.len()),
        ));
    }
    let context = ctx.params.string_map("EncryptionContext")?;
    let (key, kvid, blob) =
        ctx.state
            .backend
            .encrypt(&ctx.caller, key_id, plaintext.as_bytes(), &context)?;
    let mut f = Fields::new();
    f.insert("KeyId".into(), Value::String(key.id.clone()));
    f.insert("KeyVersionId".into(), Value::String(kvid));
    f.insert("CiphertextBlob".into(), Value::String(b64(&blob)));
    Ok(f)
}

fn decrypt(ctx: &Ctx) -> Result<Fields, ApiError> {
    let blob = ctx.params.base64("CiphertextBlob")?;
    let context = ctx.params.string_map("EncryptionContext")?;
    let (key, kvid, plaintext) = ctx.state.backend.decrypt(&ctx.caller, &blob, &context)?;
    let mut f = Fields::new();
    f.insert("KeyId".into(), Value::String(key.id.clone()));
    f.insert("KeyVersionId".into(), Value::String(kvid));
    f.insert(
        "Plaintext".into(),
        Value::String(String::from_utf8_lossy(&plaintext).into_owned()),
    );
    Ok(f)
}

fn generate_data_key(ctx: &Ctx, with_plaintext: bool) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let by_spec = match ctx.params.opt("KeySpec") {
        None | Some("AES_256") => 32,
        Some("AES_128") => 16,
        Some(other) => {
            return Err(ApiError::invalid(
                "KeySpec",
                format!("{other:?} is not AES_256 or AES_128"),
            ))
        }
    };
    // NumberOfBytes, when given, overrides KeySpec.
    let bytes = match ctx.params.opt_u32("NumberOfBytes")? {
        None => by_spec,
        Some(n) if (1..=1024).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid(
                "NumberOfBytes",
                format!("{n} is outside 1 to 1024"),
            ))
        }
    };
    let context = ctx.params.string_map("EncryptionContext")?;
    let dk = ctx.state.backend.generate_data_key(
        &ctx.caller,
        key_id,
        bytes,
        &context,
        with_plaintext,
    )?;
    let mut f = Fields::new();
    f.insert("KeyId".into(), Value::String(dk.key.id.clone()));
    f.insert("KeyVersionId".into(), Value::String(dk.key_version_id));
    if let Some(p) = dk.plaintext {
        f.insert("Plaintext".into(), Value::String(p));
    }
    f.insert("CiphertextBlob".into(), Value::String(b64(&dk.blob)));
    Ok(f)
}

/// KeyId, KeyVersionId, Algorithm and Digest of AsymmetricSign and AsymmetricVerify.
fn signing_params<'a>(ctx: &'a Ctx) -> Result<(&'a str, &'a str, &'a str, Vec<u8>), ApiError> {
    Ok((
        ctx.params.req("KeyId")?,
        ctx.params.req("KeyVersionId")?,
        ctx.params.req("Algorithm")?,
        ctx.params.base64("Digest")?,
    ))
}

fn asymmetric_sign(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (key_id, kvid, algorithm, digest) = signing_params(ctx)?;
    let (key, sig) =
        ctx.state
            .backend
            .asymmetric_sign(&ctx.caller, key_id, kvid, algorithm, &digest)?;
    Ok(fields(json!({
        "KeyId": key.id,
        "KeyVersionId": kvid,
        "Value": b64(&sig),
    })))
}

fn asymmetric_verify(ctx: &Ctx) -> Result<Fields, ApiError> {
    let (key_id, kvid, algorithm, digest) = signing_params(ctx)?;
    let signature = ctx.params.base64("Value")?;
    let (key, ok) = ctx.state.backend.asymmetric_verify(
        &ctx.caller,
        key_id,
        kvid,
        algorithm,
        &digest,
        &signature,
    )?;
    Ok(fields(json!({
        "KeyId": key.id,
        "KeyVersionId": kvid,
        "Value": ok,
    })))
}

fn get_public_key(ctx: &Ctx) -> Result<Fields, ApiError> {
    let key_id = ctx.params.req("KeyId")?;
    let kvid = ctx.params.req("KeyVersionId")?;
    let (key, pem) = ctx
        .state
        .backend
        .get_public_key(&ctx.caller, key_id, kvid)?;
    Ok(fields(json!({
        "KeyId": key.id,
        "KeyVersionId": kvid,
        "PublicKey": pem,
    })))
}
