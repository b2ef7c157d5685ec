//! Routing: escalation rules, handoff records, SLA policies, each conversation's routing state
//! and SLA clock, assignment settings, agent presence, team members and customer value.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id() -> ColumnDef {
    string("id").primary_key().take()
}

fn at(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}

fn at_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

fn index(table: &str, name: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table.to_owned()).if_not_exists();
    for column in columns {
        index.col(*column);
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("escalation_rules")
                .col(id())
                .col(string("org_id"))
                .col(string("name"))
                .col(integer("position"))
                .col(boolean("enabled"))
                .col(string("match_mode"))
                .col(json_binary("triggers"))
                .col(json_binary("actions"))
                .col(boolean("continue_after"))
                .col(at("created_at"))
                .col(at("updated_at"))
                .take(),
            Table::create()
                .table("handoffs")
                .col(id())
                .col(string("org_id"))
                .col(string("conversation_id"))
                .col(json_binary("summary"))
                .col(string_null("topic"))
                .col(integer_null("sentiment"))
                .col(string("priority"))
                .col(string_null("rule_id"))
                .col(string_null("rule_name"))
                .col(text("reason"))
                .col(text("suggested_reply"))
                .col(at("created_at"))
                .take(),
            Table::create()
                .table("sla_policies")
                .col(id())
                .col(string("org_id"))
                .col(string("name"))
                .col(string("priority"))
                .col(string_null("team_id"))
                .col(big_integer("first_response_seconds"))
                .col(big_integer("resolution_seconds"))
                .col(at("created_at"))
                .col(at("updated_at"))
                .take(),
            // Routing's running state of a conversation, beside the conversation row so that
            // routing's writes never contend with message appends on `conversations`.
            Table::create()
                .table("conversation_routing")
                .col(string("conversation_id").primary_key())
                .col(string("org_id"))
                .col(integer("ai_failures"))
                .col(integer("ai_answers"))
                .col(integer("ai_declines"))
                .col(json_binary("tags"))
                .col(at_null("escalated_at"))
                .col(string_null("sla_policy_id"))
                .col(string_null("sla_priority"))
                .col(at_null("first_response_due_at"))
                .col(at_null("first_response_at"))
                .col(at_null("first_response_breached_at"))
                .col(at_null("resolution_due_at"))
                .col(at_null("resolution_breached_at"))
                .col(at("updated_at"))
                .take(),
            Table::create()
                .table("routing_settings")
                .col(string("org_id").primary_key())
                .col(string("assignment"))
                .col(string_null("last_assigned_user_id"))
                .col(at("updated_at"))
                .take(),
            Table::create()
                .table("agent_presence")
                .col(string("user_id").primary_key())
                .col(string("org_id"))
                .col(string("status"))
                .col(at("last_seen_at"))
                .take(),
            Table::create()
                .table("team_members")
                .col(string("team_id"))
                .col(string("user_id"))
                .col(string("org_id"))
                .col(at("created_at"))
                .primary_key(Index::create().col("team_id").col("user_id"))
                .take(),
            Table::create()
                .table("contact_values")
                .col(string("contact_id").primary_key())
                .col(string("org_id"))
                .col(string_null("tier"))
                .col(double_null("value"))
                .col(at("updated_at"))
                .take(),
        ];
        for mut table in tables {
            manager.create_table(table.if_not_exists().take()).await?;
        }
        let indexes = [
            index(
                "escalation_rules",
                "idx_escalation_rules_org_position",
                &["org_id", "position"],
            ),
            index(
                "handoffs",
                "idx_handoffs_conversation",
                &["conversation_id", "created_at"],
            ),
            index(
                "sla_policies",
                "idx_sla_policies_org",
                &["org_id", "priority"],
            ),
            index(
                "conversation_routing",
                "idx_conversation_routing_first_due",
                &["first_response_due_at"],
            ),
            index(
                "conversation_routing",
                "idx_conversation_routing_resolution_due",
                &["resolution_due_at"],
            ),
            index("agent_presence", "idx_agent_presence_org", &["org_id"]),
            index("team_members", "idx_team_members_user", &["user_id"]),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "contact_values",
            "team_members",
            "agent_presence",
            "routing_settings",
            "conversation_routing",
            "sla_policies",
            "handoffs",
            "escalation_rules",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
