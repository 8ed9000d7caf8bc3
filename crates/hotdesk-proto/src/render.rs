//! From an [`EmResponse`] to the bytes Cisco's clients expect.
//!
//! The output is built as a string rather than through an XML writer because the shapes are
//! few and fixed, and clients that parse EM answers with string matching or XPath depend on
//! them exactly: compact, no indentation, `<none/>` rather than `<none></none>`. The DTDs in
//! [`crate::dtd`] describe these shapes and the tests validate every variant against them.

use std::fmt::Write as _;

use crate::{
    CheckUserResult, DeviceProfileResult, DeviceUserResult, EmResponse, Failure, UserDevices,
    UserDevicesResult, UserProfiles, encode_user_id,
};

/// The XML declaration every answer starts with. Cisco sends a bare `<?xml version="1.0"?>`
/// for some answers and none for others; naming the encoding costs nothing and settles it.
const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Renders a response document: the prolog, a newline, then compact XML.
///
/// ```
/// use hotdesk_proto::{render, EmResponse};
/// assert_eq!(
///     render(&EmResponse::Success),
///     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><success/></response>"
/// );
/// ```
pub fn render(r: &EmResponse) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(PROLOG);
    out.push_str("<response>");
    match r {
        EmResponse::Success => out.push_str("<success/>"),
        EmResponse::Failure(failure) => failure_xml(&mut out, failure),
        EmResponse::DeviceUsers(items) => {
            results(&mut out, "deviceUserResults", items, device_user)
        }
        EmResponse::UserDevices(items) => {
            results(&mut out, "userDevicesResults", items, user_devices)
        }
        EmResponse::DeviceProfiles(items) => {
            results(&mut out, "deviceProfileResults", items, device_profiles)
        }
        EmResponse::CheckUser(items) => results(&mut out, "checkUserResults", items, check_user),
    }
    out.push_str("</response>");
    out
}

fn failure_xml(out: &mut String, failure: &Failure) {
    // Writing to a String cannot fail.
    let _ = write!(out, "<failure><error code=\"{}\">", failure.code.code());
    escape_into(out, &failure.message);
    out.push_str("</error></failure>");
}

/// `<tag>` + each item + `</tag>`.
fn results<T>(out: &mut String, tag: &str, items: &[T], item: fn(&mut String, &T)) {
    let _ = write!(out, "<{tag}>");
    for i in items {
        item(out, i);
    }
    let _ = write!(out, "</{tag}>");
}

fn device_user(out: &mut String, result: &DeviceUserResult) {
    match result {
        DeviceUserResult::Exists {
            name,
            user,
            last_login,
            emcc,
        } => {
            device_open(out, name);
            optional_user_element(out, "userID", user.as_deref());
            optional_user_element(out, "lastlogin", last_login.as_deref());
            out.push_str(if *emcc {
                "<emccDevice>yes</emccDevice>"
            } else {
                "<emccDevice>no</emccDevice>"
            });
        }
        DeviceUserResult::DoesNotExist { name } => {
            device_open(out, name);
            out.push_str("<doesNotExist/>");
        }
    }
    out.push_str("</device>");
}

fn device_open(out: &mut String, name: &str) {
    out.push_str("<device name=\"");
    escape_into(out, name);
    out.push_str("\">");
}

/// `<tag>ENC(user)</tag>`, or `<none/>` when there is no user.
fn optional_user_element(out: &mut String, tag: &str, user: Option<&str>) {
    match user {
        Some(user) => {
            let _ = write!(out, "<{tag}>");
            escape_into(out, &encode_user_id(user));
            let _ = write!(out, "</{tag}>");
        }
        None => out.push_str("<none/>"),
    }
}

/// `<user id="ENC(user)">`.
fn user_open(out: &mut String, user_id: &str) {
    out.push_str("<user id=\"");
    escape_into(out, &encode_user_id(user_id));
    out.push_str("\">");
}

fn user_devices(out: &mut String, result: &UserDevicesResult) {
    user_open(out, &result.user_id);
    match &result.devices {
        // `deviceName+` in the DTD: an empty list means logged in nowhere, which is `<none/>`.
        UserDevices::LoggedIn(devices) if !devices.is_empty() => {
            for device in devices {
                out.push_str("<deviceName>");
                escape_into(out, device);
                out.push_str("</deviceName>");
            }
        }
        UserDevices::LoggedIn(_) | UserDevices::None => out.push_str("<none/>"),
        UserDevices::DoesNotExist => out.push_str("<doesNotExist/>"),
    }
    out.push_str("</user>");
}

