//! The profile menu: a user with several device profiles picks one. The menu's URLs carry a
//! token, never the PIN, so the PIN crosses the network once. The token is good for
//! [`MENU_LIFETIME_MS`], on the phone it was issued to, for one pick: taking an item deletes
//! the whole menu in the same transaction that reads it, so two picks (or two nodes) cannot
//! both log in with it.

use super::{
    LoggedIn, LoginOutcome, LoginType, MENU_LIFETIME_MS, PhoneError, PhoneService, ProfileChoice,
};
use crate::domain::clock::Timestamp;
use crate::domain::em::RequestContext;
use crate::domain::model::{Key, PhoneMenu};
use crate::domain::run_tx;
use crate::domain::secrets::{new_token, token_hash};

const STALE: PhoneError =
    PhoneError::Authentication("the menu is used up, expired or another phone's");

impl PhoneService {
    /// Store a menu of `profiles` for `user` on `device` and hand back its token.
    pub(super) async fn offer_menu(
        &self,
        device: &str,
        user: &str,
        profiles: Vec<ProfileChoice>,
    ) -> Result<LoginOutcome, PhoneError> {
        let now = self.now();
        // 128 bits: a guess has no chance in two minutes, and the URLs stay within the 256 bytes a
        // phone takes.
        let token = new_token(16);
        let menu = PhoneMenu {
            token_hash: token_hash(&token),
            device: device.into(),
            user: user.into(),
            profiles: profiles.iter().map(|p| p.name.as_str().into()).collect(),
            expires_at: Timestamp(now.0 + MENU_LIFETIME_MS),
        };
        run_tx(self.store.as_ref(), move |tx| {
            // A new menu ends the phone's earlier ones: the last person's menu, still on the
            // phone's back stack, must not log them in.
            tx.remove_phone_menus(&menu.device, now)?;
            tx.insert_phone_menu(&menu)?;
            Ok(Ok::<(), PhoneError>(()))
        })
        .await??;
        Ok(LoginOutcome::ChooseProfile {
            device: device.to_string(),
            user: user.to_string(),
            token,
            profiles,
        })
    }

    /// The person picked item `index` (from 1) of the menu with `token`. A token that is
    /// unknown, used, expired or another phone's is code 201: log in again.
    pub async fn choose(
        &self,
        device: Option<&str>,
        login_type: Option<&str>,
        token: Option<&str>,
        index: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<LoggedIn, PhoneError> {
        let login_type = LoginType::parse(login_type)?;
        let device = self.usable_device(device, login_type, ctx).await?;
        let token = token.filter(|t| !t.is_empty()).ok_or(STALE)?;
        let index = index
            .and_then(|i| i.trim().parse::<usize>().ok())
            .filter(|i| *i >= 1)
            .ok_or(STALE)?;
        let hash = token_hash(token);
        let now = self.now();
        let device_key = Key::of(&device);
        let picked = run_tx(self.store.as_ref(), move |tx| {
            let Some(menu) = tx.take_phone_menu(&hash)? else {
                return Ok(Err(STALE));
            };
            // Refusing rolls the take back: the menu stays for the phone it belongs to.
            if menu.device.key() != device_key {
                return Ok(Err(STALE));
            }
            let Some(profile) = menu.profiles.get(index - 1) else {
                return Ok(Err(STALE));
            };
            // An expired menu is deleted (committed) but logs nobody in.
            Ok(Ok(
                (menu.expires_at > now).then(|| (menu.user.to_string(), profile.to_string()))
            ))
        })
        .await??;
        let (user, profile) = picked.ok_or(STALE)?;
        let name = self.store.user(&Key::of(&user)).await?.and_then(|u| u.name);
        self.log_in(&device, user, name, profile, login_type, ctx)
            .await
    }
}
