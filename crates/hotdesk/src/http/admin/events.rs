//! `/nbi/eventservice/eventSubscription`: `<op>add</op>` (optionally `<afterSeq>N</afterSeq>`
//! to replay from event N) or `<op>delete</op>`. Events are then posted to the session's
//! callback (`http::callbacks`).

use hotdesk_proto::nbi::{Element, NbiCode, NbiError};

use super::{Call, Reply, invalid, number};

pub(super) async fn subscription(c: &Call<'_>) -> Result<Reply, NbiError> {
    let mut body = Vec::new();
    if let Some(id) = c.root.text_of("subscriptionId") {
        body.push(Element::with_text("subscriptionId", id));
    }
    match c.root.text_of("op") {
        Some("add") => {
            let after = number(c.root, "afterSeq")?;
            let start = c.state.admin.subscribe(c.session, after).await?;
            body.push(Element::with_text("afterSeq", start.to_string()));
        }
        Some("delete") => c.state.admin.unsubscribe(c.session).await?,
        Some(_) => return Err(invalid("op must be add or delete")),
        None => {
            return Err(NbiError::with_detail(
                NbiCode::InvalidXml,
                "missing element op",
            ));
        }
    }
    Ok(Reply::of(body))
}
