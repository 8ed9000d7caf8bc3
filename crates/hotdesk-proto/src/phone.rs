//! Cisco IP Phone XML: the objects a phone service answers a phone with.
//!
//! A Cisco phone asks a service URL with a plain HTTP GET and shows the one XML object that
//! comes back: a form (`CiscoIPPhoneInput`), a list to pick from (`CiscoIPPhoneMenu`) or a
//! message (`CiscoIPPhoneText`). It submits a form as another GET of the form's `URL` with one
//! query parameter per input item appended, and follows a menu item's or a soft key's `URL`.
//!
//! Phones are small computers with hard limits: older models refuse an object of more than
//! 4,000 bytes, a form of more than 5 items or a menu of more than 100. [`render`] keeps every
//! object inside them, so no caller can produce one a phone would refuse.
//!
//! ```
//! use hotdesk_proto::phone::{render, PhoneObject, Text};
//! let xml = render(&PhoneObject::Text(Text::new("Extension Mobility", "Logged out")));
//! assert!(xml.ends_with("<CiscoIPPhoneText><Title>Extension Mobility</Title><Text>Logged out</Text></CiscoIPPhoneText>"));
//! ```

use quick_xml::escape::escape;

use crate::ErrorCode;

/// The largest object older phones accept, in bytes, XML declaration included.
pub const MAX_OBJECT_BYTES: usize = 4000;
/// Input items a form may hold.
pub const MAX_INPUT_ITEMS: usize = 5;
/// Items a menu may hold.
pub const MAX_MENU_ITEMS: usize = 100;
/// Soft keys a phone shows at once.
pub const MAX_SOFT_KEYS: usize = 8;
/// Characters a phone shows of a title, a prompt, an input's display name or default value.
pub const MAX_LABEL_CHARS: usize = 32;
/// Characters a phone shows of a menu item's name.
pub const MAX_MENU_NAME_CHARS: usize = 64;
/// The longest URL a phone follows, in bytes.
pub const MAX_URL_BYTES: usize = 256;

/// What the phone is sent instead of an object that cannot be made to fit (a URL longer than
/// a phone follows, which no cutting can mend: names of absurd length in the directory).
pub const DOES_NOT_FIT: &str = "This screen does not fit the phone";

const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// One object for the phone to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneObject {
    Input(Input),
    Menu(Menu),
    Text(Text),
}

/// `CiscoIPPhoneInput`: a form the phone submits to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub title: String,
    pub prompt: String,
    /// Absolute; the phone appends `?` or `&` and one `param=value` per item.
    pub url: String,
    pub items: Vec<InputItem>,
}

/// `InputItem`: one field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputItem {
    /// What the phone shows beside the field (`DisplayName`).
    pub display_name: String,
    /// The query parameter the value is sent as (`QueryStringParam`).
    pub param: String,
    /// What the field holds to begin with (`DefaultValue`).
    pub default_value: String,
    pub flags: InputFlags,
}

/// `InputFlags`: which keys the phone offers, and whether it masks what is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputFlags {
    pub kind: InputKind,
    /// `P`: shown as asterisks.
    pub masked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `A`: letters, digits and symbols.
    Ascii,
    /// `T`: a telephone number (digits, `*` and `#`).
    Telephone,
    /// `N`: digits only.
    Numeric,
}

impl InputFlags {
    /// Letters and digits, shown as typed (`A`).
    pub const ASCII: InputFlags = InputFlags {
        kind: InputKind::Ascii,
        masked: false,
    };
    /// A telephone number, shown as typed (`T`).
    pub const TELEPHONE: InputFlags = InputFlags {
        kind: InputKind::Telephone,
        masked: false,
    };
    /// Digits, masked (`NP`): a PIN.
    pub const PIN: InputFlags = InputFlags {
        kind: InputKind::Numeric,
        masked: true,
    };

    pub fn as_str(self) -> &'static str {
        match (self.kind, self.masked) {
            (InputKind::Ascii, false) => "A",
            (InputKind::Ascii, true) => "AP",
            (InputKind::Telephone, false) => "T",
            (InputKind::Telephone, true) => "TP",
            (InputKind::Numeric, false) => "N",
            (InputKind::Numeric, true) => "NP",
        }
    }
}

