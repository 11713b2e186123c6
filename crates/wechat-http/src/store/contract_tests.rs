//! The repositories' guarantees, checked on both backends: the same calls, the same answers.
//! PostgreSQL is a real server (see `tests/api/postgres.rs`).

use super::events::NewEvent;
use super::jobs::ReceiverOutcome;
use super::*;

#[path = "../../tests/api/postgres.rs"]
pub(crate) mod pg;

async fn postgres_store() -> Option<Store> {
    let url = tokio::task::spawn_blocking(pg::database).await.unwrap()?;
    Some(tokio::task::spawn_blocking(move || Store::open_postgres(&url, None)).await.unwrap().unwrap())
}

fn event(source: Option<&str>, account: &str) -> NewEvent {
    NewEvent {
        time: now(),
        kind: "message".into(),
        account: Some(account.into()),
        body: r#"{"type":"message"}"#.into(),
        legacy: None,
        source: source.map(str::to_owned),
    }
}

async fn contract(store: Store) {
    // Categories: unique names per account, creation order, members.
    let cats = store.categories("a");
    let vip = cats.create("VIP").await.unwrap();
    let other = cats.create("Other").await.unwrap();
    let dup = cats.create("VIP").await.unwrap_err().to_string();
    assert!(dup.contains("already exists"), "{dup}");
    store.categories("b").create("VIP").await.expect("names are unique per account only");
    assert_eq!(cats.list().await.unwrap(), vec![vip.clone(), other.clone()]);
    assert!(cats.rename(&other.id, "VIP").await.unwrap_err().to_string().contains("already exists"));
    cats.rename(&other.id, "Friends").await.unwrap();
    assert_eq!(cats.by_name("Friends").await.unwrap().map(|c| c.id), Some(other.id.clone()));
    for m in ["wxid_2", "wxid_1", "room@chatroom"] {
        let kind = if m.ends_with("@chatroom") { MemberType::GroupChat } else { MemberType::User };
        cats.add_member(&vip.id, m, kind).await.unwrap();
    }
    assert!(cats.add_member(&vip.id, "wxid_1", MemberType::User).await.unwrap_err().to_string().contains("already"));
    let members: Vec<String> = cats.members(&vip.id).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(members, ["wxid_2", "wxid_1", "room@chatroom"], "members in the order added");
    cats.add_member(&other.id, "wxid_1", MemberType::User).await.unwrap();
    assert_eq!(cats.distinct_members(&[vip.id.clone(), other.id.clone()]).await.unwrap().len(), 3);
    assert_eq!(cats.of_member("wxid_1").await.unwrap().len(), 2);
    cats.remove_member(&vip.id, "wxid_2").await.unwrap();
    assert!(cats.remove_member(&vip.id, "wxid_2").await.is_err());
    cats.delete(&other.id).await.unwrap();
    assert!(cats.members(&other.id).await.unwrap_err().to_string().contains("not found"));

    // Outbox: sequences in order, a source recorded once, cursors only move forward, trim.
    let events = store.events();
    assert_eq!(events.latest().await.unwrap(), 0);
    let seqs = events
        .insert(vec![
            event(Some("wx:a:101"), "a"),
            event(Some("wx:a:101"), "a"),
            event(None, "a"),
            event(Some("wx:a:102"), "a"),
        ])
        .await
        .unwrap();
    let got: Vec<Option<i64>> = seqs.iter().map(|r| r.as_ref().map(|(s, _)| *s)).collect();
    assert_eq!(got[1], None, "a repeated source is not stored twice");
    assert!(got[0] < got[2] && got[2] < got[3]);
    let again = events.insert(vec![event(Some("wx:a:101"), "a")]).await.unwrap();
    assert!(matches!(again.as_slice(), [None]));
    let rows = events.after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].text.starts_with(&format!("{{\"id\":\"{}\"", rows[0].seq)));
    assert_eq!(events.last_wx_source("a").await.unwrap(), Some(102));
    assert_eq!(events.last_wx_source("b").await.unwrap(), None);
    assert_eq!(events.cursor("hook", 1).await.unwrap(), 1, "a new channel starts where it is told");
    assert_eq!(events.cursor("hook", 99).await.unwrap(), 1, "an existing one keeps its place");
    events.save_cursor("hook", rows[2].seq).await.unwrap();
    events.save_cursor("hook", rows[1].seq).await.unwrap();
    assert_eq!(events.cursors().await.unwrap()["hook"], rows[2].seq, "a cursor never moves back");
    events.save_cursor("late", 0).await.unwrap();
    let (deleted, upto) = events.trim(1, 0).await.unwrap();
    assert_eq!((deleted, upto), (2, rows[1].seq));
    assert_eq!(events.dropped().await.unwrap().get("late"), Some(&2), "undelivered events counted");
    assert_eq!(events.after(0, 10).await.unwrap().len(), 1);

    // Jobs and the sent log: intent and outcome in the receiver's transaction.
    let jobs = store.jobs();
    let job = jobs.create("a", "m1", "[]".into(), vec!["wxid_1".into(), "wxid_2".into()]).await.unwrap();
    assert_eq!(jobs.active().await.unwrap(), vec![(job.clone(), "a".to_owned())]);
    let next = jobs.next(&job).await.unwrap().unwrap();
    assert_eq!((next.idx, next.receiver.as_str(), next.state.as_str()), (0, "wxid_1", "pending"));
    let ids = jobs.begin(&job, 0, "a", "m1", "wxid_1", vec![("text".into(), "hi".into())]).await.unwrap();
    let next = jobs.next(&job).await.unwrap().unwrap();
    assert_eq!((next.idx, next.state.as_str()), (0, "sending"), "an interrupted receiver comes first");
    jobs.finish(&job, 0, vec![(ids[0], SentState::Sent, None)], ReceiverOutcome::Sent).await.unwrap();
    let ids2 = jobs.begin(&job, 1, "a", "m1", "wxid_2", vec![("text".into(), "hi".into())]).await.unwrap();
    jobs.finish(
        &job,
        1,
        vec![(ids2[0], SentState::Failed, Some("no".into()))],
        ReceiverOutcome::Failed { retcode: 35000, message: "no".into() },
    )
    .await
    .unwrap();
    assert_eq!(jobs.next(&job).await.unwrap(), None);
    let status = jobs.status(&job).await.unwrap().unwrap();
    assert_eq!((status.counts["sent"], status.counts["failed"]), (1, 1));
    assert_eq!(status.failed[0].retcode, 35000);
    jobs.complete(&job).await.unwrap();
    assert_eq!(jobs.head(&job).await.unwrap().unwrap().state, "done");
    assert!(jobs.cancel(&job).await.unwrap_err().to_string().contains("already done"));
    assert_eq!(jobs.recent("a", 5).await.unwrap().len(), 1);
    let sent = store.sent("a");
    let parts = sent.parts("m1").await.unwrap();
    assert_eq!(parts.iter().map(|p| p.state).collect::<Vec<_>>(), [SentState::Sent, SentState::Failed]);
    let more = sent.intend("m1", "wxid_1", vec![("image".into(), "/x.png".into())]).await.unwrap();
    assert_eq!(sent.get(more[0]).await.unwrap().unwrap().part, 2, "parts numbered per receiver");
    sent.mark(vec![(more[0], SentState::Unknown, None)]).await.unwrap();
    assert_eq!(sent.unknown(10).await.unwrap().len(), 1);
    sent.set_wx_id(more[0], 777).await.unwrap();
    assert!(sent.taken_wx_ids("wxid_1", 0.0).await.unwrap().contains(&777));
    assert_eq!(sent.get(more[0]).await.unwrap().unwrap().state, SentState::Sent);
    let pending = sent.intend("m2", "wxid_9", vec![("text".into(), "x".into())]).await.unwrap();
    assert_eq!(sent.pending_to_unknown().await.unwrap(), 1);
    assert_eq!(sent.unknown_to_failed(now() + 1.0).await.unwrap(), 1);
    assert_eq!(sent.get(pending[0]).await.unwrap().unwrap().state, SentState::Failed);
    let cancelled = jobs.create("a", "m3", "[]".into(), vec!["x".into(), "y".into()]).await.unwrap();
    assert_eq!(jobs.cancel(&cancelled).await.unwrap(), 2);
    assert_eq!(jobs.trim(now() + 1.0).await.unwrap(), 2);

    // Friend requests: of two racing claims exactly one wins.
    let fr = store.friend_requests("a");
    let req = FriendRequestRow {
        flag: "v4".into(),
        ticket_v3: "v3".into(),
        scene: 30,
        user_id: "wxid_new".into(),
        nickname: "N".into(),
        greeting: "hello".into(),
        state: "pending".into(),
    };
    fr.save(req.clone()).await.unwrap();
    assert_eq!(fr.get("v4").await.unwrap(), Some(req.clone()));
    let (x, y) = tokio::join!(fr.claim(req.clone()), fr.claim(req.clone()));
    assert!(x.is_ok() ^ y.is_ok());
    fr.settle("v4", "approved", None).await.unwrap();
    assert!(fr.claim(req).await.unwrap_err().to_string().contains("already approved"));

    // Files, chat images, accounts, numeric ids.
    let files = store.files("a");
    let f =
        StoredFile { file_id: "f1".into(), name: "a.txt".into(), path: "/tmp/a".into(), sha256: "00".into(), size: 3 };
    files.insert(f.clone()).await.unwrap();
    files.upsert(StoredFile { name: "b.txt".into(), ..f.clone() }).await.unwrap();
    assert_eq!(files.get("f1").await.unwrap().unwrap().name, "b.txt");
    assert_eq!(files.by_sha256("00").await.unwrap().len(), 1);
    assert!(files.path_in_use(std::path::Path::new("/tmp/a")).await.unwrap());
    assert_eq!(files.take_older_than(now() + 1.0).await.unwrap().len(), 1);
    let images = store.chat_images("a");
    images.record(9, "x/1.jpg").await.unwrap();
    images.record(9, "x/2.jpg").await.unwrap();
    assert_eq!(images.of_message(9).await.unwrap().as_deref(), Some("x/2.jpg"));
    store.accounts().seen("a", "wxid_a", "A").await.unwrap();
    store.accounts().seen("a", "wxid_a", "A2").await.unwrap();
    assert_eq!(store.accounts().all().await.unwrap(), vec![("a".into(), "wxid_a".into(), "A2".into())]);
    let ids = store.numeric_ids();
    let n = ids.assign(IdKind::Chat, vec!["wxid_x".into(), "wxid_y".into(), "wxid_x".into()]).await.unwrap();
    assert_eq!(n, vec![IdKind::Chat.first(), IdKind::Chat.first() + 1, IdKind::Chat.first()]);
    assert_eq!(ids.lookup(IdKind::Chat, n[1]).await.unwrap().as_deref(), Some("wxid_y"));

    // Leases: one holder; renewals keep it; an expired one is taken; a release frees it.
    let fleet = store.fleet();
    fleet.heartbeat("n1", "http://127.0.0.1:1", now()).await.unwrap();
    assert!(fleet.claim("account", "a", "n1", 30.0, "connected").await.unwrap());
    assert!(!fleet.claim("account", "a", "n2", 30.0, "connected").await.unwrap(), "held by n1");
    assert!(fleet.claim("account", "a", "n1", 30.0, "connected").await.unwrap(), "n1 renews");
    assert_eq!(fleet.holder("account", "a").await.unwrap(), Some(("n1".into(), "http://127.0.0.1:1".into())));
    assert!(fleet.claim("account", "b", "n2", -1.0, "connected").await.unwrap());
    assert_eq!(fleet.holder("account", "b").await.unwrap(), None, "an expired lease has no holder");
    assert!(fleet.claim("account", "b", "n1", 30.0, "connected").await.unwrap(), "an expired lease is taken");
    fleet.release("account", "a", "n2").await.unwrap();
    assert!(fleet.holder("account", "a").await.unwrap().is_some(), "only the holder releases");
    fleet.release("account", "a", "n1").await.unwrap();
    assert!(fleet.claim("account", "a", "n2", 30.0, "connected").await.unwrap());
    assert_eq!(fleet.leases().await.unwrap().len(), 2);
    assert_eq!(fleet.nodes().await.unwrap()[0].id, "n1");
    assert!((fleet.clock().await.unwrap() - now()).abs() < 60.0);
    assert!(store.healthy());
}

