//! One module per page.

mod dashboard;
mod home;
mod not_found;
mod project;

pub use dashboard::Dashboard;
pub use home::Home;
pub use not_found::NotFound;
pub use project::ProjectPage;
