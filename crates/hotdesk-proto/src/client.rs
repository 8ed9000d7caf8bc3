//! The client's side of the EM API: write a request as a login application sends it
//! ([`write_request`]), read the answer of any EM service, hotdesk or Cisco Unified CM
//! ([`read_response`]).
//!
//! The reader takes what real services send, not only what hotdesk sends: a document with or
//! without its XML declaration, with or without line breaks between elements (CUCM 12 puts
//! each element on its own line), a `<device>` without `lastlogin` or `emccDevice` (older
//! releases), a failure as `<error code="N">` or as the DTD's `<errorMessage>` with no code,
//! user IDs percent-encoded (`em%40cisco.com`).
//!
//! ```
//! use hotdesk_proto::client::{read_response, write_request, EmReply};
//! use hotdesk_proto::{AppInfo, Credential, EmMessage, Operation, Logout, Origin};
//! let doc = write_request(&EmMessage::Request {
//!     app: AppInfo { app_id: "appid".into(), certificate: Credential::Plain("apppasswd".into()) },
//!     op: Operation::Logout(Logout { device_name: "SEP003094C25B15".into(), origin: Origin::default() }),
//! });
//! assert_eq!(doc, "<request><appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate>\
//!                  </appInfo><logout><deviceName>SEP003094C25B15</deviceName></logout></request>");
//! let answer = read_response("<?xml version=\"1.0\"?>\n<response><failure><error code=\"19\">\
//!                             Logout Request Error</error></failure></response>").unwrap();
//! assert_eq!(answer, EmReply::Failure { code: Some(19), message: "Logout Request Error".into() });
//! ```

use std::fmt::Write as _;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::{
    AppInfo, CheckUserResult, Credential, DeviceProfileResult, DeviceUserResult, EmMessage,
    EmResponse, ExclusiveDuration, Operation, Origin, ProfileEntry, Query, UserDevices,
    UserDevicesResult, UserProfiles, decode_user_id, encode_user_id,
};

/// An EM service's answer, as a client reads it. Unlike [`EmResponse`] (what hotdesk sends),
/// a failure's code is the number as sent, or none: another service may send a code this
/// crate does not know, or only a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmReply {
    Success,
    Failure { code: Option<u16>, message: String },
    DeviceUsers(Vec<DeviceUserResult>),
    UserDevices(Vec<UserDevicesResult>),
    DeviceProfiles(Vec<DeviceProfileResult>),
    CheckUser(Vec<CheckUserResult>),
}

impl From<&EmResponse> for EmReply {
    fn from(r: &EmResponse) -> Self {
        match r {
            EmResponse::Success => EmReply::Success,
            EmResponse::Failure(f) => EmReply::Failure {
                code: Some(f.code.code()),
                message: f.message.clone(),
            },
            EmResponse::DeviceUsers(v) => EmReply::DeviceUsers(v.clone()),
            EmResponse::UserDevices(v) => EmReply::UserDevices(v.clone()),
            EmResponse::DeviceProfiles(v) => EmReply::DeviceProfiles(v.clone()),
            EmResponse::CheckUser(v) => EmReply::CheckUser(v.clone()),
        }
    }
}

/// Why an answer could not be read: it is not XML, or not an EM answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

