//! Bearer tokens and roles (DESIGN.md §9): write paths need a token whose role is high enough;
//! read paths are open unless the configuration closes them.
//!
//! Tokens live in a TOML file:
//! ```toml
//! open_reads = true
//! open_ngsi_ld_writes = false   # true: NGSI-LD writes need no token (a trusted network)
//! [[token]]
//! name = "scada-bridge"
//! role = "operator"      # viewer < operator < admin
//! token = "…"            # at least 16 characters
//! ```

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    token: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default = "yes")]
    open_reads: bool,
    #[serde(default)]
    open_ngsi_ld_writes: bool,
    #[serde(default)]
    token: Vec<TokenEntry>,
}

fn yes() -> bool {
    true
}

/// Who may do what.
#[derive(Debug, Clone)]
pub struct Auth {
    tokens: Vec<TokenEntry>,
    pub open_reads: bool,
    /// NGSI-LD writes without a token, as context brokers on a trusted network allow (off
    /// by default; the twin's own write paths always need a token).
    pub open_ngsi_ld_writes: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "this path needs a bearer token (Authorization: Bearer <token>) with role {0} or higher"
    )]
    Missing(&'static str),
    #[error("the bearer token is not known")]
    Unknown,
    #[error("token `{name}` has role {has}; this path needs {needs} or higher")]
    Forbidden {
        name: String,
        has: &'static str,
        needs: &'static str,
    },
}

/// A tokens file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensFileError {
    #[error("{path}: {why}")]
    Read { path: String, why: String },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
}

impl Auth {
    /// Reads open, no tokens: every write is refused.
    pub fn open_reads_only() -> Auth {
        Auth {
            tokens: Vec::new(),
            open_reads: true,
            open_ngsi_ld_writes: false,
        }
    }

    pub fn from_toml(text: &str, path: &str) -> Result<Auth, TokensFileError> {
        let file: TokensFile = toml::from_str(text).map_err(|e| TokensFileError::Invalid {
            path: path.to_string(),
            why: e.to_string(),
        })?;
        for (i, t) in file.token.iter().enumerate() {
            if t.token.len() < 16 {
                return Err(TokensFileError::Invalid {
                    path: path.to_string(),
                    why: format!("token `{}` is shorter than 16 characters", t.name),
                });
            }
            // One token, one role: a token listed twice would take whichever role came last.
            if let Some(other) = file.token[..i].iter().find(|o| o.token == t.token) {
                return Err(TokensFileError::Invalid {
                    path: path.to_string(),
                    why: format!(
                        "tokens `{}` ({}) and `{}` ({}) have the same value: give each role its own token",
                        other.name,
                        other.role.name(),
                        t.name,
                        t.role.name()
                    ),
                });
            }
        }
        Ok(Auth {
            tokens: file.token,
            open_reads: file.open_reads,
            open_ngsi_ld_writes: file.open_ngsi_ld_writes,
        })
    }

    /// Load a tokens file; when it does not exist, create it with one fresh admin token
    /// (readable by the owner only) so a new installation has a working write path.
    pub fn load_or_create(path: &Path) -> Result<Auth, TokensFileError> {
        let shown = path.display().to_string();
        if !path.exists() {
            let token = fresh_token();
            let text = format!(
                "# citytwin API tokens. Roles: viewer < operator < admin.\n\
                 # Send as `Authorization: Bearer <token>` (or `?token=` on /ws).\n\
                 open_reads = true\n\n[[token]]\nname = \"admin\"\nrole = \"admin\"\ntoken = \"{token}\"\n"
            );
            write_private(path, &text).map_err(|e| TokensFileError::Read {
                path: shown.clone(),
                why: e.to_string(),
            })?;
        }
        refuse_open_permissions(path, &shown)?;
        let text =
            twin_core::formats::text::read_utf8_file(path).map_err(|e| TokensFileError::Read {
                path: shown.clone(),
                why: e.to_string(),
            })?;
        Auth::from_toml(&text, &shown)
    }