#[tokio::test]
async fn the_repositories_keep_their_guarantees_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    contract(Store::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn the_repositories_keep_their_guarantees_on_postgres() {
    let Some(store) = postgres_store().await else { return };
    assert_eq!(store.backend(), Backend::Postgres);
    contract(store).await;
}

#[tokio::test]
async fn postgres_outbox_sequences_commit_in_order_across_connections() {
    // Two stores on one database are two nodes: concurrent inserts must never let a reader
    // see a sequence before a smaller one commits.
    let Some(url) = tokio::task::spawn_blocking(pg::database).await.unwrap() else { return };
    let open = |url: String| tokio::task::spawn_blocking(move || Store::open_postgres(&url, None).unwrap());
    let (a, b) = (open(url.clone()).await.unwrap(), open(url).await.unwrap());
    let writer = |store: Store, tag: &'static str| {
        tokio::spawn(async move {
            for i in 0..40 {
                let batch = (0..10).map(|j| event(Some(&format!("{tag}:{i}:{j}")), tag)).collect();
                store.events().insert(batch).await.unwrap();
            }
        })
    };
    let (wa, wb) = (writer(a.clone(), "a"), writer(b.clone(), "b"));
    // A reader that follows its cursor, as a delivery channel does.
    let mut cursor = 0;
    let mut seen = 0;
    let mut follow = async |cursor: &mut i64| {
        for e in a.events().after(*cursor, 1000).await.unwrap() {
            *cursor = e.seq;
            seen += 1;
        }
    };
    while !(wa.is_finished() && wb.is_finished()) {
        follow(&mut cursor).await;
    }
    follow(&mut cursor).await;
    assert_eq!(seen, 800, "a reader following its cursor skipped events that committed late");
}

