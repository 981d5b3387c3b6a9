//! A team's budget as the runner reads it (issue 18): what the team spent, what its running
//! members started with `task` still reserve, and a new member's reservation; the rule that
//! decides (levels, whether a reservation fits) is `team_core::budget`.

use std::collections::BTreeMap;

use team_agent::config::Price;
use team_core::budget::{Spend, still_reserved};
use team_store::Store;

use crate::runtime::AgentRuntime;

/// The `member.spawned` payload field holding the tokens a member started with `task`
/// reserved (its request's `max_tokens`).
pub const RESERVED_FIELD: &str = "reserved_tokens";

/// The completion limit assumed when a provider sends none (`max_tokens = 0`): Anthropic's
/// default, and the OpenAI kind's default `max_tokens` (`team_provider` `DEFAULT_OPENAI_MAX_TOKENS`).
pub const DEFAULT_RESERVATION: u64 = 4096;

/// What a team spent and what its live members started with `task` still reserve, read in
/// one go from the store (blocking: call it on the blocking pool): the team's budget's, so
/// the teams sharing it (`Store::budget_teams`: teams made with `team_create` by its
/// members) count too.
///
/// Spent tokens are every member's counters (prompt + completion); money is each
/// `provider.call` event's tokens at its model's price in `prices` (an unpriced model counts
/// nothing). A live member's reservation is its `member.spawned` event's
/// [`RESERVED_FIELD`] less the tokens it used (its real spend counts instead); an ended
/// member reserves nothing.
///
/// # Errors
/// A store error.
pub fn spend_and_reserved(
    s: &Store,
    team_id: &str,
    prices: &BTreeMap<String, Price>,
    output_price: impl Fn(&str) -> f64,
) -> Result<(Spend, Spend), team_store::StoreError> {
    let mut used = Spend::default();
    let mut reserved = Spend::default();
    for team in s.budget_teams(team_id)? {
        let (u, r) = spend_of_one(s, &team, prices, &output_price)?;
        used.tokens += u.tokens;
        used.usd += u.usd;
        reserved.tokens += r.tokens;
        reserved.usd += r.usd;
    }
    Ok((used, reserved))
}

/// The kind of the event every model call writes (its tokens, provider and model).
pub const CALL_EVENT: &str = "provider.call";

/// What one model call cost in US dollars: its `provider.call` event `payload`'s
/// `prompt_tokens` and `completion_tokens` at the `[prices]` entry of its `provider/model`.
///
/// # Errors
/// The `provider/model` name when `prices` has no entry for it (the call is not priced).
pub fn call_cost(
    prices: &BTreeMap<String, Price>,
    payload: &serde_json::Value,
) -> Result<f64, String> {
    let model = format!(
        "{}/{}",
        payload["provider"].as_str().unwrap_or(""),
        payload["model"].as_str().unwrap_or("")
    );
    match prices.get(&model) {
        Some(price) => Ok(price.cost(
            payload["prompt_tokens"].as_u64().unwrap_or(0),
            payload["completion_tokens"].as_u64().unwrap_or(0),
        )),
        None => Err(model),
    }
}

/// [`spend_and_reserved`] of one team.
fn spend_of_one(
    s: &Store,
    team_id: &str,
    prices: &BTreeMap<String, Price>,
    output_price: &impl Fn(&str) -> f64,
) -> Result<(Spend, Spend), team_store::StoreError> {
    let members = s.list_members(team_id)?;
    let events = s.list_events(Some(team_id), 0, i64::MAX)?;
    let mut used = Spend::default();
    for m in &members {
        used.tokens += (m.tokens_in + m.tokens_out).max(0) as u64;
    }
    let mut reserved = Spend::default();
    for e in &events {
        match e.kind.as_str() {
            CALL_EVENT => {
                if let Ok(usd) = call_cost(prices, &e.payload) {
                    used.usd += usd;
                }
            }
            crate::llm::coordination::SPAWNED_EVENT => {
                let Some(held) = e.payload[RESERVED_FIELD].as_u64() else {
                    continue;
                };
                let Some(m) = members
                    .iter()
                    .find(|m| Some(m.name.as_str()) == e.member.as_deref())
                else {
                    continue;
                };
                if m.status.is_terminal() {
                    continue;
                }
                let own = (m.tokens_in + m.tokens_out).max(0) as u64;
                let left = still_reserved(held, own);
                reserved.tokens += left;
                let model = e.payload["model"].as_str().unwrap_or("");
                reserved.usd += left as f64 * output_price(model) / 1_000_000.0;
            }
            _ => {}
        }
    }
    Ok((used, reserved))
}