/// The document a login application posts as the form field `xml`: compact, in the element
/// order of Cisco's examples, user IDs percent-encoded where Cisco encodes them (`@` as `%40`).
pub fn write_request(message: &EmMessage) -> String {
    let mut out = String::with_capacity(256);
    match message {
        EmMessage::Request { app, op } => {
            out.push_str("<request>");
            app_info(&mut out, app);
            match op {
                Operation::Login(l) => {
                    out.push_str("<login>");
                    field(&mut out, "deviceName", &l.device_name);
                    field(&mut out, "userID", &request_user_id(&l.user_id));
                    if let Some(p) = &l.device_profile {
                        field(&mut out, "deviceProfile", p);
                    }
                    match l.exclusive_duration {
                        Some(ExclusiveDuration::Minutes(m)) => {
                            let _ = write!(
                                out,
                                "<exclusiveDuration><time>{m}</time></exclusiveDuration>"
                            );
                        }
                        Some(ExclusiveDuration::Indefinite) => {
                            out.push_str("<exclusiveDuration><indefinite/></exclusiveDuration>")
                        }
                        None => {}
                    }
                    origin(&mut out, &l.origin);
                    out.push_str("</login>");
                }
                Operation::Logout(l) => {
                    out.push_str("<logout>");
                    field(&mut out, "deviceName", &l.device_name);
                    origin(&mut out, &l.origin);
                    out.push_str("</logout>");
                }
                Operation::LogoutAll { origin: o } => {
                    out.push_str("<logoutAll>");
                    origin(&mut out, o);
                    out.push_str("</logoutAll>");
                }
            }
            out.push_str("</request>");
        }
        EmMessage::Query {
            app,
            query,
            origin: o,
        } => {
            out.push_str("<query>");
            app_info(&mut out, app);
            let (tag, child, names, users) = match query {
                Query::DeviceUser { device_names } => {
                    ("deviceUserQuery", "deviceName", device_names, false)
                }
                Query::UserDevices { user_ids } => ("userDevicesQuery", "userID", user_ids, true),
                Query::DeviceProfile { user_ids } => {
                    ("deviceProfileQuery", "userID", user_ids, true)
                }
                Query::CheckUser { user_ids } => ("checkUser", "userID", user_ids, true),
            };
            let _ = write!(out, "<{tag}>");
            for name in names {
                match users {
                    true => field(&mut out, child, &request_user_id(name)),
                    false => field(&mut out, child, name),
                }
            }
            origin(&mut out, o);
            let _ = write!(out, "</{tag}>");
            out.push_str("</query>");
        }
    }
    out
}

/// A user ID as a request carries it: percent-encoded as Cisco's examples show (`em%40cisco.com`),
/// a space as `%20`. (Java's URLEncoder, which encodes the answers, writes a space as `+`; a
/// service's request decoder may keep a `+` as a plus, but every one decodes `%20`.)
fn request_user_id(id: &str) -> String {
    // `encode_user_id` has already written a literal `+` as `%2B`: what `+` is left was a space.
    encode_user_id(id).replace('+', "%20")
}

/// A user ID as an answer carries it, encoded by Java's URLEncoder: `+` is a space.
fn answer_user_id(id: &str) -> String {
    decode_user_id(&id.replace('+', " "))
}

fn app_info(out: &mut String, app: &AppInfo) {
    out.push_str("<appInfo>");
    field(out, "appID", &app.app_id);
    match &app.certificate {
        Credential::Plain(c) => field(out, "appCertificate", c),
        Credential::Encrypted(c) => field(out, "appEncryptedCertificate", c),
    }
    out.push_str("</appInfo>");
}

fn origin(out: &mut String, o: &Origin) {
    if let Some(ip) = &o.remote_ip {
        field(out, "remoteIPAddr", ip);
    }
    if let Some(via) = o.via_header_set {
        field(out, "isViaHeaderSet", if via { "true" } else { "false" });
    }
    if let Some(t) = &o.login_type {
        field(out, "loginType", t);
    }
}

fn field(out: &mut String, tag: &str, text: &str) {
    let _ = write!(out, "<{tag}>{}</{tag}>", quick_xml::escape::escape(text));
}

/// An element as the reader keeps it: name, attributes, text, children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// The most elements and the deepest nesting an answer may have: a service's answer is read
/// whole, and a hostile one must not take the client's memory or stack.
const MAX_ELEMENTS: usize = 1_000_000;
const MAX_DEPTH: usize = 16;