#[tokio::test]
async fn a_postgres_url_that_cannot_connect_says_where_without_the_password() {
    let e = tokio::task::spawn_blocking(|| {
        Store::open_postgres("postgres://u:hunter2@127.0.0.1:9/db?connect_timeout=2", None)
    })
    .await
    .unwrap()
    .unwrap_err()
    .to_string();
    assert!(e.contains("postgres://u:***@127.0.0.1:9/db"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    let e = tokio::task::spawn_blocking(|| Store::open_postgres("postgres://[bad", None))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be opened"), "{e}");
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server_certificate() {
    let Some((url, ca)) = tokio::task::spawn_blocking(pg::tls_database).await.unwrap() else { return };
    // With the CA that signed the server's certificate: TLS, and the store works.
    let (u, c) = (url.clone(), ca.clone());
    let store = tokio::task::spawn_blocking(move || Store::open_postgres(&u, Some(&c))).await.unwrap().unwrap();
    store.categories("a").create("over TLS").await.unwrap();
    let ssl: String = store
        .read(|t| Ok(t.one("SELECT CAST(ssl AS TEXT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])?.get(0)?))
        .await
        .unwrap();
    assert_eq!(ssl, "true", "the connection is encrypted");
    drop(store);
    // Without it the certificate is not trusted: refused, and the error says why.
    let u = url.clone();
    let e = tokio::task::spawn_blocking(move || Store::open_postgres(&u, None)).await.unwrap().unwrap_err().to_string();
    assert!(e.contains("certificate") && e.contains("store.postgres_ca_file"), "{e}");
    assert!(!e.contains(pg::PASSWORD), "{e}");
    // Nor is a server whose certificate names another host.
    let other = url.replace("@localhost:", "@127.0.0.2:");
    let e = tokio::task::spawn_blocking(move || Store::open_postgres(&other, Some(&ca)))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("certificate") || e.contains("connect"), "{e}");
}
