//! `GET /`: the accounts dashboard (pills, first-connected date, Reconnect). The
//! workspace token comes in the query string (`/?token=…`), as the demo prints it.

use axum::{
    Form,
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::{DOCTYPE, html};
use relink_domain::{AccountStatus, PillTone};
use serde::Deserialize;

use crate::{
    AppError, AppState,
    accounts::{account_views, request_link},
    auth::workspace_for_token,
};

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

fn colour(tone: PillTone) -> &'static str {
    match tone {
        PillTone::Green => "#1a7f37",
        PillTone::Blue => "#0969da",
        PillTone::Amber => "#9a6700",
        PillTone::Grey => "#6e7781",
    }
}

#[tracing::instrument(skip_all)]
pub(crate) async fn page(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        return Ok(Html(
            html! {
                (DOCTYPE) title { "relink" }
                h1 { "relink" }
                p { "Open this page with your workspace token: " code { "/?token=…" } }
            }
            .into_string(),
        )
        .into_response());
    };
    let ws = workspace_for_token(&state, &token).await?;
    let accounts = account_views(&state, ws).await?;
    let campaigns = state.store.campaigns_of_workspace(ws).await?;
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="5";
                title { "relink · LinkedIn accounts" }
                style { "body{font-family:sans-serif;margin:2rem} td,th{padding:.4rem .8rem;text-align:left} .pill{padding:.15rem .6rem;border-radius:1rem;color:#fff}" }
            }
            body {
                h1 { "LinkedIn accounts" }
                table {
                    tr { th { "Account" } th { "Status" } th { "" } }
                    @for a in &accounts {
                        tr {
                            td {
                                (a.display_name)
                                @if let Some(d) = &a.first_connected_on { br; small { "First connected on " (d) } }
                            }
                            td { span.pill style={ "background:" (colour(a.pill.tone)) } { (a.pill.label) } }
                            td {
                                @if a.status != AccountStatus::Connected {
                                    form method="post" action={ "/ui/accounts/" (a.id) "/reconnect" } {
                                        input type="hidden" name="token" value=(token);
                                        button { "Reconnect" }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Campaigns" }
                table {
                    tr { th { "Campaign" } th { "State" } th { "Pause reasons" } }
                    @for c in &campaigns {
                        tr {
                            td { (c.name) }
                            td { (c.status) }
                            td { (c.pause_reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(markup.into_string()).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ReconnectForm {
    token: String,
}

/// The dashboard's Reconnect button: gets the link and sends the browser to it.
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub(crate) async fn reconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<ReconnectForm>,
) -> Result<Response, AppError> {
    let ws = workspace_for_token(&state, &form.token).await?;
    let id = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("account {id:?} not found")))?;
    let link = request_link(&state, ws, id).await?;
    Ok(Redirect::to(&link.url).into_response())
}
