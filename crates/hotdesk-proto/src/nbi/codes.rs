//! The one table of NBI error codes, and the error value that carries one.

use std::fmt;

/// An NBI error code as carried in `<error><code>N</code>…` or a bare `<baseError>`.
///
/// Codes below 1000 are Cisco Security Manager's (`reference/csm-api.md` §2.3, §2.4) where we
/// use them; codes from 1000 up are our own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NbiCode {
    GeneralFailure,
    NoSession,
    InvalidSession,
    BadCredentials,
    SessionLimit,
    BadInput,
    EmptyPayload,
    InvalidXml,
    CallbackNotHttps,
    UnsupportedVersion,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    InvalidValue,
    UnknownMethod,
    ChangeSetNotFound,
    InUse,
    TooManyAttempts,
    DuplicateSubscription,
}

/// Every code, in numeric order.
const ALL: [NbiCode; 19] = [
    NbiCode::GeneralFailure,
    NbiCode::NoSession,
    NbiCode::InvalidSession,
    NbiCode::BadCredentials,
    NbiCode::SessionLimit,
    NbiCode::BadInput,
    NbiCode::EmptyPayload,
    NbiCode::InvalidXml,
    NbiCode::CallbackNotHttps,
    NbiCode::UnsupportedVersion,
    NbiCode::PermissionDenied,
    NbiCode::NotFound,
    NbiCode::AlreadyExists,
    NbiCode::InvalidValue,
    NbiCode::UnknownMethod,
    NbiCode::ChangeSetNotFound,
    NbiCode::InUse,
    NbiCode::TooManyAttempts,
    NbiCode::DuplicateSubscription,
];

impl NbiCode {
    /// `(number, default description)`: the whole table, checked for exhaustiveness by the
    /// compiler.
    const fn row(self) -> (u32, &'static str) {
        match self {
            NbiCode::GeneralFailure => (1, "General Failure"),
            NbiCode::NoSession => (4, "Authorization Failure: No session found"),
            NbiCode::InvalidSession => (5, "Authorization Failure: Invalid or expired session"),
            NbiCode::BadCredentials => (
                7,
                "Authentication Failure: invalid username and/or password",
            ),
            NbiCode::SessionLimit => (9, "Maximum active session limit reached"),
            NbiCode::BadInput => (11, "User input validation error"),
            NbiCode::EmptyPayload => (13, "XML request payload contains no data"),
            NbiCode::InvalidXml => (15, "XML request is invalid"),
            NbiCode::CallbackNotHttps => {
                (16, "Only the HTTPS protocol is allowed for a callback URL")
            }
            NbiCode::UnsupportedVersion => (17, "Unsupported protVersion"),
            NbiCode::PermissionDenied => (
                1000,
                "Permission denied: the role does not allow this method",
            ),
            NbiCode::NotFound => (1001, "Object not found"),
            NbiCode::AlreadyExists => (1002, "Object already exists"),
            NbiCode::InvalidValue => (1003, "Invalid value"),
            NbiCode::UnknownMethod => (1004, "Unknown method"),
            NbiCode::ChangeSetNotFound => (1005, "Change set not found"),
            NbiCode::InUse => (1006, "Object is in use"),
            NbiCode::TooManyAttempts => (1007, "Too many failed attempts; try again later"),
            // CSM's number for the same condition of its eventSubscription method.
            NbiCode::DuplicateSubscription => (4001, "Duplicate event subscription"),
        }
    }

    /// The number on the wire.
    pub const fn code(self) -> u32 {
        self.row().0
    }

    /// The default description, used by [`NbiError::new`].
    pub const fn description(self) -> &'static str {
        self.row().1
    }

    /// The code with that number, if the table has one.
    pub fn from_code(code: u32) -> Option<NbiCode> {
        ALL.into_iter().find(|c| c.code() == code)
    }

    /// Every code, in numeric order (for docs and tests).
    pub fn all() -> impl Iterator<Item = NbiCode> {
        ALL.into_iter()
    }
}

