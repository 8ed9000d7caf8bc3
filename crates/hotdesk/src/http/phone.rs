//! The phone service on the wire: `/emapp/EMAppServlet` (log in, pick a profile, log out) and
//! `/changecredential/ChangeCredentialServlet` (change the PIN), answering Cisco IP Phone XML.
//!
//! A phone speaks only GET: it opens the service URL the administrator configured
//! (`...?device=#DEVICENAME#`), submits a form by appending `&name=value` per field to the
//! form's URL, and follows the URLs of menu items and soft keys. Each step says what it is with
//! `action` (`login`, `profile`, `logout`; none is the first screen). Every answer is HTTP 200
//! with one object; the wording is here, the rules are in `domain::phone`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use hotdesk_proto::phone::{
    Input, InputFlags, InputItem, Menu, MenuItem, PhoneObject, SoftKey, Text, render,
};

use super::AppState;
use super::em::xml_response;
use crate::domain::RequestContext;
use crate::domain::phone::{
    LoggedIn, LoginOutcome, LoginType, PhoneError, ProfileChoice, Screen, log_outcome,
};

const EMAPP: &str = "/emapp/EMAppServlet";
const CHANGE_CREDENTIAL: &str = "/changecredential/ChangeCredentialServlet";
const TITLE: &str = "Extension Mobility";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(EMAPP, get(emapp).post(emapp)).route(
        CHANGE_CREDENTIAL,
        get(change_credential).post(change_credential),
    )
}

/// The query of a phone's request. A name given twice counts once, first come.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds the absolute URLs the phone follows: from `--public-url`, else from the `Host` the
/// phone asked for (a phone reaches us by that name), else from our own address.
struct Links {
    base: String,
}

impl Links {
    fn new(state: &AppState, headers: &HeaderMap) -> Links {
        if let Some(public) = &state.public_url {
            return Links {
                base: public.to_string(),
            };
        }
        let scheme = if state.tls { "https" } else { "http" };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_authority(h))
            .map(str::to_string)
            .unwrap_or_else(|| state.local.to_string());
        Links {
            base: format!("{scheme}://{host}"),
        }
    }

    fn url(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}{path}?{query}", self.base)
    }

    /// The first screen of the service, for this device and login type.
    fn start(&self, device: &str, login_type: LoginType) -> String {
        self.url(
            EMAPP,
            &[("device", device), ("loginType", login_type.as_str())],
        )
    }
}

