//! The dashboard's script and style sheet, compiled into the binary: nothing is fetched from
//! anywhere else, so the page works on a network with no way out.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "src/http/ui/assets/"]
struct Assets;

pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let Some(found) = Assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let mime = found.metadata.mimetype().to_string();
    let mut response = found.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // The files change with the binary; a restart after an upgrade must not serve old ones
    // from a cache, so the browser asks again (and gets 200 from memory) each time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
