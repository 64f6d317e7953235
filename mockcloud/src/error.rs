//! The one enum that spells every wire error code the mock returns, with its HTTP status.
//!
//! Domain rules and the backend return [`ApiError`]; only `api` turns it into an HTTP response.
//! Messages never contain secret values (passwords, key material, access key secrets).

use std::fmt;

/// A refusal as the client sees it: the real Alibaba Cloud code, its status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    MissingParameter {
        name: String,
    },
    InvalidParameter {
        name: String,
        reason: String,
    },
    /// A parameter-specific code in the real style, e.g. `InvalidParameter.Spec`.
    InvalidParameterCode {
        code: &'static str,
        message: String,
    },
    InvalidAccessKeyIdNotFound,
    SignatureDoesNotMatch {
        string_to_sign: String,
    },
    IncompleteSignature {
        string_to_sign: String,
    },
    InvalidTimeStampExpired,
    IllegalTimestamp,
    SignatureNonceUsed,
    InvalidVersion {
        version: String,
    },
    InvalidActionNotFound {
        action: String,
    },
    DkmsInstanceNotFound {
        id: String,
    },
    DkmsInstanceStateInvalid {
        id: String,
        status: String,
    },
    ResourceNotExists {
        id: String,
    },
    InvalidVpcIdNotFound {
        id: String,
    },
    InvalidVSwitchIdNotFound {
        id: String,
    },
    InvalidZoneIdNotFound {
        id: String,
    },
    /// A vSwitch with fewer free IPs than enablement takes (S20: 1, S31: 4).
    VSwitchIpNotEnough {
        id: String,
        needed: u32,
    },
    /// A refusal named in the real style for a seed rule with no documented code.
    Rejected {
        code: &'static str,
        message: String,
    },
    /// 400 `Rejected.*`: the content of the request is refused, e.g. an HSM certificate or
    /// credential that does not check out (S32, S33).
    RejectedInput {
        code: &'static str,
        message: String,
    },
    Forbidden {
        code: &'static str,
        message: String,
    },
    NotFound {
        code: &'static str,
        message: String,
    },
    /// An unknown key id, key ARN or key version (also a blob naming an unknown version).
    KeyNotFound {
        what: String,
    },
    AliasNotFound {
        name: String,
    },
    AliasAlreadyExists {
        name: String,
    },
    /// An unknown secret or secret version.
    ResourceNotFound {
        what: String,
    },
    KeyDisabled {
        id: String,
    },
    KeyPendingDeletion {
        id: String,
    },
    /// 400 `Rejected.UnsupportedOperation`: e.g. a key's usage does not allow the operation.
    UnsupportedOperation {
        message: String,
    },
    /// 400 `Rejected.LimitExceeded`: the instance's key or secret quota is used up (S04, S05).
    LimitExceeded {
        message: String,
    },
    /// Request throttling (S51, or an injected fault). `retry_after_ms` becomes the
    /// `x-acs-retry-after` header.
    Throttling {
        retry_after_ms: Option<u64>,
    },
    ServiceUnavailable,
    Internal,
    // ---- external key management (S40-S45). Messages never carry the proxy's access key secret.
    // Deviation: the codes are named in the real style; the real ones are not documented.
    /// 400 `InvalidParameter.XkiProxyDomainName`: the proxy's domain name does not resolve.
    XkiProxyDomainName {
        name: String,
    },
    /// 400 `InvalidParameter.XkiEndpointServiceId`: no such endpoint service in the region.
    XkiEndpointServiceNotFound {
        id: String,
        region: String,
    },
    /// 403 `Forbidden.XkiEndpointServiceAllowlist`: the account is not on its allowlist (S41).
    XkiEndpointServiceAllowlist {
        id: String,
        account: String,
    },
    /// 400 `Rejected.XkiEndpointServiceAutoAccept`: it does not accept connections
    /// automatically (S41).
    XkiEndpointServiceAutoAccept {
        id: String,
    },
    /// 400 `InvalidParameter.XkiEndpointServiceZones`: its zones are not the instance's (S41).
    XkiEndpointServiceZones {
        id: String,
        service_zones: Vec<String>,
        instance_zones: Vec<String>,
    },
    /// 400 `InvalidParameter.XkiCertificateFingerprint`: not a SHA-256 fingerprint, or not the
    /// one of the certificate the proxy presents.
    XkiCertificateFingerprint {
        reason: String,
    },
    /// 400 `InvalidParameter.XkiConfigFile`: the configuration file (S42), naming the field at
    /// fault.
    XkiConfigFile {
        field: String,
        reason: String,
    },
    /// 400 `InvalidParameter.XkiAccessKey`: the proxy refused the access key (its code given).
    XkiAccessKey {
        access_key_id: String,
        proxy_code: String,
        /// Where the key came from: `XkiAccessKeyId, XkiAccessKeySecret` or the configuration
        /// file's fields.
        source: &'static str,
    },
    /// 400 `Rejected.XkiProxyUnreachable`: the handshake of an enablement found no proxy.
    XkiProxyUnreachable {
        target: String,
        reason: String,
    },
    /// 403 `Forbidden.XkiVendorNotSupported`: the HSM behind the proxy is not of a supported
    /// vendor (S40).
    XkiVendorNotSupported {
        vendor: String,
    },
    /// 400 `Rejected.XkiProxyUnavailable`: a cryptographic operation of an external key could
    /// not reach its proxy (S45: no fallback).
    XkiProxyUnavailable {
        instance: String,
        reason: String,
    },
}

