//! The HTTPS client behind [`Callbacks`]: heartbeats and event deliveries to the URLs that
//! admin API clients gave at login.

use std::time::Duration;

use hotdesk_proto::nbi;
use reqwest::header::{CONTENT_TYPE, COOKIE};

use crate::domain::Event;
use crate::domain::admin::notify::Callbacks;

/// A receiver that takes longer than this has failed; the notifier tries again later.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct HttpsCallbacks {
    client: reqwest::Client,
}

impl HttpsCallbacks {
    /// A client that trusts the system's roots plus the certificates in `extra_roots_pem`
    /// (`serve --callback-ca`: a private CA, or a test's self-signed certificate), and refuses
    /// plain HTTP even if a URL slipped past the login check.
    pub fn new(extra_roots_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hotdesk/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_roots_pem {
            for cert in super::tls::certificates(pem)? {
                builder = builder.add_root_certificate(reqwest::Certificate::from_der(&cert)?);
            }
        }
        Ok(HttpsCallbacks {
            client: builder.build()?,
        })
    }

    async fn post(&self, url: &str, cookie: Option<&str>, body: String) -> Result<(), String> {
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("asCookie={cookie}"));
        }
        let response = request.send().await.map_err(|e| {
            // reqwest's Display hides the cause (refused, certificate...): show the chain.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {}", response.status()))
        }
    }
}

#[async_trait::async_trait]
impl Callbacks for HttpsCallbacks {
    async fn heartbeat(&self, url: &str, cookie: &str, req_id: u64) -> Result<(), String> {
        let body = nbi::render_response(
            "heartbeatCallbackRequest",
            Some(&req_id.to_string()),
            None,
            &[],
            None,
        );
        self.post(url, Some(cookie), body).await
    }

    async fn event(&self, url: &str, event: &Event) -> Result<(), String> {
        let body = nbi::render_response(
            "eventCallbackRequest",
            Some(&event.seq.to_string()),
            None,
            &[super::admin::event_element(event)],
            None,
        );
        self.post(url, None, body).await
    }
}
