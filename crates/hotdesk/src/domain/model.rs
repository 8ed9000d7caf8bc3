//! The entities of Extension Mobility and the policy that governs them.

use super::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// The case-folded form of a user ID, device name, profile name or app ID. Cisco matches all of
/// them case-insensitively (`my_lower(userid) = my_lower(?)`) but returns them as provisioned:
/// the store indexes on the key and keeps the original beside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    pub fn of(name: &str) -> Key {
        Key(name.to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name that identifies an object of the directory. It keeps the spelling it was provisioned
/// with, for everything shown; whether two names are the same object is a question for its
/// [`Key`] (`is`, `key`), never for `==`, which compares spellings.
macro_rules! identity {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The name as provisioned.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// What the name is looked up and stored by: case folded.
            pub fn key(&self) -> Key {
                Key::of(&self.0)
            }

            /// Whether `other` names the same object, in whatever case.
            pub fn is(&self, other: &str) -> bool {
                Key::of(&self.0) == Key::of(other)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> Self {
                n.0
            }
        }

        /// The spelling, exactly.
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

identity!(
    /// An application user's ID (`appID`).
    AppId
);
identity!(
    /// A user's ID (`userID`).
    UserId
);
identity!(
    /// A device profile's name (`deviceProfile`).
    ProfileName
);
identity!(
    /// A device's name (`deviceName`, `SEP...`).
    DeviceName
);
identity!(
    /// An admin account's user name.
    AdminName
);

/// An application user: a program (kiosk, badge reader, script) that calls the EM API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    pub id: AppId,
    /// argon2id PHC strings of the accepted `appCertificate`s: usually one; two while a
    /// secret is being rotated (the new one and the old one).
    pub certificate_hashes: Vec<String>,
    /// "Standard EM Authentication Proxy Rights": may act for any user.
    pub proxy: bool,
}

/// An end user who logs in to shared phones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub id: UserId,
    pub pin_hash: Option<String>,
    /// Set when the user may call the EM API itself (for itself only).
    pub password_hash: Option<String>,
    pub name: Option<String>,
    /// Associated device profiles, in order; the first is the default.
    pub profiles: Vec<ProfileName>,
    pub max_login_minutes: Option<u32>,
    /// The primary extension (directory number), for a phone login by extension
    /// (`loginType=DN`). Several users may share one; a login by it is then code 216.
    pub extension: Option<String>,
}

/// The configuration a phone takes on while its user is logged in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceProfile {
    pub name: ProfileName,
    pub description: Option<String>,
    /// Free content that a provisioning system reads back.
    pub lines: Vec<String>,
}

/// A shared phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: DeviceName,
    pub model: Option<String>,
    /// CUCM's "Enable Extension Mobility"; a login to a device without it is code 22.
    pub em_enabled: bool,
    /// The profile the device takes while nobody is logged in (CUCM's logout profile); none:
    /// the device's own configuration, which hotdesk does not hold.
    pub logout_profile: Option<ProfileName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// An account of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub username: AdminName,
    pub password_hash: String,
    pub role: Role,
}

/// CUCM's "Multiple Login Behavior" service parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MultipleLogin {
    Allowed,
    /// A user already logged in elsewhere gets code 25.
    #[default]
    NotAllowed,
    /// The user's other login is ended first.
    AutoLogout,
}

impl MultipleLogin {
    pub fn as_str(self) -> &'static str {
        match self {
            MultipleLogin::Allowed => "allowed",
            MultipleLogin::NotAllowed => "not-allowed",
            MultipleLogin::AutoLogout => "auto-logout",
        }
    }

    pub fn parse(s: &str) -> Option<MultipleLogin> {
        match s {
            "allowed" => Some(MultipleLogin::Allowed),
            "not-allowed" => Some(MultipleLogin::NotAllowed),
            "auto-logout" => Some(MultipleLogin::AutoLogout),
            _ => None,
        }
    }
}

