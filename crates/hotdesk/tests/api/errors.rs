//! Every EM error code the rules can produce, over real HTTP, with the exact answer.

use crate::helpers::*;

const EXTRA: &str = r#"
[[apps]]
id = "kiosk"
certificate = "kioskpw"
proxy = false

[[users]]
id = "self"
password = "selfpw"
profiles = ["UserDevProf"]

[[users]]
id = "noprof"

[[devices]]
name = "SEPDISABLED"
em_enabled = false

[[devices]]
name = "SEPSPARE"
"#;

const KIOSK: &str =
    "<appInfo><appID>kiosk</appID><appCertificate>kioskpw</appCertificate></appInfo>";
const SELF: &str = "<appInfo><appID>SELF</appID><appCertificate>selfpw</appCertificate></appInfo>";

#[tokio::test]
async fn code_1_parse_errors_name_what_is_wrong() {
    let app = spawn_app().await;
    let missing = format!("<request>{APP}<login><userID>john</userID></login></request>");
    assert_eq!(
        app.em(&missing).await,
        failure(1, "Error on Parsing: missing element deviceName in login")
    );
    assert_eq!(
        app.em("<hello/>").await,
        failure(
            1,
            "Error on Parsing: unknown root element hello: expected request or query"
        )
    );
}

#[tokio::test]
async fn code_3_bad_credentials() {
    let app = spawn_app_with(EXTRA).await;
    let wrong = "<appInfo><appID>kiosk</appID><appCertificate>nope</appCertificate></appInfo>";
    let xml =
        format!("<request>{wrong}<logout><deviceName>SEPSPARE</deviceName></logout></request>");
    assert_eq!(
        app.em(&xml).await,
        failure(3, "Could not authenticate 'kiosk'")
    );
}

fn guess(name: &str) -> String {
    format!(
        "<request><appInfo><appID>{name}</appID><appCertificate>guess</appCertificate></appInfo><logoutAll/></request>"
    )
}

/// A held-off address learns nothing: not even a certificate it proved a moment ago passes, for
/// any app, until its minute is over. Its neighbour is not held off.
#[tokio::test]
async fn code_3_for_every_try_from_an_address_past_ten_failures_a_minute() {
    let app = spawn_app_with_options(EXTRA, behind_a_proxy()).await;
    let (guesser, neighbour) = (client_at("10.1.2.3"), client_at("10.1.2.4"));
    let query = device_query("SEP003094C25B15");
    assert!(
        post_em(&guesser, &app.base, &query)
            .await
            .contains("deviceUserResults")
    );
    for _ in 0..hotdesk::domain::MAX_APP_FAILURES_PER_ADDRESS {
        assert_eq!(
            post_em(&guesser, &app.base, &guess("kiosk")).await,
            failure(3, "Could not authenticate 'kiosk'")
        );
    }
    let kiosk =
        format!("<request>{KIOSK}<logout><deviceName>SEPSPARE</deviceName></logout></request>");
    assert_eq!(
        post_em(&guesser, &app.base, &kiosk).await,
        failure(3, "Could not authenticate 'kiosk'"),
        "the right certificate of the app it guessed"
    );
    assert_eq!(
        post_em(&guesser, &app.base, &query).await,
        failure(3, "Could not authenticate 'appid'"),
        "the certificate it proved before, answered from the cache a minute ago"
    );
    assert_eq!(
        post_em(&neighbour, &app.base, &kiosk).await,
        failure(19, "No user logged in")
    );
    assert!(
        post_em(&neighbour, &app.base, &query)
            .await
            .contains("deviceUserResults")
    );
    app.clock.advance(std::time::Duration::from_secs(60));
    assert!(
        post_em(&guesser, &app.base, &query)
            .await
            .contains("deviceUserResults")
    );
}