/// `CiscoIPPhoneMenu`: a list; choosing an item follows its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub title: String,
    pub prompt: String,
    pub items: Vec<MenuItem>,
    pub soft_keys: Vec<SoftKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    pub name: String,
    pub url: String,
}

/// `CiscoIPPhoneText`: a message, with soft keys to go on from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub title: String,
    pub text: String,
    pub soft_keys: Vec<SoftKey>,
}

impl Text {
    pub fn new(title: impl Into<String>, text: impl Into<String>) -> Self {
        Text {
            title: title.into(),
            text: text.into(),
            soft_keys: Vec::new(),
        }
    }

    pub fn soft_key(mut self, key: SoftKey) -> Self {
        self.soft_keys.push(key);
        self
    }
}

/// `SoftKeyItem`: a key under the display. Its URL may be a phone URI such as `SoftKey:Exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftKey {
    pub name: String,
    pub url: String,
    /// 1 is the leftmost.
    pub position: u8,
}

impl SoftKey {
    pub fn new(name: impl Into<String>, url: impl Into<String>, position: u8) -> Self {
        SoftKey {
            name: name.into(),
            url: url.into(),
            position,
        }
    }

    /// The phone's own Exit key: leaves the service.
    pub fn exit(position: u8) -> Self {
        SoftKey::new("Exit", "SoftKey:Exit", position)
    }
}

/// A refusal as the phone shows it. EMApp's own codes (201 and up) and every EM code share
/// one table of words here, so the phone and the tests read the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneCode {
    /// 201: wrong user ID or PIN, or a user whose PIN is locked after too many wrong ones.
    Authentication,
    /// 202: the user ID or the PIN was left blank.
    Blank,
    /// 207: the request names no device.
    NoDevice,
    /// 215: `loginType` is not `UID` or `DN`.
    BadLoginType,
    /// 216: the extension is the primary extension of several users.
    SharedExtension,
    /// A refusal of the EM service's rules, with its EM code.
    Em(ErrorCode),
}

/// What the phone shows for each of EMApp's own codes.
const PHONE_TABLE: &[(u16, PhoneCode, &str)] = &[
    (201, PhoneCode::Authentication, "Please try to login again"),
    (202, PhoneCode::Blank, "Please try to login again"),
    (207, PhoneCode::NoDevice, "Device name empty"),
    (215, PhoneCode::BadLoginType, "LoginType invalid"),
    (216, PhoneCode::SharedExtension, "DN has multiple users"),
];

/// The words for the EM codes a phone can meet; any other shows Cisco's message.
const EM_WORDS: &[(ErrorCode, &str)] = &[
    (ErrorCode::Database, "Login is unavailable"),
    (ErrorCode::DeviceDoesNotExist, "Device does not exist"),
    (ErrorCode::ProfileNotFound, "Device profile not found"),
    (ErrorCode::AnotherUserLoggedIn, "Another user is logged in"),
    (ErrorCode::NoUserLoggedIn, "No user is logged in"),
    (
        ErrorCode::DeviceLogonDisabled,
        "Login is disabled on this phone",
    ),
    (ErrorCode::UserNotFound, "User not found"),
    (
        ErrorCode::UserLoggedInElsewhere,
        "Logged in on another phone",
    ),
    (ErrorCode::Busy, "Busy, please try again"),
    (ErrorCode::UntrustedIp, "Untrusted IP address"),
    (ErrorCode::ProxyNotAllowed, "Proxy not allowed"),
];

impl PhoneCode {
    /// The number in parentheses.
    pub fn code(self) -> u16 {
        match self {
            PhoneCode::Em(code) => code.code(),
            other => PHONE_TABLE
                .iter()
                .find(|row| row.1 == other)
                .map(|row| row.0)
                .expect("every EMApp code has a row in PHONE_TABLE"),
        }
    }

    /// The words before the code.
    pub fn words(self) -> &'static str {
        match self {
            PhoneCode::Em(code) => EM_WORDS
                .iter()
                .find(|row| row.0 == code)
                .map_or(code.message(), |row| row.1),
            other => PHONE_TABLE
                .iter()
                .find(|row| row.1 == other)
                .map(|row| row.2)
                .expect("every EMApp code has a row in PHONE_TABLE"),
        }
    }

    /// What the phone shows, ending with the code in parentheses as Cisco phones show it:
    /// `Please try to login again (201)`.
    pub fn text(self) -> String {
        format!("{} ({})", self.words(), self.code())
    }
}

