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
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for ApiError {}
