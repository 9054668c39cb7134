//! One module per page.

mod account;
mod admin;
mod dashboard;
mod home;
mod not_found;
mod project;

pub use account::AccountPage;
pub use admin::AdminPage;
pub use dashboard::Dashboard;
pub use home::Home;
pub use not_found::NotFound;
pub use project::ProjectPage;
