//! The background workers' single steps, driven directly: each call does one unit of work,
//! so the queues are tested without timing slack.

use std::time::Duration;

use serde_json::json;
use wechat_http::delivery::webhook::{Step, Webhook};
use wechat_http::send::jobs::{JobRunner, JobStep};

use crate::helpers::{hook_target, spawn_app, webhook, within};

#[tokio::test]
async fn a_webhook_step_delivers_exactly_one_event() {
    let mut hook = webhook().await;
    let app = spawn_app().await;
    let gateway = app.gateway().clone();
    // A target no worker runs: only the steps below move it.
    let mut target = Webhook::open(gateway.clone(), hook_target(&hook.url, "")).await.unwrap();
    let before = gateway.outbox.latest();
    for t in ["one", "two", "three"] {
        app.emu
            .wechat()
            .inject(&wcf_emulator::InboundMessage {
                from: "wxid_bob".into(),
                text: Some(t.into()),
                ..Default::default()
            })
            .unwrap();
    }
    within("three events committed", async {
        while gateway.outbox.latest() < before + 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let mut delivered = Vec::new();
    loop {
        match target.step().await.unwrap() {
            Step::Delivered(seq) => {
                let (_, e) = hook.rx.recv().await.unwrap();
                assert_eq!(e["id"], seq.to_string(), "one step, one event");
                assert!(hook.rx.try_recv().is_err(), "and no more");
                if e["type"] == "message" {
                    delivered.push(e["alt_message"].as_str().unwrap().to_owned());
                }
            }
            Step::Skipped(_) => {}
            Step::Idle => break,
        }
    }
    assert_eq!(delivered, ["one", "two", "three"]);
}

#[tokio::test]
async fn a_job_step_handles_exactly_one_receiver() {
    let app = spawn_app().await;
    let account = app.gateway().accounts[0].clone();
    let items = vec![wechat_http::send::Item::Text("step by step".into())];
    let receivers = vec!["wxid_alice".to_owned(), "wxid_bob".into(), "wxid_carol".into()];
    let job = wechat_http::send::jobs::create(&account, "m-steps", &items, receivers.clone()).await.unwrap();
    let mut runner = JobRunner::load(account.clone(), &job).await.unwrap();
    for (i, r) in receivers.iter().enumerate() {
        assert_eq!(runner.step().await.unwrap(), JobStep::Sent(r.clone()));
        let sent = app.sent().await;
        assert_eq!(sent.len(), i + 1, "one receiver per step");
        assert_eq!(sent[i]["receiver"], r.as_str());
    }
    assert_eq!(runner.step().await.unwrap(), JobStep::Finished);
    let status = app.ok("get_send_job", json!({"job_id": job})).await;
    assert_eq!((status["state"].as_str(), status["sent"].as_i64()), (Some("done"), Some(3)));
    // With WeChat away a step decides nothing and says so.
    let job = wechat_http::send::jobs::create(&account, "m-away", &items, vec!["wxid_alice".into()]).await.unwrap();
    let mut runner = JobRunner::load(account.clone(), &job).await.unwrap();
    app.control("/faults", json!({"kind": "logout"})).await;
    within("logged out", async {
        while account.backend.online() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(runner.step().await.unwrap(), JobStep::Waiting);
    assert_eq!(app.ok("get_send_job", json!({"job_id": job})).await["state"], "waiting_backend");
    assert_eq!(app.sent().await.len(), 3, "nothing sent while away");
}
