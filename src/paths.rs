//! Every route of the REST API and the WebSockets, in one place.
//!
//! The constants are the templates the server registers (axum syntax:
//! `{id}` a segment, `{*path}` the rest of the path); the functions build
//! the concrete URL a client requests, path only (`/api/projects/<uuid>`),
//! so the browser, the tests and any other client never spell a route by
//! hand. Each builder fills its own template, so the two cannot drift apart.
//! `server/tests/wire_paths.rs` requests every builder's URL from the real
//! server to check the templates against its router.

use uuid::Uuid;

use crate::model::PageQuery;

pub const HEALTH: &str = "/health";

// Accounts (`server/src/auth/routes.rs`).
pub const AUTH_REGISTRATION: &str = "/api/auth/registration";
pub const AUTH_REGISTER: &str = "/api/auth/register";
pub const AUTH_LOGIN: &str = "/api/auth/login";
pub const AUTH_LOGOUT: &str = "/api/auth/logout";
pub const AUTH_LOGOUT_EVERYWHERE: &str = "/api/auth/logout-everywhere";
pub const AUTH_PASSWORD: &str = "/api/auth/password";
pub const AUTH_ME: &str = "/api/auth/me";
pub const AUTH_TOKENS: &str = "/api/auth/tokens";
pub const AUTH_TOKEN: &str = "/api/auth/tokens/{id}";

// Administration (`server/src/admin/routes.rs`).
pub const ADMIN_SETTINGS: &str = "/api/admin/settings";
pub const ADMIN_USERS: &str = "/api/admin/users";
pub const ADMIN_USER: &str = "/api/admin/users/{id}";
pub const ADMIN_USER_PASSWORD: &str = "/api/admin/users/{id}/password";
pub const ADMIN_USER_QUOTA: &str = "/api/admin/users/{id}/quota";
pub const ADMIN_USAGE: &str = "/api/admin/usage";
pub const ADMIN_INVITES: &str = "/api/admin/invites";
pub const ADMIN_INVITE: &str = "/api/admin/invites/{id}";

// Projects (`server/src/projects/routes.rs`).
pub const PROJECTS: &str = "/api/projects";
pub const PROJECT: &str = "/api/projects/{id}";
/// A new project from a zip upload (multipart: `file`, optional `name`).
pub const PROJECTS_IMPORT: &str = "/api/projects/import";
/// A new project from a git repository's URL (`GitImport`).
pub const PROJECTS_IMPORT_GIT: &str = "/api/projects/import/git";

// Chats (`server/src/chats/routes.rs`).
pub const PROJECT_CHATS: &str = "/api/projects/{id}/chats";
pub const CHATS: &str = "/api/chats";
pub const CHAT: &str = "/api/chats/{id}";
pub const CHAT_MESSAGES: &str = "/api/chats/{id}/messages";
pub const CHAT_FIX_ERROR: &str = "/api/chats/{id}/fix-error";

// Files (`server/src/files/routes.rs`).
pub const PROJECT_FILES: &str = "/api/projects/{id}/files";
pub const PROJECT_FILE: &str = "/api/projects/{id}/files/{*path}";
pub const PROJECT_VISUAL_EDIT: &str = "/api/projects/{id}/visual-edit";

// Publishing (`server/src/deploy/routes.rs`).
pub const PROJECT_DEPLOYMENTS: &str = "/api/projects/{id}/deployments";
pub const PROJECT_DEPLOYMENT_ACTIVATE: &str =
    "/api/projects/{id}/deployments/{deployment}/activate";
pub const PROJECT_SITE: &str = "/api/projects/{id}/site";
pub const PROJECT_SITE_OPEN: &str = "/api/projects/{id}/site/open";

// Images attached to prompts and messages (`server/src/images/routes.rs`).
pub const PROJECT_IMAGES: &str = "/api/projects/{id}/images";
pub const PROJECT_IMAGE: &str = "/api/projects/{id}/images/{image_id}";

// The agent, the sandbox and the export (`server/src/agent/routes.rs`).
pub const MODELS: &str = "/api/models";
pub const PROJECT_GENERATE: &str = "/api/projects/{id}/generate";
pub const PROJECT_STOP: &str = "/api/projects/{id}/stop";
pub const PROJECT_STATE: &str = "/api/projects/{id}/state";
pub const PROJECT_SANDBOX: &str = "/api/projects/{id}/sandbox";
pub const PROJECT_SANDBOX_RESTART: &str = "/api/projects/{id}/sandbox/restart";
pub const PROJECT_TYPES: &str = "/api/projects/{id}/types";
pub const PROJECT_EXPORT: &str = "/api/projects/{id}/export.zip";

