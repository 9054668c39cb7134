//! Where previews live: a host of their own per project, never minicode's.
//!
//! A preview on minicode's origin could act as its user: its scripts would
//! run with minicode's session cookie, call the API and read the builder's
//! page. On a different *host* (cookies ignore ports) the browser keeps them
//! apart: the preview never receives minicode's session cookie, and minicode
//! refuses its writes as cross-origin (see `auth/csrf.rs`).
//!
//! `MINICODE_PREVIEW_URL` is a pattern with `{project}` in the host, e.g.
//! `https://{project}.preview.example.com` (a wildcard DNS record and
//! certificate; see docs/operations.md). Unset, previews live at
//! `http://<project>.preview.localhost:<minicode's port>`: browsers resolve
//! every `*.localhost` name to the loopback, so this works on a laptop with
//! the one listener, routed by the `Host` header.
//!
//! The owner enters with a short-lived signed ticket (see `ticket.rs`) that
//! the preview host exchanges for a cookie of its own.

use uuid::Uuid;

/// The suffix of the default preview hosts.
const LOCAL_SUFFIX: &str = ".preview.localhost";

/// A host per name under one pattern: `https://{name}.apps.example.com`, or
/// by default `http://<name><local suffix>:<minicode's port>`. Previews
/// (`{project}`) and published sites (`{site}`, see `deploy/`) both use it.
#[derive(Clone, Debug)]
pub struct HostPattern {
    /// `.preview.localhost`: the default hosts' suffix.
    local_suffix: &'static str,
    pattern: Option<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    /// `http` or `https`.
    scheme: String,
    /// What comes before and after the placeholder in the host (lower case).
    host_prefix: String,
    host_suffix: String,
    /// `:8443`, or empty.
    port: String,
}

impl HostPattern {
    /// Reads the pattern set in `setting` (already in the configuration);
    /// `None` or empty: the default local hosts.
    pub fn new(
        setting: &str,
        placeholder: &'static str,
        local_suffix: &'static str,
        raw: Option<&str>,
    ) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(Self {
                local_suffix,
                pattern: None,
            });
        };
        let bad = |why: &str| format!("{setting} `{raw}`: {why}");
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| bad(&format!("expected http(s)://{placeholder}.example.com")))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') {
            return Err(bad("no path: the pages are served at the host's root"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, format!(":{p}")),
            _ => (authority, String::new()),
        };
        let (host_prefix, host_suffix) = host
            .split_once(placeholder)
            .ok_or_else(|| bad(&format!("the host must contain {placeholder}")))?;
        if host_suffix.is_empty() || !host_suffix.starts_with('.') {
            return Err(bad(&format!(
                "{placeholder} must be followed by the domain, as in {placeholder}.example.com"
            )));
        }
        Ok(Self {
            local_suffix,
            pattern: Some(Pattern {
                scheme: scheme.into(),
                host_prefix: host_prefix.to_ascii_lowercase(),
                host_suffix: host_suffix.to_ascii_lowercase(),
                port,
            }),
        })
    }

    /// The origin of `name`'s host. `request_host` is the `Host` minicode
    /// was reached at: without a pattern, the host shares its port.
    pub fn origin_for(&self, name: &str, request_host: Option<&str>) -> String {
        match &self.pattern {
            Some(p) => format!(
                "{}://{}{name}{}{}",
                p.scheme, p.host_prefix, p.host_suffix, p.port
            ),
            None => {
                let port = request_host
                    .and_then(|h| h.rsplit_once(':'))
                    .map(|(_, p)| p)
                    .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                format!("http://{name}{}{port}", self.local_suffix)
            }
        }
    }

    /// The name whose host `host` (a `Host` header) is, lower case, if any.
    /// One label only: `x.y.apps.localhost` names nothing.
    pub fn name_of(&self, host: &str) -> Option<String> {
        let host = host.trim().to_ascii_lowercase();
        // The port, if any, does not pick the name.
        let name = match host.rsplit_once(':') {
            Some((n, p)) if p.chars().all(|c| c.is_ascii_digit()) && !n.ends_with(']') => n,
            _ => host.as_str(),
        };
        let name = match &self.pattern {
            Some(p) => name
                .strip_prefix(p.host_prefix.as_str())?
                .strip_suffix(p.host_suffix.as_str())?,
            None => name.strip_suffix(self.local_suffix)?,
        };
        (!name.is_empty() && !name.contains('.')).then(|| name.to_string())
    }

    /// A CSP source matching every host of the pattern.
    pub fn csp_source(&self) -> String {
        match &self.pattern {
            Some(p) => format!("{}://*{}{}", p.scheme, p.host_suffix, p.port),
            None => format!("http://*{}:*", self.local_suffix),
        }
    }

    /// True when the hosts are secure contexts for browsers: https, or the
    /// default `*.localhost` names (browsers treat those as secure even over
    /// http).
    pub fn secure_context(&self) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.scheme == "https")
    }
}

