//! Sentiment at ingest and stored topic models, on SQLite and PostgreSQL.

use switchboard_model::{ChannelKind, ContactRef, InboundMessage};
use switchboard_store::{IngestOutcome, Store, StoredTopicModel};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    ingest_scores_each_customer_message_and_the_conversation_trend,
    topic_models_are_saved_replaced_and_read_back,
);

async fn store(db: &TestDatabase) -> (Store, String, String) {
    let store = Store::connect(&db.url).await.expect("connects");
    store.migrate().await.expect("migrates");
    let org = store.create_org("acme", "Acme").await.expect("org");
    let inbox = store
        .create_inbox(&org.id, "Chat", ChannelKind::Webchat, serde_json::json!({}))
        .await
        .expect("inbox");
    (store, org.id, inbox.id)
}

fn inbound(id: &str, text: &str) -> InboundMessage {
    InboundMessage {
        thread_key: "thread-1".into(),
        channel_message_id: Some(id.into()),
        sender: ContactRef {
            external_id: "visitor-1".into(),
            ..Default::default()
        },
        text: text.into(),
        attachments: Vec::new(),
        subject: None,
        sent_at: None,
        ..Default::default()
    }
}

async fn ingest_scores_each_customer_message_and_the_conversation_trend(db: TestDatabase) {
    let (store, org_id, inbox_id) = store(&db).await;
    let mut levels = Vec::new();
    let mut conversation_id = String::new();
    // The caller scores each message (the hub with `switchboard_ai::sentiment::message_score`);
    // the store keeps the score and moves the conversation's level.
    for (id, text, score) in [
        (
            "m1",
            "Hi, thanks so much, the locker app is great!",
            Some(80),
        ),
        ("m2", "hmm the code did not arrive", Some(40)),
        (
            "m3",
            "I was charged twice and it's STILL NOT WORKING. I'm furious!!",
            Some(10),
        ),
        ("m4", "", None),
    ] {
        let outcome = store
            .ingest(
                &org_id,
                &inbox_id,
                ChannelKind::Webchat,
                &inbound(id, text),
                score,
            )
            .await
            .expect("ingests");
        let IngestOutcome::Stored {
            conversation,
            message,
            ..
        } = outcome
        else {
            panic!("stored");
        };
        assert_eq!(message.sentiment, score.map(i32::from), "{text}");
        levels.push(conversation.sentiment.expect("a trend"));
        conversation_id = conversation.id;
    }
    assert!(levels[0] > 60, "{levels:?}");
    assert!(
        levels[2] < 40,
        "an angry message pulls the trend down: {levels:?}"
    );
    assert_eq!(levels[3], levels[2], "a message without text leaves it");

    // The stored rows say the same, for the API and for the trend of later routing.
    let messages = store
        .messages(&org_id, &conversation_id, 0, 10, false)
        .await
        .expect("messages");
    assert_eq!(messages[2].sentiment, Some(10));
    let scores: Vec<u8> = messages
        .iter()
        .filter_map(|message| message.sentiment)
        .map(|score| u8::try_from(score).expect("0-100"))
        .collect();
    assert_eq!(scores.len(), 3);
    // Routing's read, in one statement: all the customer's messages counted, the latest
    // `recent` scored, the contact's value, the run of AI failures and the rules revision.
    let conversation = store
        .conversation(&org_id, &conversation_id)
        .await
        .expect("reads")
        .expect("the conversation");
    let last = conversation.last_seq;
    let inputs = |recent| {
        store.routing_inputs(
            &org_id,
            &conversation_id,
            &conversation.contact_id,
            last,
            recent,
        )
    };
    let before = inputs(2).await.expect("inputs");
    assert_eq!(
        before.customer_messages, 4,
        "the message without text counts, unscored"
    );
    // What routing sees for an earlier message ends at that message, whatever came after.
    let earlier = store
        .routing_inputs(
            &org_id,
            &conversation_id,
            &conversation.contact_id,
            last - 2,
            10,
        )
        .await
        .expect("inputs");
    assert_eq!(earlier.customer_messages, 2);
    assert_eq!(earlier.recent_sentiments, scores[..2].to_vec());
    assert_eq!(
        before.recent_sentiments,
        scores[scores.len() - 1..].to_vec(),
        "{before:?}"
    );
    let revision = store.rules_revision(&org_id).await.expect("revision");
    assert_eq!(before.rules_revision, Some(revision));
    assert_eq!(before.value, switchboard_routing::CustomerValue::default());
    assert_eq!((before.ai_failures, before.ai_answers), (0, 0));
    let revision = store
        .rules_revision(&org_id)
        .await
        .expect("creates the settings");
    let value = switchboard_routing::CustomerValue {
        tier: Some("vip".into()),
        value: Some(1200.5),
    };
    store
        .set_customer_value(&org_id, &conversation.contact_id, &value)
        .await
        .expect("sets");
    store
        .record_ai_outcome(
            &org_id,
            &conversation_id,
            switchboard_model::AiOutcome::Declined,
        )
        .await
        .expect("records");
    let after = inputs(10).await.expect("inputs");
    assert_eq!(after.rules_revision, Some(revision));
    assert_eq!(after.value, value);
    assert_eq!((after.ai_failures, after.ai_answers), (1, 0));
    assert_eq!(after.recent_sentiments, scores, "all of them, oldest first");
    let trend = switchboard_model::sentiment::trend(&scores).expect("trend");
    assert!(trend.falling_fast, "{trend:?}");
    assert_eq!(i32::from(trend.level), levels[2]);
    // Other organizations see nothing.
    let other = store.create_org("other", "Other").await.expect("org");
    assert_eq!(
        store
            .routing_inputs(
                &other.id,
                &conversation_id,
                &conversation.contact_id,
                last,
                10
            )
            .await
            .expect("inputs"),
        switchboard_store::RoutingInputs::default()
    );

    // The LLM's score replaces the second message's, and the trend is the same formula over
    // the new scores.
    let second = &messages[1];
    assert_eq!(
        store
            .rescore_message(&other.id, &second.id, 3)
            .await
            .expect("rescores"),
        None,
        "not another organization's message"
    );
    let rescored = store
        .rescore_message(&org_id, &second.id, 3)
        .await
        .expect("rescores")
        .expect("the conversation");
    let expected = switchboard_model::sentiment::trend(&[scores[0], 3, scores[2]]).expect("trend");
    assert_eq!(rescored.sentiment, Some(i32::from(expected.level)));
    assert_ne!(rescored.sentiment, Some(levels[2]), "the trend moved");
    let messages = store
        .messages(&org_id, &conversation_id, 0, 10, false)
        .await
        .expect("messages");
    assert_eq!(messages[1].sentiment, Some(3));
    // A later message moves on from the recomputed level, as ingest always does.
    let outcome = store
        .ingest(
            &org_id,
            &inbox_id,
            ChannelKind::Webchat,
            &inbound("m5", "ok thanks"),
            Some(55),
        )
        .await
        .expect("ingests");
    let IngestOutcome::Stored { conversation, .. } = outcome else {
        panic!("stored");
    };
    let after = switchboard_model::sentiment::trend(&[scores[0], 3, scores[2], 55]).expect("trend");
    assert_eq!(conversation.sentiment, Some(i32::from(after.level)));
}

