//! The EM documents we send and how we classify the answers.

use hotdesk_proto::client::write_request;
use hotdesk_proto::{
    AppInfo, Credential, EmMessage, ExclusiveDuration, Login, Logout, Operation, Origin, Query,
};

use crate::directory::PROFILE;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Query,
    Login,
    Logout,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Query, Op::Login, Op::Logout];

    pub fn name(self) -> &'static str {
        match self {
            Op::Query => "query",
            Op::Login => "login",
            Op::Logout => "logout",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Builds the `xml` form field of each request, with hotdesk-proto's request writer: the
/// documents a login application sends.
pub struct Documents {
    app: AppInfo,
}

impl Documents {
    pub fn new(app: &str, certificate: &str) -> Self {
        Documents {
            app: AppInfo {
                app_id: app.to_string(),
                certificate: Credential::Plain(certificate.to_string()),
            },
        }
    }

    fn request(&self, op: Operation) -> String {
        write_request(&EmMessage::Request {
            app: self.app.clone(),
            op,
        })
    }

    pub fn device_user_query(&self, device: &str) -> String {
        write_request(&EmMessage::Query {
            app: self.app.clone(),
            query: Query::DeviceUser {
                device_names: vec![device.to_string()],
            },
            origin: Origin::default(),
        })
    }

    pub fn login(&self, device: &str, user: &str) -> String {
        self.request(Operation::Login(Login {
            device_name: device.to_string(),
            user_id: user.to_string(),
            device_profile: Some(PROFILE.to_string()),
            exclusive_duration: Some(ExclusiveDuration::Minutes(60)),
            origin: Origin::default(),
        }))
    }

    pub fn logout(&self, device: &str) -> String {
        self.request(Operation::Logout(Logout {
            device_name: device.to_string(),
            origin: Origin::default(),
        }))
    }
}

/// What one request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `<success/>` for a login or logout, `<deviceUserResults>` for a query.
    Success,
    /// `<failure><error code="N">`.
    EmFailure(u32),
    /// An HTTP status other than 200 (every EM outcome is 200).
    Http(u16),
    /// 200, but neither the expected result nor a failure with a readable code.
    Unexpected,
}

/// The `N` of the first `code="N"` in a failure answer.
pub fn failure_code(body: &str) -> Option<u32> {
    let start = body.find("code=\"")? + "code=\"".len();
    let rest = &body[start..];
    let end = rest.find('"')?;
    rest[..end].parse().ok()
}

pub fn classify(op: Op, status: u16, body: &str) -> Outcome {
    if status != 200 {
        return Outcome::Http(status);
    }
    if body.contains("<failure>") {
        return match failure_code(body) {
            Some(code) => Outcome::EmFailure(code),
            None => Outcome::Unexpected,
        };
    }
    let ok = match op {
        Op::Query => body.contains("<deviceUserResults>"),
        Op::Login | Op::Logout => body.contains("<success/>"),
    };
    if ok {
        Outcome::Success
    } else {
        Outcome::Unexpected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successes() {
        let ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><success/></response>";
        assert_eq!(classify(Op::Login, 200, ok), Outcome::Success);
        assert_eq!(classify(Op::Logout, 200, ok), Outcome::Success);
        let q = "<response><deviceUserResults><device name=\"LGDEV00001\"><none/><none/>\
                 <emccDevice>no</emccDevice></device></deviceUserResults></response>";
        assert_eq!(classify(Op::Query, 200, q), Outcome::Success);
        // A query answer is not a login success, nor the other way round.
        assert_eq!(classify(Op::Login, 200, q), Outcome::Unexpected);
        assert_eq!(classify(Op::Query, 200, ok), Outcome::Unexpected);
    }

    #[test]
    fn failures_by_code() {
        let busy = "<response><failure><error code=\"26\">Busy, please try again</error></failure></response>";
        assert_eq!(classify(Op::Login, 200, busy), Outcome::EmFailure(26));
        let auth = "<response><failure><error code=\"3\">Could not authenticate 'appid'</error></failure></response>";
        assert_eq!(classify(Op::Query, 200, auth), Outcome::EmFailure(3));
        let garbled = "<response><failure><error code=\"x\">?</error></failure></response>";
        assert_eq!(classify(Op::Query, 200, garbled), Outcome::Unexpected);
        assert_eq!(classify(Op::Query, 200, ""), Outcome::Unexpected);
    }

    #[test]
    fn http_errors_win() {
        assert_eq!(classify(Op::Query, 413, "too large"), Outcome::Http(413));
        assert_eq!(
            classify(Op::Login, 500, "<response><success/></response>"),
            Outcome::Http(500)
        );
    }

    #[test]
    fn documents_escape_credentials() {
        let d = Documents::new("a<b", "p&q");
        let x = d.logout("LGDEV00000");
        assert!(x.contains("<appID>a&lt;b</appID><appCertificate>p&amp;q</appCertificate>"));
        assert!(
            d.login("LGDEV00001", "lguser00001")
                .contains("<userID>lguser00001</userID>")
        );
    }
}
