//! Change sets (CSM's change session): edits staged under a `changeSetId`, checked together by
//! `validateChangeSet` and applied together by `submitChangeSet`, in one transaction or not at
//! all. A change set lives in the store, so it survives a restart and any node can submit it;
//! only the admin who created it can see it.

use super::AdminService;
use super::edit::{Edit, apply};
use super::error::{AdminError, invalid};
use super::method::{Method, require};
use crate::domain::clock::Timestamp;
use crate::domain::model::{AdminSession, ChangeSet};
use crate::domain::{StoreResult, Tx, run_tx};

/// Edits one change set may hold: enough for a building's worth of phones, small enough that
/// submitting it is one reasonable transaction.
pub(super) const MAX_EDITS: u32 = 10_000;

pub(super) fn not_found(id: &str) -> AdminError {
    AdminError::ChangeSetNotFound(id.to_string())
}

/// The change set `id` if `session`'s admin owns it, locked: an edit staged into it meanwhile
/// waits, and is then either in what this transaction read or refused.
fn owned(tx: &mut dyn Tx, id: &str, session: &AdminSession) -> StoreResult<Option<ChangeSet>> {
    tx.lock_change_set(id)?;
    Ok(tx
        .change_set(id)?
        .filter(|s| s.owner.key() == session.username.key()))
}

/// Apply every edit of the set in order; the first that fails stops it, reported with its
/// place (`edit 2 of 3 (addDevice SEP1): ...`) and its own code.
fn apply_all(
    tx: &mut dyn Tx,
    set: &ChangeSet,
    session: &AdminSession,
    now: Timestamp,
) -> StoreResult<Result<u32, AdminError>> {
    let total = set.edits.len();
    // The whole directory, once: a set of thousands of edits takes one lock, not one each.
    tx.lock_directory(true)?;
    for (index, json) in set.edits.iter().enumerate() {
        let edit: Edit = match serde_json::from_str(json) {
            Ok(e) => e,
            // Staged by a release that wrote edits in another form (or not by hotdesk): say
            // what to do, rather than fail as if the database were broken.
            Err(e) => {
                tracing::warn!(change_set = %set.id, error = %e, "a staged edit cannot be read");
                return Ok(Err(invalid(format!(
                    "edit {} of {total} cannot be read by this release of hotdesk (it was staged \
                     by another): discard the change set and stage its edits again",
                    index + 1
                ))));
            }
        };
        if let Err(e) = apply(tx, &edit, session, now, true)? {
            let place = format!("edit {} of {total} ({})", index + 1, edit.describe());
            return Ok(Err(AdminError::InChangeSet {
                place,
                cause: Box::new(e),
            }));
        }
    }
    Ok(Ok(total as u32))
}

/// The change set `id`'s edits applied in the caller's transaction: how many, or the first
/// failure (1005 if `session`'s admin has no such set).
fn apply_owned(
    tx: &mut dyn Tx,
    id: &str,
    session: &AdminSession,
    now: Timestamp,
) -> StoreResult<Result<u32, AdminError>> {
    let Some(set) = owned(tx, id, session)? else {
        return Ok(Err(not_found(id)));
    };
    apply_all(tx, &set, session, now)
}

impl AdminService {
    pub async fn create_change_set(&self, session: &AdminSession) -> Result<String, AdminError> {
        require(session, Method::CreateChangeSet)?;
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let set = ChangeSet {
            id: id.clone(),
            owner: session.username.clone(),
            created_at: self.clock.now(),
            edits: Vec::new(),
        };
        run_tx(self.store.as_ref(), move |tx| {
            tx.insert_change_set(&set)?;
            Ok(Ok::<(), AdminError>(()))
        })
        .await??;
        Ok(id)
    }

    /// Apply the edits and roll them back: the first failure, or how many edits would apply.
    pub async fn validate_change_set(
        &self,
        session: &AdminSession,
        id: String,
    ) -> Result<u32, AdminError> {
        require(session, Method::ValidateChangeSet)?;
        let actor = session.clone();
        let now = self.clock.now();
        let outcome = run_tx(self.store.as_ref(), move |tx| {
            // Always the Err path, so run_tx rolls back whatever the edits did.
            Ok(Err::<std::convert::Infallible, _>(apply_owned(
                tx, &id, &actor, now,
            )?))
        })
        .await?;
        match outcome {
            Ok(never) => match never {},
            Err(result) => result,
        }
    }

    /// Apply every edit in one transaction and delete the set; on the first failure nothing
    /// is applied and the set stays, to be fixed (discard it and stage again) or discarded.
    pub async fn submit_change_set(
        &self,
        session: &AdminSession,
        id: String,
    ) -> Result<u32, AdminError> {
        require(session, Method::SubmitChangeSet)?;
        let actor = session.clone();
        let now = self.clock.now();
        let applied = run_tx(self.store.as_ref(), move |tx| {
            let result = apply_owned(tx, &id, &actor, now)?;
            if result.is_ok() {
                tx.remove_change_set(&id)?;
            }
            Ok(result)
        })
        .await??;
        tracing::info!(admin = %session.username, edits = applied, "change set submitted");
        Ok(applied)
    }

    pub async fn discard_change_set(
        &self,
        session: &AdminSession,
        id: String,
    ) -> Result<(), AdminError> {
        require(session, Method::DiscardChangeSet)?;
        let actor = session.clone();
        run_tx(self.store.as_ref(), move |tx| {
            if owned(tx, &id, &actor)?.is_none() {
                return Ok(Err(not_found(&id)));
            }
            tx.remove_change_set(&id)?;
            Ok(Ok(()))
        })
        .await?
    }
}
