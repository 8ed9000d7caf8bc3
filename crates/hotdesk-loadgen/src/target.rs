//! The server we load: a URL that must resolve to loopback and nothing else.

use std::net::{IpAddr, SocketAddr};

use reqwest::Url;

/// The EM endpoint, as Cisco documents it.
pub const EM_PATH: &str = "/emservice/EMServiceServlet";

pub struct Target {
    /// The host name as given (a name or an IP literal).
    pub host: String,
    /// What it resolved to: all loopback.
    pub addrs: Vec<SocketAddr>,
    pub endpoint: Url,
    pub healthz: Url,
}

/// Parse the base URL: plain HTTP with a host. Any path is replaced by the EM endpoint.
pub fn parse(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("--url {url}: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "--url {url}: only http:// is supported (the load generator talks to loopback only)"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("--url {url}: no host"));
    }
    Ok(parsed)
}

/// Every address must be loopback (127.0.0.0/8, ::1, or ::ffff:127.x.y.z), and there must be one.
pub fn check_loopback(url: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    if addrs.is_empty() {
        return Err(format!("--url {url}: the host resolves to no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| !a.ip().to_canonical().is_loopback()) {
        return Err(format!(
            "--url {url}: resolves to {bad}, which is not a loopback address; \
             hotdesk-loadgen only talks to 127.0.0.1 or ::1"
        ));
    }
    Ok(())
}

impl Target {
    pub fn resolve(url: &str) -> Result<Target, String> {
        let parsed = parse(url)?;
        let addrs = parsed
            .socket_addrs(|| Some(80))
            .map_err(|e| format!("--url {url}: cannot resolve the host: {e}"))?;
        check_loopback(url, &addrs)?;
        let endpoint = parsed
            .join(EM_PATH)
            .map_err(|e| format!("--url {url}: {e}"))?;
        let healthz = parsed
            .join("/healthz")
            .map_err(|e| format!("--url {url}: {e}"))?;
        Ok(Target {
            host: parsed.host_str().unwrap_or_default().to_string(),
            addrs,
            endpoint,
            healthz,
        })
    }

    /// True when the host is a name (which the HTTP client must be pinned to `addrs`), not an
    /// IP literal.
    pub fn is_name(&self) -> bool {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_addresses_pass() {
        let ok = [
            addr("127.0.0.1:8080"),
            addr("127.1.2.3:1"),
            addr("[::1]:8080"),
            addr("[::ffff:127.0.0.1]:80"),
        ];
        assert!(check_loopback("u", &ok).is_ok());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "10.0.0.1:8080",
            "0.0.0.0:8080",
            "[::]:80",
            "[::ffff:10.0.0.1]:80",
            "192.168.1.1:80",
        ] {
            let e = check_loopback("u", &[addr("127.0.0.1:80"), addr(bad)]).unwrap_err();
            assert!(e.contains("not a loopback address"), "{bad}: {e}");
        }
        assert!(check_loopback("u", &[]).is_err());
    }

    #[test]
    fn literal_urls() {
        let t = Target::resolve("http://127.0.0.1:18181").unwrap();
        assert_eq!(
            t.endpoint.as_str(),
            "http://127.0.0.1:18181/emservice/EMServiceServlet"
        );
        assert_eq!(t.healthz.as_str(), "http://127.0.0.1:18181/healthz");
        assert!(!t.is_name());
        let t6 = Target::resolve("http://[::1]:8080/anything").unwrap();
        assert_eq!(
            t6.endpoint.as_str(),
            "http://[::1]:8080/emservice/EMServiceServlet"
        );
        assert!(!t6.is_name());
        assert!(Target::resolve("http://10.1.2.3:8080").is_err());
        assert!(Target::resolve("http://[2001:db8::1]:8080").is_err());
        assert!(Target::resolve("https://127.0.0.1:8443").is_err());
        assert!(Target::resolve("127.0.0.1:8080").is_err());
    }
}
