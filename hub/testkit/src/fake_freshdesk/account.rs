//! The account's state and the requests' parameters and fields: how the fake keeps and reads them.

use super::*;

impl Account {
    pub(super) fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    pub(super) fn user(&self, id: u64) -> Option<&FreshdeskContact> {
        self.users.iter().find(|user| user.id == id)
    }

    pub(super) fn contact_by_email(&self, email: &str) -> Option<&FreshdeskContact> {
        self.users.iter().find(|user| {
            user.email
                .as_deref()
                .is_some_and(|known| known.eq_ignore_ascii_case(email))
        })
    }

    pub(super) fn add_contact(
        &mut self,
        name: &str,
        email: Option<&str>,
        unique_external_id: Option<&str>,
    ) -> u64 {
        let id = self.next_id();
        self.users.push(FreshdeskContact {
            id,
            name: name.to_owned(),
            email: email.map(str::to_owned),
            phone: None,
            mobile: None,
            unique_external_id: unique_external_id.map(str::to_owned),
            agent: false,
        });
        id
    }

    /// A new ticket, Open, of Low priority, without tags; answers its id.
    pub(super) fn open_ticket(
        &mut self,
        subject: &str,
        description: &str,
        requester_id: u64,
        source: u8,
    ) -> u64 {
        self.last_ticket += 1;
        let id = self.last_ticket;
        let at = now();
        self.tickets.insert(
            id,
            FreshdeskTicket {
                id,
                subject: subject.to_owned(),
                description: description.to_owned(),
                description_text: html_text(description),
                status: 2,
                priority: 1,
                source,
                requester_id,
                tags: Vec::new(),
                conversations: Vec::new(),
                created_at: at,
                updated_at: at,
            },
        );
        id
    }

    /// Adds a conversation to a ticket, which it updates; answers it as the API shows it, or
    /// `None` when there is no such ticket.
    pub(super) fn write(&mut self, ticket_id: u64, new: NewEntry<'_>) -> Option<Value> {
        if !self.tickets.contains_key(&ticket_id) {
            return None;
        }
        let id = self.next_id();
        let attachments = new
            .files
            .into_iter()
            .map(|file| FreshdeskAttachment {
                id: self.next_id(),
                name: file.name,
                content_type: file.content_type,
                bytes: file.bytes,
            })
            .collect();
        let entry = FreshdeskConversation {
            id,
            user_id: new.user_id,
            body: new.body.to_owned(),
            body_text: html_text(new.body),
            private: new.private,
            incoming: new.incoming,
            source: new.source,
            created_at: now(),
            attachments,
        };
        let ticket = self.tickets.get_mut(&ticket_id)?;
        let json = conversation_json(&self.base_url, ticket, &entry);
        ticket.conversations.push(entry);
        ticket.touch();
        Some(json)
    }

    pub(super) fn contact_json(&self, contact: &FreshdeskContact) -> Value {
        json!({
            "active": false,
            "address": null,
            "company_id": null,
            "description": null,
            "email": contact.email,
            "id": contact.id,
            "job_title": null,
            "language": "en",
            "mobile": contact.mobile,
            "name": contact.name,
            "phone": contact.phone,
            "time_zone": "UTC",
            "twitter_id": null,
            "unique_external_id": contact.unique_external_id,
            "other_emails": [],
            "custom_fields": {},
            "tags": [],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        })
    }

    pub(super) fn agent_json(&self, agent: &FreshdeskContact) -> Value {
        json!({
            "available": true,
            "occasional": false,
            "id": agent.id,
            "ticket_scope": 1,
            "signature": null,
            "type": "support_agent",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "contact": {
                "active": true,
                "email": agent.email,
                "job_title": null,
                "language": "en",
                "last_login_at": "2024-01-01T00:00:00Z",
                "mobile": null,
                "name": agent.name,
                "phone": null,
                "time_zone": "UTC",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            },
        })
    }
}

impl FreshdeskTicket {
    pub(super) fn touch(&mut self) {
        self.updated_at = now();
    }

