//! The DTDs served at `/emservice/jsp/*.dtd`.
//!
//! Cisco publishes DTDs for the EM API, and EMApp even names one in its `<!DOCTYPE>`, but the
//! published query-response DTD no longer matches what CUCM sends (it lacks `emccDevice`,
//! `checkUserResults`, the `deviceProfile` structure and `error code`). These describe what
//! hotdesk really accepts ([`crate::parse`]) and emits ([`crate::render`]); the crate's tests
//! validate every response shape and Cisco's request examples against them with `xmllint`.
//!
//! Where a DTD cannot say exactly what the code does, the file's opening comment says so.

/// `<request>` documents: login, logout, logoutAll.
pub const LOGIN_REQUEST: &str = r#"<!-- LoginRequest.dtd: the <request> documents (login, logout, logoutAll) that hotdesk
     accepts at /emservice/EMServiceServlet. It is Cisco's request DTD plus loginType, which
     CUCM 12 EMApp sends. remoteIPAddr, isViaHeaderSet and loginType may come in any order and
     each at most once, which a DTD cannot say exactly. hotdesk is more lenient than this DTD in
     two ways (it does not check the order of children and it ignores unknown elements) and
     stricter in one: values are checked too. deviceName, userID and appID must not be empty,
     time is a positive whole number of minutes, isViaHeaderSet is true or false, and userID may
     be UTF-8 percent-encoded (em%40cisco.com). -->
