//! `hotdesk em ...`, the real binary, against a real hotdesk and against a stand-in that
//! answers what Cisco's documentation and traces show, byte for byte: nothing in the client
//! may lean on hotdesk's own habits.

use std::io::Write as _;
use std::process::{Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::process::BIN;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// `hotdesk em ARGS` against `server` as app `appid`, the certificate in the environment (or
/// on stdin when `stdin` is given); off the test's runtime, which serves the server.
async fn em(server: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let server = server.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command
            .arg("em")
            .args(&args)
            .env("HOTDESK_EM_SERVER", &server)
            .env("HOTDESK_EM_APP", "appid")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match &stdin {
            Some(_) => command.env_remove("HOTDESK_EM_CERTIFICATE"),
            None => command.env("HOTDESK_EM_CERTIFICATE", "apppasswd"),
        };
        let mut child = command.spawn().unwrap();
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = &stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_operation_against_hotdesk_with_its_exit_status() {
    let app = spawn_app().await;
    let base = app.base.as_str();
    let login = em(
        base,
        &[
            "login",
            "--device",
            "SEP003094C25B15",
            "--user",
            "john",
            "--minutes",
            "30",
        ],
        None,
    )
    .await;
    assert_eq!(
        (login.status, login.stdout.as_str()),
        (0, "ok\n"),
        "{}",
        login.stderr
    );

    let device = em(
        base,
        &[
            "device",
            "--device",
            "SEP003094C25B15",
            "--device",
            "SEPNOSUCH",
        ],
        None,
    )
    .await;
    assert_eq!(device.status, 0);
    assert_eq!(
        device.stdout,
        "DEVICE           USER              LAST USER  EMCC\n\
         SEP003094C25B15  john              -          no\n\
         SEPNOSUCH        (no such device)\n"
    );
    let user = em(base, &["user", "--user", "john", "--user", "nobody"], None).await;
    assert_eq!(
        user.stdout,
        "USER    DEVICES\njohn    SEP003094C25B15\nnobody  (no such user)\n"
    );
    let profiles = em(base, &["profiles", "--user", "john"], None).await;
    assert_eq!(
        profiles.stdout,
        "USER  PROFILE      DEFAULT\njohn  DPJOHNIPC    yes\njohn  UserDevProf  no\n"
    );
    let check = em(base, &["check-user", "--user", "em@cisco.com"], None).await;
    assert_eq!(check.stdout, "USER          EXISTS\nem@cisco.com  yes\n");

    // An EM failure: exit 1, its code and message on stderr.
    let taken = em(
        base,
        &["login", "--device", "SEP003094C25B15", "--user", "em"],
        None,
    )
    .await;
    assert_eq!(taken.status, 1);
    assert!(taken.stderr.contains("code 18"), "{}", taken.stderr);
    // The answer as it came.
    let raw = em(
        base,
        &["logout", "--device", "SEP003094C25B15", "--xml"],
        None,
    )
    .await;
    assert_eq!(raw.status, 0);
    assert_eq!(
        raw.stdout,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><success/></response>\n"
    );
    let nobody = em(base, &["logout", "--device", "SEP003094C25B15"], None).await;
    assert_eq!(nobody.status, 1);
    assert!(nobody.stderr.contains("code 19"), "{}", nobody.stderr);

    // The certificate from standard input; a wrong one is code 3.
    let stdin = em(
        base,
        &[
            "login",
            "--device",
            "SEP402CF4915265",
            "--user",
            "em",
            "--certificate",
            "-",
            "--indefinite",
        ],
        Some("apppasswd\n"),
    )
    .await;
    assert_eq!(stdin.status, 0, "{}", stdin.stderr);
    let wrong = em(base, &["logout-all", "--certificate", "-"], Some("nope")).await;
    assert_eq!(wrong.status, 1);
    assert!(wrong.stderr.contains("code 3"), "{}", wrong.stderr);
    let all = em(base, &["logout-all"], None).await;
    assert_eq!(all.status, 0, "{}", all.stderr);
    assert!(
        app.em(&device_query("SEP402CF4915265"))
            .await
            .contains("<none/>")
    );

    // No answer: exit 2.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    };
    let refused = em(&closed, &["device", "--device", "X"], None).await;
    assert_eq!(refused.status, 2);
    assert!(refused.stderr.contains("no answer"), "{}", refused.stderr);
    let not_em = em(
        &format!("{base}/healthz"),
        &["device", "--device", "X"],
        None,
    )
    .await;
    assert_eq!(not_em.status, 2, "{}", not_em.stdout);
}

/// A stand-in EM service: answers each request with the next of `answers` (a raw body) and
/// hands back the bodies it received, form-decoded.
async fn stand_in(answers: Vec<&'static str>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut received = Vec::new();
        for answer in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then a body of Content-Length bytes: bounded by what the client sends.
            let (head_end, length) = loop {
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the client hung up");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    break (i + 4, length);
                }
            };
            while buf.len() < head_end + length {
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap();
            let xml = form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "xml")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            received.push(xml);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
        received
    });
    (base, task)
}