/// The object as the phone receives it: the XML declaration, then compact XML, every text
/// and URL escaped, within the limits above whatever it holds. Labels longer than a phone
/// shows are cut; what does not fit in 4,000 bytes goes, least needed first: menu items past
/// the first (the default profile, which always stays), then soft keys; the end of a long
/// text (cut with an ellipsis); a form's default values, then its last fields.
pub fn render(object: &PhoneObject) -> String {
    let rendered = if urls(object).iter().any(|u| u.len() > MAX_URL_BYTES) {
        None
    } else {
        Some(match object {
            PhoneObject::Input(input) => render_input(input),
            PhoneObject::Menu(menu) => render_menu(menu),
            PhoneObject::Text(text) => render_text(text),
        })
    };
    match rendered {
        Some(xml) if xml.len() <= MAX_OBJECT_BYTES => xml,
        _ => render_text(&Text::new("Extension Mobility", DOES_NOT_FIT).soft_key(SoftKey::exit(3))),
    }
}

/// Every URL an object holds.
fn urls(object: &PhoneObject) -> Vec<&str> {
    let (items, keys): (Vec<&str>, &[SoftKey]) = match object {
        PhoneObject::Input(i) => (vec![i.url.as_str()], &[]),
        PhoneObject::Menu(m) => (
            m.items.iter().map(|i| i.url.as_str()).collect(),
            &m.soft_keys,
        ),
        PhoneObject::Text(t) => (Vec::new(), &t.soft_keys),
    };
    items
        .into_iter()
        .chain(keys.iter().map(|k| k.url.as_str()))
        .collect()
}

fn render_input(input: &Input) -> String {
    let head = |out: &mut String| {
        out.push_str(PROLOG);
        out.push_str("<CiscoIPPhoneInput>");
        element(out, "Title", &cut(&input.title, MAX_LABEL_CHARS));
        element(out, "Prompt", &cut(&input.prompt, MAX_LABEL_CHARS));
        element(out, "URL", &input.url);
    };
    let item = |out: &mut String, item: &InputItem, with_default: bool| {
        out.push_str("<InputItem>");
        element(
            out,
            "DisplayName",
            &cut(&item.display_name, MAX_LABEL_CHARS),
        );
        element(out, "QueryStringParam", &cut(&item.param, MAX_LABEL_CHARS));
        let default = if with_default {
            cut(&item.default_value, MAX_LABEL_CHARS)
        } else {
            String::new()
        };
        element(out, "DefaultValue", &default);
        element(out, "InputFlags", item.flags.as_str());
        out.push_str("</InputItem>");
    };
    const END: &str = "</CiscoIPPhoneInput>";
    // Default values are a convenience: they go first when the form would not fit, then the
    // last fields.
    for with_default in [true, false] {
        let mut out = String::with_capacity(1024);
        head(&mut out);
        let mut fitted = 0;
        for i in input.items.iter().take(MAX_INPUT_ITEMS) {
            let mut one = String::new();
            item(&mut one, i, with_default);
            if out.len() + one.len() + END.len() > MAX_OBJECT_BYTES {
                break;
            }
            out.push_str(&one);
            fitted += 1;
        }
        if fitted == input.items.len().min(MAX_INPUT_ITEMS) || !with_default {
            out.push_str(END);
            return out;
        }
    }
    unreachable!("the second pass always returns")
}

fn render_menu(menu: &Menu) -> String {
    let mut head = String::with_capacity(256);
    head.push_str(PROLOG);
    head.push_str("<CiscoIPPhoneMenu>");
    element(&mut head, "Title", &cut(&menu.title, MAX_LABEL_CHARS));
    element(&mut head, "Prompt", &cut(&menu.prompt, MAX_LABEL_CHARS));
    const END: &str = "</CiscoIPPhoneMenu>";
    let items: Vec<String> = menu
        .items
        .iter()
        .take(MAX_MENU_ITEMS)
        .map(|item| {
            let mut one = String::from("<MenuItem>");
            element(&mut one, "Name", &cut(&item.name, MAX_MENU_NAME_CHARS));
            element(&mut one, "URL", &item.url);
            one.push_str("</MenuItem>");
            one
        })
        .collect();
    // The first item (the default profile) always; then the soft keys that fit; then as
    // many more items as fit.
    let first = items.first().map_or("", String::as_str);
    let keys = soft_keys_within(
        &menu.soft_keys,
        MAX_OBJECT_BYTES.saturating_sub(head.len() + first.len() + END.len()),
    );
    let mut out = head + first;
    for one in items.iter().skip(1) {
        if out.len() + one.len() + keys.len() + END.len() > MAX_OBJECT_BYTES {
            break;
        }
        out.push_str(one);
    }
    out + &keys + END
}

