//! The signed-in user's model usage and quotas (`GET /api/usage`): today,
//! this month, per project, and each limit with what remains. Meant for the
//! account page; it loads in the browser once mounted.

use leptos::prelude::*;
use minicode::usage::{LimitStatus, LimitUnit, UsageReport, UsageTotals};
use minicode::{ApiError, thousands};

use super::short_time;
use crate::client;

pub(crate) fn dollars(usd: f64) -> String {
    format!("${usd:.2}")
}

/// A limit's amount in its unit, for people.
fn amount(unit: LimitUnit, value: u64) -> String {
    match unit {
        LimitUnit::Count => thousands(value),
        LimitUnit::Tokens => format!("{} tokens", thousands(value)),
        LimitUnit::MicroUsd => dollars(value as f64 / 1_000_000.0),
    }
}

fn limit_label(name: &str) -> &'static str {
    match name {
        "projects" => "Projects",
        "sandboxes" => "Previews running at once",
        "chat_turns_per_hour" => "Chat turns this hour",
        "generations_per_hour" => "Generations this hour",
        "tokens_per_day" => "Model tokens today",
        "usd_per_day" => "Model spending today",
        _ => "Other",
    }
}

fn totals_row(label: &'static str, t: &UsageTotals) -> impl IntoView + use<> {
    view! {
        <tr>
            <th scope="row">{label}</th>
            <td>{thousands(t.input_tokens)}</td>
            <td>{thousands(t.output_tokens)}</td>
            <td>{dollars(t.cost_usd)}</td>
            <td>{thousands(t.chat_turns)}</td>
            <td>{thousands(t.generations)}</td>
        </tr>
    }
}

fn limit_row(s: LimitStatus) -> impl IntoView + use<> {
    let allowed = s
        .allowed
        .map_or_else(|| "unlimited".to_string(), |a| amount(s.unit, a));
    let remaining = s
        .remaining
        .map_or_else(|| "—".to_string(), |r| amount(s.unit, r));
    let spent = s.remaining == Some(0);
    let resets = s
        .resets_at
        .as_deref()
        .map(|r| format!("resets {} UTC", short_time(r)))
        .unwrap_or_default();
    view! {
        <tr class:limit-spent=spent data-testid="usage-limit" data-name=s.name.clone()>
            <th scope="row">{limit_label(&s.name)}</th>
            <td>{amount(s.unit, s.used)}</td>
            <td>{allowed}</td>
            <td>{remaining}</td>
            <td class="muted small">{resets}</td>
        </tr>
    }
}

fn report_view(report: UsageReport) -> impl IntoView + use<> {
    let projects = report.projects;
    view! {
        <h3>"Model usage"</h3>
        <table class="usage-table">
            <thead>
                <tr><th></th><th>"Tokens in"</th><th>"Tokens out"</th><th>"Cost"</th><th>"Chat turns"</th><th>"Generations"</th></tr>
            </thead>
            <tbody>
                {totals_row("Today", &report.today)}
                {totals_row("This month", &report.this_month)}
            </tbody>
        </table>
        <h3>"Limits"</h3>
        <table class="usage-table">
            <thead>
                <tr><th></th><th>"Used"</th><th>"Allowed"</th><th>"Remaining"</th><th></th></tr>
            </thead>
            <tbody>{report.status.into_iter().map(limit_row).collect_view()}</tbody>
        </table>
        <p class="muted small">
            "Costs count models whose provider reports a price. A reply or generation in progress always finishes, so a budget can be passed by at most one of them."
        </p>
        <h3>"Per project (all time)"</h3>
        {if projects.is_empty() {
            view! { <p class="muted small">"No model use yet."</p> }.into_any()
        } else {
            view! {
                <table class="usage-table">
                    <thead>
                        <tr><th>"Project"</th><th>"Tokens in"</th><th>"Tokens out"</th><th>"Cost"</th><th>"Chat turns"</th><th>"Generations"</th></tr>
                    </thead>
                    <tbody>
                        {projects.into_iter().map(|p| {
                            let name = match p.name {
                                Some(name) => view! { <a href=format!("/project/{}", p.project_id)>{name}</a> }.into_any(),
                                None => view! { <span class="muted">"(deleted project)"</span> }.into_any(),
                            };
                            let u = p.usage;
                            view! {
                                <tr data-testid="usage-project">
                                    <th scope="row">{name}</th>
                                    <td>{thousands(u.input_tokens)}</td>
                                    <td>{thousands(u.output_tokens)}</td>
                                    <td>{dollars(u.cost_usd)}</td>
                                    <td>{thousands(u.chat_turns)}</td>
                                    <td>{thousands(u.generations)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// The caller's usage and limits, loaded from `GET /api/usage`.
#[component]
pub fn UsagePanel() -> impl IntoView {
    let report = RwSignal::new(None::<Result<UsageReport, ApiError>>);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            report.set(Some(client::usage().await));
        });
    });
    view! {
        <section class="usage-panel" aria-label="Usage and limits" data-testid="usage">
            {move || match report.get() {
                None => view! { <p class="muted small">"Loading usage…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(r)) => report_view(r).into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_naturally() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(amount(LimitUnit::MicroUsd, 1_500_000), "$1.50");
        assert_eq!(amount(LimitUnit::Tokens, 2000), "2,000 tokens");
    }
}
