//! `listLogins`, `loginHistory`, `forceLogout`: who is logged in where, and who was.

use hotdesk_proto::nbi::{self, Element, NbiError};

use super::{Call, PAGE, Reply, instant, invalid, number, time};
use crate::domain::admin::config::{HistoryRange, LoginFilter};
use crate::domain::{EffectiveProfile, Event, Login};

pub(super) async fn list(c: &Call<'_>) -> Result<Reply, NbiError> {
    let start = nbi::base(c.root)?.start_index.unwrap_or(0);
    let logins = c
        .state
        .admin
        .list_logins(c.session, filter(c.root)?)
        .await?;
    Ok(Reply::page(
        logins.iter().map(login_element).collect(),
        start,
    ))
}

pub(super) async fn history(c: &Call<'_>) -> Result<Reply, NbiError> {
    let range = HistoryRange {
        after: number(c.root, "afterSeq")?.unwrap_or(0),
        from: instant(c.root, "from")?,
        to: instant(c.root, "to")?,
    };
    let limit = number(c.root, "limit")?
        .unwrap_or(PAGE as i64)
        .clamp(1, PAGE as i64);
    let history = c
        .state
        .admin
        .login_history(c.session, filter(c.root)?, range, limit as u32)
        .await?;
    let mut body = vec![Element::with_text("lastSeq", history.cursor.to_string())];
    body.extend(history.events.iter().map(event_element));
    Ok(Reply::of(body))
}

/// `<name>` of a device: `<deviceState>`, what it is configured with now.
pub(super) async fn device_state(c: &Call<'_>) -> Result<Reply, NbiError> {
    let name = super::required(c.root, "name")?.text.trim().to_string();
    if name.is_empty() {
        return Err(invalid("an empty device name"));
    }
    let (state, effective) = c.state.admin.device_state(c.session, &name).await?;
    let mut e = Element::new("deviceState")
        .field("device", state.device.name.as_str())
        .field("emEnabled", state.device.em_enabled.to_string());
    if let Some(m) = &state.device.model {
        e = e.field("model", m.as_str());
    }
    if let Some(app) = state.login.as_ref().map(|l| l.app.as_str()) {
        e = e.field("app", app);
    }
    e = configuration_fields(e, &effective);
    if let Some(p) = &state.device.logout_profile {
        e = e.field("logoutProfile", p.as_str());
    }
    if let Some(u) = &state.last_user {
        e = e.field("lastUser", u.as_str());
    }
    Ok(Reply::of(vec![e]))
}

/// The fields of a configuration, in `<deviceState>` and in an event's `<state>`.
fn configuration_fields(mut e: Element, c: &EffectiveProfile) -> Element {
    e = e.field("loggedIn", c.user.is_some().to_string());
    if let Some(u) = &c.user {
        e = e.field("user", u.as_str());
    }
    if let Some(t) = c.logged_in_at {
        e = e.field("loggedInAt", time(t));
    }
    if let Some(t) = c.deadline {
        e = e.field("deadline", time(t));
    }
    if let Some(p) = &c.profile {
        let mut profile = Element::new("profile").field("name", p.name.as_str());
        if let Some(d) = &p.description {
            profile = profile.field("description", d.as_str());
        }
        let mut lines = Element::new("lines");
        for line in &p.lines {
            lines = lines.child(Element::with_text("line", line.as_str()));
        }
        e = e.child(profile.child(lines));
    }
    e
}

pub(super) async fn force_logout(c: &Call<'_>) -> Result<Reply, NbiError> {
    let ended = c
        .state
        .admin
        .force_logout(c.session, filter(c.root)?)
        .await?;
    Ok(Reply::of(ended.iter().map(login_element).collect()))
}

/// `<device>` or `<user>` (not both); neither is everything.
fn filter(root: &Element) -> Result<LoginFilter, NbiError> {
    match (root.text_of("device"), root.text_of("user")) {
        (Some(_), Some(_)) => Err(invalid("give device or user, not both")),
        (Some(d), None) if !d.is_empty() => Ok(LoginFilter::Device(d.to_string())),
        (None, Some(u)) if !u.is_empty() => Ok(LoginFilter::User(u.to_string())),
        (None, None) => Ok(LoginFilter::All),
        _ => Err(invalid("an empty device or user")),
    }
}

fn login_element(l: &Login) -> Element {
    let mut e = Element::new("login")
        .field("device", l.device.as_str())
        .field("user", l.user.as_str())
        .field("profile", l.profile.as_str())
        .field("app", l.app.as_str())
        .field("loggedInAt", time(l.logged_in_at));
    if let Some(d) = l.deadline {
        e = e.field("deadline", time(d));
    }
    e
}

pub(crate) fn event_element(e: &Event) -> Element {
    let ev = &e.event;
    let mut out = Element::new("event")
        .field("seq", e.seq.to_string())
        .field("at", time(ev.at))
        .field("kind", ev.kind.as_str());
    for (name, value) in [
        ("actor", &ev.actor),
        ("device", &ev.device),
        ("user", &ev.user),
        ("profile", &ev.profile),
        ("detail", &ev.detail),
    ] {
        if let Some(v) = value {
            out = out.field(name, v.as_str());
        }
    }
    if let Some(state) = &ev.state {
        out = out.child(configuration_fields(Element::new("state"), state));
    }
    out
}
