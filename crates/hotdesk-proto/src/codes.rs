//! The one table of EM response codes (Cisco's "EM Service API response codes").

/// An EM error code as carried in `<error code="N">`. Codes and messages follow Cisco's
/// developer guide; 13–17 and 24 are not defined by Cisco and so not here either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unknown,
    Parsing,
    CannotAuthorize,
    InvalidAppUser,
    PolicyValidation,
    DeviceLogonDisabledAtLogout,
    Database,
    LogoutRequest,
    QueryTypeUndetermined,
    DirectoryUserInfo,
    NoProxyRights,
    DeviceDoesNotExist,
    ProfileNotFound,
    AnotherUserLoggedIn,
    NoUserLoggedIn,
    HotelingFlag,
    HotelingStatus,
    DeviceLogonDisabled,
    UserNotFound,
    UserLoggedInElsewhere,
    Busy,
    ChangePassword,
    UntrustedIp,
    RisDown,
    ProxyNotAllowed,
}

/// `(code, variant, message)`: the whole table in one place.
const TABLE: &[(u16, ErrorCode, &str)] = &[
    (0, ErrorCode::Unknown, "Unknown Error"),
    (1, ErrorCode::Parsing, "Error on Parsing"),
    (2, ErrorCode::CannotAuthorize, "Cannot authorize App user"),
    (3, ErrorCode::InvalidAppUser, "Invalid App User"),
    (4, ErrorCode::PolicyValidation, "Policy Validation error"),
    (
        5,
        ErrorCode::DeviceLogonDisabledAtLogout,
        "Device logon disabled",
    ),
    (6, ErrorCode::Database, "Database Error"),
    (7, ErrorCode::LogoutRequest, "Logout Request Error"),
    (
        8,
        ErrorCode::QueryTypeUndetermined,
        "Query type undetermined",
    ),
    (9, ErrorCode::DirectoryUserInfo, "Dir. User Info Error"),
    (10, ErrorCode::NoProxyRights, "User lacks app proxy rights"),
    (11, ErrorCode::DeviceDoesNotExist, "Device does not exist"),
    (12, ErrorCode::ProfileNotFound, "Dev. Profile not found"),
    (18, ErrorCode::AnotherUserLoggedIn, "Another user logged in"),
    (19, ErrorCode::NoUserLoggedIn, "No user logged in"),
    (20, ErrorCode::HotelingFlag, "Hoteling flag error"),
    (21, ErrorCode::HotelingStatus, "Hoteling Status error"),
    (22, ErrorCode::DeviceLogonDisabled, "Device logon disabled"),
    (23, ErrorCode::UserNotFound, "User not found"),
    (
        25,
        ErrorCode::UserLoggedInElsewhere,
        "User logged in elsewhere",
    ),
    (26, ErrorCode::Busy, "Busy, please try again"),
    (27, ErrorCode::ChangePassword, "Change Password"),
    (28, ErrorCode::UntrustedIp, "Untrusted IP Error"),
    (29, ErrorCode::RisDown, "RIS down-contact admin"),
    (30, ErrorCode::ProxyNotAllowed, "Proxy not allowed"),
];

impl ErrorCode {
    fn row(self) -> &'static (u16, ErrorCode, &'static str) {
        TABLE
            .iter()
            .find(|row| row.1 == self)
            .expect("every ErrorCode has a row in TABLE")
    }

    /// The number on the wire.
    pub fn code(self) -> u16 {
        self.row().0
    }

    /// Cisco's message for the code.
    pub fn message(self) -> &'static str {
        self.row().2
    }

    /// The code with that number, if Cisco defines one.
    pub fn from_code(code: u16) -> Option<ErrorCode> {
        TABLE.iter().find(|row| row.0 == code).map(|row| row.1)
    }

    /// Every code, in numeric order (for docs and tests).
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        TABLE.iter().map(|row| row.1)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_and_is_ordered() {
        let codes: Vec<u16> = ErrorCode::all().map(ErrorCode::code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted, "codes are unique and in order");
        for c in ErrorCode::all() {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code(13), None);
        assert_eq!(ErrorCode::Busy.code(), 26);
        assert_eq!(
            ErrorCode::AnotherUserLoggedIn.message(),
            "Another user logged in"
        );
    }
}
