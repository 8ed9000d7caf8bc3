//! The seed document's examples, verbatim, and every response shape against the served DTDs.

use crate::helpers::*;

const SEED_LOGIN: &str = "<request>  
    <appInfo>  
        <appID>appid</appID>  
        <appCertificate>apppasswd</appCertificate>  
    </appInfo>  
    <login>  
        <deviceName>SEP003094C25B15</deviceName>  
        <userID>john</userID>  
        <deviceProfile>UserDevProf</deviceProfile>  
        <exclusiveDuration>  
            <time>60</time>  
        </exclusiveDuration>  
    </login>  
</request>";

const SEED_LOGOUT: &str = "<request>  
    <appInfo>  
        <appID>appid</appID>  
        <appCertificate>apppasswd</appCertificate>  
    </appInfo>  
    <logout>  
        <deviceName>SEP003094C25B15</deviceName>  
    </logout>  
</request>";

const SEED_LOGOUT_ALL: &str = "<request>  
    <appInfo>  
        <appID>appid</appID>  
        <appCertificate>apppasswd</appCertificate>  
    </appInfo>  
    <logoutAll>  
    </logoutAll>  
</request>";

const SEED_USER_QUERY: &str = "<query>  
    <appInfo>  
        <appID>appid</appID>  
        <appCertificate>apppasswd</appCertificate>  
    </appInfo>  
    <deviceUserQuery>  
        <deviceName>SEP003094C25B15</deviceName>  
    </deviceUserQuery>  
</query>";

const SEED_DEVICE_QUERY: &str = "<query>  
    <appInfo>  
        <appID>appid</appID>  
        <appCertificate>apppasswd</appCertificate>  
    </appInfo>  
    <userDevicesQuery>  
        <userID>john</userID>  
    </userDevicesQuery>  
</query>";

const SEED_PROFILE_QUERY: &str = "<query>
    <appInfo>
        <appID>appid</appID>
        <appCertificate>apppassword</appCertificate>
    </appInfo>
    <deviceProfileQuery>
        <userID>john</userID>
    </deviceProfileQuery>
</query>";

#[tokio::test]
async fn seed_examples_work_verbatim_in_order() {
    let app = spawn_app().await;
    let first_query = app.em(SEED_USER_QUERY).await;
    assert_eq!(
        first_query,
        doc(
            "<deviceUserResults><device name=\"SEP003094C25B15\"><none/><none/><emccDevice>no</emccDevice></device></deviceUserResults>"
        )
    );
    assert_eq!(app.em(SEED_LOGIN).await, success());
    assert_eq!(
        app.em(SEED_USER_QUERY).await,
        doc(
            "<deviceUserResults><device name=\"SEP003094C25B15\"><userID>john</userID><none/><emccDevice>no</emccDevice></device></deviceUserResults>"
        )
    );
    assert_eq!(
        app.em(SEED_DEVICE_QUERY).await,
        doc(
            "<userDevicesResults><user id=\"john\"><deviceName>SEP003094C25B15</deviceName></user></userDevicesResults>"
        )
    );
    assert_eq!(
        app.em(SEED_PROFILE_QUERY).await,
        doc("<deviceProfileResults><user id=\"john\">\
             <deviceProfile><deviceProfileName>DPJOHNIPC</deviceProfileName><isDefaultDeviceProfile>t</isDefaultDeviceProfile></deviceProfile>\
             <deviceProfile><deviceProfileName>UserDevProf</deviceProfileName><isDefaultDeviceProfile>f</isDefaultDeviceProfile></deviceProfile>\
             </user></deviceProfileResults>")
    );
    assert_eq!(app.em(SEED_LOGOUT).await, success());
    // The previous user is remembered as lastlogin.
    assert_eq!(
        app.em(SEED_USER_QUERY).await,
        doc(
            "<deviceUserResults><device name=\"SEP003094C25B15\"><none/><lastlogin>john</lastlogin><emccDevice>no</emccDevice></device></deviceUserResults>"
        )
    );
    assert_eq!(app.em(SEED_LOGOUT_ALL).await, success());
}