/// A `Host` value that is a host name or address with an optional port, nothing else: it
/// becomes part of every URL we send back.
pub(super) fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// What every phone request starts from: its query, where it comes from, and how to build
/// the URLs of the answer.
fn request(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> (Params, RequestContext, Links) {
    let ctx = RequestContext {
        peer: Some(super::client_ip(&state.proxies, peer, headers)),
        via_header: headers.contains_key(header::VIA),
    };
    (Params::parse(query), ctx, Links::new(state, headers))
}

async fn emapp(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (params, ctx, links) = request(&state, peer, &headers, query.as_deref());
    let phone = &state.phone;
    let device = params.get("device");
    let login_type = params.get("loginType");
    // For the error screen's Retry key: the login type asked for, if it is one.
    let retry_type = LoginType::parse(login_type).unwrap_or(LoginType::UserId);
    let (op, user, result) = match params.get("action") {
        Some("login") => {
            let user = params.get("userid");
            let result = phone
                .login(device, login_type, user, params.get("pin"), &ctx)
                .await
                .map(|outcome| match outcome {
                    LoginOutcome::LoggedIn(done) => {
                        logged_in(&links, &done, "Logged in", retry_type)
                    }
                    LoginOutcome::ChooseProfile {
                        device,
                        user,
                        token,
                        profiles,
                    } => profile_menu(&links, &device, retry_type, &user, &token, &profiles),
                });
            ("login", user, result)
        }
        Some("profile") => {
            let result = phone
                .choose(
                    device,
                    login_type,
                    params.get("token"),
                    params.get("profile"),
                    &ctx,
                )
                .await
                .map(|done| logged_in(&links, &done, "Logged in", retry_type));
            ("profile", None, result)
        }
        Some("logout") => {
            let user = params.get("user");
            let result = phone.logout(device, user, &ctx).await.map(|ended| {
                PhoneObject::Text(
                    Text::new(TITLE, format!("{} is logged out", ended.user))
                        .soft_key(SoftKey::new(
                            "Login",
                            links.start(&ended.device, retry_type),
                            1,
                        ))
                        .soft_key(SoftKey::exit(3)),
                )
            });
            ("logout", user, result)
        }
        _ => {
            let result = phone
                .screen(device, login_type, &ctx)
                .await
                .map(|screen| match screen {
                    Screen::LoginForm {
                        device,
                        login_type,
                        last_user,
                    } => login_form(&links, &device, login_type, last_user.as_deref()),
                    Screen::LoggedIn(current) => logged_in(&links, &current, TITLE, retry_type),
                });
            ("screen", None, result)
        }
    };
    let code = log_outcome(op, device, user, result.as_ref().err(), &ctx);
    state.metrics.phone_request(code);
    let object = result.unwrap_or_else(|e| refusal(&e, device.map(|d| links.start(d, retry_type))));
    xml_response(render(&object))
}

async fn change_credential(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (params, ctx, links) = request(&state, peer, &headers, query.as_deref());
    let device = params.get("device");
    let user = params.get("userid");
    let result = match params.get("action") {
        Some("change") => state
            .phone
            .change_pin(
                device,
                user,
                params.get("oldpin"),
                params.get("newpin"),
                params.get("newpin2"),
                &ctx,
            )
            .await
            .map(|id| {
                PhoneObject::Text(
                    Text::new("Change PIN", format!("The PIN of {id} is changed"))
                        .soft_key(SoftKey::exit(3)),
                )
            }),
        _ => state
            .phone
            .change_pin_form(device, &ctx)
            .await
            .map(|device| change_form(&links, &device)),
    };
    let code = log_outcome("changePin", device, user, result.as_ref().err(), &ctx);
    state.metrics.phone_request(code);
    let object = result.unwrap_or_else(|e| {
        refusal(
            &e,
            device.map(|d| links.url(CHANGE_CREDENTIAL, &[("device", d)])),
        )
    });
    xml_response(render(&object))
}

fn login_form(
    links: &Links,
    device: &str,
    login_type: LoginType,
    last_user: Option<&str>,
) -> PhoneObject {
    let (label, prompt, flags) = match login_type {
        LoginType::UserId => ("User ID", "Enter your user ID and PIN", InputFlags::ASCII),
        LoginType::Extension => (
            "Extension",
            "Enter extension and PIN",
            InputFlags::TELEPHONE,
        ),
    };
    PhoneObject::Input(Input {
        title: TITLE.into(),
        prompt: prompt.into(),
        url: links.url(
            EMAPP,
            &[
                ("device", device),
                ("loginType", login_type.as_str()),
                ("action", "login"),
            ],
        ),
        items: vec![
            InputItem {
                display_name: label.into(),
                param: "userid".into(),
                default_value: last_user.unwrap_or("").into(),
                flags,
            },
            InputItem {
                display_name: "PIN".into(),
                param: "pin".into(),
                default_value: String::new(),
                flags: InputFlags::PIN,
            },
        ],
    })
}

fn profile_menu(
    links: &Links,
    device: &str,
    login_type: LoginType,
    user: &str,
    token: &str,
    profiles: &[ProfileChoice],
) -> PhoneObject {
    let items = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| MenuItem {
            name: p.description.clone().unwrap_or_else(|| p.name.clone()),
            url: links.url(
                EMAPP,
                &[
                    ("device", device),
                    ("loginType", login_type.as_str()),
                    ("action", "profile"),
                    ("token", token),
                    ("profile", &(i + 1).to_string()),
                ],
            ),
        })
        .collect();
    PhoneObject::Menu(Menu {
        title: "Choose a profile".into(),
        prompt: format!("Log in {user} with"),
        items,
        // None of our own: the phone then offers its Select and Exit keys.
        soft_keys: Vec::new(),
    })
}