/// Room kept for a message when soft keys compete with it.
const MIN_TEXT_BYTES: usize = 400;

fn render_text(text: &Text) -> String {
    let mut head = String::with_capacity(512);
    head.push_str(PROLOG);
    head.push_str("<CiscoIPPhoneText>");
    element(&mut head, "Title", &cut(&text.title, MAX_LABEL_CHARS));
    const END: &str = "</CiscoIPPhoneText>";
    const TAGS: usize = "<Text></Text>".len();
    let keys = soft_keys_within(
        &text.soft_keys,
        MAX_OBJECT_BYTES.saturating_sub(head.len() + TAGS + MIN_TEXT_BYTES + END.len()),
    );
    let room = MAX_OBJECT_BYTES - (head.len() + keys.len() + TAGS + END.len());
    let mut body = String::new();
    element(&mut body, "Text", &text.text);
    if body.len() > room + TAGS {
        // Keep whole characters, escaped, while they and an ellipsis fit.
        const MORE: &str = "…";
        let mut kept = String::with_capacity(room);
        let mut buf = [0u8; 4];
        for c in text.text.chars() {
            let escaped = escape(&*c.encode_utf8(&mut buf));
            if kept.len() + escaped.len() + MORE.len() > room {
                break;
            }
            kept.push_str(&escaped);
        }
        body = format!("<Text>{kept}{MORE}</Text>");
    }
    head + &body + &keys + END
}

/// The soft keys, in order, as many as fit in `room` bytes (and at most [`MAX_SOFT_KEYS`]).
fn soft_keys_within(keys: &[SoftKey], room: usize) -> String {
    let mut out = String::new();
    for key in keys.iter().take(MAX_SOFT_KEYS) {
        let mut one = String::from("<SoftKeyItem>");
        element(&mut one, "Name", &cut(&key.name, MAX_LABEL_CHARS));
        element(&mut one, "URL", &key.url);
        element(&mut one, "Position", &key.position.to_string());
        one.push_str("</SoftKeyItem>");
        if out.len() + one.len() > room {
            break;
        }
        out.push_str(&one);
    }
    out
}

