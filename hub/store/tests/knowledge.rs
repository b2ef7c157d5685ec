//! Knowledge-base storage on SQLite and PostgreSQL: versions, the revision, org scoping, gaps.

use switchboard_model::ArticleStatus;
use switchboard_store::{ArticleChange, ArticleFilter, NewArticle, Store, StoreError};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    content_changes_make_versions_and_status_changes_do_not,
    every_change_bumps_the_revision_and_only_published_articles_are_served,
    organizations_never_see_each_others_articles,
    lists_filter_by_text_status_and_category,
    similar_unanswered_questions_group_into_one_gap,
);

async fn store(db: &TestDatabase) -> (Store, String, String) {
    let store = Store::connect(&db.url).await.expect("connects");
    store.migrate().await.expect("migrates");
    let acme = store.create_org("acme", "Acme").await.expect("org");
    let other = store.create_org("other", "Other").await.expect("org");
    (store, acme.id, other.id)
}

fn new(title: &str, body: &str, status: ArticleStatus) -> NewArticle {
    NewArticle {
        title: title.into(),
        body: body.into(),
        category: Some("Billing".into()),
        tags: vec!["a".into(), " a ".into(), "b".into()],
        status,
    }
}

async fn content_changes_make_versions_and_status_changes_do_not(db: TestDatabase) {
    let (store, org, _) = store(&db).await;
    let article = store
        .create_article(&org, new("Refunds", "v1", ArticleStatus::Draft), Some("u1"))
        .await
        .expect("creates");
    assert_eq!(article.version, 1);
    assert_eq!(article.tags, vec!["a", "b"]);
    let edited = store
        .update_article(
            &org,
            &article.id,
            ArticleChange {
                body: Some("v2".into()),
                ..Default::default()
            },
            Some("u2"),
        )
        .await
        .expect("updates");
    assert!(edited.new_version);
    assert_eq!(edited.article.version, 2);
    let published = store
        .update_article(
            &org,
            &article.id,
            ArticleChange {
                status: Some(ArticleStatus::Published),
                body: Some("v2".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("publishes");
    assert!(!published.new_version);
    assert_eq!(published.previous_status, Some(ArticleStatus::Draft));
    assert_eq!(published.article.version, 2);
    let versions = store
        .article_versions(&org, &article.id)
        .await
        .expect("versions");
    let bodies: Vec<_> = versions
        .iter()
        .map(|v| (v.version, v.body.as_str()))
        .collect();
    assert_eq!(bodies, vec![(2, "v2"), (1, "v1")]);
    assert_eq!(versions[0].author_id.as_deref(), Some("u2"));
    let empty_title = store
        .update_article(
            &org,
            &article.id,
            ArticleChange {
                title: Some("  ".into()),
                ..Default::default()
            },
            None,
        )
        .await;
    assert!(matches!(empty_title, Err(StoreError::Invalid(_))));
}

async fn every_change_bumps_the_revision_and_only_published_articles_are_served(db: TestDatabase) {
    let (store, org, other) = store(&db).await;
    assert_eq!(store.kb_revision(&org).await.expect("revision"), 0);
    let draft = store
        .create_article(&org, new("Draft", "d", ArticleStatus::Draft), None)
        .await
        .expect("creates");
    let live = store
        .create_article(&org, new("Live", "l", ArticleStatus::Published), None)
        .await
        .expect("creates");
    assert_eq!(store.kb_revision(&org).await.expect("revision"), 2);
    assert_eq!(store.kb_revision(&other).await.expect("revision"), 0);
    assert_eq!(
        store.published_article_versions(&org).await.expect("ids"),
        vec![(live.id.clone(), 1)]
    );
    let served = store
        .published_articles(&org, &[draft.id.clone(), live.id.clone()])
        .await
        .expect("articles");
    assert_eq!(served.len(), 1);
    store
        .update_article(
            &org,
            &live.id,
            ArticleChange {
                status: Some(ArticleStatus::Archived),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("archives");
    assert_eq!(store.kb_revision(&org).await.expect("revision"), 3);
    assert!(
        store
            .published_article_versions(&org)
            .await
            .expect("ids")
            .is_empty()
    );
}

async fn organizations_never_see_each_others_articles(db: TestDatabase) {
    let (store, org, other) = store(&db).await;
    let article = store
        .create_article(&org, new("Mine", "m", ArticleStatus::Published), None)
        .await
        .expect("creates");
    assert!(
        store
            .article(&other, &article.id)
            .await
            .expect("reads")
            .is_none()
    );
    assert!(matches!(
        store.article_versions(&other, &article.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_article(&other, &article.id, ArticleChange::default(), None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .list_articles(&other, &ArticleFilter::default())
            .await
            .expect("lists")
            .is_empty()
    );
    assert!(
        store
            .published_articles(&other, &[article.id])
            .await
            .expect("articles")
            .is_empty()
    );
}

async fn lists_filter_by_text_status_and_category(db: TestDatabase) {
    let (store, org, _) = store(&db).await;
    store
        .create_article(
            &org,
            new("Refund Policy", "money back", ArticleStatus::Published),
            None,
        )
        .await
        .expect("creates");
    let mut other = new("Shipping 100%", "Parcels", ArticleStatus::Draft);
    other.category = Some("Orders".into());
    store
        .create_article(&org, other, None)
        .await
        .expect("creates");
    let titles = |list: Vec<switchboard_model::KbArticleSummary>| {
        list.into_iter().map(|a| a.title).collect::<Vec<_>>()
    };
    let by = |q: Option<&str>, status, category: Option<&str>| ArticleFilter {
        q: q.map(str::to_owned),
        status,
        category: category.map(str::to_owned),
    };
    let list = |filter| {
        let store = store.clone();
        let org = org.clone();
        async move { store.list_articles(&org, &filter).await.expect("lists") }
    };
    assert_eq!(
        titles(list(by(None, None, None)).await),
        vec!["Refund Policy", "Shipping 100%"]
    );
    assert_eq!(
        titles(list(by(Some("MONEY"), None, None)).await),
        vec!["Refund Policy"]
    );
    assert_eq!(
        titles(list(by(Some("100%"), None, None)).await),
        vec!["Shipping 100%"]
    );
    assert_eq!(
        titles(list(by(Some("%"), None, None)).await),
        vec!["Shipping 100%"]
    );
    assert_eq!(
        titles(list(by(None, Some(ArticleStatus::Draft), None)).await),
        vec!["Shipping 100%"]
    );
    assert_eq!(
        titles(list(by(None, None, Some("Billing"))).await),
        vec!["Refund Policy"]
    );
}

async fn similar_unanswered_questions_group_into_one_gap(db: TestDatabase) {
    let (store, org, other) = store(&db).await;
    let terms = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
    store
        .record_gap(&org, "Do you ship to Japan?", &terms("ship japan"))
        .await
        .expect("records");
    store
        .record_gap(&org, "Shipping to Japan?", &terms("japan ship"))
        .await
        .expect("records");
    store
        .record_gap(&org, "do you ship to japan", &terms("ship japan"))
        .await
        .expect("records");
    store
        .record_gap(&org, "Solar power?", &terms("solar power"))
        .await
        .expect("records");
    let gaps = store.list_gaps(&org, 50).await.expect("gaps");
    assert_eq!(gaps.len(), 2);
    assert_eq!(gaps[0].question, "Do you ship to Japan?");
    assert_eq!(gaps[0].count, 3);
    assert_eq!(
        gaps[0].examples,
        vec!["Do you ship to Japan?", "Shipping to Japan?"]
    );
    assert_eq!(gaps[1].count, 1);
    assert!(store.list_gaps(&other, 50).await.expect("gaps").is_empty());
}