<!ELEMENT request (appInfo, (login | logout | logoutAll))>
<!ELEMENT appInfo (appID, (appCertificate | appEncryptedCertificate))>
<!ELEMENT appID (#PCDATA)>
<!ELEMENT appCertificate (#PCDATA)>
<!ELEMENT appEncryptedCertificate (#PCDATA)>
<!ELEMENT login (deviceName, userID, deviceProfile?, exclusiveDuration?, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT logout (deviceName, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT logoutAll (remoteIPAddr | isViaHeaderSet | loginType)*>
<!ELEMENT deviceName (#PCDATA)>
<!ELEMENT userID (#PCDATA)>
<!ELEMENT deviceProfile (#PCDATA)>
<!ELEMENT exclusiveDuration (time | indefinite)>
<!ELEMENT time (#PCDATA)>
<!ELEMENT indefinite EMPTY>
<!ELEMENT remoteIPAddr (#PCDATA)>
<!ELEMENT isViaHeaderSet (#PCDATA)>
<!ELEMENT loginType (#PCDATA)>
"#;

/// `<query>` documents: deviceUserQuery, userDevicesQuery, deviceProfileQuery, checkUser.
pub const LOGIN_QUERY: &str = r#"<!-- LoginQuery.dtd: the <query> documents that hotdesk accepts at
     /emservice/EMServiceServlet. It is Cisco's query DTD plus userDeviceProfileQuery (the name
     in Cisco's DevNet example, an alias of deviceProfileQuery) and loginType, which CUCM 12
     EMApp sends. remoteIPAddr, isViaHeaderSet and loginType may come in any order and each at
     most once, which a DTD cannot say exactly. hotdesk does not check the order of children and
     ignores unknown elements, but it checks values: names must not be empty, isViaHeaderSet is
     true or false, and userID may be UTF-8 percent-encoded (em%40cisco.com). A query whose child
     is not one of the five below is answered with error 8. -->
<!ELEMENT query (appInfo, (deviceUserQuery | userDevicesQuery | checkUser | deviceProfileQuery | userDeviceProfileQuery))>
<!ELEMENT appInfo (appID, (appCertificate | appEncryptedCertificate))>
<!ELEMENT appID (#PCDATA)>
<!ELEMENT appCertificate (#PCDATA)>
<!ELEMENT appEncryptedCertificate (#PCDATA)>
<!ELEMENT deviceUserQuery (deviceName+, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT userDevicesQuery (userID+, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT checkUser (userID+, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT deviceProfileQuery (userID+, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT userDeviceProfileQuery (userID+, (remoteIPAddr | isViaHeaderSet | loginType)*)>
<!ELEMENT deviceName (#PCDATA)>
<!ELEMENT userID (#PCDATA)>
<!ELEMENT remoteIPAddr (#PCDATA)>
<!ELEMENT isViaHeaderSet (#PCDATA)>
<!ELEMENT loginType (#PCDATA)>
"#;

/// The answer to a `<request>`.
pub const LOGIN_RESPONSE: &str = r#"<!-- LoginResponse.dtd: the answers hotdesk emits to login, logout and logoutAll, as
     Cisco's DTD describes them. code is the numeric EM error code. -->
<!ELEMENT response (success | failure)>
<!ELEMENT success EMPTY>
<!ELEMENT failure (error)>
<!ELEMENT error (#PCDATA)>
<!ATTLIST error code NMTOKEN #REQUIRED>
"#;

/// The answer to a `<query>`.
pub const QUERY_RESPONSE: &str = r#"<!-- QueryResponse.dtd: the answers hotdesk emits to queries. Cisco's published DTD is
     stale; this one describes what CUCM really sends and hotdesk emits. User IDs (userID,
     lastlogin, exists and the id attribute of user) are UTF-8 percent-encoded, such as
     em%40cisco.com, so id is CDATA. Device names are as provisioned, so name is CDATA too.
     A DTD declares each element once, so the content model of user covers all three results:
     userDevicesResults holds (deviceName+ | none | doesNotExist), deviceProfileResults holds
     (deviceProfile+ | none | doesNotExist) and checkUserResults holds (exists | doesNotExist).
     emccDevice is yes or no; isDefaultDeviceProfile is t or f. A results element holds one
     entry per name asked, and a query names at least one. -->
<!ELEMENT response (deviceUserResults | userDevicesResults | deviceProfileResults | checkUserResults | failure)>
<!ELEMENT deviceUserResults (device*)>
<!ELEMENT device (doesNotExist | ((userID | none), (lastlogin | none), emccDevice))>
<!ATTLIST device name CDATA #REQUIRED>
<!ELEMENT userID (#PCDATA)>
<!ELEMENT lastlogin (#PCDATA)>
<!ELEMENT emccDevice (#PCDATA)>
<!ELEMENT userDevicesResults (user*)>
<!ELEMENT deviceProfileResults (user*)>
<!ELEMENT checkUserResults (user*)>
<!ELEMENT user (deviceName+ | deviceProfile+ | exists | none | doesNotExist)>
<!ATTLIST user id CDATA #REQUIRED>
<!ELEMENT deviceName (#PCDATA)>
<!ELEMENT deviceProfile (deviceProfileName, isDefaultDeviceProfile)>
<!ELEMENT deviceProfileName (#PCDATA)>
<!ELEMENT isDefaultDeviceProfile (#PCDATA)>
<!ELEMENT exists (#PCDATA)>
<!ELEMENT none EMPTY>
<!ELEMENT doesNotExist EMPTY>
<!ELEMENT failure (error)>
<!ELEMENT error (#PCDATA)>
<!ATTLIST error code NMTOKEN #REQUIRED>
"#;

/// Every DTD by the file name it is served under.
pub const FILES: &[(&str, &str)] = &[
    ("LoginRequest.dtd", LOGIN_REQUEST),
    ("LoginQuery.dtd", LOGIN_QUERY),
    ("LoginResponse.dtd", LOGIN_RESPONSE),
    ("QueryResponse.dtd", QUERY_RESPONSE),
];

/// The DTD served as `name` (for example `LoginQuery.dtd`); names are case-sensitive, as
/// they are on CUCM.
pub fn by_file_name(name: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_file_name() {
        assert_eq!(by_file_name("LoginQuery.dtd"), Some(LOGIN_QUERY));
        assert_eq!(by_file_name("LoginRequest.dtd"), Some(LOGIN_REQUEST));
        assert_eq!(by_file_name("LoginResponse.dtd"), Some(LOGIN_RESPONSE));
        assert_eq!(by_file_name("QueryResponse.dtd"), Some(QUERY_RESPONSE));
        assert_eq!(by_file_name("loginquery.dtd"), None);
        assert_eq!(by_file_name("../LoginQuery.dtd"), None);
        assert_eq!(by_file_name(""), None);
    }

    #[test]
    fn each_file_opens_with_a_comment_naming_itself() {
        for (name, text) in FILES {
            assert!(text.starts_with(&format!("<!-- {name}: ")), "{name}");
            let comment_end = text.find("-->").expect("comment closes");
            let comment = &text[4..comment_end];
            assert!(comment.contains("hotdesk"), "{name}");
            assert!(
                !comment.contains("--"),
                "{name}: `--` is not allowed inside a comment"
            );
        }
    }
}
