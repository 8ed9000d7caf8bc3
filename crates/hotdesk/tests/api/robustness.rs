//! Bad input gets a precise code (or 413 for size), never a panic, a hang or a 500.

use crate::helpers::*;

async fn code_of(answer: &str) -> u16 {
    let start = answer.find("code=\"").expect("a failure") + 6;
    answer[start..].split('"').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn malformed_documents_get_code_1_or_8() {
    let app = spawn_app().await;
    let cases: Vec<(String, u16)> = vec![
        ("<request><appInfo>".into(), 1),
        ("not xml at all".into(), 1),
        ("".into(), 1),
        ("<request></query>".into(), 1),
        ("<response><success/></response>".into(), 1),
        (
            format!(
                "<request>{APP}<login><deviceName>SEP003094C25B15</deviceName></login></request>"
            ),
            1,
        ),
        (format!("<request>{APP}</request>"), 1),
        (
            "<request><login><deviceName>a</deviceName><userID>b</userID></login></request>".into(),
            1,
        ),
        (format!("<query>{APP}</query>"), 8),
        (format!("<query>{APP}<bogus/></query>"), 8),
        (
            login_xml(
                "SEP003094C25B15",
                "john",
                "<exclusiveDuration><time>ten</time></exclusiveDuration>",
            ),
            1,
        ),
        (
            login_xml(
                "SEP003094C25B15",
                "john",
                "<exclusiveDuration><time>0</time></exclusiveDuration>",
            ),
            1,
        ),
        (
            login_xml(
                "SEP003094C25B15",
                "john",
                "<exclusiveDuration><time>-1</time></exclusiveDuration>",
            ),
            1,
        ),
        (
            login_xml(
                "SEP003094C25B15",
                "john",
                "<exclusiveDuration><time>99999999999</time></exclusiveDuration>",
            ),
            1,
        ),
        (
            login_xml(
                "SEP003094C25B15",
                "john",
                "<exclusiveDuration></exclusiveDuration>",
            ),
            1,
        ),
        (format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)), 1),
        (
            format!(
                "<query>{APP}<deviceUserQuery>{}</deviceUserQuery></query>",
                "<deviceName>x</deviceName>".repeat(1100)
            ),
            1,
        ),
    ];
    for (xml, code) in cases {
        let answer = app.em(&xml).await;
        assert_eq!(code_of(&answer).await, code, "{xml:.200} -> {answer}");
    }
    // Nothing of that changed anything.
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("<none/><none/>")
    );
}