impl ApiError {
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }

    pub fn missing(name: impl Into<String>) -> Self {
        ApiError::MissingParameter { name: name.into() }
    }

    /// The wire code, exactly as the real service spells it.
    pub fn code(&self) -> &str {
        use ApiError::*;
        match self {
            MissingParameter { .. } => "MissingParameter",
            InvalidParameter { .. } => "InvalidParameter",
            InvalidParameterCode { code, .. } => code,
            InvalidAccessKeyIdNotFound => "InvalidAccessKeyId.NotFound",
            SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            IncompleteSignature { .. } => "IncompleteSignature",
            InvalidTimeStampExpired => "InvalidTimeStamp.Expired",
            IllegalTimestamp => "IllegalTimestamp",
            SignatureNonceUsed => "SignatureNonceUsed",
            InvalidVersion { .. } => "InvalidVersion",
            InvalidActionNotFound { .. } => "InvalidAction.NotFound",
            DkmsInstanceNotFound { .. } => "Forbidden.DKMSInstanceNotFound",
            DkmsInstanceStateInvalid { .. } => "Forbidden.DKMSInstanceStateInvalid",
            ResourceNotExists { .. } => "ResourceNotExists",
            InvalidVpcIdNotFound { .. } => "InvalidVpcId.NotFound",
            InvalidVSwitchIdNotFound { .. } => "InvalidVSwitchId.NotFound",
            InvalidZoneIdNotFound { .. } => "InvalidZoneId.NotFound",
            VSwitchIpNotEnough { .. } => "InvalidVSwitchId.IpNotEnough",
            Rejected { code, .. } | Forbidden { code, .. } | NotFound { code, .. } => code,
            RejectedInput { code, .. } => code,
            KeyNotFound { .. } => "Forbidden.KeyNotFound",
            AliasNotFound { .. } => "Forbidden.AliasNotFound",
            AliasAlreadyExists { .. } => "AliasAlreadyExists",
            ResourceNotFound { .. } => "Forbidden.ResourceNotFound",
            KeyDisabled { .. } => "Rejected.Disabled",
            KeyPendingDeletion { .. } => "Rejected.PendingDeletion",
            UnsupportedOperation { .. } => "Rejected.UnsupportedOperation",
            LimitExceeded { .. } => "Rejected.LimitExceeded",
            Throttling { .. } => "Throttling",
            ServiceUnavailable => "ServiceUnavailableTemporary",
            Internal => "InternalFailure",
            XkiProxyDomainName { .. } => "InvalidParameter.XkiProxyDomainName",
            XkiEndpointServiceNotFound { .. } => "InvalidParameter.XkiEndpointServiceId",
            XkiEndpointServiceAllowlist { .. } => "Forbidden.XkiEndpointServiceAllowlist",
            XkiEndpointServiceAutoAccept { .. } => "Rejected.XkiEndpointServiceAutoAccept",
            XkiEndpointServiceZones { .. } => "InvalidParameter.XkiEndpointServiceZones",
            XkiCertificateFingerprint { .. } => "InvalidParameter.XkiCertificateFingerprint",
            XkiConfigFile { .. } => "InvalidParameter.XkiConfigFile",
            XkiAccessKey { .. } => "InvalidParameter.XkiAccessKey",
            XkiProxyUnreachable { .. } => "Rejected.XkiProxyUnreachable",
            XkiVendorNotSupported { .. } => "Forbidden.XkiVendorNotSupported",
            XkiProxyUnavailable { .. } => "Rejected.XkiProxyUnavailable",
        }
    }

    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            InvalidAccessKeyIdNotFound | InvalidActionNotFound { .. } | NotFound { .. } => 404,
            KeyNotFound { .. } | AliasNotFound { .. } | ResourceNotFound { .. } => 404,
            KeyDisabled { .. } | KeyPendingDeletion { .. } => 409,
            InvalidVpcIdNotFound { .. }
            | InvalidVSwitchIdNotFound { .. }
            | InvalidZoneIdNotFound { .. } => 404,
            DkmsInstanceNotFound { .. } | DkmsInstanceStateInvalid { .. } | Forbidden { .. } => 403,
            XkiEndpointServiceAllowlist { .. } | XkiVendorNotSupported { .. } => 403,
            Rejected { .. } => 409,
            Throttling { .. } => 400,
            ServiceUnavailable => 503,
            Internal => 500,
            _ => 400,
        }
    }

    pub fn message(&self) -> String {
        use ApiError::*;
        match self {
            MissingParameter { name } => format!("The parameter \"{name}\" is needed but not provided."),
            InvalidParameter { name, reason } => {
                format!("The specified parameter \"{name}\" is not valid: {reason}")
            }
            InvalidParameterCode { message, .. } | Rejected { message, .. } => message.clone(),
            Forbidden { message, .. } | NotFound { message, .. } => message.clone(),
            RejectedInput { message, .. } => message.clone(),
            InvalidAccessKeyIdNotFound => {
                "The Access Key ID provided does not exist in our records.".into()
            }
            // Exactly one ':' before the string to sign: aliyun-python-sdk-core splits on it.
            SignatureDoesNotMatch { string_to_sign } => format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
            IncompleteSignature { string_to_sign } => format!(
                "The request signature does not conform to Aliyun standards. server string to sign is:{string_to_sign}"
            ),
            InvalidTimeStampExpired => "Specified time stamp or date value is expired.".into(),
            IllegalTimestamp => "The input parameter \"Timestamp\" that is mandatory for processing this request is not supplied or is malformed.".into(),
            SignatureNonceUsed => "Specified signature nonce was used already.".into(),
            InvalidVersion { version } => format!("Specified parameter Version \"{version}\" is not valid."),
            InvalidActionNotFound { action } => format!(
                "Specified api \"{action}\" is not found, please check your url and method."
            ),
            DkmsInstanceNotFound { id } => format!("The specified DKMS Instance \"{id}\" is not found."),
            DkmsInstanceStateInvalid { id, status } => {
                format!("The DKMS instance state is invalid: instance \"{id}\" is {status}.")
            }
            ResourceNotExists { id } => format!("The specified instance \"{id}\" does not exist."),
            InvalidVpcIdNotFound { id } => format!("The specified VpcId \"{id}\" is not found."),
            InvalidVSwitchIdNotFound { id } => format!("The specified VSwitchId \"{id}\" is not found."),
            InvalidZoneIdNotFound { id } => format!("The specified ZoneId \"{id}\" is not found in this region."),
            VSwitchIpNotEnough { id, needed: 1 } => format!(
                "The specified vSwitch \"{id}\" has no available IP address; enabling an instance needs at least 1."
            ),
            VSwitchIpNotEnough { id, needed } => format!(
                "The specified vSwitch \"{id}\" has not enough available IP addresses; enabling this instance needs at least {needed} in each vSwitch."
            ),
            KeyNotFound { what } => format!("The specified Key is not found: {what}."),
            AliasNotFound { name } => format!("The specified Alias \"{name}\" is not found."),
            AliasAlreadyExists { name } => format!("AliasName \"{name}\" Already Exists."),
            ResourceNotFound { what } => format!("The resource is not found: {what}."),
            KeyDisabled { id } => {
                format!("The request was rejected because the key state is Disabled: key {id}.")
            }
            KeyPendingDeletion { id } => format!(
                "The request was rejected because the key state is PendingDeletion: key {id}."
            ),
            UnsupportedOperation { message } | LimitExceeded { message } => message.clone(),
            Throttling { .. } => "Request was denied due to request throttling.".into(),
            ServiceUnavailable => "Service Unavailable Temporary.".into(),
            Internal => "Internal Failure".into(),
            XkiProxyDomainName { name } => format!(
                "The specified XkiProxyDomainName \"{name}\" does not resolve: no such public domain name."
            ),
            XkiEndpointServiceNotFound { id, region } => format!(
                "The specified XkiEndpointServiceId \"{id}\" is not an endpoint service in region {region}."
            ),
            XkiEndpointServiceAllowlist { id, account } => format!(
                "Account {account} is not on the allowlist of the endpoint service \"{id}\" (XkiEndpointServiceId): add it to the service's allowlist first."
            ),
            XkiEndpointServiceAutoAccept { id } => format!(
                "The endpoint service \"{id}\" (XkiEndpointServiceId) does not accept endpoint connections automatically: set Automatically Accept Endpoint Connections to Yes."
            ),
            XkiEndpointServiceZones { id, service_zones, instance_zones } => format!(
                "The zones of the endpoint service \"{id}\" (XkiEndpointServiceId) are [{}] but the instance's zones (ZoneIds) are [{}]: they must be the same.",
                service_zones.join(", "),
                instance_zones.join(", ")
            ),
            XkiCertificateFingerprint { reason } => format!(
                "The specified parameter \"XkiCertificateFingerprint\" is not valid: {reason}"
            ),
            XkiConfigFile { field, reason } => format!(
                "The specified parameter \"XkiConfigFile\" is not valid: field {field}: {reason}"
            ),
            XkiAccessKey {
                proxy_code, source, ..
            } => format!(
                "The XKI proxy refused the access key ({source}): {proxy_code}."
            ),
            XkiProxyUnreachable { target, reason } => format!(
                "The XKI proxy at {target} cannot be reached: {reason}."
            ),
            XkiVendorNotSupported { vendor } => format!(
                "The HSM behind the XKI proxy is of vendor \"{vendor}\"; only Jiangnan Tianan HSMs are supported."
            ),
            XkiProxyUnavailable { instance, reason } => format!(
                "The XKI proxy of instance {instance} is unavailable: {reason}. The key material stays in the external HSM; try again when the proxy is back."
            ),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for ApiError {}
