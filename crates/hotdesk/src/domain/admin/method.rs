//! Every method of the admin API, in one table: its name on the wire, what it needs of the
//! caller's role. The rules of each method check the caller against this table
//! ([`require`]), and the HTTP layer dispatches on [`Method`] to one handler per method
//! (`http/admin/`, a module per family), so a newcomer looking for `addUser` finds it here
//! and follows the variant from here to both.

use super::error::AdminError;
use crate::domain::model::{AdminSession, EntityKind, Role};

/// What a method needs of the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Look: every get, list and history method.
    Read,
    /// Act on the EM state: log users in and out, forced logout.
    Operate,
    /// Change the directory, the policy and the admin accounts.
    Administer,
}

impl Role {
    /// admin: everything; operator: read and operate; auditor: read only.
    pub fn allows(self, needed: Privilege) -> bool {
        match self {
            Role::Admin => true,
            Role::Operator => needed != Privilege::Administer,
            Role::Auditor => needed == Privilege::Read,
        }
    }
}

/// A method of the config service (`/nbi/configservice/<name>`) or the event service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ServiceInfo,
    ListLogins,
    LoginHistory,
    /// A device's effective configuration, for provisioning systems.
    GetDeviceState,
    ForceLogout,
    GetPolicy,
    SetPolicy,
    CreateChangeSet,
    ValidateChangeSet,
    SubmitChangeSet,
    DiscardChangeSet,
    Get(EntityKind),
    List(EntityKind),
    Add(EntityKind),
    Update(EntityKind),
    Delete(EntityKind),
    /// The event service's one method.
    EventSubscription,
}

use EntityKind::{Admin as Adm, Application as App, Device as Dev, DeviceProfile as Prof, User};
use Method::*;
use Privilege::{Administer, Operate, Read};

/// Each name once; the first name of a method is how it is written back.
const TABLE: &[(&str, Method, Privilege)] = &[
    // CSM spells it with a capital G too.
    ("getServiceInfo", ServiceInfo, Read),
    ("GetServiceInfo", ServiceInfo, Read),
    ("listLogins", ListLogins, Read),
    ("loginHistory", LoginHistory, Read),
    ("getDeviceState", GetDeviceState, Read),
    ("forceLogout", ForceLogout, Operate),
    ("getPolicy", GetPolicy, Read),
    ("setPolicy", SetPolicy, Administer),
    ("createChangeSet", CreateChangeSet, Administer),
    ("validateChangeSet", ValidateChangeSet, Administer),
    ("submitChangeSet", SubmitChangeSet, Administer),
    ("discardChangeSet", DiscardChangeSet, Administer),
    ("getApplication", Get(App), Read),
    ("listApplications", List(App), Read),
    ("addApplication", Add(App), Administer),
    ("updateApplication", Update(App), Administer),
    ("deleteApplication", Delete(App), Administer),
    ("getUser", Get(User), Read),
    ("listUsers", List(User), Read),
    ("addUser", Add(User), Administer),
    ("updateUser", Update(User), Administer),
    ("deleteUser", Delete(User), Administer),
    ("getDeviceProfile", Get(Prof), Read),
    ("listDeviceProfiles", List(Prof), Read),
    ("addDeviceProfile", Add(Prof), Administer),
    ("updateDeviceProfile", Update(Prof), Administer),
    ("deleteDeviceProfile", Delete(Prof), Administer),
    ("getDevice", Get(Dev), Read),
    ("listDevices", List(Dev), Read),
    ("addDevice", Add(Dev), Administer),
    ("updateDevice", Update(Dev), Administer),
    ("deleteDevice", Delete(Dev), Administer),
    ("getAdmin", Get(Adm), Read),
    ("listAdmins", List(Adm), Read),
    ("addAdmin", Add(Adm), Administer),
    ("updateAdmin", Update(Adm), Administer),
    ("deleteAdmin", Delete(Adm), Administer),
    ("eventSubscription", EventSubscription, Read),
];

impl Method {
    /// The config service's method of this name (the event service's: [`Method::event`]).
    pub fn parse(name: &str) -> Option<Method> {
        TABLE
            .iter()
            .find(|(n, m, _)| *n == name && *m != EventSubscription)
            .map(|(_, m, _)| *m)
    }

    /// The event service's method of this name.
    pub fn event(name: &str) -> Option<Method> {
        TABLE
            .iter()
            .find(|(n, m, _)| *n == name && matches!(m, ServiceInfo | EventSubscription))
            .map(|(_, m, _)| *m)
    }

    /// The method's name on the wire.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, m, _)| *m == self)
            .map_or("", |(n, _, _)| n)
    }

    pub fn privilege(self) -> Privilege {
        TABLE
            .iter()
            .find(|(_, m, _)| *m == self)
            .map_or(Administer, |(_, _, p)| *p)
    }
}

/// Code 1000 unless the session's role allows `method`.
pub fn require(session: &AdminSession, method: Method) -> Result<(), AdminError> {
    if session.role.allows(method.privilege()) {
        Ok(())
    } else {
        Err(AdminError::PermissionDenied(session.role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_one_row_and_its_name_finds_it() {
        for (name, method, _) in TABLE {
            let found = match method {
                EventSubscription => Method::event(name),
                _ => Method::parse(name),
            };
            assert_eq!(found, Some(*method), "{name}");
        }
        let mut names: Vec<&str> = TABLE.iter().map(|(n, _, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLE.len(), "a name appears twice");
        for kind in EntityKind::ALL {
            for method in [Get(kind), List(kind), Add(kind), Update(kind), Delete(kind)] {
                assert!(!method.name().is_empty(), "{method:?} has no row");
            }
        }
        assert_eq!(Method::parse("makeCoffee"), None);
        assert_eq!(Method::parse("eventSubscription"), None);
        assert_eq!(Method::event("addUser"), None);
        assert_eq!(Add(User).name(), "addUser");
        assert_eq!(ServiceInfo.name(), "getServiceInfo");
    }
}
