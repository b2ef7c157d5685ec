//! The API v2 calls the fake answers, one function each, on the account's state.

use super::*;

/// `GET /agents/me`.
pub(super) fn me(account: &Account, params: &Params) -> Call {
    params.only(&[])?;
    let agent = account.user(FRESHDESK_API_AGENT).expect("the API agent");
    Ok(Answer::ok(account.agent_json(agent)))
}

/// `GET /contacts?email=…` (or `phone`, `mobile`, `unique_external_id`): the matching
/// contacts, agents left out.
pub(super) fn find_contacts(account: &Account, params: &Params) -> Call {
    params.only(&[
        "email",
        "mobile",
        "phone",
        "unique_external_id",
        "company_id",
        "state",
        "updated_since",
        "page",
        "per_page",
    ])?;
    let (page, per_page) = params.paging()?;
    let matches = |wanted: Option<&str>, value: &Option<String>| {
        wanted.is_none_or(|wanted| {
            value
                .as_deref()
                .is_some_and(|value| value.eq_ignore_ascii_case(wanted))
        })
    };
    let found: Vec<Value> = account
        .users
        .iter()
        .filter(|user| !user.agent)
        .filter(|user| matches(params.get("email"), &user.email))
        .filter(|user| matches(params.get("phone"), &user.phone))
        .filter(|user| matches(params.get("mobile"), &user.mobile))
        .filter(|user| matches(params.get("unique_external_id"), &user.unique_external_id))
        .map(|user| account.contact_json(user))
        .collect();
    let (items, _) = page_of(&found, page, per_page);
    Ok(Answer::ok(Value::Array(items)))
}

/// `POST /contacts`: a name and at least one of email, phone, mobile, twitter_id or
/// unique_external_id; an email or external id already taken is a 409.
pub(super) fn create_contact(account: &mut Account, fields: &Fields<'_>) -> Call {
    let mut errors = fields.only(&[
        "name",
        "email",
        "phone",
        "mobile",
        "twitter_id",
        "unique_external_id",
        "other_emails",
        "company_id",
        "view_all_tickets",
        "address",
        "custom_fields",
        "description",
        "job_title",
        "language",
        "tags",
        "time_zone",
    ]);
    let name = fields.required_string("name", &mut errors);
    let email = fields.string("email", &mut errors);
    let unique = fields.string("unique_external_id", &mut errors);
    let phone = fields.string("phone", &mut errors);
    let mobile = fields.string("mobile", &mut errors);
    let identified = email.is_some()
        || unique.is_some()
        || phone.is_some()
        || mobile.is_some()
        || fields.0.contains_key("twitter_id");
    if !identified {
        errors.push(field_error(
            "email",
            "Please fill at least 1 of email, mobile, phone, twitter_id, unique_external_id fields",
            "missing_field",
        ));
    }
    checked(errors)?;
    let taken = |field: &str, id: u64| {
        let errors = vec![field_error(
            field,
            "It should be a unique value",
            "duplicate_value",
        )];
        let mut answer = validation_with(StatusCode::CONFLICT, errors);
        if let Some(error) = answer
            .body
            .as_mut()
            .and_then(|body| body["errors"].get_mut(0))
        {
            error["additional_info"] = json!({ "user_id": id });
        }
        answer
    };
    if let Some(existing) = email.as_deref().and_then(|e| account.contact_by_email(e)) {
        return Err(taken("email", existing.id));
    }
    if let Some(existing) = unique.as_deref().and_then(|u| {
        account
            .users
            .iter()
            .find(|user| user.unique_external_id.as_deref() == Some(u))
    }) {
        return Err(taken("unique_external_id", existing.id));
    }
    let id = account.add_contact(
        name.as_deref().unwrap_or_default(),
        email.as_deref(),
        unique.as_deref(),
    );
    if let Some(contact) = account.users.iter_mut().find(|user| user.id == id) {
        contact.phone = phone;
        contact.mobile = mobile;
    }
    let contact = account.user(id).expect("just added");
    Ok(Answer::created(account.contact_json(contact)))
}

/// The fields a ticket's create and update take.
pub(super) const TICKET_FIELDS: &[&str] = &[
    "name",
    "requester_id",
    "email",
    "facebook_id",
    "phone",
    "twitter_id",
    "unique_external_id",
    "subject",
    "type",
    "status",
    "priority",
    "description",
    "responder_id",
    "attachments",
    "cc_emails",
    "custom_fields",
    "due_by",
    "email_config_id",
    "fr_due_by",
    "group_id",
    "parent_id",
    "product_id",
    "source",
    "tags",
    "company_id",
    "internal_agent_id",
    "internal_group_id",
];