fn device_profiles(out: &mut String, result: &DeviceProfileResult) {
    user_open(out, &result.user_id);
    match &result.profiles {
        UserProfiles::Profiles(profiles) if !profiles.is_empty() => {
            for profile in profiles {
                out.push_str("<deviceProfile><deviceProfileName>");
                escape_into(out, &profile.name);
                out.push_str("</deviceProfileName><isDefaultDeviceProfile>");
                // Informix booleans, as CUCM's EndUserDeviceMap.defaultprofile reads.
                out.push(if profile.is_default { 't' } else { 'f' });
                out.push_str("</isDefaultDeviceProfile></deviceProfile>");
            }
        }
        UserProfiles::Profiles(_) | UserProfiles::None => out.push_str("<none/>"),
        UserProfiles::DoesNotExist => out.push_str("<doesNotExist/>"),
    }
    out.push_str("</user>");
}

fn check_user(out: &mut String, result: &CheckUserResult) {
    user_open(out, &result.user_id);
    if result.exists {
        out.push_str("<exists>");
        escape_into(out, &encode_user_id(&result.user_id));
        out.push_str("</exists>");
    } else {
        out.push_str("<doesNotExist/>");
    }
    out.push_str("</user>");
}

/// Escapes `s` for text and for double-quoted attribute values alike. `'` stays as is:
/// Cisco's code 3 message quotes the app ID with it, and clients compare that text.
///
/// Tab, line feed and carriage return are written as character references: an XML reader
/// turns a literal one in an attribute value into a space, and a literal carriage return in
/// text into a line feed, so only a reference brings them back as sent.
///
/// Characters that XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) become
/// U+FFFD: a device name or message holding one must not make the whole answer ill-formed,
/// and no escape can represent them.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{20}'..='\u{FFFD}' | '\u{10000}'.. => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, ProfileEntry};

    const P: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    fn body(r: &EmResponse) -> String {
        let doc = render(r);
        doc.strip_prefix(P).expect("prolog").to_string()
    }

    #[test]
    fn success() {
        assert_eq!(
            render(&EmResponse::Success),
            format!("{P}<response><success/></response>")
        );
    }

    #[test]
    fn failure_is_escaped() {
        let r = EmResponse::Failure(Failure::could_not_authenticate("a<b>&\"c'"));
        assert_eq!(
            body(&r),
            "<response><failure><error code=\"3\">Could not authenticate 'a&lt;b&gt;&amp;&quot;c''\
             </error></failure></response>"
        );
        let r = EmResponse::Failure(Failure::new(ErrorCode::Busy));
        assert_eq!(
            body(&r),
            "<response><failure><error code=\"26\">Busy, please try again</error></failure></response>"
        );
    }

    #[test]
    fn device_users() {
        let r = EmResponse::DeviceUsers(vec![
            DeviceUserResult::Exists {
                name: "SEP402CF4915265".into(),
                user: Some("em@cisco.com".into()),
                last_login: Some("em".into()),
                emcc: false,
            },
            DeviceUserResult::Exists {
                name: "test_secure".into(),
                user: None,
                last_login: None,
                emcc: true,
            },
            DeviceUserResult::DoesNotExist {
                name: "a\"b&c".into(),
            },
        ]);
        assert_eq!(
            body(&r),
            "<response><deviceUserResults>\
             <device name=\"SEP402CF4915265\"><userID>em%40cisco.com</userID><lastlogin>em</lastlogin><emccDevice>no</emccDevice></device>\
             <device name=\"test_secure\"><none/><none/><emccDevice>yes</emccDevice></device>\
             <device name=\"a&quot;b&amp;c\"><doesNotExist/></device>\
             </deviceUserResults></response>"
        );
    }

    #[test]
    fn user_devices() {
        let r = EmResponse::UserDevices(vec![
            UserDevicesResult {
                user_id: "john".into(),
                devices: UserDevices::LoggedIn(vec![
                    "SEP003094C25B15".into(),
                    "SEP003094C25B49".into(),
                ]),
            },
            UserDevicesResult {
                user_id: "em@cisco.com".into(),
                devices: UserDevices::None,
            },
            UserDevicesResult {
                user_id: "x".into(),
                devices: UserDevices::LoggedIn(vec![]),
            },
            UserDevicesResult {
                user_id: "nobody".into(),
                devices: UserDevices::DoesNotExist,
            },
        ]);
        assert_eq!(
            body(&r),
            "<response><userDevicesResults>\
             <user id=\"john\"><deviceName>SEP003094C25B15</deviceName><deviceName>SEP003094C25B49</deviceName></user>\
             <user id=\"em%40cisco.com\"><none/></user>\
             <user id=\"x\"><none/></user>\
             <user id=\"nobody\"><doesNotExist/></user>\
             </userDevicesResults></response>"
        );
    }

    #[test]
    fn device_profiles() {
        let r = EmResponse::DeviceProfiles(vec![
            DeviceProfileResult {
                user_id: "em@cisco.com".into(),
                profiles: UserProfiles::Profiles(vec![
                    ProfileEntry {
                        name: "EM-SCCP-Profile-7970".into(),
                        is_default: true,
                    },
                    ProfileEntry {
                        name: "P<&>".into(),
                        is_default: false,
                    },
                ]),
            },
            DeviceProfileResult {
                user_id: "a".into(),
                profiles: UserProfiles::None,
            },
            DeviceProfileResult {
                user_id: "b".into(),
                profiles: UserProfiles::Profiles(vec![]),
            },
            DeviceProfileResult {
                user_id: "c".into(),
                profiles: UserProfiles::DoesNotExist,
            },
        ]);
        assert_eq!(
            body(&r),
            "<response><deviceProfileResults>\
             <user id=\"em%40cisco.com\">\
             <deviceProfile><deviceProfileName>EM-SCCP-Profile-7970</deviceProfileName><isDefaultDeviceProfile>t</isDefaultDeviceProfile></deviceProfile>\
             <deviceProfile><deviceProfileName>P&lt;&amp;&gt;</deviceProfileName><isDefaultDeviceProfile>f</isDefaultDeviceProfile></deviceProfile>\
             </user>\
             <user id=\"a\"><none/></user><user id=\"b\"><none/></user><user id=\"c\"><doesNotExist/></user>\
             </deviceProfileResults></response>"
        );
    }

    #[test]
    fn check_user() {
        let r = EmResponse::CheckUser(vec![
            CheckUserResult {
                user_id: "EMuser".into(),
                exists: true,
            },
            CheckUserResult {
                user_id: "em@cisco.com".into(),
                exists: true,
            },
            CheckUserResult {
                user_id: "ghost".into(),
                exists: false,
            },
        ]);
        assert_eq!(
            body(&r),
            "<response><checkUserResults>\
             <user id=\"EMuser\"><exists>EMuser</exists></user>\
             <user id=\"em%40cisco.com\"><exists>em%40cisco.com</exists></user>\
             <user id=\"ghost\"><doesNotExist/></user>\
             </checkUserResults></response>"
        );
    }

    #[test]
    fn empty_batches_render_empty_containers() {
        assert_eq!(
            body(&EmResponse::CheckUser(vec![])),
            "<response><checkUserResults></checkUserResults></response>"
        );
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        let r = EmResponse::DeviceUsers(vec![DeviceUserResult::DoesNotExist {
            name: "a\u{0}b\u{1b}\u{FFFF}c".into(),
        }]);
        assert!(body(&r).contains("<device name=\"a\u{FFFD}b\u{FFFD}\u{FFFD}c\">"));
    }

    #[test]
    fn tab_and_line_ends_are_references() {
        // Found by tests/never_panics.rs: a literal tab or line feed in an attribute value is
        // read as a space, and a literal carriage return in text as a line feed.
        let r = EmResponse::DeviceUsers(vec![DeviceUserResult::DoesNotExist {
            name: "a\tb\nc\r\nd".into(),
        }]);
        assert!(body(&r).contains("<device name=\"a&#9;b&#10;c&#13;&#10;d\">"));
        let r = EmResponse::Failure(Failure {
            code: ErrorCode::Parsing,
            message: "x\ry\tz".into(),
        });
        assert!(body(&r).contains("<error code=\"1\">x&#13;y&#9;z</error>"));
    }

    #[test]
    fn user_ids_are_encoded_before_escaping() {
        // Encoding leaves no XML metacharacter, so the escape step is a no-op for user IDs;
        // it is kept so that no future change to the encoding can break the document.
        let r = EmResponse::CheckUser(vec![CheckUserResult {
            user_id: "<a&b \"c\">".into(),
            exists: true,
        }]);
        assert_eq!(
            body(&r),
            "<response><checkUserResults><user id=\"%3Ca%26b+%22c%22%3E\"><exists>%3Ca%26b+%22c%22%3E</exists></user>\
             </checkUserResults></response>"
        );
    }
}
