//! Why an EM operation was refused. One enum; each variant maps to exactly one EM code, so
//! the wire layer never decides a code.

use super::store::StoreError;
use hotdesk_proto::{ErrorCode, Failure, ParseError};

#[derive(Debug, thiserror::Error)]
pub enum EmError {
    #[error("{0}")]
    Parse(ParseError),
    /// Unknown app, wrong certificate, or too many failures (code 3).
    #[error("could not authenticate '{0}'")]
    AppAuth(String),
    /// The caller may act only for itself (code 10).
    #[error("user lacks app proxy rights")]
    NoProxyRights,
    /// More EM writes in flight than the policy allows (code 26).
    #[error("busy")]
    Busy,
    #[error("untrusted IP address {0}")]
    UntrustedIp(String),
    #[error("proxy not allowed")]
    ProxyNotAllowed,
    #[error("device {0} does not exist")]
    DeviceNotFound(String),
    #[error("extension mobility is not enabled on device {0}")]
    DeviceLogonDisabled(String),
    #[error("user {0} does not exist")]
    UserNotFound(String),
    #[error("device profile not found")]
    ProfileNotFound,
    #[error("another user is logged in on the device")]
    AnotherUserLoggedIn,
    #[error("user is logged in on another device")]
    UserLoggedInElsewhere,
    #[error("no user is logged in on the device")]
    NoUserLoggedIn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EmError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EmError::Parse(e) => e.code,
            EmError::AppAuth(_) => ErrorCode::InvalidAppUser,
            EmError::NoProxyRights => ErrorCode::NoProxyRights,
            EmError::Busy => ErrorCode::Busy,
            EmError::UntrustedIp(_) => ErrorCode::UntrustedIp,
            EmError::ProxyNotAllowed => ErrorCode::ProxyNotAllowed,
            EmError::DeviceNotFound(_) => ErrorCode::DeviceDoesNotExist,
            EmError::DeviceLogonDisabled(_) => ErrorCode::DeviceLogonDisabled,
            EmError::UserNotFound(_) => ErrorCode::UserNotFound,
            EmError::ProfileNotFound => ErrorCode::ProfileNotFound,
            EmError::AnotherUserLoggedIn => ErrorCode::AnotherUserLoggedIn,
            EmError::UserLoggedInElsewhere => ErrorCode::UserLoggedInElsewhere,
            EmError::NoUserLoggedIn => ErrorCode::NoUserLoggedIn,
            EmError::Store(_) => ErrorCode::Database,
        }
    }

    /// What goes on the wire. Cisco's messages, word for word; only a parse error adds a
    /// detail, because a developer cannot guess which element we missed.
    pub fn failure(&self) -> Failure {
        match self {
            EmError::Parse(e) => Failure::from(e.clone()),
            EmError::AppAuth(app) => Failure::could_not_authenticate(app),
            other => Failure::new(other.code()),
        }
    }
}