#[tokio::test]
async fn a_doctype_is_never_fetched_or_expanded() {
    let app = spawn_app().await;
    // EMApp's own prolog: accepted, the URL never fetched (there is no network here anyway).
    let emapp = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE query SYSTEM \"http://192.0.2.1:8080/emservice/jsp/LoginQuery.dtd\">{}",
        device_query("SEP003094C25B15")
    );
    assert!(app.em(&emapp).await.contains("<deviceUserResults>"));
    // Billion laughs: refused with code 1, at once.
    let mut bomb = String::from("<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY l0 \"ha\">");
    for i in 1..10 {
        let prev = format!("&l{};", i - 1);
        bomb.push_str(&format!("<!ENTITY l{i} \"{}\">", prev.repeat(10)));
    }
    bomb.push_str("]>");
    bomb.push_str(&login_xml("SEP003094C25B15", "&l9;", ""));
    assert_eq!(code_of(&app.em(&bomb).await).await, 1);
    // An external entity is not read either.
    let xxe = format!(
        "<!DOCTYPE request [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        login_xml("SEP003094C25B15", "&x;", "")
    );
    assert_eq!(code_of(&app.em(&xxe).await).await, 1);
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_with_413() {
    let app = spawn_app().await;
    let huge = format!("xml={}", "A".repeat(10 * 1024 * 1024));
    let response = app
        .client
        .post(servlet(&app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // The server is fine afterwards.
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("<deviceUserResults>")
    );
}

#[tokio::test]
async fn invalid_utf8_gets_code_1() {
    let app = spawn_app().await;
    let url = servlet(&app.base);
    let mut raw = login_xml("SEP003094C25B15", "john", "").into_bytes();
    raw.splice(100..100, [0xff, 0xfe]);
    for (content_type, body) in [
        ("text/xml", raw),
        (
            "application/x-www-form-urlencoded",
            b"xml=%3Crequest%3E%FF%3C%2Frequest%3E".to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            b"xml=\xff\xfe".to_vec(),
        ),
    ] {
        let r = app
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(code_of(&r.text().await.unwrap()).await, 1);
    }
}

#[tokio::test]
async fn other_methods_are_not_500() {
    let app = spawn_app().await;
    let r = app
        .client
        .put(servlet(&app.base))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

/// tokio's paused clock jumps to the server's timer once every task waits: the 30 s pass in
/// no time at all.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_body_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /emservice/EMServiceServlet HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nxml=%3C";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    // A bound of our own, later than the server's, so a missing timeout fails instead of hanging.
    let n = tokio::time::timeout(std::time::Duration::from_secs(60), stream.read(&mut answer))
        .await
        .expect("the server answers before our own minute is up")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Connect to `app` and send `bytes` as they are; the connection, for more.
async fn raw(app: &TestApp, bytes: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

/// What the server sends on `stream` until it has sent a whole answer to a GET of `/healthz`
/// (or anything ending in a newline after its head), or closes it; bounded by our own minute.
async fn answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        for _ in 0..1000 {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_string)
                    })
                    .and_then(|l| l.trim().parse::<usize>().ok());
                length.is_some_and(|l| body.len() >= l)
            });
            if n == 0 || complete {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("the server answers or closes before our own minute is up");
    String::from_utf8_lossy(&got).into_owned()
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// Past the cap on open connections a new one is told 503 and closed, while a connection
/// already open is answered; one closing makes room for another.
#[tokio::test]
async fn a_flood_past_the_connection_cap_is_refused_while_open_connections_are_answered() {
    let mut options = hotdesk::http::ServerOptions::default();
    options.limits.max_connections = 3;
    let app = spawn_app_with_options("", options).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = raw(&app, HEALTH).await;
        assert!(answer(&mut c).await.starts_with("HTTP/1.1 200"));
        open.push(c);
    }
    for _ in 0..5 {
        let mut flood = raw(&app, HEALTH).await;
        let refused = answer(&mut flood).await;
        assert!(
            refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{refused}"
        );
        assert!(refused.contains("retry-after: 1\r\n"), "{refused}");
        assert!(
            refused.ends_with("too many open connections; retry soon\n"),
            "{refused}"
        );
    }
    {
        use tokio::io::AsyncWriteExt;
        open[0].write_all(HEALTH.as_bytes()).await.unwrap();
    }
    assert!(
        answer(&mut open[0]).await.starts_with("HTTP/1.1 200"),
        "an open connection is served"
    );
    drop(open.pop());
    // The server notices the close on its own time: try again, a bounded number of times.
    let mut served = false;
    for _ in 0..200 {
        let mut next = raw(&app, HEALTH).await;
        if answer(&mut next).await.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(served, "a closed connection's slot is given to a new one");
}

/// A request head past 64 KiB, or with too many header lines, is refused with 431; one just
/// under is served.
#[tokio::test]
async fn a_head_too_large_gets_431() {
    let app = spawn_app().await;
    let limit = hotdesk::http::serve::MAX_HEAD_BYTES;
    let padded = |n: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(n)
        )
    };
    let mut big = raw(&app, &padded(limit + 1)).await;
    let refused = answer(&mut big).await;
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
    let mut fits = raw(&app, &padded(limit - 100)).await;
    assert!(answer(&mut fits).await.starts_with("HTTP/1.1 200"));
    let many: String = (0..=hotdesk::http::serve::MAX_HEADERS)
        .map(|i| format!("X-{i}: y\r\n"))
        .collect();
    let mut lines = raw(
        &app,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
    )
    .await;
    let refused = answer(&mut lines).await;
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
}

/// A client that trickles its head is cut off once its time is up, answered nothing.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_head_is_cut_off() {
    let app = spawn_app().await;
    let mut stalled = raw(&app, "GET /healthz HTTP/1.1\r\nHost:").await;
    assert_eq!(answer(&mut stalled).await, "", "closed without an answer");
}
