//! `sqlx::migrate!` embeds the migrations at compile time but cannot tell
//! cargo to watch them on stable Rust: without this, adding a migration and
//! rebuilding could ship a binary without it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