// Checkpoints (`server/src/checkpoints/routes.rs`).
pub const PROJECT_CHECKPOINTS: &str = "/api/projects/{id}/checkpoints";
pub const PROJECT_CHECKPOINT: &str = "/api/projects/{id}/checkpoints/{cp}";
pub const PROJECT_CHECKPOINT_RESTORE: &str = "/api/projects/{id}/checkpoints/{cp}/restore";

// Git history and clone (`server/src/git/routes.rs`, `server/src/git/http.rs`).
pub const PROJECT_HISTORY: &str = "/api/projects/{id}/history";
/// Smart HTTP, read-only: `{repo}` is `<project id>.git`.
pub const GIT_INFO_REFS: &str = "/git/{repo}/info/refs";
pub const GIT_UPLOAD_PACK: &str = "/git/{repo}/git-upload-pack";
pub const GIT_RECEIVE_PACK: &str = "/git/{repo}/git-receive-pack";

// Pushing to other hosts (`server/src/git/routes.rs`).
/// The signed-in user's git credentials.
pub const GIT_CREDENTIALS: &str = "/api/git/credentials";
pub const GIT_CREDENTIAL: &str = "/api/git/credentials/{id}";
/// A project's remote: GET its state, PUT its URL, DELETE it.
pub const PROJECT_REMOTE: &str = "/api/projects/{id}/remote";
pub const PROJECT_REMOTE_PUSH: &str = "/api/projects/{id}/remote/push";

// Usage and quotas (`server/src/quota/routes.rs`).
pub const USAGE: &str = "/api/usage";

// WebSockets (`server/src/ws/mod.rs`).
pub const PROJECT_WS: &str = "/ws/{project}";
pub const CHAT_WS: &str = "/api/chats/{id}/ws";

/// The builder's entry to a project's preview (`server/src/preview/mod.rs`).
pub const PREVIEW: &str = "/preview/{id}/";

/// `template` with each `{…}` placeholder replaced by the next of `values`.
fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 40 * values.len());
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(values.next().copied().unwrap_or_default());
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

fn with_id(template: &str, id: Uuid) -> String {
    fill(template, &[&id.to_string()])
}

/// `path?limit=…&offset=…`: one page of a list (`offset` left out when 0).
pub fn paged(path: &str, page: PageQuery) -> String {
    if page.offset == 0 {
        format!("{path}?limit={}", page.limit)
    } else {
        format!("{path}?limit={}&offset={}", page.limit, page.offset)
    }
}

/// The first `limit` items of a list.
pub fn first(path: &str, limit: u32) -> String {
    paged(
        path,
        PageQuery {
            limit: i64::from(limit),
            offset: 0,
        },
    )
}

pub fn auth_token(id: Uuid) -> String {
    with_id(AUTH_TOKEN, id)
}

pub fn admin_user(id: Uuid) -> String {
    with_id(ADMIN_USER, id)
}

pub fn admin_user_password(id: Uuid) -> String {
    with_id(ADMIN_USER_PASSWORD, id)
}

pub fn admin_user_quota(id: Uuid) -> String {
    with_id(ADMIN_USER_QUOTA, id)
}

pub fn admin_invite(id: Uuid) -> String {
    with_id(ADMIN_INVITE, id)
}

pub fn project(id: Uuid) -> String {
    with_id(PROJECT, id)
}

pub fn project_chats(id: Uuid) -> String {
    with_id(PROJECT_CHATS, id)
}

pub fn chat(id: Uuid) -> String {
    with_id(CHAT, id)
}

pub fn chat_messages(id: Uuid) -> String {
    with_id(CHAT_MESSAGES, id)
}

pub fn chat_fix_error(id: Uuid) -> String {
    with_id(CHAT_FIX_ERROR, id)
}

pub fn project_files(id: Uuid) -> String {
    with_id(PROJECT_FILES, id)
}

/// One file of a project; `path` is a workspace path (`src/App.tsx`),
/// percent-encoded segment by segment.
pub fn project_file(id: Uuid, path: &str) -> String {
    fill(PROJECT_FILE, &[&id.to_string(), &encode_path(path)])
}

pub fn project_generate(id: Uuid) -> String {
    with_id(PROJECT_GENERATE, id)
}

pub fn project_stop(id: Uuid) -> String {
    with_id(PROJECT_STOP, id)
}