/// Guessed from many addresses, an app is held off everywhere except where its certificate
/// worked before: the guessers cannot lock a working kiosk out, and a new address learns nothing.
#[tokio::test]
async fn code_3_for_an_app_guessed_from_many_addresses_except_where_it_worked() {
    let app = spawn_app_with_options(EXTRA, behind_a_proxy()).await;
    let kiosk =
        format!("<request>{KIOSK}<logout><deviceName>SEPSPARE</deviceName></logout></request>");
    let working = client_at("192.0.2.10");
    assert_eq!(
        post_em(&working, &app.base, &kiosk).await,
        failure(19, "No user logged in")
    );
    let per_address = hotdesk::domain::MAX_APP_FAILURES_PER_ADDRESS - 1;
    let addresses = hotdesk::domain::MAX_APP_FAILURES_PER_NAME.div_ceil(per_address);
    for a in 0..addresses {
        let guesser = client_at(&format!("10.7.{}.{}", a / 200, a % 200));
        for _ in 0..per_address {
            post_em(&guesser, &app.base, &guess("kiosk")).await;
        }
    }
    assert_eq!(
        post_em(&client_at("10.8.0.1"), &app.base, &kiosk).await,
        failure(3, "Could not authenticate 'kiosk'"),
        "an address never seen before"
    );
    assert_eq!(
        post_em(&working, &app.base, &kiosk).await,
        failure(19, "No user logged in")
    );
    let other =
        format!("<request>{APP}<logout><deviceName>SEPSPARE</deviceName></logout></request>");
    assert_eq!(
        post_em(&client_at("10.8.0.1"), &app.base, &other).await,
        failure(19, "No user logged in"),
        "other apps are not held off"
    );
}

#[tokio::test]
async fn code_8_unknown_query() {
    let app = spawn_app().await;
    let xml = format!(
        "<query>{APP}<whoIsThereQuery><deviceName>x</deviceName></whoIsThereQuery></query>"
    );
    assert_eq!(
        app.em(&xml).await,
        failure(
            8,
            "Query type undetermined: unknown query type whoIsThereQuery"
        )
    );
}

#[tokio::test]
async fn code_10_without_proxy_rights() {
    let app = spawn_app_with(EXTRA).await;
    let for_john = format!(
        "<request>{KIOSK}<login><deviceName>SEPSPARE</deviceName><userID>john</userID></login></request>"
    );
    assert_eq!(
        app.em(&for_john).await,
        failure(10, "User lacks app proxy rights")
    );
    let all = format!("<request>{KIOSK}<logoutAll/></request>");
    assert_eq!(
        app.em(&all).await,
        failure(10, "User lacks app proxy rights")
    );
    let who = format!(
        "<query>{KIOSK}<deviceUserQuery><deviceName>SEPSPARE</deviceName></deviceUserQuery></query>"
    );
    assert_eq!(
        app.em(&who).await,
        failure(10, "User lacks app proxy rights")
    );

    // A user with an API password acts for itself only.
    let own = format!(
        "<request>{SELF}<login><deviceName>SEPSPARE</deviceName><userID>self</userID></login></request>"
    );
    assert_eq!(app.em(&own).await, success());
    let q =
        format!("<query>{SELF}<userDevicesQuery><userID>self</userID></userDevicesQuery></query>");
    assert_eq!(
        app.em(&q).await,
        doc(
            "<userDevicesResults><user id=\"self\"><deviceName>SEPSPARE</deviceName></user></userDevicesResults>"
        )
    );
    let other =
        format!("<query>{SELF}<userDevicesQuery><userID>john</userID></userDevicesQuery></query>");
    assert_eq!(
        app.em(&other).await,
        failure(10, "User lacks app proxy rights")
    );
    // It may not end someone else's login, and that attempt changes nothing.
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let theirs = format!(
        "<request>{SELF}<logout><deviceName>SEP003094C25B15</deviceName></logout></request>"
    );
    assert_eq!(
        app.em(&theirs).await,
        failure(10, "User lacks app proxy rights")
    );
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("<userID>john</userID>")
    );
    let mine =
        format!("<request>{SELF}<logout><deviceName>SEPSPARE</deviceName></logout></request>");
    assert_eq!(app.em(&mine).await, success());
}