    pub(super) fn json(&self, view: View) -> Value {
        let mut ticket = json!({
            "cc_emails": [],
            "fwd_emails": [],
            "reply_cc_emails": [],
            "ticket_cc_emails": [],
            "fr_escalated": false,
            "spam": false,
            "email_config_id": null,
            "group_id": null,
            "priority": self.priority,
            "requester_id": self.requester_id,
            "responder_id": null,
            "source": self.source,
            "company_id": null,
            "status": self.status,
            "subject": self.subject,
            "association_type": null,
            "support_email": null,
            "to_emails": null,
            "product_id": null,
            "id": self.id,
            "type": null,
            "due_by": timestamp(self.created_at + chrono::Duration::days(3)),
            "fr_due_by": timestamp(self.created_at + chrono::Duration::days(1)),
            "is_escalated": false,
            "custom_fields": {},
            "created_at": timestamp(self.created_at),
            "updated_at": timestamp(self.updated_at),
        });
        let fields = ticket.as_object_mut().expect("an object");
        if view != View::List {
            fields.insert("tags".into(), json!(self.tags));
        }
        if view == View::Full {
            fields.insert("description".into(), json!(self.description));
            fields.insert("description_text".into(), json!(self.description_text));
            fields.insert("attachments".into(), json!([]));
        }
        ticket
    }
}

impl Fields<'_> {
    pub(super) fn only(&self, allowed: &[&str]) -> Vec<FieldError> {
        self.0
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| unexpected(key))
            .collect()
    }

    pub(super) fn string(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        match self.0.get(name) {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                errors.push(field_error(
                    name,
                    "It should be a/an String",
                    "datatype_mismatch",
                ));
                None
            }
        }
    }

    pub(super) fn required_string(
        &self,
        name: &str,
        errors: &mut Vec<FieldError>,
    ) -> Option<String> {
        if !self.0.contains_key(name) {
            errors.push(field_error(
                name,
                "It should be a/an String",
                "missing_field",
            ));
            return None;
        }
        let text = self.string(name, errors)?;
        if text.trim().is_empty() {
            errors.push(field_error(name, "It should not be blank", "invalid_value"));
            return None;
        }
        Some(text)
    }

    pub(super) fn boolean(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
        match self.0.get(name) {
            None => None,
            Some(Value::Bool(value)) => Some(*value),
            Some(_) => {
                errors.push(field_error(
                    name,
                    "It should be a/an Boolean",
                    "datatype_mismatch",
                ));
                None
            }
        }
    }

    pub(super) fn id(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
        match self.0.get(name) {
            None => None,
            Some(value) => value.as_u64().or_else(|| {
                errors.push(field_error(
                    name,
                    "It should be a/an Positive Integer",
                    "datatype_mismatch",
                ));
                None
            }),
        }
    }

    pub(super) fn one_of(
        &self,
        name: &str,
        allowed: &[u64],
        errors: &mut Vec<FieldError>,
    ) -> Option<u8> {
        let value = self.0.get(name)?;
        match value.as_u64().filter(|n| allowed.contains(n)) {
            Some(n) => u8::try_from(n).ok(),
            None => {
                let list: Vec<String> = allowed.iter().map(u64::to_string).collect();
                errors.push(field_error(
                    name,
                    format!("It should be one of these values: '{}'", list.join(",")),
                    "invalid_value",
                ));
                None
            }
        }
    }

    pub(super) fn tags(&self, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
        let value = self.0.get("tags")?;
        let tags: Option<Vec<String>> = value
            .as_array()
            .and_then(|tags| tags.iter().map(|t| t.as_str().map(str::to_owned)).collect());
        if tags.is_none() {
            errors.push(field_error(
                "tags",
                "It should be a/an Array of String",
                "datatype_mismatch",
            ));
        }
        tags
    }
}

impl Params {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Freshdesk refuses a parameter it does not know.
    pub(super) fn only(&self, allowed: &[&str]) -> Result<(), Answer> {
        let errors: Vec<FieldError> = self
            .0
            .iter()
            .filter(|(key, _)| !allowed.contains(&key.as_str()))
            .map(|(key, _)| unexpected(key))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(validation(errors))
        }
    }

    /// `page` (from 1) and `per_page` (1 to 100, default 30).
    pub(super) fn paging(&self) -> Result<(usize, usize), Answer> {
        let number = |key: &str, default: usize, max: usize, message: &str| match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| validation(vec![field_error(key, message, "invalid_value")])),
        };
        let page = number("page", 1, usize::MAX, "It should be a Positive Integer")?;
        let per_page = number(
            "per_page",
            DEFAULT_PER_PAGE,
            MAX_PER_PAGE,
            "It should be a Positive Integer less than or equal to 100",
        )?;
        Ok((page, per_page))
    }
}