/// The service parameters (the directory file's `[policy]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub multiple_login: MultipleLogin,
    /// Intra-cluster maximum login time; 0 = none.
    pub max_login_minutes: u32,
    pub enforce_max_login: bool,
    pub remember_last_user: bool,
    /// In-flight EM writes before code 26. 0 refuses every write: a maintenance switch.
    pub max_concurrent_requests: u32,
    pub validate_ip: bool,
    /// Addresses (`10.0.0.5`) or networks (`10.1.0.0/16`) trusted when `validate_ip` is on.
    pub trusted_ips: TrustedIps,
    pub allow_proxy: bool,
    /// Digits a PIN chosen at the phone must have at least (1 to [`MAX_PIN_DIGITS`]).
    pub min_pin_length: u32,
    /// Whether phones may log in through the phone service; off, every phone screen says so.
    pub phone_service: bool,
}

/// The most digits a PIN may have.
pub const MAX_PIN_DIGITS: usize = 16;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            multiple_login: MultipleLogin::NotAllowed,
            max_login_minutes: 0,
            enforce_max_login: false,
            remember_last_user: true,
            max_concurrent_requests: 64,
            validate_ip: false,
            trusted_ips: TrustedIps::default(),
            allow_proxy: true,
            min_pin_length: 4,
            phone_service: true,
        }
    }
}

/// A user logged in on a device: one row per device at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub device: DeviceName,
    pub user: UserId,
    pub profile: ProfileName,
    /// The app user that asked for it.
    pub app: String,
    pub logged_in_at: Timestamp,
    /// When the auto-logout fires; `None` is indefinite.
    pub deadline: Option<Timestamp>,
}

impl Login {
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }
}

/// Tries of one user's PIN, counted where every node sees them: a guesser must not get five
/// tries per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinGuard {
    /// Wrong PINs since `window_start`.
    pub failures: u32,
    /// The first wrong PIN of the window.
    pub window_start: Timestamp,
    /// Every PIN of the user is refused until then.
    pub locked_until: Option<Timestamp>,
}

/// A profile menu shown to a phone, waiting for the person to pick (see `domain::phone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneMenu {
    /// Hex SHA-256 of the token in the menu's URLs: the token itself is never stored.
    pub token_hash: String,
    pub device: DeviceName,
    pub user: UserId,
    /// The profiles offered, in menu order.
    pub profiles: Vec<ProfileName>,
    pub expires_at: Timestamp,
}

/// A device with what EM knows about it right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    pub device: Device,
    pub login: Option<Login>,
    /// The user of the device's most recent ended login (`lastlogin`).
    pub last_user: Option<String>,
}

/// What a device is configured with at one moment, for a provisioning system to rebuild the
/// phone from: the profile it takes (a user's while logged in, else its logout profile) with
/// its lines, and the login it comes from. `getDeviceState` answers it; every login and logout
/// event carries it as the device is after the event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EffectiveProfile {
    /// The user logged in, or none.
    pub user: Option<UserId>,
    pub profile: Option<DeviceProfile>,
    pub logged_in_at: Option<Timestamp>,
    pub deadline: Option<Timestamp>,
}

/// What happened, for the outbox (a change and its event commit together:
/// docs/architecture.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Login,
    Logout,
    AutoLogout,
    LogoutAll,
    ConfigChange,
    /// An admin API session began or ended (who, from where).
    AdminSession,
    /// A user's PIN was refused too often and is locked for a while.
    PinLockout,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::Logout => "logout",
            EventKind::AutoLogout => "autoLogout",
            EventKind::LogoutAll => "logoutAll",
            EventKind::ConfigChange => "configChange",
            EventKind::AdminSession => "adminSession",
            EventKind::PinLockout => "pinLockout",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::Login,
            EventKind::Logout,
            EventKind::AutoLogout,
            EventKind::LogoutAll,
            EventKind::ConfigChange,
            EventKind::AdminSession,
            EventKind::PinLockout,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An event before it has its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at: Timestamp,
    pub kind: EventKind,
    /// Who caused it: an app ID, an admin, or `scheduler`.
    pub actor: Option<String>,
    pub device: Option<String>,
    pub user: Option<String>,
    pub profile: Option<String>,
    /// Free text: the reason of an auto-logout, what an import changed.
    pub detail: Option<String>,
    /// A login's or logout's device as it is after the event.
    pub state: Option<EffectiveProfile>,
}

