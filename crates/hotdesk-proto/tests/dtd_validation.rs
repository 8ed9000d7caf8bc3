//! Every response shape `render` emits, and Cisco's request examples that `parse` accepts,
//! validated against the DTDs of `hotdesk_proto::dtd` with `xmllint` (libxml2-utils).
//!
//! The DTDs are served to clients as the description of the wire format, so they must not
//! drift from the code: this test is what keeps them honest.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use hotdesk_proto::{
    CheckUserResult, DeviceProfileResult, DeviceUserResult, EmMessage, EmResponse, ErrorCode,
    Failure, ProfileEntry, UserDevices, UserDevicesResult, UserProfiles, dtd, parse, render,
};

/// Runs `xmllint --dtdvalid` on `doc` with the DTD served as `dtd_name`; returns its verdict
/// and its complaints.
fn validate(dtd_name: &str, doc: &str) -> (bool, String) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dtd_text = dtd::by_file_name(dtd_name).expect("known DTD");
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "hotdesk-proto-dtd-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let dtd_path = dir.join(dtd_name);
    let doc_path = dir.join("doc.xml");
    std::fs::write(&dtd_path, dtd_text).expect("write DTD");
    std::fs::write(&doc_path, doc).expect("write document");

    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--dtdvalid")
        .arg(&dtd_path)
        .arg(&doc_path)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            panic!(
                "cannot run xmllint ({e}). It validates rendered documents against the DTDs; \
                 install it with `apt-get install -y libxml2-utils`{}",
                if ci { " (CI must have it)" } else { "" }
            );
        }
    };
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_valid(dtd_name: &str, doc: &str) {
    let (ok, complaints) = validate(dtd_name, doc);
    assert!(ok, "not valid against {dtd_name}:\n{doc}\n{complaints}");
}

fn responses() -> Vec<(&'static str, EmResponse)> {
    vec![
        ("LoginResponse.dtd", EmResponse::Success),
        (
            "LoginResponse.dtd",
            EmResponse::Failure(Failure::could_not_authenticate("app<&>\"'")),
        ),
        (
            "LoginResponse.dtd",
            EmResponse::Failure(Failure::new(ErrorCode::AnotherUserLoggedIn)),
        ),
        (
            "LoginResponse.dtd",
            EmResponse::Failure(Failure::with_detail(
                ErrorCode::Parsing,
                "missing element appInfo in request",
            )),
        ),
        (
            "QueryResponse.dtd",
            EmResponse::Failure(Failure::new(ErrorCode::QueryTypeUndetermined)),
        ),
        (
            "QueryResponse.dtd",
            EmResponse::DeviceUsers(vec![
                DeviceUserResult::Exists {
                    name: "SEP402CF4915265".into(),
                    user: Some("em@cisco.com".into()),
                    last_login: Some("em".into()),
                    emcc: false,
                },
                DeviceUserResult::Exists {
                    name: "test_secure".into(),
                    user: None,
                    last_login: None,
                    emcc: true,
                },
                DeviceUserResult::Exists {
                    name: "SEP1".into(),
                    user: None,
                    last_login: Some("jürgen".into()),
                    emcc: false,
                },
                DeviceUserResult::Exists {
                    name: "SEP2".into(),
                    user: Some("john".into()),
                    last_login: None,
                    emcc: false,
                },
                DeviceUserResult::DoesNotExist {
                    name: "Phone \"A\" & <B>".into(),
                },
            ]),
        ),
        (
            "QueryResponse.dtd",
            EmResponse::UserDevices(vec![
                UserDevicesResult {
                    user_id: "john".into(),
                    devices: UserDevices::LoggedIn(vec!["SEP003094C25B15".into(), "SEP&<>".into()]),
                },
                UserDevicesResult {
                    user_id: "em@cisco.com".into(),
                    devices: UserDevices::None,
                },
                UserDevicesResult {
                    user_id: "x".into(),
                    devices: UserDevices::LoggedIn(vec![]),
                },
                UserDevicesResult {
                    user_id: "nobody here".into(),
                    devices: UserDevices::DoesNotExist,
                },
            ]),
        ),
        (
            "QueryResponse.dtd",
            EmResponse::DeviceProfiles(vec![
                DeviceProfileResult {
                    user_id: "em@cisco.com".into(),
                    profiles: UserProfiles::Profiles(vec![
                        ProfileEntry {
                            name: "EM-SCCP-Profile-7970".into(),
                            is_default: true,
                        },
                        ProfileEntry {
                            name: "Profile <&> \"x\"".into(),
                            is_default: false,
                        },
                    ]),
                },
                DeviceProfileResult {
                    user_id: "a".into(),
                    profiles: UserProfiles::None,
                },
                DeviceProfileResult {
                    user_id: "b".into(),
                    profiles: UserProfiles::Profiles(vec![]),
                },
                DeviceProfileResult {
                    user_id: "c".into(),
                    profiles: UserProfiles::DoesNotExist,
                },
            ]),
        ),
        (
            "QueryResponse.dtd",
            EmResponse::CheckUser(vec![
                CheckUserResult {
                    user_id: "EMuser".into(),
                    exists: true,
                },
                CheckUserResult {
                    user_id: "em@cisco.com".into(),
                    exists: true,
                },
                CheckUserResult {
                    user_id: "ghost".into(),
                    exists: false,
                },
            ]),
        ),
        ("QueryResponse.dtd", EmResponse::DeviceUsers(vec![])),
        ("QueryResponse.dtd", EmResponse::UserDevices(vec![])),
        ("QueryResponse.dtd", EmResponse::DeviceProfiles(vec![])),
        ("QueryResponse.dtd", EmResponse::CheckUser(vec![])),
    ]
}