#[tokio::test]
async fn wrong_certificate_is_code_3_word_for_word() {
    let app = spawn_app().await;
    let xml = SEED_LOGIN.replace("apppasswd", "wrong");
    assert_eq!(
        app.em(&xml).await,
        failure(3, "Could not authenticate 'appid'")
    );
    // An unknown app and Cisco's encrypted certificate get the same answer.
    let unknown = SEED_LOGOUT.replace("<appID>appid", "<appID>nobody");
    assert_eq!(
        app.em(&unknown).await,
        failure(3, "Could not authenticate 'nobody'")
    );
    let encrypted = SEED_LOGOUT.replace("appCertificate>", "appEncryptedCertificate>");
    assert_eq!(
        app.em(&encrypted).await,
        failure(3, "Could not authenticate 'appid'")
    );
}

#[tokio::test]
async fn user_ids_are_percent_encoded_and_names_match_case_insensitively() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("sep402cf4915265", "EM@CISCO.COM", ""))
            .await,
        success()
    );
    assert_eq!(
        app.em(&device_query("Sep402Cf4915265")).await,
        doc(
            "<deviceUserResults><device name=\"SEP402CF4915265\"><userID>em%40cisco.com</userID><none/><emccDevice>no</emccDevice></device></deviceUserResults>"
        )
    );
    // A client that sends the ID percent-encoded, as Cisco's own responses carry it.
    let q = format!(
        "<query>{APP}<userDevicesQuery><userID>em%40cisco.com</userID></userDevicesQuery></query>"
    );
    assert_eq!(
        app.em(&q).await,
        doc(
            "<userDevicesResults><user id=\"em%40cisco.com\"><deviceName>SEP402CF4915265</deviceName></user></userDevicesResults>"
        )
    );
    let q = format!(
        "<query>{APP}<checkUser><userID>Em@Cisco.Com</userID><userID>ghost</userID></checkUser></query>"
    );
    assert_eq!(
        app.em(&q).await,
        doc(
            "<checkUserResults><user id=\"em%40cisco.com\"><exists>em%40cisco.com</exists></user>\
             <user id=\"ghost\"><doesNotExist/></user></checkUserResults>"
        )
    );
    // The profile is chosen by name regardless of case, and reported as provisioned.
    assert_eq!(app.em(&logout_xml("SEP402CF4915265")).await, success());
    assert_eq!(
        app.em(&login_xml(
            "SEP402CF4915265",
            "em",
            "<deviceProfile>em-sccp-profile-7970</deviceProfile>"
        ))
        .await,
        success()
    );
    let logins = app
        .store
        .user_logins(&hotdesk::domain::Key::of("EM"), T0)
        .await
        .unwrap();
    assert_eq!(logins[0].profile, "EM-SCCP-Profile-7970");
}

#[tokio::test]
async fn batch_queries_and_unknowns() {
    let app = spawn_app().await;
    let q = format!(
        "<query>{APP}<deviceUserQuery><deviceName>SEP003094C25B15</deviceName><deviceName>SEPNOPE</deviceName></deviceUserQuery></query>"
    );
    assert_eq!(
        app.em(&q).await,
        doc(
            "<deviceUserResults><device name=\"SEP003094C25B15\"><none/><none/><emccDevice>no</emccDevice></device>\
             <device name=\"SEPNOPE\"><doesNotExist/></device></deviceUserResults>"
        )
    );
    let q = format!(
        "<query>{APP}<userDevicesQuery><userID>john</userID><userID>ghost</userID></userDevicesQuery></query>"
    );
    assert_eq!(
        app.em(&q).await,
        doc(
            "<userDevicesResults><user id=\"john\"><none/></user><user id=\"ghost\"><doesNotExist/></user></userDevicesResults>"
        )
    );
    let q = format!(
        "<query>{APP}<userDeviceProfileQuery><userID>ghost</userID></userDeviceProfileQuery></query>"
    );
    assert_eq!(
        app.em(&q).await,
        doc(
            "<deviceProfileResults><user id=\"ghost\"><doesNotExist/></user></deviceProfileResults>"
        )
    );
}

