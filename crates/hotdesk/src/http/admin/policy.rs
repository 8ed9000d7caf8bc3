//! `getPolicy`, `setPolicy`: the EM service parameters and the phone service's.

use hotdesk_proto::nbi::{Element, NbiError};

use super::{Call, Fields, Reply, count, fields_of, flag, invalid, list, only, required, text};
use crate::domain::admin::config::PolicyPatch;
use crate::domain::{MultipleLogin, Policy};

pub(super) async fn get(c: &Call<'_>) -> Result<Reply, NbiError> {
    let policy = c.state.admin.get_policy(c.session).await?;
    Ok(Reply::of(vec![policy_element(&policy)]))
}

pub(super) async fn set(c: &Call<'_>) -> Result<Reply, NbiError> {
    let patch = patch(&fields_of(required(c.root, "policy")?)?)?;
    let policy = c.state.admin.set_policy(c.session, patch).await?;
    Ok(Reply::of(vec![policy_element(&policy)]))
}

/// `<policy>`'s fields, as [`policy_element`] writes them.
const FIELDS: &[&str] = &[
    "multipleLogin",
    "maxLoginMinutes",
    "enforceMaxLogin",
    "rememberLastUser",
    "maxConcurrentRequests",
    "validateIp",
    "trustedIps",
    "allowProxy",
    "minPinLength",
    "phoneService",
];

fn patch(f: &Fields) -> Result<PolicyPatch, NbiError> {
    only(f, "policy", FIELDS)?;
    let number = |name| count(f, name, "a whole number");
    Ok(PolicyPatch {
        multiple_login: text(f, "multipleLogin")?
            .map(|t| {
                MultipleLogin::parse(t).ok_or_else(|| {
                    invalid("multipleLogin must be allowed, not-allowed or auto-logout")
                })
            })
            .transpose()?,
        max_login_minutes: number("maxLoginMinutes")?,
        enforce_max_login: flag(f, "enforceMaxLogin")?,
        remember_last_user: flag(f, "rememberLastUser")?,
        max_concurrent_requests: number("maxConcurrentRequests")?,
        validate_ip: flag(f, "validateIp")?,
        trusted_ips: list(f, "trustedIps")?,
        allow_proxy: flag(f, "allowProxy")?,
        min_pin_length: number("minPinLength")?,
        phone_service: flag(f, "phoneService")?,
    })
}

fn policy_element(p: &Policy) -> Element {
    let mut ips = Element::new("trustedIps");
    for ip in p.trusted_ips.as_written() {
        ips.push(Element::with_text("trustedIp", ip.as_str()));
    }
    Element::new("policy")
        .field("multipleLogin", p.multiple_login.as_str())
        .field("maxLoginMinutes", p.max_login_minutes.to_string())
        .field("enforceMaxLogin", p.enforce_max_login.to_string())
        .field("rememberLastUser", p.remember_last_user.to_string())
        .field(
            "maxConcurrentRequests",
            p.max_concurrent_requests.to_string(),
        )
        .field("validateIp", p.validate_ip.to_string())
        .child(ips)
        .field("allowProxy", p.allow_proxy.to_string())
        .field("minPinLength", p.min_pin_length.to_string())
        .field("phoneService", p.phone_service.to_string())
}
