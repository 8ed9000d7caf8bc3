//! `<logout>`: end the login on a device.

use hotdesk_proto::Logout as LogoutRequest;

use super::expiry::{end_login, expire_due};
use super::origin::check_origin;
use super::{Caller, EmService, RequestContext, WriteFacts};
use crate::domain::error::EmError;
use crate::domain::model::{EventKind, Key, Login};
use crate::domain::run_tx;

impl EmService {
    pub(super) async fn logout(
        &self,
        caller: &Caller,
        facts: WriteFacts,
        req: LogoutRequest,
        expect: Option<Key>,
        ctx: &RequestContext,
    ) -> Result<Login, EmError> {
        let _slot = self.write_slot(&facts.policy)?;
        check_origin(&facts.policy, &req.origin, ctx)?;
        let device = facts
            .device
            .ok_or_else(|| EmError::DeviceNotFound(req.device_name.clone()))?;
        let key = device.name.key();
        let now = self.clock.now();
        let caller = caller.clone();
        run_tx(self.store.as_ref(), move |tx| {
            expire_due(tx, now)?;
            let Some(ended) = tx.remove_login(&key)? else {
                return Ok(Err(EmError::NoUserLoggedIn));
            };
            if expect.as_ref().is_some_and(|u| *u != ended.user.key()) {
                return Ok(Err(EmError::NoUserLoggedIn));
            }
            // Without proxy rights a caller may end only its own login; the removal rolls back.
            if let Err(e) = caller.may_act_for(&ended.user) {
                return Ok(Err(e));
            }
            end_login(tx, &ended, now, EventKind::Logout, &caller.id, None)?;
            Ok(Ok(ended))
        })
        .await?
    }
}