#[tokio::test]
async fn get_and_raw_xml_bodies_work_like_the_form() {
    let app = spawn_app().await;
    let url = servlet(&app.base);
    let got = app
        .client
        .get(&url)
        .query(&[("xml", device_query("SEP003094C25B15"))])
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(
        got.text()
            .await
            .unwrap()
            .contains("<device name=\"SEP003094C25B15\">")
    );
    let raw = app
        .client
        .post(&url)
        .header("content-type", "text/xml")
        .body(login_xml("SEP003094C25B15", "john", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.text().await.unwrap(), success());
}

#[tokio::test]
async fn every_response_shape_validates_against_the_served_dtds() {
    let app = spawn_app().await;
    let base = app.base.clone();
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_valid(&base, "LoginResponse.dtd", &success()).await;
    let busy = app.em(&login_xml("SEP003094C25B15", "one", "")).await;
    assert_valid(&base, "LoginResponse.dtd", &busy).await;
    assert_valid(&base, "LoginResponse.dtd", &app.em("<request>").await).await;

    let queries = [
        format!(
            "<query>{APP}<deviceUserQuery><deviceName>SEP003094C25B15</deviceName><deviceName>x</deviceName><deviceName>SEP402CF4915265</deviceName></deviceUserQuery></query>"
        ),
        format!(
            "<query>{APP}<userDevicesQuery><userID>john</userID><userID>em@cisco.com</userID><userID>x</userID></userDevicesQuery></query>"
        ),
        format!(
            "<query>{APP}<deviceProfileQuery><userID>john</userID><userID>x</userID></deviceProfileQuery></query>"
        ),
        format!(
            "<query>{APP}<checkUser><userID>em@cisco.com</userID><userID>x</userID></checkUser></query>"
        ),
        format!("<query>{APP}<fooQuery/></query>"),
        SEED_USER_QUERY.replace("apppasswd", "bad"),
    ];
    for q in queries {
        let answer = app.em(&q).await;
        assert_valid(&base, "QueryResponse.dtd", &answer).await;
    }
    // The requests we document validate against the request DTDs we serve.
    assert_valid(&base, "LoginRequest.dtd", SEED_LOGIN).await;
    assert_valid(&base, "LoginQuery.dtd", SEED_PROFILE_QUERY).await;
}

#[tokio::test]
async fn events_record_each_change_in_order() {
    let app = spawn_app().await;
    let before = app.events().await.len();
    app.em(SEED_LOGIN).await;
    app.em(SEED_LOGOUT).await;
    app.em(&login_xml("SEP402CF4915265", "em@cisco.com", ""))
        .await;
    app.em(SEED_LOGOUT_ALL).await;
    let events = app.events().await;
    let kinds: Vec<(&str, Option<&str>, Option<&str>)> = events[before..]
        .iter()
        .map(|e| {
            (
                e.event.kind.as_str(),
                e.event.device.as_deref(),
                e.event.user.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("login", Some("SEP003094C25B15"), Some("john")),
            ("logout", Some("SEP003094C25B15"), Some("john")),
            ("login", Some("SEP402CF4915265"), Some("em@cisco.com")),
            ("logout", Some("SEP402CF4915265"), Some("em@cisco.com")),
            ("logoutAll", None, None),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(events[before].event.actor.as_deref(), Some("appid"));
}

#[tokio::test]
async fn healthz_and_unknown_dtd() {
    let app = spawn_app().await;
    let h = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(h.status(), 200);
    let d = reqwest::get(format!("{}/emservice/jsp/Nope.dtd", app.base))
        .await
        .unwrap();
    assert_eq!(d.status(), 404);
}

#[tokio::test]
async fn lastlogin_is_hidden_when_the_policy_forgets_it() {
    let app = spawn_app().await;
    assert_eq!(app.em(SEED_LOGIN).await, success());
    assert_eq!(app.em(SEED_LOGOUT).await, success());
    assert!(
        app.em(SEED_USER_QUERY)
            .await
            .contains("<lastlogin>john</lastlogin>")
    );
    app.import("[policy]\nremember_last_user = false\n").await;
    assert_eq!(
        app.em(SEED_USER_QUERY).await,
        doc(
            "<deviceUserResults><device name=\"SEP003094C25B15\"><none/><none/><emccDevice>no</emccDevice></device></deviceUserResults>"
        )
    );
}