#[test]
fn every_rendered_response_is_valid() {
    for (dtd_name, response) in responses() {
        assert_valid(dtd_name, &render(&response));
    }
}

#[test]
fn validation_catches_invalid_documents() {
    // Guards against a validator that accepts everything (a wrong flag, a DTD not read).
    for (dtd_name, doc) in [
        (
            "LoginResponse.dtd",
            "<response><success/><success/></response>",
        ),
        (
            "LoginResponse.dtd",
            "<response><failure><error>no code</error></failure></response>",
        ),
        ("QueryResponse.dtd", "<response><success/></response>"),
        (
            "QueryResponse.dtd",
            "<response><deviceUserResults><device name=\"a\"><none/></device></deviceUserResults></response>",
        ),
        ("LoginRequest.dtd", "<request><logoutAll/></request>"),
        (
            "LoginQuery.dtd",
            "<query><appInfo><appID>a</appID><appCertificate/></appInfo><fooQuery/></query>",
        ),
    ] {
        let (ok, _) = validate(dtd_name, doc);
        assert!(!ok, "{dtd_name} accepted {doc}");
    }
}

const APP: &str =
    "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";
const EMAPP: &str = "<appInfo><appID>CCMSysUser</appID><appEncryptedCertificate>xxxxxxx</appEncryptedCertificate></appInfo>";

/// Cisco's request examples (em-api.md §2.5 to §2.7) and EMApp's traces, with the elided
/// `appInfo` filled in.
fn requests() -> Vec<String> {
    vec![
        format!(
            "<request>\n  {APP}\n  <login>\n    <deviceName>SEP003094C25B15</deviceName>\n    <userID>john</userID>\n    \
             <deviceProfile>UserDevProf</deviceProfile>\n    <exclusiveDuration><time>60</time></exclusiveDuration>\n  \
             </login>\n</request>"
        ),
        format!(
            "<request>{APP}<login><deviceName>SEP1</deviceName><userID>em%40cisco.com</userID>\
             <exclusiveDuration><indefinite/></exclusiveDuration></login></request>"
        ),
        format!(
            "<request>{EMAPP}<login><deviceName>SEP1</deviceName><userID>EMuser</userID>\
             <remoteIPAddr>10.65.40.61</remoteIPAddr><isViaHeaderSet>false</isViaHeaderSet>\
             <loginType>UID</loginType></login></request>"
        ),
        format!(
            "<request>{APP}<logout><deviceName>SEP003094C25B15</deviceName></logout></request>"
        ),
        format!(
            "<request>{EMAPP}\n<logout><deviceName>test_secure</deviceName><remoteIPAddr>10.65.40.61</remoteIPAddr>\
             <isViaHeaderSet>false</isViaHeaderSet></logout></request>"
        ),
        format!("<request>{APP}<logoutAll></logoutAll></request>"),
    ]
}

/// Cisco's query examples (em-api.md §2.8 to §2.11), EMApp's traces and batches.
fn queries() -> Vec<String> {
    vec![
        format!(
            "<query>{APP}<deviceUserQuery><deviceName>SEP003094C25B15</deviceName></deviceUserQuery></query>"
        ),
        format!(
            "<query>{EMAPP}\n<deviceUserQuery><deviceName>SEP74A02FC09CDF</deviceName><loginType>DN</loginType>\
             <remoteIPAddr>10.106.99.235</remoteIPAddr></deviceUserQuery></query>"
        ),
        format!("<query>{APP}<userDevicesQuery><userID>john</userID></userDevicesQuery></query>"),
        format!(
            "<query>{APP}<deviceProfileQuery><userID>john</userID></deviceProfileQuery></query>"
        ),
        format!(
            "<query>{APP}<userDeviceProfileQuery><userID>john</userID></userDeviceProfileQuery></query>"
        ),
        format!(
            "<query>{EMAPP}\n<checkUser><userID>EMuser</userID><remoteIPAddr>10.65.40.61</remoteIPAddr>\
             <isViaHeaderSet>false</isViaHeaderSet></checkUser></query>"
        ),
        format!(
            "<query>{APP}<deviceUserQuery><deviceName>SEP1</deviceName><deviceName>SEP2</deviceName></deviceUserQuery></query>"
        ),
        format!(
            "<query>{APP}<userDevicesQuery><userID>john</userID><userID>em%40cisco.com</userID></userDevicesQuery></query>"
        ),
    ]
}

#[test]
fn request_examples_are_valid_and_parse() {
    for doc in requests() {
        assert_valid("LoginRequest.dtd", &doc);
        assert!(
            matches!(parse(&doc), Ok(EmMessage::Request { .. })),
            "{doc}"
        );
    }
}

#[test]
fn query_examples_are_valid_and_parse() {
    for doc in queries() {
        assert_valid("LoginQuery.dtd", &doc);
        assert!(matches!(parse(&doc), Ok(EmMessage::Query { .. })), "{doc}");
    }
}