/// What a member of agent `agent` in a team led by `lead_agent` reserves when started with
/// `task`: its model's provider's `max_tokens` ([`DEFAULT_RESERVATION`] when the provider
/// sends none), and that model (`provider/model`; `None` for a command agent, which reserves
/// nothing).
pub fn reservation_of(rt: &AgentRuntime, agent: &str, lead_agent: &str) -> (u64, Option<String>) {
    let Ok(def) = rt.catalog.get(agent) else {
        return (0, None);
    };
    let Ok(Some(model)) = rt.resolve_model(def, Some(lead_agent)) else {
        return (0, None);
    };
    let limit = team_provider::ProviderRegistry::parse_model(&model.model)
        .ok()
        .and_then(|(provider, _)| rt.providers.settings(provider))
        .map(|s| u64::from(s.max_tokens))
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_RESERVATION);
    (limit, Some(model.model))
}

/// The output price of `model` in US dollars per million tokens (0 without a price).
pub fn output_price(prices: &BTreeMap<String, Price>, model: &str) -> f64 {
    prices.get(model).map_or(0.0, |p| p.output_per_mtok)
}

/// Why a member of a team whose budget is used up is cancelled.
pub const BUDGET_SPENT: &str = "budget spent";

/// The event written (once per team) when a budget reaches `team_core::budget::WARN_PERCENT`.
pub const WARNING_EVENT: &str = "budget.warning";

/// Whether team `team_id` has a budget (tokens or money, its own or shared). A store error
/// says yes, so that [`look`] reads it again at the next call.
pub(crate) async fn has_budget(ctx: &crate::context::Context, team_id: &str) -> bool {
    let team = team_id.to_owned();
    crate::blocking::db(&ctx.store, move |s| s.team_budget(&team))
        .await
        .map_or(true, |b| b.is_set())
}

/// Looks at team `team_id`'s budget before a member's model call (issue 18): `None` when the
/// team has none or it is below 100 % (at 80 % a `budget.warning` event and a `[BUDGET]`
/// notice to the lead, once per team); `Some(BUDGET_SPENT)` at 100 %: the member is
/// cancelled with that reason instead of calling the model. A store error is logged and
/// lets the call go (a budget is a cap, not a reason to fail a member on a read error).
pub(crate) async fn look(ctx: &crate::context::Context, team_id: &str) -> Option<String> {
    let team = team_id.to_owned();
    let prices = ctx.runtime.prices.clone();
    let looked = crate::blocking::db(&ctx.store, move |s| {
        let budget = s.team_budget(&team)?;
        if !budget.is_set() {
            return Ok(None);
        }
        let (used, _) = spend_and_reserved(s, &team, &prices, |m| output_price(&prices, m))?;
        let level = team_core::budget::level(&budget, &used);
        if level == team_core::budget::BudgetLevel::Warning {
            warn_once(s, &team, &budget, &used)?;
        }
        Ok(Some(level))
    })
    .await;
    match looked {
        Ok(Some(team_core::budget::BudgetLevel::Spent)) => Some(BUDGET_SPENT.to_owned()),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(team = %team_id, "cannot read the team's budget: {e}");
            None
        }
    }
}

/// Writes the `budget.warning` event and tells the lead (a `system` message `[BUDGET] …`),
/// unless the team already has that event.
fn warn_once(
    s: &Store,
    team_id: &str,
    budget: &team_core::budget::TeamBudget,
    used: &Spend,
) -> Result<(), team_store::StoreError> {
    // The team holding the budget is warned (its lead told), also for a team sharing it.
    let root = s.budget_teams(team_id)?.swap_remove(0);
    let team_id = root.as_str();
    let seen = s
        .list_events(Some(team_id), 0, i64::MAX)?
        .iter()
        .any(|e| e.kind == WARNING_EVENT);
    if seen {
        return Ok(());
    }
    let pct = team_core::budget::WARN_PERCENT;
    let mut words = Vec::new();
    if let Some(max) = budget.max_tokens {
        words.push(format!("{} of {max} tokens", used.tokens));
    }
    if let Some(max) = budget.max_usd {
        words.push(format!("${:.4} of ${max}", used.usd));
    }
    s.append_event(
        Some(team_id),
        Some(team_core::LEAD_ALIAS),
        WARNING_EVENT,
        serde_json::json!({
            "percent": pct,
            "used_tokens": used.tokens,
            "max_tokens": budget.max_tokens,
            "used_usd": used.usd,
            "max_usd": budget.max_usd,
        }),
    )?;
    let body = format!(
        "[BUDGET] {pct}% of the team's budget is used ({}); at 100% its running members stop \
         (cancelled: {BUDGET_SPENT})",
        words.join(", ")
    );
    s.send_message(
        team_id,
        &team_store::Outgoing {
            from: team_store::SYSTEM_SENDER,
            to: team_store::Recipient::Member(team_core::LEAD_ALIAS.to_owned()),
            kind: team_core::MessageKind::System,
            body: &body,
        },
    )?;
    Ok(())
}
