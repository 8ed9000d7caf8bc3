//! The Cisco Extension Mobility (EM) XML wire format, and nothing else.
//!
//! A login application talks to `EMServiceServlet` with one XML document per HTTP request: a
//! `<request>` (login, logout, logoutAll) or a `<query>` (deviceUserQuery, userDevicesQuery,
//! deviceProfileQuery, checkUser). This crate turns such a document into typed values
//! ([`parse`]) and typed outcomes back into the exact bytes Cisco's clients expect ([`render`]).
//!
//! [`phone`] holds the other wire of Extension Mobility, Cisco IP Phone XML: the forms, menus
//! and messages the phone service answers a phone with.
//!
//! It is pure: no I/O, no clock, no async. That keeps it fuzzable and usable by clients too.
//!
//! ```
//! use hotdesk_proto::{parse, EmMessage, Operation};
//! let doc = "<request><appInfo><appID>appid</appID><appCertificate>pw</appCertificate></appInfo>\
//!            <logout><deviceName>SEP003094C25B15</deviceName></logout></request>";
//! let EmMessage::Request { app, op } = parse(doc).unwrap() else { panic!() };
//! assert_eq!(app.app_id, "appid");
//! assert!(matches!(op, Operation::Logout(ref l) if l.device_name == "SEP003094C25B15"));
//! ```

pub mod client;
mod codes;
pub mod dtd;
mod encoding;
pub mod nbi;
mod parse;
pub mod phone;
mod render;
mod tree;

pub use codes::ErrorCode;
pub use encoding::{decode_user_id, encode_user_id};
pub use parse::{MAX_DEPTH, MAX_ELEMENTS, ParseError, parse};
pub use render::render;

/// `appInfo`: who is calling. `appCertificate` is the application user's password in clear;
/// Cisco's own EMApp sends `appEncryptedCertificate`, whose scheme is not public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    pub app_id: String,
    pub certificate: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Plain(String),
    Encrypted(String),
}

/// What a trusted front end (EMApp, a kiosk) says about the phone it relays for:
/// `remoteIPAddr` and `isViaHeaderSet`. Both feed the IP and proxy validation (codes 28, 30).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub remote_ip: Option<String>,
    pub via_header_set: Option<bool>,
    /// `loginType` (DN | SP | UID), sent by CUCM 12 EMApp; accepted and logged, never required.
    pub login_type: Option<String>,
}

/// `exclusiveDuration`: `<time>` minutes (a positive integer) or `<indefinite/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExclusiveDuration {
    Minutes(u32),
    Indefinite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub device_name: String,
    /// Already percent-decoded: `em%40cisco.com` on the wire is `em@cisco.com` here.
    pub user_id: String,
    pub device_profile: Option<String>,
    pub exclusive_duration: Option<ExclusiveDuration>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    pub device_name: String,
    pub origin: Origin,
}

/// The child of `<request>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Login(Login),
    Logout(Logout),
    LogoutAll { origin: Origin },
}

/// The child of `<query>`. Each carries one or more names (the DTD allows batches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `deviceUserQuery`: who is logged in on these devices.
    DeviceUser { device_names: Vec<String> },
    /// `userDevicesQuery`: which devices these users are logged in on.
    UserDevices { user_ids: Vec<String> },
    /// `deviceProfileQuery`, alias `userDeviceProfileQuery`: the users' device profiles.
    DeviceProfile { user_ids: Vec<String> },
    /// `checkUser`: does the user exist here.
    CheckUser { user_ids: Vec<String> },
}

/// A whole EM document, by root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmMessage {
    Request {
        app: AppInfo,
        op: Operation,
    },
    Query {
        app: AppInfo,
        query: Query,
        origin: Origin,
    },
}

/// A typed EM answer. [`render`] turns it into the document sent with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmResponse {
    Success,
    Failure(Failure),
    DeviceUsers(Vec<DeviceUserResult>),
    UserDevices(Vec<UserDevicesResult>),
    DeviceProfiles(Vec<DeviceProfileResult>),
    CheckUser(Vec<CheckUserResult>),
}

/// `<failure><error code="N">message</error></failure>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    /// The code with its message from the table.
    pub fn new(code: ErrorCode) -> Self {
        Failure {
            code,
            message: code.message().to_string(),
        }
    }

    /// The table's message followed by `: detail`, for a developer reading the answer.
    pub fn with_detail(code: ErrorCode, detail: impl std::fmt::Display) -> Self {
        Failure {
            code,
            message: format!("{}: {detail}", code.message()),
        }
    }

    /// Code 3, worded exactly as Cisco's documentation shows it.
    pub fn could_not_authenticate(app_id: &str) -> Self {
        Failure {
            code: ErrorCode::InvalidAppUser,
            message: format!("Could not authenticate '{app_id}'"),
        }
    }
}

impl From<ParseError> for Failure {
    fn from(e: ParseError) -> Self {
        Failure::with_detail(e.code, e.detail)
    }
}

/// One `<device>` of `deviceUserResults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceUserResult {
    /// `<device name="D">` then `userID`|`none`, `lastlogin`|`none`, `emccDevice`.
    Exists {
        name: String,
        user: Option<String>,
        last_login: Option<String>,
        emcc: bool,
    },
    /// `<device name="D"><doesNotExist/></device>`, the name as asked.
    DoesNotExist { name: String },
}

/// One `<user id="U">` of `userDevicesResults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDevicesResult {
    pub user_id: String,
    pub devices: UserDevices,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDevices {
    /// One or more `deviceName`.
    LoggedIn(Vec<String>),
    /// `<none/>`: the user exists and is logged in nowhere.
    None,
    DoesNotExist,
}

/// One `<user id="U">` of `deviceProfileResults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProfileResult {
    pub user_id: String,
    pub profiles: UserProfiles,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserProfiles {
    /// `<deviceProfile><deviceProfileName>P</deviceProfileName><isDefaultDeviceProfile>t|f</...>`.
    Profiles(Vec<ProfileEntry>),
    /// The user exists but has no device profile.
    None,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    pub name: String,
    pub is_default: bool,
}

/// One `<user id="U">` of `checkUserResults`: `<exists>U</exists>` or `<doesNotExist/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUserResult {
    pub user_id: String,
    pub exists: bool,
}