impl NewEvent {
    pub fn new(at: Timestamp, kind: EventKind) -> Self {
        NewEvent {
            at,
            kind,
            actor: None,
            device: None,
            user: None,
            profile: None,
            detail: None,
            state: None,
        }
    }

    /// An event about one login (login, logout, auto-logout).
    pub fn for_login(at: Timestamp, kind: EventKind, login: &Login, actor: &str) -> Self {
        NewEvent {
            at,
            kind,
            actor: Some(actor.to_string()),
            device: Some(login.device.to_string()),
            user: Some(login.user.to_string()),
            profile: Some(login.profile.to_string()),
            detail: None,
            state: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// An event as stored, with its place in the one ordered sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub event: NewEvent,
}

/// How many of each entity the directory holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryCounts {
    pub apps: u64,
    pub users: u64,
    pub profiles: u64,
    pub devices: u64,
    pub admins: u64,
}

impl DirectoryCounts {
    pub fn is_empty(&self) -> bool {
        *self == DirectoryCounts::default()
    }
}

/// The policy's `trusted_ips` as written, each entry parsed once, the first time an address
/// is checked against them (never when `validate_ip` is off): after that a check compares
/// against addresses and networks, not against text to parse again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct TrustedIps {
    written: Vec<String>,
    #[serde(skip)]
    entries: std::sync::OnceLock<Vec<TrustedEntry>>,
}

impl From<Vec<String>> for TrustedIps {
    fn from(written: Vec<String>) -> Self {
        TrustedIps {
            written,
            entries: std::sync::OnceLock::new(),
        }
    }
}

impl From<TrustedIps> for Vec<String> {
    fn from(ips: TrustedIps) -> Self {
        ips.written
    }
}

/// Two lists are the same when they are written the same.
impl PartialEq for TrustedIps {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

impl Eq for TrustedIps {}

impl TrustedIps {
    /// The entries as the administrator wrote them, in order.
    pub fn as_written(&self) -> &[String] {
        &self.written
    }

    fn entries(&self) -> &[TrustedEntry] {
        self.entries
            .get_or_init(|| self.written.iter().map(|t| trusted_entry(t)).collect())
    }
}

/// One entry of `trusted_ips`: an address, a network, or a host name compared as text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TrustedEntry {
    Net(ipnet::IpNet),
    Addr(std::net::IpAddr),
    Name(String),
}

fn trusted_entry(text: &str) -> TrustedEntry {
    let text = text.trim();
    if let Ok(a) = text.parse() {
        TrustedEntry::Addr(a)
    } else if let Ok(n) = text.parse() {
        TrustedEntry::Net(n)
    } else {
        TrustedEntry::Name(text.to_ascii_lowercase())
    }
}

impl Policy {
    /// Whether `ip` is on the trusted list.
    pub fn trusts(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_ips.entries().iter().any(|t| match t {
            TrustedEntry::Addr(a) => a.to_canonical() == ip,
            TrustedEntry::Net(n) => n.contains(&ip),
            TrustedEntry::Name(_) => false,
        })
    }

    /// Whether a `remoteIPAddr` as sent (an address, or a host name) is on the trusted list.
    pub fn trusts_text(&self, text: &str) -> bool {
        match text.parse::<std::net::IpAddr>() {
            Ok(ip) => self.trusts(ip),
            Err(_) => {
                let name = text.to_ascii_lowercase();
                self.trusted_ips
                    .entries()
                    .iter()
                    .any(|t| matches!(t, TrustedEntry::Name(n) if *n == name))
            }
        }
    }