#[tokio::test]
async fn code_11_unknown_device() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("SEPNOPE", "john", "")).await,
        failure(11, "Device does not exist")
    );
    assert_eq!(
        app.em(&logout_xml("SEPNOPE")).await,
        failure(11, "Device does not exist")
    );
}

#[tokio::test]
async fn code_12_profile_not_found() {
    let app = spawn_app_with(EXTRA).await;
    assert_eq!(
        app.em(&login_xml("SEPSPARE", "noprof", "")).await,
        failure(12, "Dev. Profile not found")
    );
    // A profile that exists but is not associated with the user, and one that does not exist.
    let theirs = "<deviceProfile>EM-SCCP-Profile-7970</deviceProfile>";
    assert_eq!(
        app.em(&login_xml("SEPSPARE", "john", theirs)).await,
        failure(12, "Dev. Profile not found")
    );
    let none = "<deviceProfile>NoSuchProfile</deviceProfile>";
    assert_eq!(
        app.em(&login_xml("SEPSPARE", "john", none)).await,
        failure(12, "Dev. Profile not found")
    );
}

#[tokio::test]
async fn code_18_device_taken_by_another_user() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "one", "")).await,
        failure(18, "Another user logged in")
    );
    // The same user again refreshes the login instead (a retried request must not fail).
    assert_eq!(
        app.em(&login_xml(
            "sep003094c25b15",
            "JOHN",
            "<deviceProfile>UserDevProf</deviceProfile>"
        ))
        .await,
        success()
    );
}

#[tokio::test]
async fn code_19_nobody_logged_in() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&logout_xml("SEP003094C25B15")).await,
        failure(19, "No user logged in")
    );
}

#[tokio::test]
async fn code_22_em_disabled_on_device() {
    let app = spawn_app_with(EXTRA).await;
    assert_eq!(
        app.em(&login_xml("SEPDISABLED", "john", "")).await,
        failure(22, "Device logon disabled")
    );
}

#[tokio::test]
async fn code_23_unknown_user() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "ghost", "")).await,
        failure(23, "User not found")
    );
}

#[tokio::test]
async fn multiple_login_policies() {
    let app = spawn_app_with(EXTRA).await;
    // Default: not allowed (25), and nothing changes.
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_eq!(
        app.em(&login_xml("SEPSPARE", "john", "")).await,
        failure(25, "User logged in elsewhere")
    );
    assert!(
        app.em(&device_query("SEPSPARE"))
            .await
            .contains("<none/><none/>")
    );

    app.import("[policy]\nmultiple_login = \"allowed\"\n").await;
    assert_eq!(app.em(&login_xml("SEPSPARE", "john", "")).await, success());
    let q =
        format!("<query>{APP}<userDevicesQuery><userID>john</userID></userDevicesQuery></query>");
    let both = app.em(&q).await;
    assert!(
        both.contains("<deviceName>SEP003094C25B15</deviceName>")
            && both.contains("<deviceName>SEPSPARE</deviceName>"),
        "{both}"
    );

    app.import("[policy]\nmultiple_login = \"auto-logout\"\n")
        .await;
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "john", "")).await,
        success()
    );
    assert_eq!(
        app.em(&q).await,
        doc(
            "<userDevicesResults><user id=\"john\"><deviceName>SEP402CF4915265</deviceName></user></userDevicesResults>"
        )
    );
    let auto: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event.kind.as_str() == "autoLogout")
        .collect();
    assert_eq!(
        auto.len(),
        2,
        "both other devices were logged out, each with its event"
    );
    assert!(
        app.em(&device_query("SEPSPARE"))
            .await
            .contains("<lastlogin>john</lastlogin>")
    );
}

#[tokio::test]
async fn code_26_when_no_write_slot_is_free() {
    let app = spawn_app().await;
    // 0 slots: the maintenance switch. Every write is refused at once; queries still answer.
    app.import("[policy]\nmax_concurrent_requests = 0\n").await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        failure(26, "Busy, please try again")
    );
    assert_eq!(
        app.em(&logout_xml("SEP003094C25B15")).await,
        failure(26, "Busy, please try again")
    );
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("deviceUserResults")
    );
    // Bad credentials are still checked first.
    let bad = login_xml("SEP003094C25B15", "john", "").replace("apppasswd", "x");
    assert_eq!(
        app.em(&bad).await,
        failure(3, "Could not authenticate 'appid'")
    );
}

