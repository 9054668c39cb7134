//! minicode's user interface: Leptos pages rendered on the server and hydrated
//! in the browser, and the server functions they call.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
mod client;
mod components;
mod pages;

/// The signed-in user's usage and quotas, for the account page.
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/minicode.css"/>
        <Title formatter=|text: String| if text.is_empty() { "minicode".to_string() } else { format!("{text} · minicode") }/>
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::Home/>
                <Route path=path!("/dashboard") view=pages::Dashboard/>
                <Route path=path!("/account") view=pages::AccountPage/>
                <Route path=path!("/admin") view=pages::AdminPage/>
                // Rendered in full before sending, so an unknown or foreign
                // project answers with a real 404 status.
                <Route path=path!("/project/:id") view=pages::ProjectPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