    /// Problems a human must fix before this policy is used.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=MAX_PIN_DIGITS as u32).contains(&self.min_pin_length) {
            problems.push(format!(
                "min_pin_length: {} is not between 1 and {MAX_PIN_DIGITS}",
                self.min_pin_length
            ));
        }
        for t in self.trusted_ips.as_written() {
            let t = t.trim();
            let looks_numeric =
                t.contains('/') || t.chars().all(|c| c.is_ascii_hexdigit() || ".:".contains(c));
            if t.is_empty() || (looks_numeric && matches!(trusted_entry(t), TrustedEntry::Name(_)))
            {
                problems.push(format!(
                    "trusted_ips: `{t}` is not an IP address or network"
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_list_takes_addresses_networks_and_names() {
        let p = Policy {
            trusted_ips: vec![
                "10.0.0.5".to_string(),
                "192.168.0.0/16".to_string(),
                "kiosk.example".to_string(),
                "::1".to_string(),
            ]
            .into(),
            ..Policy::default()
        };
        assert!(p.trusts("10.0.0.5".parse().unwrap()));
        assert!(!p.trusts("10.0.0.6".parse().unwrap()));
        assert!(p.trusts("192.168.7.1".parse().unwrap()));
        assert!(p.trusts("::1".parse().unwrap()));
        assert!(p.trusts("::ffff:10.0.0.5".parse().unwrap()));
        assert!(p.trusts_text("KIOSK.example"));
        assert!(!p.trusts_text("other.example"));
        assert!(p.problems().is_empty());
        let bad = Policy {
            trusted_ips: vec!["10.0.0.300".to_string(), "10.0.0.0/40".to_string()].into(),
            ..Policy::default()
        };
        assert_eq!(bad.problems().len(), 2);
    }
}

/// A live session of the admin API. The cookie itself is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// Hex SHA-256 of the `asCookie` value.
    pub token_hash: String,
    pub username: AdminName,
    /// The account's role now (read with the session, so a changed role applies at once).
    pub role: Role,
    pub created_at: Timestamp,
    /// Inactivity deadline: every authenticated call, ping and heartbeat moves it.
    pub expires_at: Timestamp,
    /// Where heartbeats go, when the client asked for them.
    pub callback_url: Option<String>,
    /// The address the session was opened from.
    pub peer: Option<String>,
    /// The event service's cursor: `Some(seq)` when the session subscribed, events after `seq`
    /// are still to be delivered to `callback_url`.
    pub events_after: Option<i64>,
}

impl AdminSession {
    /// `what` and where the session's caller is: the detail of its audit events.
    pub fn audit(&self, what: impl std::fmt::Display) -> String {
        match &self.peer {
            Some(peer) => format!("{what} from {peer}"),
            None => what.to_string(),
        }
    }
}

/// The kinds of object the directory holds, as the admin API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntityKind {
    Application,
    User,
    DeviceProfile,
    Device,
    Admin,
}

impl EntityKind {
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Application,
        EntityKind::User,
        EntityKind::DeviceProfile,
        EntityKind::Device,
        EntityKind::Admin,
    ];

    /// The element and method stem: `<user>`, `addUser`.
    pub fn element(self) -> &'static str {
        match self {
            EntityKind::Application => "application",
            EntityKind::User => "user",
            EntityKind::DeviceProfile => "deviceProfile",
            EntityKind::Device => "device",
            EntityKind::Admin => "admin",
        }
    }

    /// The stem of its method names: `addDeviceProfile`, `listDeviceProfiles`.
    pub fn stem(self) -> &'static str {
        match self {
            EntityKind::Application => "Application",
            EntityKind::User => "User",
            EntityKind::DeviceProfile => "DeviceProfile",
            EntityKind::Device => "Device",
            EntityKind::Admin => "Admin",
        }
    }

    /// The element that names one object: `<id>`, `<name>`, `<username>`.
    pub fn key_field(self) -> &'static str {
        match self {
            EntityKind::Application | EntityKind::User => "id",
            EntityKind::DeviceProfile | EntityKind::Device => "name",
            EntityKind::Admin => "username",
        }
    }
}

/// Staged admin edits, applied together by `submitChangeSet` (CSM's change session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub id: String,
    /// The admin who created it: only they may stage into it, submit or discard it.
    pub owner: AdminName,
    pub created_at: Timestamp,
    /// The edits in the order they were staged, each serialized by the domain.
    pub edits: Vec<String>,
}