#[tokio::test]
async fn against_cisco_s_documented_answers() {
    let (base, sent) = stand_in(vec![
        // CUCM 12.0, on the wire: one element a line, no prolog.
        "<response>\n<deviceUserResults>\n<device name=\"test_secure\">\n<none/>\n<none/>\n\
         <emccDevice>no</emccDevice>\n</device>\n</deviceUserResults>\n</response>",
        // DevNet: a user by its encoded ID, with the last user.
        "<response><deviceUserResults><device name=\"SEP402CF4915265\"><userID>em%40cisco.com</userID>\
         <lastlogin>em</lastlogin><emccDevice>no</emccDevice></device></deviceUserResults></response>",
        "<response><userDevicesResults>\n  <user id=\"john\"><deviceName>SEP003094C25B15</deviceName>\
         <deviceName>SEP003094C25B49</deviceName></user>\n</userDevicesResults></response>",
        "<?xml version=\"1.0\"?><response><success/></response>",
        "<?xml version=\"1.0\"?><response><failure><error code=\"3\">Could not authenticate 'appid'\
         </error></failure></response>",
        // The DTD's failure: a message, no code.
        "<response><failure><errorMessage>Device is not found</errorMessage></failure></response>",
        // DevNet's device profiles of em@cisco.com, Informix booleans.
        "<response><deviceProfileResults>\n  <user id=\"em%40cisco.com\">\n    \
         <deviceProfile><deviceProfileName>EM-SCCP-Profile-7970</deviceProfileName>\
         <isDefaultDeviceProfile>f</isDefaultDeviceProfile></deviceProfile>\n    \
         <deviceProfile><deviceProfileName>EM-SCCP-7975-Profile</deviceProfileName>\
         <isDefaultDeviceProfile>f</isDefaultDeviceProfile></deviceProfile>\n  </user>\n\
         </deviceProfileResults></response>",
        // EMApp's checkUser, as traced.
        "<response><checkUserResults><user id=\"EMuser\"><exists>EMuser</exists></user></checkUserResults></response>",
        // A user that exists, logged in nowhere; one that does not.
        "<response><userDevicesResults><user id=\"John+Smith\"><none/></user>\
         <user id=\"ghost\"><doesNotExist/></user></userDevicesResults></response>",
    ])
    .await;
    let device = em(&base, &["device", "--device", "test_secure"], None).await;
    assert_eq!(
        (device.status, device.stdout.as_str()),
        (
            0,
            "DEVICE       USER  LAST USER  EMCC\ntest_secure  -     -          no\n"
        )
    );
    let devnet = em(&base, &["device", "--device", "SEP402CF4915265"], None).await;
    assert!(
        devnet.stdout.contains("SEP402CF4915265  em@cisco.com  em"),
        "{}",
        devnet.stdout
    );
    let user = em(&base, &["user", "--user", "john"], None).await;
    assert_eq!(
        user.stdout,
        "USER  DEVICES\njohn  SEP003094C25B15, SEP003094C25B49\n"
    );
    let login = em(
        &base,
        &[
            "login",
            "--device",
            "SEP003094C25B15",
            "--user",
            "em@cisco.com",
            "--profile",
            "UserDevProf",
            "--minutes",
            "60",
        ],
        None,
    )
    .await;
    assert_eq!(login.status, 0);
    let refused = em(&base, &["logout", "--device", "SEP003094C25B15"], None).await;
    assert_eq!(refused.status, 1);
    assert!(
        refused
            .stderr
            .contains("code 3: Could not authenticate 'appid'"),
        "{}",
        refused.stderr
    );
    let old = em(&base, &["device", "--device", "SEPX"], None).await;
    assert_eq!(old.status, 1);
    assert!(
        old.stderr.contains("without a code: Device is not found"),
        "{}",
        old.stderr
    );

    let profiles = em(&base, &["profiles", "--user", "em@cisco.com"], None).await;
    assert_eq!(
        (profiles.status, profiles.stdout.as_str()),
        (
            0,
            "USER          PROFILE               DEFAULT\n\
             em@cisco.com  EM-SCCP-Profile-7970  no\n\
             em@cisco.com  EM-SCCP-7975-Profile  no\n"
        )
    );
    let check = em(&base, &["check-user", "--user", "EMuser"], None).await;
    assert_eq!(
        (check.status, check.stdout.as_str()),
        (0, "USER    EXISTS\nEMuser  yes\n")
    );
    let spaced = em(
        &base,
        &["user", "--user", "John Smith", "--user", "ghost"],
        None,
    )
    .await;
    assert_eq!(
        spaced.stdout,
        "USER        DEVICES\nJohn Smith  -\nghost       (no such user)\n"
    );

    // What the client sent: Cisco's documented documents.
    let sent = sent.await.unwrap();
    let app = "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";
    assert_eq!(
        sent[8],
        format!(
            "<query>{app}<userDevicesQuery><userID>John%20Smith</userID><userID>ghost</userID>\
             </userDevicesQuery></query>"
        )
    );
    assert_eq!(
        sent[0],
        format!(
            "<query>{app}<deviceUserQuery><deviceName>test_secure</deviceName></deviceUserQuery></query>"
        )
    );
    assert_eq!(
        sent[2],
        format!("<query>{app}<userDevicesQuery><userID>john</userID></userDevicesQuery></query>")
    );
    assert_eq!(
        sent[3],
        format!(
            "<request>{app}<login><deviceName>SEP003094C25B15</deviceName><userID>em%40cisco.com</userID>\
             <deviceProfile>UserDevProf</deviceProfile><exclusiveDuration><time>60</time></exclusiveDuration>\
             </login></request>"
        )
    );
    assert_eq!(
        sent[4],
        format!(
            "<request>{app}<logout><deviceName>SEP003094C25B15</deviceName></logout></request>"
        )
    );
}

