//! From an EM XML document to an [`EmMessage`].
//!
//! Parsing happens in two steps. First [`quick_xml`] reads the text into a small element tree
//! (names, trimmed text, children; attributes are ignored because EM requests carry none). That
//! step enforces the limits and the XML rules that matter for safety: documents nested deeper
//! than [`MAX_DEPTH`] or holding more than [`MAX_ELEMENTS`] elements are refused, and no entity
//! other than the five predefined ones and character references is ever expanded, so a
//! `<!DOCTYPE>` with an internal subset ("billion laughs") costs nothing. Second, the tree is
//! mapped onto the typed request, with the element names of Cisco's DTDs (case-sensitive).
//!
//! The mapping is as lenient as Cisco's clients need and no more: child order is not checked
//! and unknown children are ignored (EMApp adds elements across releases, such as `loginType`),
//! but a known element that appears twice is refused, so no two readers of one document can
//! disagree about which value counts.

use std::fmt;

use crate::tree::{DoctypePolicy, Element, Limits, NamePolicy, read_tree, shorten};
use crate::{
    AppInfo, Credential, EmMessage, ErrorCode, ExclusiveDuration, Login, Logout, Operation, Origin,
    Query, decode_user_id,
};

#[cfg(test)]
use crate::tree::DETAIL_VALUE_MAX;

/// The deepest element nesting accepted; the root is at depth 1. Real EM documents reach 4
/// (`request/login/exclusiveDuration/time`), so 16 leaves room while bounding the tree.
pub const MAX_DEPTH: usize = 16;

/// The most elements one document may hold, counting every start and empty-element tag,
/// root included. A batch query of about a thousand names still fits.
pub const MAX_ELEMENTS: usize = 1024;

/// What an EM document may hold.
const LIMITS: Limits = Limits {
    max_depth: MAX_DEPTH,
    max_elements: MAX_ELEMENTS,
    // Accepted and ignored: its external id is never fetched and the entities of its internal
    // subset never expanded.
    doctype: DoctypePolicy::Ignore,
    // Element names are matched as written: Cisco's clients send no namespace prefixes.
    names: NamePolicy::Qualified,
    // Processing instructions are legal after the root, but the EM documents of Cisco's
    // clients never hold one there: refusing trailing content is simpler.
    pi_after_root: false,
};

/// Why a document was refused: the EM code to answer with and a short English detail that
/// names the offending element. The detail is meant for a developer and is shown after the
/// code's message, as in `Error on Parsing: missing element appInfo in request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub detail: String,
}

impl ParseError {
    /// Code 1: not well-formed XML, or not a document the DTDs allow.
    fn syntax(detail: impl Into<String>) -> Self {
        ParseError {
            code: ErrorCode::Parsing,
            detail: detail.into(),
        }
    }

    /// Code 8: a well-formed `<query>` whose query type is not one we know.
    fn query_type(detail: impl Into<String>) -> Self {
        ParseError {
            code: ErrorCode::QueryTypeUndetermined,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.message(), self.detail)
    }
}

impl std::error::Error for ParseError {}