impl fmt::Display for NbiCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.description())
    }
}

/// A failed NBI request: the code and the description sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbiError {
    pub code: NbiCode,
    pub description: String,
}

impl NbiError {
    /// The code with its default description from the table.
    pub fn new(code: NbiCode) -> Self {
        NbiError {
            code,
            description: code.description().to_string(),
        }
    }

    /// The default description followed by `: detail`, for a developer reading the answer.
    pub fn with_detail(code: NbiCode, detail: impl fmt::Display) -> Self {
        NbiError {
            code,
            description: format!("{}: {detail}", code.description()),
        }
    }
}

impl From<NbiCode> for NbiError {
    fn from(code: NbiCode) -> Self {
        NbiError::new(code)
    }
}

impl fmt::Display for NbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NBI error {}: {}", self.code.code(), self.description)
    }
}

impl std::error::Error for NbiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_and_is_ordered() {
        let codes: Vec<u32> = NbiCode::all().map(NbiCode::code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted, "codes are unique and in order");
        for c in NbiCode::all() {
            assert_eq!(NbiCode::from_code(c.code()), Some(c));
            assert!(!c.description().is_empty());
        }
        // Every variant is in ALL: the descriptions are unique too, so 19 distinct rows.
        let mut descriptions: Vec<&str> = NbiCode::all().map(NbiCode::description).collect();
        descriptions.sort_unstable();
        descriptions.dedup();
        assert_eq!(descriptions.len(), 19);
        assert_eq!(NbiCode::from_code(0), None);
        assert_eq!(NbiCode::from_code(8), None);
        assert_eq!(NbiCode::from_code(1008), None);
    }

    #[test]
    fn the_numbers_of_the_contract() {
        let expected = [
            (NbiCode::GeneralFailure, 1),
            (NbiCode::NoSession, 4),
            (NbiCode::InvalidSession, 5),
            (NbiCode::BadCredentials, 7),
            (NbiCode::SessionLimit, 9),
            (NbiCode::BadInput, 11),
            (NbiCode::EmptyPayload, 13),
            (NbiCode::InvalidXml, 15),
            (NbiCode::CallbackNotHttps, 16),
            (NbiCode::UnsupportedVersion, 17),
            (NbiCode::PermissionDenied, 1000),
            (NbiCode::NotFound, 1001),
            (NbiCode::AlreadyExists, 1002),
            (NbiCode::InvalidValue, 1003),
            (NbiCode::UnknownMethod, 1004),
            (NbiCode::ChangeSetNotFound, 1005),
            (NbiCode::InUse, 1006),
            (NbiCode::TooManyAttempts, 1007),
            (NbiCode::DuplicateSubscription, 4001),
        ];
        for (code, n) in expected {
            assert_eq!(code.code(), n, "{code:?}");
        }
        assert_eq!(NbiCode::all().count(), expected.len());
        assert_eq!(NbiCode::GeneralFailure.description(), "General Failure");
        assert_eq!(
            NbiCode::EmptyPayload.description(),
            "XML request payload contains no data"
        );
    }

    #[test]
    fn errors_and_display() {
        let e = NbiError::new(NbiCode::InvalidXml);
        assert_eq!(e.description, "XML request is invalid");
        let e = NbiError::with_detail(NbiCode::InvalidXml, "unclosed element a");
        assert_eq!(e.description, "XML request is invalid: unclosed element a");
        assert_eq!(
            e.to_string(),
            "NBI error 15: XML request is invalid: unclosed element a"
        );
        assert_eq!(
            NbiError::from(NbiCode::NotFound),
            NbiError::new(NbiCode::NotFound)
        );
        assert_eq!(
            NbiCode::UnsupportedVersion.to_string(),
            "17 (Unsupported protVersion)"
        );
        let _: &dyn std::error::Error = &e;
    }
}