fn read_tree(xml: &str) -> Result<Node, ReadError> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    let mut count = 0;
    let bad = |what: String| ReadError(format!("not an EM answer: {what}"));
    loop {
        let event = reader.read_event().map_err(|e| {
            bad(format!(
                "malformed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(bad("too many elements or too deep".into()));
                }
                if root.is_some() {
                    return Err(bad("content after the root element".into()));
                }
                let node = node(s).map_err(bad)?;
                if matches!(event, Event::Empty(_)) {
                    attach(node, &mut stack, &mut root);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| bad("an end tag without its start".into()))?;
                attach(node, &mut stack, &mut root);
            }
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = crate::tree::resolve_reference(&r).map_err(|e| bad(e.detail))?;
                if let Some(open) = stack.last_mut() {
                    open.text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad("an element is not closed".into()));
    }
    root.ok_or_else(|| bad("no root element".into()))
}

fn node(start: &BytesStart<'_>) -> Result<Node, String> {
    let name = start.local_name().into_inner().to_string();
    let mut attributes = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.local_name().into_inner().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Node {
        name,
        attributes,
        ..Node::default()
    })
}

fn attach(node: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

/// Read the answer of an EM service.
pub fn read_response(xml: &str) -> Result<EmReply, ReadError> {
    let root = read_tree(xml)?;
    let bad = |what: &str| ReadError(format!("not an EM answer: {what}"));
    if root.name != "response" {
        return Err(bad(&format!("the root is <{}>, not <response>", root.name)));
    }
    let body = root
        .children
        .first()
        .ok_or_else(|| bad("an empty <response>"))?;
    let items = |name: &'static str| body.children.iter().filter(move |c| c.name == name);
    let user_of = |n: &Node| {
        n.attribute("id")
            .map(answer_user_id)
            .ok_or_else(|| bad("a <user> without its id"))
    };
    Ok(match body.name.as_str() {
        "success" => EmReply::Success,
        "failure" => {
            let error = body
                .child("error")
                .or_else(|| body.child("errorMessage"))
                .ok_or_else(|| bad("a <failure> without an error"))?;
            EmReply::Failure {
                code: error.attribute("code").and_then(|c| c.trim().parse().ok()),
                message: error.text.trim().to_string(),
            }
        }
        "deviceUserResults" => EmReply::DeviceUsers(
            items("device")
                .map(|d| {
                    let name = d
                        .attribute("name")
                        .ok_or_else(|| bad("a <device> without its name"))?
                        .to_string();
                    if d.child("doesNotExist").is_some() {
                        return Ok(DeviceUserResult::DoesNotExist { name });
                    }
                    // By name: a <none/> stands for either, and an answer may hold either alone.
                    let named = |tag: &str| d.child(tag).map(|c| answer_user_id(c.text.trim()));
                    let (user, last_login) = (named("userID"), named("lastlogin"));
                    let emcc = d
                        .child("emccDevice")
                        .is_some_and(|e| e.text.trim().eq_ignore_ascii_case("yes"));
                    Ok(DeviceUserResult::Exists {
                        name,
                        user,
                        last_login,
                        emcc,
                    })
                })
                .collect::<Result<_, ReadError>>()?,
        ),
        "userDevicesResults" => EmReply::UserDevices(
            items("user")
                .map(|u| {
                    let devices = if u.child("doesNotExist").is_some() {
                        UserDevices::DoesNotExist
                    } else {
                        let names: Vec<String> = u
                            .children
                            .iter()
                            .filter(|c| c.name == "deviceName")
                            .map(|c| c.text.trim().to_string())
                            .collect();
                        match names.is_empty() {
                            true => UserDevices::None,
                            false => UserDevices::LoggedIn(names),
                        }
                    };
                    Ok(UserDevicesResult {
                        user_id: user_of(u)?,
                        devices,
                    })
                })
                .collect::<Result<_, ReadError>>()?,
        ),
        "deviceProfileResults" => EmReply::DeviceProfiles(
            items("user")
                .map(|u| {
                    let profiles = if u.child("doesNotExist").is_some() {
                        UserProfiles::DoesNotExist
                    } else {
                        let found: Vec<ProfileEntry> = u
                            .children
                            .iter()
                            .filter(|c| c.name == "deviceProfile")
                            .map(|p| ProfileEntry {
                                name: p
                                    .child("deviceProfileName")
                                    .map(|n| n.text.trim().to_string())
                                    .unwrap_or_default(),
                                is_default: p
                                    .child("isDefaultDeviceProfile")
                                    .is_some_and(|d| matches!(d.text.trim(), "t" | "true" | "1")),
                            })
                            .collect();
                        match found.is_empty() {
                            true => UserProfiles::None,
                            false => UserProfiles::Profiles(found),
                        }
                    };
                    Ok(DeviceProfileResult {
                        user_id: user_of(u)?,
                        profiles,
                    })
                })
                .collect::<Result<_, ReadError>>()?,
        ),
        "checkUserResults" => EmReply::CheckUser(
            items("user")
                .map(|u| {
                    Ok(CheckUserResult {
                        user_id: user_of(u)?,
                        exists: u.child("exists").is_some(),
                    })
                })
                .collect::<Result<_, ReadError>>()?,
        ),
        other => return Err(bad(&format!("an unknown answer <{other}>"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, Failure, Login, Logout, parse, render};

    fn app() -> AppInfo {
        AppInfo {
            app_id: "appid".into(),
            certificate: Credential::Plain("app<&>pw".into()),
        }
    }

    #[test]
    fn every_request_the_writer_writes_parses_back_as_itself() {
        let origin = Origin {
            remote_ip: Some("10.0.0.5".into()),
            via_header_set: Some(false),
            login_type: Some("DN".into()),
        };
        let messages = [
            EmMessage::Request {
                app: app(),
                op: Operation::Login(Login {
                    device_name: "SEP003094C25B15".into(),
                    user_id: "em@cisco.com".into(),
                    device_profile: Some("UserDevProf".into()),
                    exclusive_duration: Some(ExclusiveDuration::Minutes(60)),
                    origin: origin.clone(),
                }),
            },
            EmMessage::Request {
                app: app(),
                op: Operation::Login(Login {
                    device_name: "SEP1".into(),
                    user_id: "john".into(),
                    device_profile: None,
                    exclusive_duration: Some(ExclusiveDuration::Indefinite),
                    origin: Origin::default(),
                }),
            },
            EmMessage::Request {
                app: app(),
                op: Operation::Logout(Logout {
                    device_name: "SEP1".into(),
                    origin: origin.clone(),
                }),
            },
            EmMessage::Request {
                app: app(),
                op: Operation::LogoutAll {
                    origin: Origin::default(),
                },
            },
            EmMessage::Query {
                app: app(),
                query: Query::DeviceUser {
                    device_names: vec!["SEP1".into(), "SEP2".into()],
                },
                origin: Origin::default(),
            },
            EmMessage::Query {
                app: app(),
                query: Query::UserDevices {
                    user_ids: vec!["em@cisco.com".into(), "John Smith".into(), "a+b".into()],
                },
                origin: Origin::default(),
            },
            EmMessage::Query {
                app: app(),
                query: Query::DeviceProfile {
                    user_ids: vec!["john".into()],
                },
                origin: Origin::default(),
            },
            EmMessage::Query {
                app: app(),
                query: Query::CheckUser {
                    user_ids: vec!["john".into()],
                },
                origin: Origin::default(),
            },
        ];
        for m in messages {
            let doc = write_request(&m);
            assert_eq!(parse(&doc).as_ref(), Ok(&m), "{doc}");
        }
    }

    #[test]
    fn every_answer_hotdesk_renders_reads_back_as_itself() {
        let answers = [
            EmResponse::Success,
            EmResponse::Failure(Failure::could_not_authenticate("a<b>&'c")),
            EmResponse::Failure(Failure::new(ErrorCode::Busy)),
            EmResponse::DeviceUsers(vec![
                DeviceUserResult::Exists {
                    name: "SEP402CF4915265".into(),
                    user: Some("em@cisco.com".into()),
                    last_login: Some("em".into()),
                    emcc: false,
                },
                DeviceUserResult::Exists {
                    name: "SEP1".into(),
                    user: None,
                    last_login: Some("john".into()),
                    emcc: true,
                },
                DeviceUserResult::DoesNotExist {
                    name: "SEP\"2".into(),
                },
            ]),
            EmResponse::UserDevices(vec![
                UserDevicesResult {
                    user_id: "john".into(),
                    devices: UserDevices::LoggedIn(vec!["SEP1".into(), "SEP2".into()]),
                },
                UserDevicesResult {
                    user_id: "em@cisco.com".into(),
                    devices: UserDevices::None,
                },
                UserDevicesResult {
                    user_id: "John Smith+1".into(),
                    devices: UserDevices::DoesNotExist,
                },
            ]),
            EmResponse::DeviceProfiles(vec![DeviceProfileResult {
                user_id: "john".into(),
                profiles: UserProfiles::Profiles(vec![
                    ProfileEntry {
                        name: "DPJOHNIPC".into(),
                        is_default: true,
                    },
                    ProfileEntry {
                        name: "UserDevProf".into(),
                        is_default: false,
                    },
                ]),
            }]),
            EmResponse::CheckUser(vec![
                CheckUserResult {
                    user_id: "john".into(),
                    exists: true,
                },
                CheckUserResult {
                    user_id: "nobody".into(),
                    exists: false,
                },
            ]),
        ];
        for a in &answers {
            assert_eq!(read_response(&render(a)), Ok(EmReply::from(a)), "{a:?}");
        }
    }

    /// Cisco's own answers, as its documentation and traces show them (em-api digest §3).
    #[test]
    fn cisco_answers_are_read_as_sent() {
        let cucm12 = "<response>\n<deviceUserResults>\n<device name=\"test_secure\">\n<none/>\n\
                      <none/>\n<emccDevice>no</emccDevice>\n</device>\n</deviceUserResults>\n</response>";
        assert_eq!(
            read_response(cucm12),
            Ok(EmReply::DeviceUsers(vec![DeviceUserResult::Exists {
                name: "test_secure".into(),
                user: None,
                last_login: None,
                emcc: false
            }]))
        );
        let devnet = "<response><deviceUserResults><device name=\"SEP003094C25B15\"><userID>john</userID>\
                      <none/></device></deviceUserResults></response>";
        assert_eq!(
            read_response(devnet),
            Ok(EmReply::DeviceUsers(vec![DeviceUserResult::Exists {
                name: "SEP003094C25B15".into(),
                user: Some("john".into()),
                last_login: None,
                emcc: false
            }]))
        );
        let old = "<?xml version=\"1.0\"?><response><failure><errorMessage>Device is not found\
                   </errorMessage></failure></response>";
        assert_eq!(
            read_response(old),
            Ok(EmReply::Failure {
                code: None,
                message: "Device is not found".into()
            })
        );
        let profiles = "<response><deviceProfileResults>\n  <user id=\"em%40cisco.com\">\n    \
                        <deviceProfile><deviceProfileName>EM-SCCP-Profile-7970</deviceProfileName>\
                        <isDefaultDeviceProfile>f</isDefaultDeviceProfile></deviceProfile>\n  </user>\n\
                        </deviceProfileResults></response>";
        let EmReply::DeviceProfiles(found) = read_response(profiles).unwrap() else {
            panic!()
        };
        assert_eq!(found[0].user_id, "em@cisco.com");
        assert!(read_response("<html>busy</html>").is_err());
        assert!(read_response("not xml").is_err());
        assert!(read_response("<response><mystery/></response>").is_err());
    }
}