/// A bulk file of 1,000 rows, good and bad: a result for every row, in the order of the file.
#[tokio::test]
async fn a_thousand_row_bulk_file_gets_a_result_for_every_row_in_order() {
    let mut extra = String::new();
    for i in 0..300 {
        extra.push_str(&format!(
            "[[users]]\nid = \"bulk{i:03}\"\nprofiles = [\"UserDevProf\"]\n\n[[devices]]\nname = \"SEPB{i:03}\"\n\n"
        ));
    }
    let app = spawn_app_with(&extra).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.csv");
    let mut text = String::from("action,device,user,profile,minutes\n");
    // What each row should come back with: result and code.
    let mut expected: Vec<(String, &str, &str)> = Vec::new();
    let mut push = |row: String, result: &'static str, code: &'static str| {
        text.push_str(&row);
        text.push('\n');
        expected.push((row, result, code));
    };
    for i in 0..300 {
        push(format!("login,SEPB{i:03},bulk{i:03},,30"), "ok", "");
    }
    for i in 0..300 {
        push(format!("status,SEPB{i:03},,,"), "ok", "");
    }
    for i in 0..150 {
        // The device is taken by its own login above: 18.
        push(format!("login,SEPB{i:03},john,,"), "failed", "18");
    }
    for i in 0..150 {
        push(format!("logout,SEPB{i:03},,,"), "ok", "");
    }
    for i in 0..50 {
        push(format!("logout,SEPNONE{i},,,"), "failed", "");
        push(format!("dance,SEPB{i:03},,,"), "invalid", "");
    }
    assert_eq!(expected.len(), 1000);
    std::fs::write(&file, &text).unwrap();

    let run = em(
        &app.base,
        &["bulk", file.to_str().unwrap(), "--concurrency", "16"],
        None,
    )
    .await;
    assert_eq!(run.status, 1, "{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("action,device,user,profile,minutes,result,code,message")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1000);
    for (line, (row, result, code)) in rows.iter().zip(&expected) {
        assert!(
            line.starts_with(&format!("{row},{result},")),
            "{line} for {row}"
        );
        if !code.is_empty() {
            assert!(
                line.starts_with(&format!("{row},{result},{code},")),
                "{line}"
            );
        }
    }
    // A status row says who is on the device.
    assert!(rows[300].ends_with(",ok,,bulk000"), "{}", rows[300]);
    assert!(
        run.stderr
            .contains("1000 rows: 750 ok, 200 failed, 50 invalid, 0 without an answer"),
        "{}",
        run.stderr
    );
    assert!(
        app.em(&device_query("SEPB299"))
            .await
            .contains("<userID>bulk299</userID>")
    );
}

/// Rows of one phone or one person run in the order of the file, however many run at once.
#[tokio::test]
async fn rows_of_one_device_or_user_run_in_file_order() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.csv");
    let mut text = String::from("action,device,user\n");
    for _ in 0..10 {
        text.push_str("login,SEP003094C25B15,john\nlogout,SEP003094C25B15\n");
    }
    text.push_str(
        "login,SEP402CF4915265,john\nstatus,SEP402CF4915265\nlogout,SEP402CF4915265\n,,\n",
    );
    std::fs::write(&file, &text).unwrap();
    let run = em(
        &app.base,
        &["bulk", file.to_str().unwrap(), "--concurrency", "16"],
        None,
    )
    .await;
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(rows[0], "action,device,user,result,code,message");
    assert_eq!(rows.len(), 24, "the blank row is left out: {}", run.stdout);
    // A short row is padded to the header: the results stand under their own names.
    assert_eq!(rows[2], "logout,SEP003094C25B15,,ok,,");
    assert_eq!(rows[22], "status,SEP402CF4915265,,ok,,john");
    assert!(
        rows[1..].iter().all(|r| r.contains(",ok,")),
        "{}",
        run.stdout
    );
}