/// Who is logged in, with a Logout key that keeps the phone's login type for the next person.
fn logged_in(links: &Links, current: &LoggedIn, title: &str, login_type: LoginType) -> PhoneObject {
    let who = match &current.name {
        Some(name) => format!("{name} ({})", current.user),
        None => current.user.clone(),
    };
    PhoneObject::Text(
        Text::new(
            title,
            format!("{who} is logged in\nProfile: {}", current.profile),
        )
        .soft_key(SoftKey::new(
            "Logout",
            links.url(
                EMAPP,
                &[
                    ("device", current.device.as_str()),
                    ("loginType", login_type.as_str()),
                    ("action", "logout"),
                    ("user", current.user.as_str()),
                ],
            ),
            1,
        ))
        .soft_key(SoftKey::exit(3)),
    )
}

fn change_form(links: &Links, device: &str) -> PhoneObject {
    let pin = |display_name: &str, param: &str| InputItem {
        display_name: display_name.into(),
        param: param.into(),
        default_value: String::new(),
        flags: InputFlags::PIN,
    };
    PhoneObject::Input(Input {
        title: "Change PIN".into(),
        prompt: "Enter user ID, old and new PIN".into(),
        url: links.url(
            CHANGE_CREDENTIAL,
            &[("device", device), ("action", "change")],
        ),
        items: vec![
            InputItem {
                display_name: "User ID".into(),
                param: "userid".into(),
                default_value: String::new(),
                flags: InputFlags::ASCII,
            },
            pin("Old PIN", "oldpin"),
            pin("New PIN", "newpin"),
            pin("New PIN again", "newpin2"),
        ],
    })
}

/// What the phone shows for a refusal: the words and code (`Please try to login again
/// (201)`), a Retry key back to where the person started, and Exit.
fn refusal(error: &PhoneError, retry: Option<String>) -> PhoneObject {
    let text = match error {
        PhoneError::Off => "Extension Mobility at the phone is turned off".into(),
        PhoneError::PinMismatch => "The new PINs differ: try again".into(),
        PhoneError::PinTooShort(n) => format!("A PIN has at least {n} digits"),
        PhoneError::PinUnchanged => "The new PIN is the old one".into(),
        PhoneError::PinNotDigits => {
            format!("A PIN is 1 to {} digits", crate::domain::MAX_PIN_DIGITS)
        }
        coded => coded
            .code()
            .map_or_else(|| coded.to_string(), |code| code.text()),
    };
    let mut object = Text::new(TITLE, text);
    if let Some(url) = retry.filter(|_| !matches!(error, PhoneError::Off)) {
        object = object.soft_key(SoftKey::new("Retry", url, 1));
    }
    PhoneObject::Text(object.soft_key(SoftKey::exit(3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_authorities_make_urls() {
        for good in ["phones.example:8080", "10.0.0.5", "[::1]:8443", "em-1.corp"] {
            assert!(is_authority(good), "{good}");
        }
        for bad in ["", "a/b", "evil.example/x?", "a b", "a@b", "h\"x", "a&b"] {
            assert!(!is_authority(bad), "{bad}");
        }
    }

    #[test]
    fn the_first_of_a_repeated_name_counts() {
        let p = Params::parse(Some("device=SEP1&pin=1%202&device=SEP2&e=%FF"));
        assert_eq!(p.get("device"), Some("SEP1"));
        assert_eq!(p.get("pin"), Some("1 2"));
        assert_eq!(p.get("e"), Some("\u{fffd}"));
        assert_eq!(p.get("none"), None);
        assert_eq!(Params::parse(None).get("device"), None);
    }
}
