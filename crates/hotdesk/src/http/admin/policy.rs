//! `getPolicy`, `setPolicy`: the EM service parameters and the phone service's.

use hotdesk_proto::nbi::{Element, NbiError};

use super::{Call, Reply, fields_of, required};
use crate::domain::Policy;

pub(super) async fn get(c: &Call<'_>) -> Result<Reply, NbiError> {
    let policy = c.state.admin.get_policy(c.session).await?;
    Ok(Reply::of(vec![policy_element(&policy)]))
}

pub(super) async fn set(c: &Call<'_>) -> Result<Reply, NbiError> {
    let fields = fields_of(required(c.root, "policy")?)?;
    let policy = c.state.admin.set_policy(c.session, fields).await?;
    Ok(Reply::of(vec![policy_element(&policy)]))
}

fn policy_element(p: &Policy) -> Element {
    let mut ips = Element::new("trustedIps");
    for ip in &p.trusted_ips {
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
