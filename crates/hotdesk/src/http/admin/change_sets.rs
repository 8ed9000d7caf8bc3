//! `createChangeSet`, `validateChangeSet`, `submitChangeSet`, `discardChangeSet`: edits
//! staged under a `changeSetId` and applied together (CSM's change session).

use hotdesk_proto::nbi::{Element, NbiCode, NbiError};

use super::{Call, Reply, invalid};

pub(super) async fn create(c: &Call<'_>) -> Result<Reply, NbiError> {
    let id = c.state.admin.create_change_set(c.session).await?;
    Ok(reply(id, Some(0)))
}

pub(super) async fn validate(c: &Call<'_>) -> Result<Reply, NbiError> {
    let id = required_id(c.root)?;
    let n = c
        .state
        .admin
        .validate_change_set(c.session, id.clone())
        .await?;
    Ok(reply(id, Some(n)))
}

pub(super) async fn submit(c: &Call<'_>) -> Result<Reply, NbiError> {
    let id = required_id(c.root)?;
    let n = c
        .state
        .admin
        .submit_change_set(c.session, id.clone())
        .await?;
    Ok(reply(id, Some(n)))
}

pub(super) async fn discard(c: &Call<'_>) -> Result<Reply, NbiError> {
    let id = required_id(c.root)?;
    c.state
        .admin
        .discard_change_set(c.session, id.clone())
        .await?;
    Ok(reply(id, None))
}

/// The `<changeSetId>` of a request, if it names one: an edit staged rather than applied.
pub(super) fn id(root: &Element) -> Result<Option<String>, NbiError> {
    match root.text_of("changeSetId") {
        None => Ok(None),
        Some("") => Err(invalid("an empty changeSetId")),
        Some(id) => Ok(Some(id.to_string())),
    }
}

fn required_id(root: &Element) -> Result<String, NbiError> {
    id(root)?
        .ok_or_else(|| NbiError::with_detail(NbiCode::InvalidXml, "missing element changeSetId"))
}

/// The set's id and, except after a discard, how many edits it holds.
pub(super) fn reply(id: String, edits: Option<u32>) -> Reply {
    let mut body = vec![Element::with_text("changeSetId", id)];
    if let Some(n) = edits {
        body.push(Element::with_text("editCount", n.to_string()));
    }
    Reply::of(body)
}
