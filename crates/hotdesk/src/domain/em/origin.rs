//! "Validate IP Address", "Trusted List of IPs" and "Allow Proxy" (codes 28 and 30).

use std::net::IpAddr;

use hotdesk_proto::Origin;

use super::RequestContext;
use crate::domain::error::EmError;
use crate::domain::model::Policy;

/// Check where a login or logout comes from. The phone's address is `remoteIPAddr` when a
/// trusted front end (an authenticated app) passes it, else the TCP peer.
pub(crate) fn check_origin(
    policy: &Policy,
    origin: &Origin,
    ctx: &RequestContext,
) -> Result<(), EmError> {
    if policy.validate_ip {
        let claimed = origin.remote_ip.as_deref().map(str::trim);
        let trusted = match claimed {
            Some(text) => policy.trusts_text(text),
            None => ctx.peer.is_some_and(|ip| policy.trusts(ip)),
        };
        if !trusted {
            let shown = claimed
                .map(str::to_string)
                .or(ctx.peer.map(|p: IpAddr| p.to_string()));
            return Err(EmError::UntrustedIp(shown.unwrap_or_default()));
        }
    }
    if !policy.allow_proxy && (ctx.via_header || origin.via_header_set == Some(true)) {
        return Err(EmError::ProxyNotAllowed);
    }
    Ok(())
}
