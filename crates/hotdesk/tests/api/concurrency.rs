//! Racing logins.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_users_racing_for_one_device_give_one_success() {
    let users: String = (0..40)
        .map(|i| format!("[[users]]\nid = \"racer{i}\"\nprofiles = [\"UserDevProf\"]\n"))
        .collect();
    let app = spawn_app_with(&users).await;
    let url = servlet(&app.base);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = url.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            // A client each: a connection each.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let body = [(
                "xml",
                login_xml("SEP003094C25B15", &format!("racer{i}"), ""),
            )];
            barrier.wait().await;
            client
                .post(url)
                .form(&body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let wins = answers.iter().filter(|a| **a == success()).count();
    let taken = answers
        .iter()
        .filter(|a| **a == failure(18, "Another user logged in"))
        .count();
    assert_eq!((wins, taken), (1, 39), "{answers:?}");
    let logins: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event.kind.as_str() == "login")
        .collect();
    assert_eq!(logins.len(), 1);
}