    /// The role a presented token has, checked against what a path needs.
    pub fn check(&self, token: Option<&str>, needs: Role) -> Result<Option<Role>, AuthError> {
        if needs == Role::Viewer && self.open_reads && token.is_none() {
            return Ok(None);
        }
        let Some(token) = token else {
            return Err(AuthError::Missing(needs.name()));
        };
        // Compare with every token in constant time per token, so timing tells nothing.
        let mut found: Option<&TokenEntry> = None;
        for t in &self.tokens {
            if constant_time_eq(t.token.as_bytes(), token.as_bytes()) {
                found = Some(t);
            }
        }
        let t = found.ok_or(AuthError::Unknown)?;
        if t.role < needs {
            return Err(AuthError::Forbidden {
                name: t.name.clone(),
                has: t.role.name(),
                needs: needs.name(),
            });
        }
        Ok(Some(t.role))
    }
}

/// A tokens file others can read gives its tokens away: refused, as ssh refuses an open key,
/// with the command that fixes it.
fn refuse_open_permissions(path: &Path, shown: &str) -> Result<(), TokensFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| TokensFileError::Read {
                path: shown.to_string(),
                why: e.to_string(),
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(TokensFileError::Invalid {
                path: shown.to_string(),
                why: format!(
                    "readable by other users (mode {:o}): the tokens are secrets; run `chmod 600 {shown}`",
                    mode & 0o777
                ),
            });
        }
    }
    let _ = (path, shown);
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn fresh_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
open_reads = false
[[token]]
name = "bridge"
role = "operator"
token = "0123456789abcdef0123"
[[token]]
name = "screen"
role = "viewer"
token = "viewer-token-000000"
"#;

    #[test]
    fn roles_are_ordered_and_checked() {
        let auth = Auth::from_toml(FILE, "t.toml").expect("valid");
        assert_eq!(
            auth.check(None, Role::Viewer),
            Err(AuthError::Missing("viewer"))
        );
        assert_eq!(
            auth.check(Some("viewer-token-000000"), Role::Viewer),
            Ok(Some(Role::Viewer))
        );
        assert!(matches!(
            auth.check(Some("viewer-token-000000"), Role::Operator),
            Err(AuthError::Forbidden { .. })
        ));
        assert_eq!(
            auth.check(Some("0123456789abcdef0123"), Role::Operator),
            Ok(Some(Role::Operator))
        );
        assert_eq!(
            auth.check(Some("nope"), Role::Viewer),
            Err(AuthError::Unknown)
        );
        assert!(
            auth.check(Some("0123456789abcdef0123"), Role::Admin)
                .is_err()
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_problem() {
        let short = "[[token]]\nname = \"x\"\nrole = \"admin\"\ntoken = \"short\"\n";
        let e = Auth::from_toml(short, "t.toml").expect_err("short token");
        assert!(e.to_string().contains("shorter than 16"), "{e}");
        let role = "[[token]]\nname = \"x\"\nrole = \"root\"\ntoken = \"0123456789abcdef\"\n";
        let e = Auth::from_toml(role, "t.toml").expect_err("bad role");
        assert!(e.to_string().contains("root"), "{e}");
        let twice = "[[token]]\nname = \"screen\"\nrole = \"viewer\"\ntoken = \"0123456789abcdef\"\n\
                     [[token]]\nname = \"boss\"\nrole = \"admin\"\ntoken = \"0123456789abcdef\"\n";
        let e = Auth::from_toml(twice, "t.toml").expect_err("one token, two roles");
        assert!(e.to_string().contains("same value"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_tokens_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.toml");
        Auth::load_or_create(&path).expect("created private");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = Auth::load_or_create(&path).expect_err("open file");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(Auth::load_or_create(&path).is_ok());
    }

    #[test]
    fn a_missing_file_is_created_with_an_admin_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.toml");
        let auth = Auth::load_or_create(&path).expect("created");
        assert!(auth.open_reads);
        let text = std::fs::read_to_string(&path).expect("written");
        let token = text
            .lines()
            .find_map(|l| l.strip_prefix("token = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("a token line");
        assert_eq!(auth.check(Some(token), Role::Admin), Ok(Some(Role::Admin)));
        // A second load reads the same file.
        let again = Auth::load_or_create(&path).expect("read");
        assert_eq!(again.check(Some(token), Role::Admin), Ok(Some(Role::Admin)));
    }
}