/// Parses one EM document (`<request>` or `<query>`).
///
/// Every failure is a [`ParseError`] with code 1, except a `<query>` whose child is not a
/// known query type, which is code 8 as in Cisco's table. This function never panics.
pub fn parse(xml: &str) -> Result<EmMessage, ParseError> {
    let root = read_em_tree(xml)?;
    match root.name.as_str() {
        "request" => parse_request(&root),
        "query" => parse_query(&root),
        other => Err(ParseError::syntax(format!(
            "unknown root element {}: expected request or query",
            shorten(other)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 1: XML text to element tree (`crate::tree`, shared with the NBI).

/// Reads `xml` into a tree (see `crate::tree::read_tree`): every failure is code 1 with the
/// tree reader's detail.
fn read_em_tree(xml: &str) -> Result<Element, ParseError> {
    read_tree(xml, &LIMITS).map_err(|e| ParseError::syntax(e.detail))
}

// ---------------------------------------------------------------------------------------------
// Step 2: element tree to typed message.

/// The children of `<request>` that name the operation.
const OPERATIONS: [&str; 3] = ["login", "logout", "logoutAll"];

/// The children of `<query>` that name the query type. `userDeviceProfileQuery` is the name
/// in Cisco's DevNet example; the DTD and working clients use `deviceProfileQuery`.
const QUERY_TYPES: [&str; 5] = [
    "deviceUserQuery",
    "userDevicesQuery",
    "deviceProfileQuery",
    "userDeviceProfileQuery",
    "checkUser",
];

/// What EM reads of an element. Errors are code 1 and name the parent element as written.
/// (The NBI's own `optional` and `required` are inherent methods of the same type.)
trait EmElement {
    /// The child called `name`, if any; a second one is an error.
    fn optional_child(&self, name: &str) -> Result<Option<&Element>, ParseError>;

    /// The child called `name`, which must be there exactly once.
    fn required_child(&self, name: &str) -> Result<&Element, ParseError>;

    /// The text of the required child `name`, which must not be empty.
    fn required_text(&self, name: &str) -> Result<&str, ParseError>;

    /// The text of the optional child `name`; an empty element counts as absent.
    fn optional_text(&self, name: &str) -> Result<Option<&str>, ParseError>;

    /// The texts of every child called `name`: at least one, none empty (batch queries).
    fn texts(&self, name: &str) -> Result<Vec<String>, ParseError>;

    /// The children whose names are in `names`, in document order.
    fn children_among<'a>(&'a self, names: &'a [&str]) -> Vec<&'a Element>;
}

impl EmElement for Element {
    fn optional_child(&self, name: &str) -> Result<Option<&Element>, ParseError> {
        let mut matches = self.children.iter().filter(|c| c.name == name);
        let first = matches.next();
        if matches.next().is_some() {
            return Err(ParseError::syntax(format!(
                "element {name} appears more than once in {}",
                self.name
            )));
        }
        Ok(first)
    }

    fn required_child(&self, name: &str) -> Result<&Element, ParseError> {
        self.optional_child(name)?
            .ok_or_else(|| ParseError::syntax(format!("missing element {name} in {}", self.name)))
    }

    fn required_text(&self, name: &str) -> Result<&str, ParseError> {
        let child = self.required_child(name)?;
        if child.text.is_empty() {
            return Err(ParseError::syntax(format!(
                "element {name} in {} is empty",
                self.name
            )));
        }
        Ok(&child.text)
    }

    fn optional_text(&self, name: &str) -> Result<Option<&str>, ParseError> {
        Ok(self
            .optional_child(name)?
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty()))
    }

    fn texts(&self, name: &str) -> Result<Vec<String>, ParseError> {
        let mut out = Vec::new();
        for child in self.children.iter().filter(|c| c.name == name) {
            if child.text.is_empty() {
                return Err(ParseError::syntax(format!(
                    "element {name} in {} is empty",
                    self.name
                )));
            }
            out.push(child.text.clone());
        }
        if out.is_empty() {
            return Err(ParseError::syntax(format!(
                "missing element {name} in {}",
                self.name
            )));
        }
        Ok(out)
    }

    fn children_among<'a>(&'a self, names: &'a [&str]) -> Vec<&'a Element> {
        self.children
            .iter()
            .filter(|c| names.contains(&c.name.as_str()))
            .collect()
    }
}

fn parse_request(root: &Element) -> Result<EmMessage, ParseError> {
    let app = parse_app_info(root.required_child("appInfo")?)?;
    let op = match root.children_among(&OPERATIONS).as_slice() {
        [] => {
            return Err(ParseError::syntax(
                "request has no login, logout or logoutAll",
            ));
        }
        [op] => *op,
        [..] => {
            return Err(ParseError::syntax(
                "request has more than one of login, logout, logoutAll",
            ));
        }
    };
    let origin = parse_origin(op)?;
    let op = match op.name.as_str() {
        "login" => Operation::Login(Login {
            device_name: op.required_text("deviceName")?.to_string(),
            user_id: decode_user_id(op.required_text("userID")?),
            device_profile: op.optional_text("deviceProfile")?.map(str::to_string),
            exclusive_duration: op
                .optional_child("exclusiveDuration")?
                .map(parse_exclusive_duration)
                .transpose()?,
            origin,
        }),
        "logout" => Operation::Logout(Logout {
            device_name: op.required_text("deviceName")?.to_string(),
            origin,
        }),
        _ => Operation::LogoutAll { origin },
    };
    Ok(EmMessage::Request { app, op })
}

fn parse_query(root: &Element) -> Result<EmMessage, ParseError> {
    let app = parse_app_info(root.required_child("appInfo")?)?;
    let child = match root.children_among(&QUERY_TYPES).as_slice() {
        [child] => *child,
        [] => {
            let detail = match root.children.iter().find(|c| c.name != "appInfo") {
                Some(unknown) => format!("unknown query type {}", shorten(&unknown.name)),
                None => "query has no deviceUserQuery, userDevicesQuery, deviceProfileQuery \
                         or checkUser"
                    .to_string(),
            };
            return Err(ParseError::query_type(detail));
        }
        [..] => {
            return Err(ParseError::syntax(
                "query has more than one query type element",
            ));
        }
    };
    let origin = parse_origin(child)?;
    let query = match child.name.as_str() {
        "deviceUserQuery" => Query::DeviceUser {
            device_names: child.texts("deviceName")?,
        },
        "userDevicesQuery" => Query::UserDevices {
            user_ids: user_ids(child)?,
        },
        "checkUser" => Query::CheckUser {
            user_ids: user_ids(child)?,
        },
        _ => Query::DeviceProfile {
            user_ids: user_ids(child)?,
        },
    };
    Ok(EmMessage::Query { app, query, origin })
}

/// The `userID` children of a query, percent-decoded.
fn user_ids(query: &Element) -> Result<Vec<String>, ParseError> {
    Ok(query
        .texts("userID")?
        .iter()
        .map(|id| decode_user_id(id))
        .collect())
}

fn parse_app_info(app: &Element) -> Result<AppInfo, ParseError> {
    let app_id = app.required_text("appID")?.to_string();
    // An empty certificate is a wrong password, not a malformed document: authentication
    // answers it (code 3), which is what a client developer needs to hear.
    let plain = app.optional_child("appCertificate")?;
    let encrypted = app.optional_child("appEncryptedCertificate")?;
    let certificate = match (plain, encrypted) {
        (Some(c), None) => Credential::Plain(c.text.clone()),
        (None, Some(c)) => Credential::Encrypted(c.text.clone()),
        (None, None) => {
            return Err(ParseError::syntax(
                "missing element appCertificate or appEncryptedCertificate in appInfo",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ParseError::syntax(
                "appInfo has both appCertificate and appEncryptedCertificate",
            ));
        }
    };
    Ok(AppInfo {
        app_id,
        certificate,
    })
}

/// `remoteIPAddr`, `isViaHeaderSet` and `loginType` of an operation or query element.
fn parse_origin(el: &Element) -> Result<Origin, ParseError> {
    let via_header_set = match el.optional_child("isViaHeaderSet")? {
        None => None,
        Some(v) if v.text.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.text.eq_ignore_ascii_case("false") => Some(false),
        Some(v) => {
            return Err(ParseError::syntax(format!(
                "isViaHeaderSet in {} must be true or false, not \"{}\"",
                el.name,
                shorten(&v.text)
            )));
        }
    };
    Ok(Origin {
        remote_ip: el.optional_text("remoteIPAddr")?.map(str::to_string),
        via_header_set,
        login_type: el.optional_text("loginType")?.map(str::to_string),
    })
}

fn parse_exclusive_duration(el: &Element) -> Result<ExclusiveDuration, ParseError> {
    match (el.optional_child("time")?, el.optional_child("indefinite")?) {
        (Some(time), None) => parse_minutes(&time.text).map(ExclusiveDuration::Minutes),
        (None, Some(_)) => Ok(ExclusiveDuration::Indefinite),
        (None, None) => Err(ParseError::syntax(
            "exclusiveDuration has neither time nor indefinite",
        )),
        (Some(_), Some(_)) => Err(ParseError::syntax(
            "exclusiveDuration has both time and indefinite",
        )),
    }
}

/// Minutes as ASCII digits only: `u32::from_str` would also take `+5`, which no client sends.
fn parse_minutes(text: &str) -> Result<u32, ParseError> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u32>().ok())
        .flatten()
        .filter(|&m| m > 0)
        .ok_or_else(|| {
            ParseError::syntax(format!(
                "exclusiveDuration/time must be a positive whole number of minutes, not \"{}\"",
                shorten(text)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const APP: &str =
        "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";
    const EMAPP: &str = "<appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>";

    fn app() -> AppInfo {
        AppInfo {
            app_id: "appid".into(),
            certificate: Credential::Plain("apppasswd".into()),
        }
    }

    fn emapp() -> AppInfo {
        AppInfo {
            app_id: "CCMSysUser".into(),
            certificate: Credential::Encrypted("xxxxxxx".into()),
        }
    }

    fn request(op: &str) -> String {
        format!("<request>{APP}{op}</request>")
    }

    fn query(q: &str) -> String {
        format!("<query>{APP}{q}</query>")
    }

    fn op(xml: &str) -> Operation {
        match parse(xml) {
            Ok(EmMessage::Request { op, .. }) => op,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn q(xml: &str) -> (Query, Origin) {
        match parse(xml) {
            Ok(EmMessage::Query { query, origin, .. }) => (query, origin),
            other => panic!("expected a query, got {other:?}"),
        }
    }

    /// Asserts `xml` fails with `code` and a detail containing `needle`.
    #[track_caller]
    fn fails(xml: &str, code: ErrorCode, needle: &str) {
        match parse(xml) {
            Err(e) => {
                assert_eq!(e.code, code, "{e}");
                assert!(
                    e.detail.contains(needle),
                    "detail {:?} lacks {needle:?}",
                    e.detail
                );
            }
            Ok(m) => panic!("expected error {code}, parsed {m:?}"),
        }
    }

    fn login(device: &str, user: &str) -> Login {
        Login {
            device_name: device.into(),
            user_id: user.into(),
            device_profile: None,
            exclusive_duration: None,
            origin: Origin::default(),
        }
    }

    // --- Cisco's examples, em-api.md §2.5 to §2.11 ------------------------------------------

    #[test]
    fn cisco_login() {
        let xml = "<request>
  <appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>
  <login>
    <deviceName>SEP003094C25B15</deviceName>
    <userID>john</userID>
    <deviceProfile>UserDevProf</deviceProfile>          <!-- optional -->
    <exclusiveDuration><time>60</time></exclusiveDuration>  <!-- optional; or <indefinite/> -->
  </login>
</request>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Request {
                app: app(),
                op: Operation::Login(Login {
                    device_profile: Some("UserDevProf".into()),
                    exclusive_duration: Some(ExclusiveDuration::Minutes(60)),
                    ..login("SEP003094C25B15", "john")
                }),
            })
        );
    }

    #[test]
    fn login_minimal_and_indefinite() {
        let xml = request("<login><deviceName>SEP1</deviceName><userID>john</userID></login>");
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "john")));

        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID>\
             <exclusiveDuration><indefinite/></exclusiveDuration></login>",
        );
        let Operation::Login(l) = op(&xml) else {
            panic!()
        };
        assert_eq!(l.exclusive_duration, Some(ExclusiveDuration::Indefinite));

        // <indefinite></indefinite> is the same element.
        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID>\
             <exclusiveDuration><indefinite></indefinite></exclusiveDuration></login>",
        );
        let Operation::Login(l) = op(&xml) else {
            panic!()
        };
        assert_eq!(l.exclusive_duration, Some(ExclusiveDuration::Indefinite));
    }

    #[test]
    fn login_with_empty_profile_has_none() {
        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID><deviceProfile/></login>",
        );
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "john")));
        let xml = request(
            "<login><deviceName>SEP1</deviceName><userID>john</userID><deviceProfile>  </deviceProfile></login>",
        );
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "john")));
    }

    #[test]
    fn login_with_origin_and_login_type() {
        let xml = format!(
            "<request>{EMAPP}<login><deviceName>SEP1</deviceName><userID>em%40cisco.com</userID>\
             <remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>FALSE</isViaHeaderSet>\
             <loginType>UID</loginType></login></request>"
        );
        assert_eq!(
            parse(&xml),
            Ok(EmMessage::Request {
                app: emapp(),
                op: Operation::Login(Login {
                    origin: Origin {
                        remote_ip: Some("10.65.40.61".into()),
                        via_header_set: Some(false),
                        login_type: Some("UID".into()),
                    },
                    ..login("SEP1", "em@cisco.com")
                }),
            })
        );
    }

    #[test]
    fn cisco_logout() {
        let xml = request("<logout><deviceName>SEP003094C25B15</deviceName></logout>");
        assert_eq!(
            op(&xml),
            Operation::Logout(Logout {
                device_name: "SEP003094C25B15".into(),
                origin: Origin::default()
            })
        );
    }

    #[test]
    fn emapp_logout_trace() {
        let xml = "<request><appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>
<logout><deviceName>test_secure</deviceName><remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet></logout></request>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Request {
                app: emapp(),
                op: Operation::Logout(Logout {
                    device_name: "test_secure".into(),
                    origin: Origin {
                        remote_ip: Some("10.65.40.61".into()),
                        via_header_set: Some(false),
                        login_type: None,
                    },
                }),
            })
        );
    }

    #[test]
    fn cisco_logout_all() {
        assert_eq!(
            op(&request("<logoutAll></logoutAll>")),
            Operation::LogoutAll {
                origin: Origin::default()
            }
        );
        assert_eq!(
            op(&request("<logoutAll/>")),
            Operation::LogoutAll {
                origin: Origin::default()
            }
        );
        let xml = request(
            "<logoutAll><remoteIPAddr>10.0.0.1</remoteIPAddr><isViaHeaderSet>True</isViaHeaderSet></logoutAll>",
        );
        assert_eq!(
            op(&xml),
            Operation::LogoutAll {
                origin: Origin {
                    remote_ip: Some("10.0.0.1".into()),
                    via_header_set: Some(true),
                    login_type: None
                }
            }
        );
    }

    #[test]
    fn cisco_device_user_query() {
        let xml =
            query("<deviceUserQuery><deviceName>SEP003094C25B15</deviceName></deviceUserQuery>");
        assert_eq!(
            parse(&xml),
            Ok(EmMessage::Query {
                app: app(),
                query: Query::DeviceUser {
                    device_names: vec!["SEP003094C25B15".into()]
                },
                origin: Origin::default(),
            })
        );
    }

    #[test]
    fn emapp_device_user_query_with_login_type() {
        let xml = "<query><appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>
<deviceUserQuery><deviceName>SEP74A02FC09CDF</deviceName><loginType>DN</loginType><remoteIPAddr>10.106.99.235</remoteIPAddr></deviceUserQuery></query>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Query {
                app: emapp(),
                query: Query::DeviceUser {
                    device_names: vec!["SEP74A02FC09CDF".into()]
                },
                origin: Origin {
                    remote_ip: Some("10.106.99.235".into()),
                    via_header_set: None,
                    login_type: Some("DN".into()),
                },
            })
        );
    }

    #[test]
    fn cisco_user_devices_query() {
        let (query, _) = q(&query(
            "<userDevicesQuery><userID>john</userID></userDevicesQuery>",
        ));
        assert_eq!(
            query,
            Query::UserDevices {
                user_ids: vec!["john".into()]
            }
        );
    }

    #[test]
    fn cisco_device_profile_query_and_alias() {
        let (query1, _) = q(&query(
            "<deviceProfileQuery><userID>john</userID></deviceProfileQuery>",
        ));
        let (query2, _) = q(&query(
            "<userDeviceProfileQuery><userID>john</userID></userDeviceProfileQuery>",
        ));
        assert_eq!(
            query1,
            Query::DeviceProfile {
                user_ids: vec!["john".into()]
            }
        );
        assert_eq!(query2, query1);
    }

    #[test]
    fn emapp_check_user_trace() {
        let xml = "<query><appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>
<checkUser><userID>EMuser</userID><remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet></checkUser></query>";
        assert_eq!(
            parse(xml),
            Ok(EmMessage::Query {
                app: emapp(),
                query: Query::CheckUser {
                    user_ids: vec!["EMuser".into()]
                },
                origin: Origin {
                    remote_ip: Some("10.65.40.61".into()),
                    via_header_set: Some(false),
                    login_type: None,
                },
            })
        );
    }

    #[test]
    fn batch_queries() {
        let (query1, _) = q(&query(
            "<deviceUserQuery><deviceName>SEP1</deviceName><deviceName>SEP2</deviceName>\
             <deviceName>SEP3</deviceName></deviceUserQuery>",
        ));
        assert_eq!(
            query1,
            Query::DeviceUser {
                device_names: vec!["SEP1".into(), "SEP2".into(), "SEP3".into()]
            }
        );
        let (query2, _) = q(&query(
            "<userDevicesQuery><userID>john</userID><userID>em%40cisco.com</userID></userDevicesQuery>",
        ));
        assert_eq!(
            query2,
            Query::UserDevices {
                user_ids: vec!["john".into(), "em@cisco.com".into()]
            }
        );
        let (query3, _) = q(&query(
            "<checkUser><userID>a</userID><userID>b</userID></checkUser>",
        ));
        assert_eq!(
            query3,
            Query::CheckUser {
                user_ids: vec!["a".into(), "b".into()]
            }
        );
        let (query4, _) = q(&query(
            "<deviceProfileQuery><userID>a</userID><userID>b%20c</userID></deviceProfileQuery>",
        ));
        assert_eq!(
            query4,
            Query::DeviceProfile {
                user_ids: vec!["a".into(), "b c".into()]
            }
        );
    }

    #[test]
    fn batch_query_of_a_thousand_names_fits_the_limits() {
        let names: String = (0..1000)
            .map(|i| format!("<deviceName>SEP{i:012}</deviceName>"))
            .collect();
        let (query, _) = q(&query(&format!(
            "<deviceUserQuery>{names}</deviceUserQuery>"
        )));
        let Query::DeviceUser { device_names } = query else {
            panic!()
        };
        assert_eq!(device_names.len(), 1000);
    }

    // --- Encoding, whitespace, prolog -------------------------------------------------------

    #[test]
    fn percent_encoded_user_id_is_decoded() {
        let xml =
            request("<login><deviceName>SEP1</deviceName><userID>em%40cisco.com</userID></login>");
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "em@cisco.com")));
        // Not encoded, or not decodable: kept as sent.
        let xml = request("<login><deviceName>SEP1</deviceName><userID>50%off+x</userID></login>");
        assert_eq!(op(&xml), Operation::Login(login("SEP1", "50%off+x")));
    }

    #[test]
    fn whitespace_padded_pretty_printed_input() {
        let xml = "\n\n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
            .trim_start()
            .to_string()
            + "<request>\r\n\t<appInfo>\r\n\t\t<appID>\r\n\t\t\tappid\r\n\t\t</appID>\r\n\
               \t\t<appCertificate>  apppasswd  </appCertificate>\r\n\t</appInfo>\r\n\
               \t<login>\r\n\t\t<deviceName>  SEP1\t</deviceName>\r\n\
               \t\t<userID>\n john \n</userID>\r\n\
               \t\t<exclusiveDuration>\n\t\t\t<time> 30 </time>\n\t\t</exclusiveDuration>\r\n\
               \t</login>\r\n</request>\r\n\r\n";
        assert_eq!(
            parse(&xml),
            Ok(EmMessage::Request {
                app: app(),
                op: Operation::Login(Login {
                    exclusive_duration: Some(ExclusiveDuration::Minutes(30)),
                    ..login("SEP1", "john")
                }),
            })
        );
    }

    #[test]
    fn bom_declaration_comments_and_pis_are_ignored() {
        let xml = format!(
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><?pi x?>{}<!-- trailing -->\n",
            request("<logout><!-- inside --><deviceName>SEP1</deviceName></logout>")
        );
        assert!(matches!(op(&xml), Operation::Logout(l) if l.device_name == "SEP1"));
    }

    #[test]
    fn doctype_with_system_url_is_accepted_not_fetched() {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE query SYSTEM \"http://10.0.0.1:8080/emservice/jsp/LoginQuery.dtd\">\n{}",
            query("<deviceUserQuery><deviceName>SEP1</deviceName></deviceUserQuery>")
        );
        let (query, _) = q(&xml);
        assert_eq!(
            query,
            Query::DeviceUser {
                device_names: vec!["SEP1".into()]
            }
        );
        let xml = format!(
            "<!DOCTYPE request PUBLIC \"-//x//y\" \"file:///etc/passwd\">{}",
            request("<logoutAll/>")
        );
        assert!(matches!(op(&xml), Operation::LogoutAll { .. }));
    }

    const LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE request [
 <!ENTITY lol "lol">
 <!ELEMENT request (#PCDATA)>
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"#;

    #[test]
    fn billion_laughs_entity_is_refused_not_expanded() {
        let start = Instant::now();
        let xml = format!(
            "{LAUGHS}<request><appInfo><appID>&lol9;</appID><appCertificate>x</appCertificate>\
             </appInfo><logoutAll/></request>"
        );
        fails(&xml, ErrorCode::Parsing, "&lol9;");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        // The DOCTYPE alone, with its entities unused, is harmless and ignored.
        let xml = format!("{LAUGHS}{}", request("<logoutAll/>"));
        assert!(matches!(op(&xml), Operation::LogoutAll { .. }));
    }

    #[test]
    fn predefined_entities_char_refs_and_cdata_are_text() {
        let xml = request(
            "<login><deviceName>a&amp;b&lt;c&gt;d&apos;e&quot;f&#65;&#x42;</deviceName>\
             <userID><![CDATA[j<o>&hn]]></userID></login>",
        );
        assert_eq!(
            op(&xml),
            Operation::Login(login("a&b<c>d'e\"fAB", "j<o>&hn"))
        );
    }

    #[test]
    fn bad_references_and_characters_are_refused() {
        for text in [
            "&nbsp;",
            "&#0;",
            "&#1;",
            "&#xFFFE;",
            "&#x110000;",
            "&#xZZ;",
            "a & b",
            "\u{1}",
        ] {
            let xml = request(&format!(
                "<login><deviceName>{text}</deviceName><userID>j</userID></login>"
            ));
            let err = parse(&xml).expect_err(text);
            assert_eq!(err.code, ErrorCode::Parsing, "{text}: {err}");
        }
    }

    // --- Malformed documents ----------------------------------------------------------------

    #[test]
    fn malformed_xml_is_code_1() {
        // Most documents are a valid request with one defect spliced in, so that the error
        // can only come from the defect.
        let valid = |inner: &str| format!("<request>{APP}<logoutAll/>{inner}</request>");
        let v = valid("");
        let cases = [
            String::new(),
            "   \n ".into(),
            "<!-- only a comment -->".into(),
            "<?xml version=\"1.0\"?>".into(),
            "not xml".into(),
            format!("<request>{APP}<logoutAll/>"),
            format!("<request>{APP}<logoutAll></request>"),
            format!("<request>{APP}<logoutAll/></query>"),
            format!("</request>{v}"),
            valid("<a></A>"),
            valid("<a></b>"),
            valid("<x attr=>"),
            valid("<x a/>"),
            valid("<x a=\"1/>"),
            valid("<1x/>"),
            valid("<x\u{1}/>"),
            valid("<!-- bad -- comment -->"),
            valid("<![CDATA[x"),
            valid("<!DOCTYPE x>"),
            format!("{v}<request/>"),
            format!("{v}trailing"),
            format!("text{v}"),
            format!("{v}&amp;"),
            format!("{v}<!DOCTYPE x>"),
            format!("{v}<?pi after?>"),
            format!("{v}<?xml version=\"1.0\"?>"),
            format!("<!-- c --><?xml version=\"1.0\"?>{v}"),
            format!("<!DOCTYPE request><!DOCTYPE request>{v}"),
        ];
        assert!(parse(&v).is_ok());
        for xml in &cases {
            let err = parse(xml).expect_err(xml);
            assert_eq!(err.code, ErrorCode::Parsing, "{xml:?}: {err}");
            assert!(
                !err.detail.contains("missing") && !err.detail.contains("has no"),
                "{xml:?}: {err}"
            );
        }
    }

    #[test]
    fn wrong_root_is_code_1() {
        fails(
            "<response><success/></response>",
            ErrorCode::Parsing,
            "unknown root element response",
        );
        fails(
            &format!("<Request>{APP}<logoutAll/></Request>"),
            ErrorCode::Parsing,
            "Request",
        );
        fails(
            &format!("<em:request xmlns:em=\"x\">{APP}<logoutAll/></em:request>"),
            ErrorCode::Parsing,
            "em:request",
        );
    }

    #[test]
    fn request_structure_errors() {
        fails(
            "<request><logoutAll/></request>",
            ErrorCode::Parsing,
            "missing element appInfo",
        );
        fails(
            &format!("<request>{APP}</request>"),
            ErrorCode::Parsing,
            "request has no login, logout or logoutAll",
        );
        fails(
            &request("<Login/>"),
            ErrorCode::Parsing,
            "request has no login",
        );
        fails(
            &request("<logout><deviceName>a</deviceName></logout><logoutAll/>"),
            ErrorCode::Parsing,
            "more than one",
        );
        fails(
            &format!("<request>{APP}{APP}<logoutAll/></request>"),
            ErrorCode::Parsing,
            "appInfo appears more than once",
        );
        // Unknown extra children are ignored.
        assert!(matches!(
            op(&request("<extra>1</extra><logoutAll><future/></logoutAll>")),
            Operation::LogoutAll { .. }
        ));
    }

    #[test]
    fn app_info_errors() {
        let with_app =
            |app: &str| format!("<request><appInfo>{app}</appInfo><logoutAll/></request>");
        fails(
            &with_app("<appCertificate>x</appCertificate>"),
            ErrorCode::Parsing,
            "missing element appID in appInfo",
        );
        fails(
            &with_app("<appID> </appID><appCertificate>x</appCertificate>"),
            ErrorCode::Parsing,
            "appID in appInfo is empty",
        );
        fails(
            &with_app("<appID>a</appID>"),
            ErrorCode::Parsing,
            "appCertificate",
        );
        fails(
            &with_app(
                "<appID>a</appID><appCertificate>x</appCertificate><appEncryptedCertificate>y</appEncryptedCertificate>",
            ),
            ErrorCode::Parsing,
            "both",
        );
        // An empty certificate is left to authentication.
        let Ok(EmMessage::Request { app, .. }) =
            parse(&with_app("<appID>a</appID><appCertificate/>"))
        else {
            panic!()
        };
        assert_eq!(app.certificate, Credential::Plain(String::new()));
    }

    #[test]
    fn missing_or_empty_device_name_and_user_id() {
        fails(
            &request("<login><userID>john</userID></login>"),
            ErrorCode::Parsing,
            "missing element deviceName in login",
        );
        fails(
            &request("<login><deviceName/><userID>john</userID></login>"),
            ErrorCode::Parsing,
            "deviceName in login is empty",
        );
        fails(
            &request("<login><deviceName>SEP1</deviceName></login>"),
            ErrorCode::Parsing,
            "missing element userID in login",
        );
        fails(
            &request("<login><deviceName>SEP1</deviceName><userID> </userID></login>"),
            ErrorCode::Parsing,
            "userID in login is empty",
        );
        fails(
            &request("<logout></logout>"),
            ErrorCode::Parsing,
            "missing element deviceName in logout",
        );
        fails(
            &request("<logout><deviceName>a</deviceName><deviceName>b</deviceName></logout>"),
            ErrorCode::Parsing,
            "deviceName appears more than once in logout",
        );
    }

    #[test]
    fn bad_exclusive_duration() {
        let with = |d: &str| {
            request(&format!(
                "<login><deviceName>SEP1</deviceName><userID>j</userID><exclusiveDuration>{d}</exclusiveDuration></login>"
            ))
        };
        for time in [
            "abc",
            "0",
            "-5",
            "99999999999",
            "4294967296",
            "+5",
            "1.5",
            "",
            "6 0",
            "٣",
        ] {
            fails(
                &with(&format!("<time>{time}</time>")),
                ErrorCode::Parsing,
                "exclusiveDuration/time must be a positive whole number of minutes",
            );
        }
        let Operation::Login(l) = op(&with("<time>4294967295</time>")) else {
            panic!()
        };
        assert_eq!(
            l.exclusive_duration,
            Some(ExclusiveDuration::Minutes(u32::MAX))
        );
        let Operation::Login(l) = op(&with("<time>0060</time>")) else {
            panic!()
        };
        assert_eq!(l.exclusive_duration, Some(ExclusiveDuration::Minutes(60)));
        fails(&with(""), ErrorCode::Parsing, "neither time nor indefinite");
        fails(
            &with("<time>5</time><indefinite/>"),
            ErrorCode::Parsing,
            "both time and indefinite",
        );
    }

    #[test]
    fn bad_is_via_header_set() {
        for value in ["yes", "1", "", "truee"] {
            fails(
                &request(&format!(
                    "<logoutAll><isViaHeaderSet>{value}</isViaHeaderSet></logoutAll>"
                )),
                ErrorCode::Parsing,
                "isViaHeaderSet in logoutAll must be true or false",
            );
        }
    }

    #[test]
    fn unknown_query_child_is_code_8() {
        fails(
            &query("<fooQuery><userID>x</userID></fooQuery>"),
            ErrorCode::QueryTypeUndetermined,
            "unknown query type fooQuery",
        );
        fails(
            &query("<DeviceUserQuery/>"),
            ErrorCode::QueryTypeUndetermined,
            "DeviceUserQuery",
        );
        fails(
            &query(""),
            ErrorCode::QueryTypeUndetermined,
            "query has no deviceUserQuery",
        );
        // A known query type wins over unknown siblings.
        let (query, _) = q(&query(
            "<fooQuery/><checkUser><userID>x</userID></checkUser>",
        ));
        assert_eq!(
            query,
            Query::CheckUser {
                user_ids: vec!["x".into()]
            }
        );
    }

    #[test]
    fn query_structure_errors() {
        fails(
            "<query><checkUser><userID>x</userID></checkUser></query>",
            ErrorCode::Parsing,
            "missing element appInfo in query",
        );
        fails(
            &query("<deviceUserQuery/>"),
            ErrorCode::Parsing,
            "missing element deviceName in deviceUserQuery",
        );
        fails(
            &query("<deviceUserQuery><userID>x</userID></deviceUserQuery>"),
            ErrorCode::Parsing,
            "deviceName",
        );
        fails(
            &query("<userDevicesQuery></userDevicesQuery>"),
            ErrorCode::Parsing,
            "missing element userID in userDevicesQuery",
        );
        fails(
            &query("<checkUser><userID>a</userID><userID/></checkUser>"),
            ErrorCode::Parsing,
            "userID in checkUser is empty",
        );
        fails(
            &query("<deviceProfileQuery><userID></userID></deviceProfileQuery>"),
            ErrorCode::Parsing,
            "userID in deviceProfileQuery is empty",
        );
        fails(
            &query(
                "<checkUser><userID>a</userID></checkUser><deviceUserQuery><deviceName>b</deviceName></deviceUserQuery>",
            ),
            ErrorCode::Parsing,
            "more than one",
        );
        fails(
            &query(
                "<checkUser><userID>a</userID><isViaHeaderSet>maybe</isViaHeaderSet></checkUser>",
            ),
            ErrorCode::Parsing,
            "isViaHeaderSet in checkUser",
        );
    }

    // --- Limits -----------------------------------------------------------------------------

    #[test]
    fn depth_bomb_is_refused() {
        let nested = |depth: usize| {
            let inner = "<a>".repeat(depth) + &"</a>".repeat(depth);
            request(&format!("<logoutAll>{inner}</logoutAll>"))
        };
        // request + logoutAll + 14 = 16 levels: fine.
        assert!(matches!(
            op(&nested(MAX_DEPTH - 2)),
            Operation::LogoutAll { .. }
        ));
        fails(
            &nested(MAX_DEPTH - 1),
            ErrorCode::Parsing,
            "nested deeper than 16",
        );
        // A huge one fails just as fast, long before the end of the input.
        let start = Instant::now();
        fails(
            &"<a>".repeat(1_000_000),
            ErrorCode::Parsing,
            "nested deeper",
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn element_count_bomb_is_refused() {
        // request, appInfo, appID, appCertificate, logoutAll: 5 elements, plus n.
        let with = |n: usize| request(&format!("<logoutAll>{}</logoutAll>", "<x/>".repeat(n)));
        assert!(matches!(
            op(&with(MAX_ELEMENTS - 5)),
            Operation::LogoutAll { .. }
        ));
        fails(
            &with(MAX_ELEMENTS - 4),
            ErrorCode::Parsing,
            "too many elements",
        );
        fails(&with(1_000_000), ErrorCode::Parsing, "too many elements");
    }

    #[test]
    fn details_quote_input_briefly() {
        let long = "x".repeat(10_000);
        let err = parse(&format!("<{long}/>")).unwrap_err();
        assert!(err.detail.len() < 200, "{}", err.detail.len());
        let err = parse(&query(&format!("<{long}/>"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::QueryTypeUndetermined);
        assert!(err.detail.len() < 200);
    }

    #[test]
    fn xml_errors_quote_tag_names_briefly() {
        // Found while writing tests/never_panics.rs (its detail-length check): quick-xml's own
        // messages quote tag names in full, so one long mismatched pair gave a detail twice
        // the size of the document.
        let long = "b".repeat(10_000);
        let long_mb = "é".repeat(10_000);
        for xml in [
            format!("<a></{long}>"),
            format!("<{long}></a>"),
            format!("<{long}></{long}x>"),
            format!("<{long_mb}></{long_mb}x>"),
            format!("<request>{APP}<logoutAll/></{long}>"),
        ] {
            let err = parse(&xml).unwrap_err();
            assert_eq!(err.code, ErrorCode::Parsing);
            assert!(err.detail.chars().count() < 250, "{}", err.detail);
            // Both names cut, quick-xml's wording kept whole.
            assert!(
                err.detail.contains("ill-formed document: expected `</")
                    && err.detail.ends_with("` was found"),
                "{err}"
            );
        }
        let err = parse(&format!("<a></{long}>")).unwrap_err();
        assert_eq!(
            err.detail,
            format!(
                "malformed XML at byte 3: ill-formed document: expected `</a>`, but `</{}...>` \
                 was found",
                &long[..DETAIL_VALUE_MAX]
            )
        );
    }

    #[test]
    fn error_display_and_failure() {
        let err = parse("<request><logoutAll/></request>").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error on Parsing: missing element appInfo in request"
        );
        let failure = crate::Failure::from(err);
        assert_eq!(failure.code, ErrorCode::Parsing);
        assert_eq!(
            failure.message,
            "Error on Parsing: missing element appInfo in request"
        );
    }

    #[test]
    fn never_panics_on_truncations_of_a_valid_document() {
        let xml = format!(
            "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY e \"x\">]><request>{APP}\
             <login><deviceName>S&amp;P</deviceName><userID><![CDATA[jürgen]]></userID>\
             <exclusiveDuration><time>5</time></exclusiveDuration></login></request>"
        );
        assert!(parse(&xml).is_ok());
        for (i, _) in xml.char_indices() {
            let _ = parse(&xml[..i]);
            let _ = parse(&xml[i..]);
        }
    }
}