async fn topic_models_are_saved_replaced_and_read_back(db: TestDatabase) {
    let (store, org_id, inbox_id) = store(&db).await;
    assert!(store.topic_model(&org_id).await.expect("reads").is_none());
    assert!(
        store
            .topic_model_trained_at(&org_id)
            .await
            .expect("reads")
            .is_none()
    );
    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let first = StoredTopicModel {
        org_id: org_id.clone(),
        model: blob.clone(),
        labels: vec!["billing".into(), "refund".into()],
        unknown_threshold: 0.42,
        metrics: serde_json::json!({"heldout_accuracy": 0.9}),
        trained_at: switchboard_model::Clock::system().now(),
    };
    store.save_topic_model(first.clone()).await.expect("saves");
    let read = store
        .topic_model(&org_id)
        .await
        .expect("reads")
        .expect("one");
    assert_eq!(read.model, blob);
    assert_eq!(read.labels, first.labels);
    assert!((read.unknown_threshold - 0.42).abs() < 1e-9);
    assert_eq!(read.metrics["heldout_accuracy"], 0.9);

    let second = StoredTopicModel {
        model: vec![1, 2, 3],
        labels: vec!["returns".into()],
        trained_at: switchboard_model::Clock::system().now(),
        ..first
    };
    store.save_topic_model(second).await.expect("replaces");
    let read = store
        .topic_model(&org_id)
        .await
        .expect("reads")
        .expect("one");
    assert_eq!(read.model, vec![1, 2, 3]);
    assert_eq!(read.labels, vec!["returns".to_owned()]);
    assert!(
        store
            .topic_model_trained_at(&org_id)
            .await
            .expect("reads")
            .is_some()
    );

    let outcome = store
        .ingest(
            &org_id,
            &inbox_id,
            ChannelKind::Webchat,
            &inbound("x1", "refund please"),
            Some(50),
        )
        .await
        .expect("ingests");
    let conversation_id = outcome.message().conversation_id.clone();
    assert!(
        store
            .set_conversation_topic(&org_id, &conversation_id, Some("refund"))
            .await
            .expect("sets")
    );
    let conversation = store
        .conversation(&org_id, &conversation_id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(conversation.topic.as_deref(), Some("refund"));
    let other = store.create_org("other", "Other").await.expect("org");
    assert!(
        !store
            .set_conversation_topic(&other.id, &conversation_id, Some("x"))
            .await
            .expect("runs")
    );
}
