use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="centered">
            <div class="card narrow">
                <h1>"Nothing here"</h1>
                <p class="muted">"This page does not exist, or it is not yours to see."</p>
                <a class="button" href="/dashboard">"Back to your projects"</a>
            </div>
        </main>
    }
}
