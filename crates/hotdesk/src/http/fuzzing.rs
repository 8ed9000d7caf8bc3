//! What the fuzz targets in `fuzz/` call: the wire's decoding steps, which are private to their
//! handlers, each as one function of the bytes a client controls. Not an API.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::domain::phone::LoginType;

/// The EM document of a request, from its `Content-Type`, query and body, the way the servlet
/// finds it; then parsed. The error's code, if any.
pub fn em_request(content_type: &[u8], query: Option<&str>, body: &[u8]) -> Result<(), u16> {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let doc = super::em::extract_document(&headers, query, body).map_err(|e| e.code.code())?;
    hotdesk_proto::parse(&doc)
        .map(|_| ())
        .map_err(|e| e.code.code())
}

/// What the phone service reads of a query string and a `Host`: every parameter it asks
/// for, the login type, and whether the host may go into the URLs it sends back.
pub fn phone_request(query: &str, host: &str) {
    let params = super::phone::Params::parse(Some(query));
    for name in [
        "device",
        "loginType",
        "action",
        "userid",
        "pin",
        "profile",
        "token",
        "extension",
    ] {
        let _ = params.get(name);
    }
    let _ = LoginType::parse(params.get("loginType"));
    let _ = super::phone::is_authority(host);
}