/// `POST /tickets`: the requester by `requester_id` (a contact that exists) or `email` (found,
/// or created with `name`), a subject and a description; status and priority from Freshdesk's
/// lists.
pub(super) fn create_ticket(account: &mut Account, fields: &Fields<'_>) -> Call {
    let mut errors = fields.only(TICKET_FIELDS);
    let subject = fields.required_string("subject", &mut errors);
    let description = fields.required_string("description", &mut errors);
    let requester_id = fields.id("requester_id", &mut errors);
    let email = fields.string("email", &mut errors);
    let name = fields.string("name", &mut errors);
    let status = fields.one_of("status", &STATUSES, &mut errors);
    let priority = fields.one_of("priority", &PRIORITIES, &mut errors);
    let tags = fields.tags(&mut errors);
    if requester_id.is_none() && email.is_none() {
        errors.push(field_error(
            "requester_id",
            "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields",
            "missing_field",
        ));
    }
    if let Some(id) = requester_id
        && account.user(id).is_none_or(|user| user.agent)
    {
        errors.push(field_error(
            "requester_id",
            "There is no contact matching the given requester_id",
            "invalid_value",
        ));
    }
    if name.is_some() && email.is_none() && !fields.0.contains_key("phone") {
        errors.push(field_error(
            "name",
            "It should be given only with email or phone",
            "invalid_value",
        ));
    }
    checked(errors)?;
    let requester = match (requester_id, email.as_deref()) {
        (Some(id), _) => id,
        (None, Some(email)) => match account.contact_by_email(email) {
            Some(contact) => contact.id,
            None => {
                let local = email.split('@').next().unwrap_or(email);
                let name = name.as_deref().unwrap_or(local).to_owned();
                account.add_contact(&name, Some(email), None)
            }
        },
        (None, None) => unreachable!("refused above"),
    };
    let id = account.open_ticket(
        subject.as_deref().unwrap_or_default(),
        description.as_deref().unwrap_or_default(),
        requester,
        SOURCE_PORTAL,
    );
    let ticket = account.tickets.get_mut(&id).ok_or_else(Answer::not_found)?;
    ticket.status = status.unwrap_or(ticket.status);
    ticket.priority = priority.unwrap_or(ticket.priority);
    ticket.tags = tags.unwrap_or_default();
    Ok(Answer::created(ticket.json(View::Full)))
}