fn element(out: &mut String, tag: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// At most `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(n: usize) -> String {
        format!("http://phones.example:8080/emapp/EMAppServlet?device=SEP1&token={n:040}&a=1")
    }

    #[test]
    fn input_is_cisco_shaped_and_escaped() {
        let xml = render(&PhoneObject::Input(Input {
            title: "Extension Mobility".into(),
            prompt: "Enter your user ID and PIN".into(),
            url: "http://h/emapp/EMAppServlet?device=SEP1&action=login".into(),
            items: vec![
                InputItem {
                    display_name: "User ID".into(),
                    param: "userid".into(),
                    default_value: "a<b".into(),
                    flags: InputFlags::ASCII,
                },
                InputItem {
                    display_name: "PIN".into(),
                    param: "pin".into(),
                    default_value: String::new(),
                    flags: InputFlags::PIN,
                },
            ],
        }));
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CiscoIPPhoneInput>\
             <Title>Extension Mobility</Title><Prompt>Enter your user ID and PIN</Prompt>\
             <URL>http://h/emapp/EMAppServlet?device=SEP1&amp;action=login</URL>\
             <InputItem><DisplayName>User ID</DisplayName><QueryStringParam>userid</QueryStringParam>\
             <DefaultValue>a&lt;b</DefaultValue><InputFlags>A</InputFlags></InputItem>\
             <InputItem><DisplayName>PIN</DisplayName><QueryStringParam>pin</QueryStringParam>\
             <DefaultValue></DefaultValue><InputFlags>NP</InputFlags></InputItem></CiscoIPPhoneInput>"
        );
    }

    #[test]
    fn a_menu_never_passes_the_limits_and_keeps_its_first_item() {
        let menu = |n: usize| Menu {
            title: "Choose a profile".into(),
            prompt: "Which profile?".into(),
            items: (0..n)
                .map(|i| MenuItem {
                    name: format!("Profile {i} {}", "x".repeat(80)),
                    url: url(i),
                })
                .collect(),
            soft_keys: vec![SoftKey::exit(3)],
        };
        for n in [1, 3, 20, 150] {
            let xml = render(&PhoneObject::Menu(menu(n)));
            assert!(
                xml.len() <= MAX_OBJECT_BYTES,
                "{n} items: {} bytes",
                xml.len()
            );
            let items = xml.matches("<MenuItem>").count();
            assert!(items >= 1 && items <= n.min(MAX_MENU_ITEMS), "{n}: {items}");
            assert!(xml.contains("<Name>Profile 0 "));
            assert!(xml.ends_with("<Position>3</Position></SoftKeyItem></CiscoIPPhoneMenu>"));
            // Names are cut to what a phone shows.
            assert!(!xml.contains(&"x".repeat(MAX_MENU_NAME_CHARS)));
        }
        let tiny = Menu {
            items: (0..150)
                .map(|i| MenuItem {
                    name: format!("{i}"),
                    url: "http://h/x".into(),
                })
                .collect(),
            ..menu(0)
        };
        let xml = render(&PhoneObject::Menu(tiny));
        let items = xml.matches("<MenuItem>").count();
        assert!(xml.len() <= MAX_OBJECT_BYTES);
        assert!((60..=MAX_MENU_ITEMS).contains(&items), "{items}");
        // Items go whole or not at all.
        assert!(xml.ends_with("</MenuItem><SoftKeyItem><Name>Exit</Name><URL>SoftKey:Exit</URL><Position>3</Position></SoftKeyItem></CiscoIPPhoneMenu>"));
    }

    #[test]
    fn a_long_text_is_cut_to_fit() {
        let text = Text::new("T", "é&".repeat(3000))
            .soft_key(SoftKey::new("Logout", url(1), 1))
            .soft_key(SoftKey::exit(3));
        let xml = render(&PhoneObject::Text(text));
        assert!(xml.len() <= MAX_OBJECT_BYTES, "{}", xml.len());
        assert!(xml.contains("…</Text>"));
        assert!(xml.ends_with("<Name>Exit</Name><URL>SoftKey:Exit</URL><Position>3</Position></SoftKeyItem></CiscoIPPhoneText>"));
    }

    #[test]
    fn what_cannot_fit_says_so_instead() {
        let long = format!("http://h/{}", "d".repeat(300));
        for object in [
            PhoneObject::Text(Text::new("T", "x").soft_key(SoftKey::new("Logout", &long, 1))),
            PhoneObject::Input(Input {
                title: "T".into(),
                prompt: "P".into(),
                url: long.clone(),
                items: Vec::new(),
            }),
        ] {
            let xml = render(&object);
            assert!(
                xml.contains(&format!("<Text>{DOES_NOT_FIT}</Text>")),
                "{xml}"
            );
        }
        // A URL of exactly the limit is fine.
        let edge = format!("http://h/{}", "d".repeat(MAX_URL_BYTES - 9));
        assert_eq!(edge.len(), MAX_URL_BYTES);
        let xml = render(&PhoneObject::Text(
            Text::new("T", "x").soft_key(SoftKey::new("Logout", edge, 1)),
        ));
        assert!(!xml.contains(DOES_NOT_FIT));
    }

    #[test]
    fn refusals_end_with_their_code() {
        assert_eq!(
            PhoneCode::Authentication.text(),
            "Please try to login again (201)"
        );
        assert_eq!(
            PhoneCode::SharedExtension.text(),
            "DN has multiple users (216)"
        );
        assert_eq!(
            PhoneCode::Em(ErrorCode::AnotherUserLoggedIn).text(),
            "Another user is logged in (18)"
        );
        assert_eq!(
            PhoneCode::Em(ErrorCode::QueryTypeUndetermined).text(),
            "Query type undetermined (8)"
        );
        for code in ErrorCode::all() {
            assert!(
                PhoneCode::Em(code)
                    .text()
                    .ends_with(&format!("({})", code.code()))
            );
        }
    }
}