pub fn project_state(id: Uuid) -> String {
    with_id(PROJECT_STATE, id)
}

pub fn project_sandbox(id: Uuid) -> String {
    with_id(PROJECT_SANDBOX, id)
}

pub fn project_sandbox_restart(id: Uuid) -> String {
    with_id(PROJECT_SANDBOX_RESTART, id)
}

pub fn project_visual_edit(id: Uuid) -> String {
    with_id(PROJECT_VISUAL_EDIT, id)
}

pub fn project_deployments(id: Uuid) -> String {
    with_id(PROJECT_DEPLOYMENTS, id)
}

pub fn project_deployment_activate(id: Uuid, deployment: Uuid) -> String {
    fill(
        PROJECT_DEPLOYMENT_ACTIVATE,
        &[&id.to_string(), &deployment.to_string()],
    )
}

pub fn project_site(id: Uuid) -> String {
    with_id(PROJECT_SITE, id)
}

pub fn project_site_open(id: Uuid) -> String {
    with_id(PROJECT_SITE_OPEN, id)
}

pub fn project_images(id: Uuid) -> String {
    with_id(PROJECT_IMAGES, id)
}

pub fn project_image(id: Uuid, image_id: Uuid) -> String {
    fill(PROJECT_IMAGE, &[&id.to_string(), &image_id.to_string()])
}

pub fn project_types(id: Uuid) -> String {
    with_id(PROJECT_TYPES, id)
}

pub fn project_export(id: Uuid) -> String {
    with_id(PROJECT_EXPORT, id)
}

pub fn git_credential(id: Uuid) -> String {
    with_id(GIT_CREDENTIAL, id)
}

pub fn project_remote(id: Uuid) -> String {
    with_id(PROJECT_REMOTE, id)
}

pub fn project_remote_push(id: Uuid) -> String {
    with_id(PROJECT_REMOTE_PUSH, id)
}

pub fn project_checkpoints(id: Uuid) -> String {
    with_id(PROJECT_CHECKPOINTS, id)
}

pub fn project_checkpoint(id: Uuid, checkpoint: Uuid) -> String {
    fill(
        PROJECT_CHECKPOINT,
        &[&id.to_string(), &checkpoint.to_string()],
    )
}

pub fn project_checkpoint_restore(id: Uuid, checkpoint: Uuid) -> String {
    fill(
        PROJECT_CHECKPOINT_RESTORE,
        &[&id.to_string(), &checkpoint.to_string()],
    )
}

pub fn project_history(id: Uuid) -> String {
    with_id(PROJECT_HISTORY, id)
}

/// What `git clone` is given, path only: `/git/<id>.git` (the client adds
/// the origin).
pub fn git_repo(id: Uuid) -> String {
    format!("/git/{id}.git")
}

/// The smart HTTP advertisement, with the service git asks for.
pub fn git_info_refs(id: Uuid, service: &str) -> String {
    format!(
        "{}?service={service}",
        fill(GIT_INFO_REFS, &[&format!("{id}.git")])
    )
}

pub fn git_upload_pack(id: Uuid) -> String {
    fill(GIT_UPLOAD_PACK, &[&format!("{id}.git")])
}

pub fn git_receive_pack(id: Uuid) -> String {
    fill(GIT_RECEIVE_PACK, &[&format!("{id}.git")])
}

/// The project's socket, path only: the browser adds `ws(s)://host`.
pub fn project_ws(id: Uuid) -> String {
    with_id(PROJECT_WS, id)
}

pub fn chat_ws(id: Uuid) -> String {
    with_id(CHAT_WS, id)
}

pub fn preview(id: Uuid) -> String {
    with_id(PREVIEW, id)
}

