//! `<logoutAll>`: end every login (a maintenance operation; needs proxy rights).

use hotdesk_proto::Origin;

use super::expiry::{end_login, expire_due};
use super::origin::check_origin;
use super::{Caller, EmService, RequestContext};
use crate::domain::error::EmError;
use crate::domain::model::{EventKind, NewEvent, Policy};
use crate::domain::run_tx;

impl EmService {
    pub(super) async fn logout_all(
        &self,
        caller: &Caller,
        policy: &Policy,
        origin: &Origin,
        ctx: &RequestContext,
    ) -> Result<(), EmError> {
        caller.needs_proxy()?;
        let _slot = self.write_slot(policy)?;
        check_origin(policy, origin, ctx)?;
        let now = self.clock.now();
        let actor = caller.id.clone();
        run_tx(self.store.as_ref(), move |tx| {
            expire_due(tx, now)?;
            let ended = tx.remove_all_logins()?;
            // One logout event per phone, so a provisioning system reconfigures each, and one
            // logoutAll event that records the operation itself.
            for login in &ended {
                end_login(tx, login, now, EventKind::Logout, &actor, Some("logoutAll"))?;
            }
            let mut summary = NewEvent::new(now, EventKind::LogoutAll)
                .detail(format!("{} logins ended", ended.len()));
            summary.actor = Some(actor.clone());
            tx.append_event(&summary)?;
            Ok(Ok::<(), EmError>(()))
        })
        .await?
    }
}