/// The preview hosts: one per project, named by its id.
#[derive(Clone, Debug)]
pub struct PreviewHosts {
    hosts: HostPattern,
}

impl PreviewHosts {
    /// Reads `MINICODE_PREVIEW_URL` (already in the configuration).
    pub fn new(pattern: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            hosts: HostPattern::new("MINICODE_PREVIEW_URL", "{project}", LOCAL_SUFFIX, pattern)?,
        })
    }

    /// The origin of `project`'s preview. `request_host` is the `Host` the
    /// builder was reached at: without a pattern, the preview shares its port.
    pub fn origin_for(&self, project: Uuid, request_host: Option<&str>) -> String {
        self.hosts.origin_for(&project.to_string(), request_host)
    }

    /// The project whose preview host `host` (a `Host` header) is, if any.
    pub fn project_of(&self, host: &str) -> Option<Uuid> {
        let id = self.hosts.name_of(host)?;
        // Only the canonical form: one host per project.
        Uuid::parse_str(&id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == id)
    }

    /// A CSP source matching every preview origin (for minicode's own
    /// `frame-src`).
    pub fn csp_source(&self) -> String {
        self.hosts.csp_source()
    }

    /// True for an origin (`scheme://host[:port]`) that is a preview's.
    pub fn is_preview_origin(&self, origin: &str) -> bool {
        origin
            .split_once("://")
            .is_some_and(|(_, host)| self.project_of(host).is_some())
    }

    /// True when the preview hosts are secure contexts for browsers. Their
    /// cookie is then `Secure`, `__Host-` and `SameSite=None`, so it also
    /// works when the builder is another site (`127.0.0.1` framing
    /// `*.preview.localhost`).
    pub fn secure_context(&self) -> bool {
        self.hosts.secure_context()
    }
}

/// The preview host's own cookie (`__Host-` prefixed over https).
const PASS_COOKIE: &str = "minicode_preview";

/// What the preview hosts need: where they are and the signing key.
#[derive(Clone, Debug)]
pub struct Previews {
    pub hosts: PreviewHosts,
    pub signer: super::ticket::Signer,
    /// The preview hosts' CSP, made once: it names minicode's own origins
    /// as the only ones that may frame a preview.
    pub csp: axum::http::HeaderValue,
}

impl Previews {
    /// The cookie a preview host sets once a ticket is redeemed.
    pub(crate) fn pass_cookie_name(&self) -> &'static str {
        if self.hosts.secure_context() {
            "__Host-minicode_preview"
        } else {
            PASS_COOKIE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8d3f8f0e-3a2b-4c1d-9e8f-0a1b2c3d4e5f";

    #[test]
    fn the_default_lives_on_localhost_subdomains_of_the_same_port() {
        let hosts = PreviewHosts::new(None).unwrap();
        let id = Uuid::parse_str(ID).unwrap();
        assert_eq!(
            hosts.origin_for(id, Some("127.0.0.1:3000")),
            format!("http://{ID}.preview.localhost:3000")
        );
        assert_eq!(
            hosts.project_of(&format!("{ID}.preview.localhost:3000")),
            Some(id)
        );
        assert_eq!(
            hosts.project_of(&format!("{}.PREVIEW.localhost", ID.to_uppercase())),
            Some(id),
            "host names are case-insensitive"
        );
        for other in [
            "localhost:3000",
            "127.0.0.1:3000",
            "preview.localhost",
            &format!("x.{ID}.preview.localhost"),
            &format!("{ID}.preview.localhost.evil.com"),
            "not-a-uuid.preview.localhost",
        ] {
            assert_eq!(hosts.project_of(other), None, "{other}");
        }
        assert!(hosts.is_preview_origin(&format!("http://{ID}.preview.localhost:3000")));
        assert!(hosts.secure_context(), "*.localhost is a secure context");
        assert!(
            !PreviewHosts::new(Some("http://{project}.preview.example.lan"))
                .unwrap()
                .secure_context()
        );
        assert!(!hosts.is_preview_origin("http://localhost:3000"));
    }

    #[test]
    fn a_configured_pattern_is_honoured_and_checked() {
        let hosts = PreviewHosts::new(Some("https://{project}.preview.example.com")).unwrap();
        let id = Uuid::parse_str(ID).unwrap();
        assert_eq!(
            hosts.origin_for(id, Some("minicode.example.com")),
            format!("https://{ID}.preview.example.com")
        );
        assert_eq!(
            hosts.project_of(&format!("{ID}.preview.example.com")),
            Some(id)
        );
        assert_eq!(hosts.project_of(&format!("{ID}.preview.localhost")), None);
        assert_eq!(hosts.csp_source(), "https://*.preview.example.com");
        assert!(hosts.secure_context());
        for bad in [
            "preview.example.com",
            "ftp://{project}.example.com",
            "https://{project}",
            "https://{project}.example.com/app",
            "https://example.com/{project}",
        ] {
            assert!(PreviewHosts::new(Some(bad)).is_err(), "{bad}");
        }
    }
}