#[tokio::test]
async fn code_28_untrusted_address() {
    let app = spawn_app().await;
    app.import("[policy]\nvalidate_ip = true\ntrusted_ips = [\"10.9.9.9\", \"192.168.0.0/16\"]\n")
        .await;
    // The test talks from 127.0.0.1, which is not trusted.
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        failure(28, "Untrusted IP Error")
    );
    let relayed = login_xml(
        "SEP003094C25B15",
        "john",
        "<remoteIPAddr>10.9.9.8</remoteIPAddr>",
    );
    assert_eq!(app.em(&relayed).await, failure(28, "Untrusted IP Error"));
    let trusted = login_xml(
        "SEP003094C25B15",
        "john",
        "<remoteIPAddr>192.168.4.20</remoteIPAddr>",
    );
    assert_eq!(app.em(&trusted).await, success());
    app.import("[policy]\nvalidate_ip = true\ntrusted_ips = [\"127.0.0.1\"]\n")
        .await;
    assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
}

/// Behind a load balancer (`serve --trusted-proxies`), the address that counts is the one the
/// balancer puts in `X-Forwarded-For`; anyone else's header is ignored.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_counts() {
    let policy = "[policy]\nvalidate_ip = true\ntrusted_ips = [\"10.1.2.3\"]\n";
    let login = |app: &TestApp, forwarded: &'static str| {
        let request = app
            .client
            .post(servlet(&app.base))
            .header("x-forwarded-for", forwarded)
            .form(&[("xml", login_xml("SEP003094C25B15", "john", ""))]);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let behind = spawn_app_with_options(
        policy,
        hotdesk::http::ServerOptions {
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            ..Default::default()
        },
    )
    .await;
    // The balancer appends the phone's address; what the client wrote before it is ignored.
    assert_eq!(login(&behind, "10.1.2.3").await, success());
    assert_eq!(
        behind.em(&logout_xml("SEP003094C25B15")).await,
        failure(28, "Untrusted IP Error")
    );
    assert_eq!(
        login(&behind, "10.1.2.3, 203.0.113.9").await,
        failure(28, "Untrusted IP Error")
    );
    // A chain of trusted balancers is skipped from the right.
    assert_eq!(login(&behind, "10.1.2.3, 127.0.0.5").await, success());
    // Garbage where an address should be counts as nobody's address, not the balancer's.
    assert_eq!(
        login(&behind, "10.1.2.3, not-an-address").await,
        failure(28, "Untrusted IP Error")
    );

    // Without --trusted-proxies, the header proves nothing.
    let direct = spawn_app_with(policy).await;
    assert_eq!(
        login(&direct, "10.1.2.3").await,
        failure(28, "Untrusted IP Error")
    );
}

#[tokio::test]
async fn code_30_proxy_not_allowed() {
    let app = spawn_app().await;
    app.import("[policy]\nallow_proxy = false\n").await;
    let via = app
        .client
        .post(servlet(&app.base))
        .header("via", "1.1 squid")
        .form(&[("xml", login_xml("SEP003094C25B15", "john", ""))])
        .send()
        .await
        .unwrap();
    assert_eq!(via.text().await.unwrap(), failure(30, "Proxy not allowed"));
    let flagged = login_xml(
        "SEP003094C25B15",
        "john",
        "<isViaHeaderSet>true</isViaHeaderSet>",
    );
    assert_eq!(app.em(&flagged).await, failure(30, "Proxy not allowed"));
    let direct = login_xml(
        "SEP003094C25B15",
        "john",
        "<isViaHeaderSet>false</isViaHeaderSet>",
    );
    assert_eq!(app.em(&direct).await, success());
}

#[tokio::test]
async fn logout_all_with_nobody_logged_in_succeeds() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&format!("<request>{APP}<logoutAll/></request>"))
            .await,
        success()
    );
}
