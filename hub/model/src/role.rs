//! Roles and the permissions each grants (PRODUCT.md §8). API keys carry permissions directly as
//! scopes.

crate::string_enum! {
    pub enum Role {
        Admin => "admin",
        SupportManager => "support_manager",
        SupportAgent => "support_agent",
        KnowledgeEditor => "knowledge_editor",
    }
}

crate::string_enum! {
    /// One thing a user or API key may do. The text form is the API-key scope name.
    pub enum Permission {
        ConversationsRead => "conversations:read",
        /// Reply to customers and write private notes.
        ConversationsReply => "conversations:reply",
        /// Assign conversations to anyone, change priority and team.
        ConversationsAssign => "conversations:assign",
        ContactsRead => "contacts:read",
        ContactsWrite => "contacts:write",
        /// Export and erase a contact's data (GDPR).
        ContactsErase => "contacts:erase",
        InboxesRead => "inboxes:read",
        InboxesManage => "inboxes:manage",
        UsersRead => "users:read",
        UsersManage => "users:manage",
        ApiKeysManage => "apikeys:manage",
        KnowledgeRead => "knowledge:read",
        KnowledgeWrite => "knowledge:write",
        AnalyticsRead => "analytics:read",
        /// Teams, routing rules, SLA policies, canned responses.
        SettingsManage => "settings:manage",
        AuditRead => "audit:read",
        /// Subscribe URLs to events (signed outbound webhooks).
        WebhooksManage => "webhooks:manage",
        /// How long resolved conversations and knowledge gaps are kept; purging them now.
        RetentionManage => "retention:manage",
    }
}

impl Role {
    /// What this role may do.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => Permission::ALL,
            Role::SupportManager => &[
                ConversationsRead,
                ConversationsReply,
                ConversationsAssign,
                ContactsRead,
                ContactsWrite,
                ContactsErase,
                InboxesRead,
                UsersRead,
                KnowledgeRead,
                KnowledgeWrite,
                AnalyticsRead,
                SettingsManage,
                AuditRead,
            ],
            Role::SupportAgent => &[
                ConversationsRead,
                ConversationsReply,
                ContactsRead,
                ContactsWrite,
                InboxesRead,
                UsersRead,
                KnowledgeRead,
            ],
            Role::KnowledgeEditor => &[KnowledgeRead, KnowledgeWrite],
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_users_keys_and_inboxes() {
        for role in Role::ALL {
            let admin = *role == Role::Admin;
            assert_eq!(role.can(Permission::UsersManage), admin, "{role}");
            assert_eq!(role.can(Permission::ApiKeysManage), admin, "{role}");
            assert_eq!(role.can(Permission::InboxesManage), admin, "{role}");
            assert_eq!(role.can(Permission::WebhooksManage), admin, "{role}");
            assert_eq!(role.can(Permission::RetentionManage), admin, "{role}");
        }
    }

    #[test]
    fn knowledge_editors_do_not_see_conversations() {
        assert!(!Role::KnowledgeEditor.can(Permission::ConversationsRead));
        assert!(Role::KnowledgeEditor.can(Permission::KnowledgeWrite));
        assert!(Role::SupportAgent.can(Permission::ConversationsReply));
        assert!(!Role::SupportAgent.can(Permission::ConversationsAssign));
    }
}
