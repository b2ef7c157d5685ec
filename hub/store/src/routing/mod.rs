//! Routing's storage, persistence only: escalation rules and the routing defaults
//! (`rules`), SLA policies, clocks and breaches (`sla`), each conversation's routing state,
//! decisions and handoffs (`state`), and assignment: presence, capacity, teams, the queue
//! (`assignment`). The decisions themselves (defaults, validation, SLA arithmetic, which agent)
//! are the `switchboard_routing` crate's; "now" is the store's clock.

mod assignment;
mod rules;
mod sla;
mod state;

pub use assignment::Released;
pub(crate) use rules::seed_defaults;
pub use sla::{SlaBreach, SlaFilter};
pub(crate) use sla::{note_agent_reply, sla_clock, sla_condition};
pub use state::{NewHandoff, RoutingApplied, RoutingChange, RoutingInputs};
pub(crate) use state::{ai_outcome_upsert, record_ai_outcome_in};

use crate::StoreError;

/// How the audit log names routing's own actions.
pub const ROUTING_ACTOR: &str = "routing";
/// At most this many conversations per assignment or release pass; the next pass takes the rest.
const QUEUE_BATCH: u64 = 1000;

/// A rule, policy or setting the routing crate refused, as the store's error.
fn invalid(err: switchboard_routing::Invalid) -> StoreError {
    StoreError::Invalid(err.0)
}