/// Percent-encodes each segment of a workspace path for use in a URL
/// (`public/my photo#1.png` → `public/my%20photo%231.png`); `/` stays.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Builder = fn(Uuid) -> String;

    const ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    const CP: Uuid = Uuid::from_u128(0xfedc_ba98_7654_3210_fedc_ba98_7654_3210);

    /// The template with each placeholder replaced by hand, to check the builders against.
    fn by_hand(template: &str, pairs: &[(&str, &str)]) -> String {
        let mut out = template.to_string();
        for (placeholder, value) in pairs {
            assert!(out.contains(placeholder), "{template} has no {placeholder}");
            out = out.replace(placeholder, value);
        }
        assert!(!out.contains('{'), "{out} still has a placeholder");
        out
    }

    #[test]
    fn builders_fill_their_templates() {
        let id = ID.to_string();
        let one: [(Builder, &str); 30] = [
            (git_credential, GIT_CREDENTIAL),
            (project_remote, PROJECT_REMOTE),
            (project_remote_push, PROJECT_REMOTE_PUSH),
            (auth_token, AUTH_TOKEN),
            (admin_user, ADMIN_USER),
            (admin_user_password, ADMIN_USER_PASSWORD),
            (admin_user_quota, ADMIN_USER_QUOTA),
            (admin_invite, ADMIN_INVITE),
            (project, PROJECT),
            (project_chats, PROJECT_CHATS),
            (chat, CHAT),
            (chat_messages, CHAT_MESSAGES),
            (chat_fix_error, CHAT_FIX_ERROR),
            (project_files, PROJECT_FILES),
            (project_generate, PROJECT_GENERATE),
            (project_stop, PROJECT_STOP),
            (project_state, PROJECT_STATE),
            (project_sandbox, PROJECT_SANDBOX),
            (project_sandbox_restart, PROJECT_SANDBOX_RESTART),
            (project_types, PROJECT_TYPES),
            (project_images, PROJECT_IMAGES),
            (project_deployments, PROJECT_DEPLOYMENTS),
            (project_site, PROJECT_SITE),
            (project_site_open, PROJECT_SITE_OPEN),
            (project_visual_edit, PROJECT_VISUAL_EDIT),
            (project_export, PROJECT_EXPORT),
            (project_checkpoints, PROJECT_CHECKPOINTS),
            (project_history, PROJECT_HISTORY),
            (chat_ws, CHAT_WS),
            (preview, PREVIEW),
        ];
        for (build, template) in one {
            assert_eq!(build(ID), by_hand(template, &[("{id}", &id)]));
        }
        assert_eq!(project_ws(ID), by_hand(PROJECT_WS, &[("{project}", &id)]));
        let cp = CP.to_string();
        assert_eq!(
            project_checkpoint(ID, CP),
            by_hand(PROJECT_CHECKPOINT, &[("{id}", &id), ("{cp}", &cp)])
        );
        assert_eq!(
            project_deployment_activate(ID, CP),
            by_hand(
                PROJECT_DEPLOYMENT_ACTIVATE,
                &[("{id}", &id), ("{deployment}", &cp)]
            )
        );
        assert_eq!(
            project_image(ID, CP),
            by_hand(PROJECT_IMAGE, &[("{id}", &id), ("{image_id}", &cp)])
        );
        assert_eq!(
            project_checkpoint_restore(ID, CP),
            by_hand(PROJECT_CHECKPOINT_RESTORE, &[("{id}", &id), ("{cp}", &cp)])
        );
        assert_eq!(
            project_file(ID, "src/App.tsx"),
            by_hand(PROJECT_FILE, &[("{id}", &id), ("{*path}", "src/App.tsx")])
        );
        assert_eq!(
            project(ID),
            "/api/projects/01234567-89ab-cdef-0123-456789abcdef"
        );
        let repo = format!("{id}.git");
        assert_eq!(git_repo(ID), format!("/git/{repo}"));
        assert_eq!(
            git_info_refs(ID, "git-upload-pack"),
            by_hand(GIT_INFO_REFS, &[("{repo}", &repo)]) + "?service=git-upload-pack"
        );
        for (build, template) in [
            (git_upload_pack as Builder, GIT_UPLOAD_PACK),
            (git_receive_pack, GIT_RECEIVE_PACK),
        ] {
            assert_eq!(build(ID), by_hand(template, &[("{repo}", &repo)]));
            assert!(build(ID).starts_with(&git_repo(ID)));
        }
    }

    #[test]
    fn file_paths_are_encoded_per_segment() {
        assert_eq!(encode_path("src/App.tsx"), "src/App.tsx");
        assert_eq!(
            encode_path("public/my photo#1.png"),
            "public/my%20photo%231.png"
        );
        assert_eq!(encode_path("a?b/ü"), "a%3Fb/%C3%BC");
        assert!(project_file(ID, "x/a b").ends_with("/files/x/a%20b"));
    }

    #[test]
    fn lists_take_a_page() {
        assert_eq!(first(PROJECTS, 12), "/api/projects?limit=12");
        assert_eq!(
            paged(
                &chat_messages(ID),
                PageQuery {
                    limit: 100,
                    offset: 250
                }
            ),
            format!("/api/chats/{ID}/messages?limit=100&offset=250")
        );
    }
}