/// `GET /tickets/{id}?include=requester`.
pub(super) fn show_ticket(account: &Account, id: Option<u64>, params: &Params) -> Call {
    params.only(&["include"])?;
    let includes: Vec<&str> = params
        .get("include")
        .map(|list| list.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let known = [
        "conversations",
        "requester",
        "company",
        "stats",
        "sla_policy",
    ];
    if let Some(unknown) = includes.iter().find(|name| !known.contains(name)) {
        return Err(validation(vec![field_error(
            "include",
            format!(
                "It should be one of these values: '{}' ({unknown})",
                known.join(",")
            ),
            "invalid_value",
        )]));
    }
    let ticket = id
        .and_then(|id| account.tickets.get(&id))
        .ok_or_else(Answer::not_found)?;
    let mut json = ticket.json(View::Full);
    if includes.contains(&"requester") {
        let requester = account.user(ticket.requester_id);
        json["requester"] = requester.map_or(Value::Null, |user| {
            json!({
                "id": user.id, "name": user.name, "email": user.email,
                "mobile": user.mobile, "phone": user.phone,
            })
        });
    }
    if includes.contains(&"conversations") {
        let entries: Vec<Value> = ticket
            .conversations
            .iter()
            .take(10)
            .map(|entry| conversation_json(&account.base_url, ticket, entry))
            .collect();
        json["conversations"] = Value::Array(entries);
    }
    Ok(Answer::ok(json))
}

/// `PUT /tickets/{id}`: its status, priority, subject or tags.
pub(super) fn update_ticket(account: &mut Account, id: Option<u64>, fields: &Fields<'_>) -> Call {
    let mut errors = fields.only(TICKET_FIELDS);
    let status = fields.one_of("status", &STATUSES, &mut errors);
    let priority = fields.one_of("priority", &PRIORITIES, &mut errors);
    let subject = fields.string("subject", &mut errors);
    let tags = fields.tags(&mut errors);
    checked(errors)?;
    let ticket = id
        .and_then(|id| account.tickets.get_mut(&id))
        .ok_or_else(Answer::not_found)?;
    if let Some(status) = status {
        ticket.status = status;
    }
    if let Some(priority) = priority {
        ticket.priority = priority;
    }
    if let Some(subject) = subject {
        ticket.subject = subject;
    }
    if let Some(tags) = tags {
        ticket.tags = tags;
    }
    ticket.touch();
    Ok(Answer::ok(ticket.json(View::Full)))
}

/// `GET /tickets/{id}/conversations?per_page=…&page=…`, oldest first, with `Link` to the next
/// page.
pub(super) fn conversations(
    shared: &Shared,
    account: &Account,
    id: Option<u64>,
    params: &Params,
) -> Call {
    params.only(&["page", "per_page"])?;
    let (page, per_page) = params.paging()?;
    let ticket = id
        .and_then(|id| account.tickets.get(&id))
        .ok_or_else(Answer::not_found)?;
    let (entries, more) = page_of(&ticket.conversations, page, per_page);
    let mut answer = Answer::ok(Value::Array(
        entries
            .iter()
            .map(|entry| conversation_json(&account.base_url, ticket, entry))
            .collect(),
    ));
    answer.next_page = more.then(|| {
        format!(
            "{}/api/v2/tickets/{}/conversations?per_page={per_page}&page={}",
            shared.base_url,
            ticket.id,
            page + 1
        )
    });
    Ok(answer)
}

/// `POST /tickets/{id}/reply`: a public reply by the API key's agent (or `user_id`, an agent),
/// emailed to the requester.
pub(super) fn reply(
    account: &mut Account,
    id: Option<u64>,
    fields: &Fields<'_>,
    files: Vec<FormFile>,
) -> Call {
    let mut errors = fields.only(&[
        "body",
        "cc_emails",
        "bcc_emails",
        "from_email",
        "user_id",
        "attachments",
    ]);
    let body = fields.required_string("body", &mut errors);
    let author = author(account, fields, true, &mut errors);
    check_files(&files, &mut errors);
    checked(errors)?;
    let body = body.unwrap_or_default();
    let entry = NewEntry {
        user_id: author,
        body: &body,
        private: false,
        incoming: false,
        source: SOURCE_REPLY,
        files,
    };
    id.and_then(|id| account.write(id, entry))
        .map(Answer::created)
        .ok_or_else(Answer::not_found)
}

/// `POST /tickets/{id}/notes`: private unless `private: false`; `incoming: true` makes it the
/// customer's message; `user_id` (any user of the account) writes it as someone else than the
/// API key's agent.
pub(super) fn note(
    account: &mut Account,
    id: Option<u64>,
    fields: &Fields<'_>,
    files: Vec<FormFile>,
) -> Call {
    let mut errors = fields.only(&[
        "body",
        "private",
        "incoming",
        "user_id",
        "notify_emails",
        "attachments",
    ]);
    let body = fields.required_string("body", &mut errors);
    let private = fields.boolean("private", &mut errors).unwrap_or(true);
    let incoming = fields.boolean("incoming", &mut errors).unwrap_or(false);
    let author = author(account, fields, false, &mut errors);
    check_files(&files, &mut errors);
    checked(errors)?;
    let body = body.unwrap_or_default();
    let entry = NewEntry {
        user_id: author,
        body: &body,
        private,
        incoming,
        source: SOURCE_NOTE,
        files,
    };
    id.and_then(|id| account.write(id, entry))
        .map(Answer::created)
        .ok_or_else(Answer::not_found)
}

/// Who writes a reply or note: `user_id` (an agent, for a reply; any user, for a note), else
/// the API key's agent.
pub(super) fn author(
    account: &Account,
    fields: &Fields<'_>,
    agents_only: bool,
    errors: &mut Vec<FieldError>,
) -> u64 {
    let Some(id) = fields.id("user_id", errors) else {
        return FRESHDESK_API_AGENT;
    };
    let allowed = account
        .user(id)
        .is_some_and(|user| user.agent || !agents_only);
    if !allowed {
        let who = if agents_only { "agent" } else { "contact" };
        errors.push(field_error(
            "user_id",
            format!("There is no {who} matching the given user_id"),
            "invalid_value",
        ));
    }
    id
}

/// `GET /search/tickets?query="tag:'…'"`: the query language's tag clause, in its double
/// quotes; 30 results a page.
pub(super) fn search_tickets(account: &Account, params: &Params) -> Call {
    params.only(&["query", "page"])?;
    let invalid = |message: &str| validation(vec![field_error("query", message, "invalid_value")]);
    let query = params.get("query").ok_or_else(|| {
        validation(vec![field_error(
            "query",
            "It should be a/an String",
            "missing_field",
        )])
    })?;
    let clause = query
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(|| invalid("The query should be enclosed in double quotes"))?;
    let tag = clause
        .trim()
        .strip_prefix("tag:'")
        .and_then(|rest| rest.strip_suffix('\''))
        .filter(|tag| !tag.is_empty() && !tag.contains('\''))
        .ok_or_else(|| invalid("This fake only searches one tag: \"tag:'…'\""))?;
    let page = match params.get("page") {
        None => 1,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|page| (1..=10).contains(page))
            .ok_or_else(|| {
                validation(vec![field_error(
                    "page",
                    "It should be a Positive Integer less than or equal to 10",
                    "invalid_value",
                )])
            })?,
    };
    let mut found: Vec<&FreshdeskTicket> = account
        .tickets
        .values()
        .filter(|ticket| ticket.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
        .collect();
    found.sort_by_key(|ticket| std::cmp::Reverse((ticket.created_at, ticket.id)));
    let (results, _) = page_of(&found, page, SEARCH_PAGE);
    Ok(Answer::ok(json!({
        "results": results.iter().map(|ticket| ticket.json(View::Search)).collect::<Vec<_>>(),
        "total": found.len(),
    })))
}

/// `GET /tickets?updated_since=…&order_by=…&order_type=…&per_page=…&page=…`: without
/// `updated_since`, only tickets created in the last 30 days.
pub(super) fn list_tickets(shared: &Shared, account: &Account, params: &Params) -> Call {
    params.only(&[
        "filter",
        "requester_id",
        "email",
        "company_id",
        "updated_since",
        "order_by",
        "order_type",
        "include",
        "per_page",
        "page",
    ])?;
    let (page, per_page) = params.paging()?;
    let since = match params.get("updated_since") {
        None => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| {
                    validation(vec![field_error(
                        "updated_since",
                        "It should be in the 'YYYY-MM-DDTHH:MM:SSZ' format",
                        "invalid_value",
                    )])
                })?,
        ),
    };
    let order_by = params.get("order_by").unwrap_or("created_at");
    if !["created_at", "due_by", "updated_at", "status"].contains(&order_by) {
        return Err(validation(vec![field_error(
            "order_by",
            "It should be one of these values: 'created_at,due_by,updated_at,status'",
            "invalid_value",
        )]));
    }
    let descending = match params.get("order_type").unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => {
            return Err(validation(vec![field_error(
                "order_type",
                "It should be one of these values: 'asc,desc'",
                "invalid_value",
            )]));
        }
    };
    let oldest_created = now() - chrono::Duration::days(LIST_DAYS);
    let mut tickets: Vec<&FreshdeskTicket> = account
        .tickets
        .values()
        .filter(|ticket| match since {
            Some(since) => ticket.updated_at >= since,
            None => ticket.created_at >= oldest_created,
        })
        .collect();
    tickets.sort_by_key(|ticket| {
        let at = match order_by {
            "updated_at" => ticket.updated_at,
            "due_by" => ticket.created_at + chrono::Duration::days(3),
            "status" => {
                DateTime::<Utc>::from_timestamp(i64::from(ticket.status), 0).unwrap_or_default()
            }
            _ => ticket.created_at,
        };
        (at, ticket.id)
    });
    if descending {
        tickets.reverse();
    }
    let (items, more) = page_of(&tickets, page, per_page);
    let mut answer = Answer::ok(Value::Array(
        items.iter().map(|ticket| ticket.json(View::List)).collect(),
    ));
    answer.next_page = more.then(|| {
        let mut next: Vec<(String, String)> = params
            .0
            .iter()
            .filter(|(key, _)| key != "page")
            .cloned()
            .collect();
        next.push(("page".into(), (page + 1).to_string()));
        let query: Vec<String> = next
            .iter()
            .map(|(key, value)| format!("{key}={}", url_encoded(value)))
            .collect();
        format!("{}/api/v2/tickets?{}", shared.base_url, query.join("&"))
    });
    Ok(answer)
}
