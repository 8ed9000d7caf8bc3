//! Why an admin API call was refused. One enum; each variant maps to exactly one NBI code in
//! [`AdminError::code`], as `domain/error.rs` does for EM, so neither the rules nor the wire
//! layer decides a code anywhere else.

use hotdesk_proto::nbi::{NbiCode, NbiError};

use super::super::provision::ProvisionError;
use super::super::store::StoreError;
use crate::domain::model::Role;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Past five failed logins a minute for a name or from an address.
    #[error("too many failed logins")]
    TooManyAttempts,
    #[error("bad user name or password")]
    BadCredentials,
    /// No `asCookie` on a call that needs a session.
    #[error("no session")]
    NoSession,
    /// A cookie of no session, or of one that expired.
    #[error("invalid or expired session")]
    InvalidSession,
    #[error("every session slot is taken")]
    SessionLimit,
    #[error("role {} may not do this", .0.as_str())]
    PermissionDenied(Role),
    /// What is missing (`user jdoe`, `nobody is logged in there`).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A value the rule cannot take.
    #[error("{0}")]
    Invalid(String),
    /// The change would take away something still in use.
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    ChangeSetNotFound(String),
    /// A request the session cannot make (events without a callback URL).
    #[error("{0}")]
    BadInput(String),
    #[error("the session is subscribed already")]
    DuplicateSubscription,
    /// One edit of a change set failed: where it is in the set, and why.
    #[error("{place}: {cause}")]
    InChangeSet {
        place: String,
        cause: Box<AdminError>,
    },
    /// The database failed; the log has the cause, the caller gets code 1.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Work handed to another thread did not come back (it panicked).
    #[error("interrupted")]
    Interrupted,
}

impl AdminError {
    /// The one table from refusal to NBI code.
    pub fn code(&self) -> NbiCode {
        match self {
            AdminError::TooManyAttempts => NbiCode::TooManyAttempts,
            AdminError::BadCredentials => NbiCode::BadCredentials,
            AdminError::NoSession => NbiCode::NoSession,
            AdminError::InvalidSession => NbiCode::InvalidSession,
            AdminError::SessionLimit => NbiCode::SessionLimit,
            AdminError::PermissionDenied(_) => NbiCode::PermissionDenied,
            AdminError::NotFound(_) => NbiCode::NotFound,
            AdminError::AlreadyExists(_) => NbiCode::AlreadyExists,
            AdminError::Invalid(_) => NbiCode::InvalidValue,
            AdminError::InUse(_) => NbiCode::InUse,
            AdminError::ChangeSetNotFound(_) => NbiCode::ChangeSetNotFound,
            AdminError::BadInput(_) => NbiCode::BadInput,
            AdminError::DuplicateSubscription => NbiCode::DuplicateSubscription,
            AdminError::InChangeSet { cause, .. } => cause.code(),
            AdminError::Store(_) | AdminError::Interrupted => NbiCode::GeneralFailure,
        }
    }

    /// What follows the code's own description on the wire, if anything.
    fn detail(&self) -> Option<String> {
        match self {
            AdminError::PermissionDenied(_)
            | AdminError::NotFound(_)
            | AdminError::AlreadyExists(_)
            | AdminError::Invalid(_)
            | AdminError::InUse(_)
            | AdminError::ChangeSetNotFound(_)
            | AdminError::BadInput(_) => Some(self.to_string()),
            _ => None,
        }
    }
}

/// A value the rule cannot take (code 1003).
pub(crate) fn invalid(detail: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(detail.to_string())
}

impl From<ProvisionError> for AdminError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::AlreadyExists(kind, name) => {
                AdminError::AlreadyExists(format!("{kind} {name}"))
            }
            ProvisionError::NotFound(kind, name) => AdminError::NotFound(format!("{kind} {name}")),
            e @ ProvisionError::UnknownProfile(_) => AdminError::Invalid(e.to_string()),
            ProvisionError::Invalid(d) => AdminError::Invalid(d),
            ProvisionError::InUse(d) => AdminError::InUse(d),
        }
    }
}

impl From<AdminError> for NbiError {
    fn from(e: AdminError) -> Self {
        if let AdminError::Store(cause) = &e {
            tracing::error!(error = %cause, "admin API request failed in the store");
        }
        match e {
            AdminError::InChangeSet { place, cause } => {
                let cause = NbiError::from(*cause);
                NbiError {
                    code: cause.code,
                    description: format!("{place}: {}", cause.description),
                }
            }
            e => match e.detail() {
                Some(detail) => NbiError::with_detail(e.code(), detail),
                None => NbiError::new(e.code()),
            },
        }
    }
}
